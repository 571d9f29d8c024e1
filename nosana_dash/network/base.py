"""The one interface every network implements: local, devnet and mainnet.

Services reach the outside world only through a `Network`. Values are plain
typed records; amounts are integers in base units (NOS: 1e-6, SOL: lamports),
times are unix seconds, pubkeys base58 strings, content ids CIDv0 strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

NetworkName = Literal["local", "devnet", "mainnet"]
DisplayState = Literal["QUEUED", "RUNNING", "COMPLETED", "STOPPED"]
NOS_DECIMALS = 1_000_000
LAMPORTS_PER_SOL = 1_000_000_000


class NetworkError(Exception):
    """A clear, user-presentable failure of an outside call (never holds a secret)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class NotConfigured(NetworkError):
    """Something the user must set (RPC URL, keypair, pinning token)."""


class InsufficientFunds(NetworkError):
    pass


@dataclass(frozen=True)
class MarketInfo:
    address: str
    price: int  # NOS base units per second
    timeout: int  # seconds
    job_expiration: int
    job_type: int
    queue_type: Literal["jobs", "nodes", "empty"]
    queue: tuple[str, ...]
    node_access_key: str | None  # None: open market
    node_xnos_minimum: int
    authority: str = ""
    vault: str = ""
    name: str = ""  # known only for curated or local markets
    gpu: str = ""
    vram_gb: int | None = None


@dataclass(frozen=True)
class JobInfo:
    address: str
    ipfs_job: str
    ipfs_result: str | None
    market: str
    node: str | None
    payer: str
    project: str
    price: int
    state: DisplayState
    time_start: int
    time_end: int
    timeout: int


@dataclass(frozen=True)
class RunInfo:
    address: str
    job: str
    node: str
    payer: str
    time: int


@dataclass(frozen=True)
class NodeInfo:
    address: str
    market: str | None
    specs: dict[str, object] | None = None  # None: the node's info endpoint did not answer


@dataclass(frozen=True)
class Balances:
    sol: int  # lamports
    nos: int  # NOS base units


@dataclass(frozen=True)
class PostRequest:
    market: str
    ipfs_job: str
    timeout: int  # seconds
    job_secret: bytes  # 64-byte keypair of the new job account, recorded before sending


@dataclass(frozen=True)
class PostReceipt:
    job_address: str
    tx_signature: str


@dataclass
class Links:
    job: str
    market: str
    node: str
    tx: str
    ipfs: str
    extra: dict[str, str] = field(default_factory=dict)


class Network(Protocol):
    name: NetworkName

    # content
    def upload(self, data: bytes) -> str: ...
    def fetch(self, cid: str) -> bytes: ...
    def content_url(self, cid: str) -> str: ...

    # ledger reads
    def get_job(self, address: str) -> JobInfo | None: ...
    def get_run_for_job(self, job_address: str) -> RunInfo | None: ...
    def get_market(self, address: str) -> MarketInfo | None: ...
    def list_markets(self) -> list[MarketInfo]: ...
    def list_runs(self) -> list[RunInfo]: ...
    def list_jobs(
        self, *, market: str | None = None, payer: str | None = None, node: str | None = None
    ) -> list[JobInfo]: ...
    def get_node(self, address: str) -> NodeInfo | None: ...
    def wallet_address(self) -> str | None: ...
    def balances(self, address: str) -> Balances: ...

    # ledger writes (posting is idempotent: the caller records the job keypair first)
    def post_job(self, request: PostRequest) -> PostReceipt: ...
    def delist_job(self, job_address: str) -> str: ...
    def end_job(self, job_address: str) -> str: ...
    def extend_job(self, job_address: str, new_timeout: int) -> str: ...

    # links shown on pages
    def job_url(self, address: str) -> str: ...
    def market_url(self, address: str) -> str: ...
    def node_url(self, address: str) -> str: ...
    def tx_url(self, signature: str) -> str: ...
