"""A fake devnet/mainnet for posting tests: the `Network` protocol in memory.

It behaves like the chain where it matters for exactly-once posting: a job
account can be created once (a second list of the same keypair fails), and
failures can be injected (timeouts before or after the job lands, lookups
failing, pinning errors, a wrong CID). Market values come from the vectors.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from solders.keypair import Keypair

from nosana_dash.network.base import (
    Balances,
    JobInfo,
    MarketInfo,
    NetworkError,
    NodeInfo,
    PostReceipt,
    PostRequest,
    RunInfo,
)
from nosana_dash.network.codec.cid import cid_v0
from tests.conftest import load_vectors


def _vector_market() -> MarketInfo:
    """The job-queue market of accounts.json, as the remote network would decode it."""
    d = next(v for v in load_vectors("accounts.json")["vectors"] if v["name"] == "market_job_queue")["decoded"]
    # The account holds its vault, not its own address: find the market whose vault it is.
    address = next(v["market"] for v in load_vectors("pda.json")["vaults"] if v["address"] == d["vault"])
    return MarketInfo(
        address=address,
        price=int(d["jobPrice"]), timeout=int(d["jobTimeout"]), job_expiration=int(d["jobExpiration"]),
        job_type=int(d["jobType"]), queue_type="jobs", queue=(), node_access_key=None, node_xnos_minimum=0,
        name="Vector market",
    )


@dataclass
class FakeRemote:
    name: str
    market: MarketInfo = field(default_factory=_vector_market)
    wallet: str = field(default_factory=lambda: str(Keypair.from_seed(bytes(range(1, 33))).pubkey()))
    sol_balance: int = 1_000_000_000
    nos_balance: int = 10**12
    # injected failures: counters are consumed one per call
    timeout_after_landing: int = 0
    timeout_before_landing: int = 0
    lookup_failures: int = 0
    upload_error: NetworkError | None = None
    send_error: NetworkError | None = None
    wrong_cid: bool = False
    # what happened
    uploads: list[bytes] = field(default_factory=list)
    listings: list[str] = field(default_factory=list)
    delisted: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    extended: list[tuple[str, int]] = field(default_factory=list)
    send_attempts: int = 0
    lookups: int = 0
    jobs: dict[str, JobInfo] = field(default_factory=dict)
    runs: dict[str, RunInfo] = field(default_factory=dict)
    content: dict[str, bytes] = field(default_factory=dict)

    # content
    def upload(self, data: bytes) -> str:
        if self.upload_error is not None:
            raise self.upload_error
        self.uploads.append(data)
        cid = cid_v0(data)
        self.content[cid] = data
        return cid_v0(data + b" ") if self.wrong_cid else cid

    def fetch(self, cid: str) -> bytes:
        if cid not in self.content:
            raise NetworkError(f"{cid} not found on the gateway", retryable=True)
        return self.content[cid]

    def content_url(self, cid: str) -> str:
        return f"https://gateway.test/ipfs/{cid}"

    # reads
    def get_job(self, address: str) -> JobInfo | None:
        self.lookups += 1
        if self.lookup_failures:
            self.lookup_failures -= 1
            raise NetworkError("RPC timed out", retryable=True)
        job = self.jobs.get(address)
        if job is not None and address in self.runs and job.state == "QUEUED":
            run = self.runs[address]
            return JobInfo(**{**job.__dict__, "state": "RUNNING", "node": run.node, "time_start": run.time})
        return job

    def get_run_for_job(self, job_address: str) -> RunInfo | None:
        return self.runs.get(job_address)

    def get_market(self, address: str) -> MarketInfo | None:
        return self.market if address == self.market.address else None

    def list_markets(self) -> list[MarketInfo]:
        return [self.market]

    def list_runs(self) -> list[RunInfo]:
        return list(self.runs.values())

    def list_jobs(self, *, market: str | None = None, payer: str | None = None,
                  node: str | None = None) -> list[JobInfo]:
        return list(self.jobs.values())

    def get_node(self, address: str) -> NodeInfo | None:
        return None

    def wallet_address(self) -> str | None:
        return self.wallet

    def balances(self, address: str) -> Balances:
        return Balances(sol=self.sol_balance, nos=self.nos_balance)

    # writes
    def signature_for(self, address: str) -> str:
        return str(Keypair.from_seed(hashlib.sha256(address.encode()).digest()).sign_message(b"list"))

    def post_job(self, request: PostRequest) -> PostReceipt:
        self.send_attempts += 1
        if self.send_error is not None:
            raise self.send_error
        address = str(Keypair.from_bytes(request.job_secret).pubkey())
        if self.timeout_before_landing:
            self.timeout_before_landing -= 1
            raise NetworkError("transaction not confirmed in time", retryable=True)
        if address in self.jobs:
            raise NetworkError("Allocate: account already in use")  # the chain creates a job account once
        self.listings.append(address)
        self.jobs[address] = JobInfo(
            address=address, ipfs_job=request.ipfs_job, ipfs_result=None, market=request.market, node=None,
            payer=self.wallet, project=self.wallet, price=self.market.price, state="QUEUED", time_start=0,
            time_end=0, timeout=request.timeout,
        )
        if self.timeout_after_landing:
            self.timeout_after_landing -= 1
            raise NetworkError("transaction not confirmed in time", retryable=True)
        return PostReceipt(job_address=address, tx_signature=self.signature_for(address))

    def start_run(self, address: str, node: str = "") -> RunInfo:
        node = node or str(Keypair.from_seed(bytes(range(0x61, 0x81))).pubkey())
        run = RunInfo(address=str(Keypair().pubkey()), job=address, node=node, payer=node, time=int(time.time()))
        self.runs[address] = run
        return run

    def finish(self, address: str, result: bytes, *, duration: int = 41) -> str:
        cid = cid_v0(result)
        self.content[cid] = result
        run = self.runs.pop(address)
        job = self.jobs[address]
        self.jobs[address] = JobInfo(**{**job.__dict__, "state": "COMPLETED", "ipfs_result": cid, "node": run.node,
                                        "time_start": run.time, "time_end": run.time + duration})
        return cid

    def delist_job(self, job_address: str) -> str:
        if job_address in self.runs:
            raise NetworkError("job is running")
        self.delisted.append(job_address)
        self.jobs.pop(job_address, None)
        return "delist-signature"

    def end_job(self, job_address: str) -> str:
        self.ended.append(job_address)
        return "end-signature"

    def extend_job(self, job_address: str, new_timeout: int) -> str:
        self.extended.append((job_address, new_timeout))
        return "extend-signature"

    # links
    def job_url(self, address: str) -> str:
        return f"https://explorer.test/jobs/{address}"

    def market_url(self, address: str) -> str:
        return f"https://explorer.test/markets/{address}"

    def node_url(self, address: str) -> str:
        return f"https://explorer.test/host/{address}"

    def tx_url(self, signature: str) -> str:
        return f"https://explorer.test/tx/{signature}"
