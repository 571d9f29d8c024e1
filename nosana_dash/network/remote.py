"""Devnet and mainnet: the `Network` interface over Solana RPC (solana.py) and IPFS (ipfs.py).

Posting is idempotent: the caller records the job keypair before calling
`post_job`, the run keypair is derived from it, and every attempt first looks
the job account up. A send whose answer is lost is never repeated blindly: we
wait for its signature or the job account until the blockhash expires.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

import base58
import httpx
from django.conf import settings
from solders.instruction import Instruction
from solders.keypair import Keypair

from nosana_dash.network.base import (
    Balances,
    DisplayState,
    InsufficientFunds,
    JobInfo,
    MarketInfo,
    NetworkError,
    NetworkName,
    NodeInfo,
    NotConfigured,
    PostReceipt,
    PostRequest,
    RunInfo,
)
from nosana_dash.network.codec import accounts as acc
from nosana_dash.network.codec import instructions as ixs
from nosana_dash.network.codec import pda
from nosana_dash.network.codec.cid import cid_to_digest
from nosana_dash.network.codec.keys import KeypairError, Wallet, load_keypair
from nosana_dash.network.codec.transactions import build_transaction
from nosana_dash.network.http import new_client
from nosana_dash.network.ipfs import IpfsClient
from nosana_dash.network.networks import SYSTEM_PROGRAM, NetworkConstants, RemoteName, constants
from nosana_dash.network.solana import ConfirmTimeout, Filter, SolanaRpc, explain_failure

log = logging.getLogger(__name__)

_DISPLAY: dict[int, DisplayState] = {0: "QUEUED", 2: "COMPLETED", 3: "STOPPED"}
_QUEUE_TYPES = {acc.QUEUE_JOBS: "jobs", acc.QUEUE_NODES: "nodes", acc.QUEUE_EMPTY: "empty"}
MIN_SOL_LAMPORTS = 5_000_000  # the CLI refuses below 0.005 SOL
T = TypeVar("T")


def derive_run_keypair(job_secret: bytes) -> Keypair:
    """The run keypair of a post, derived from the recorded job keypair so a retry signs the same accounts."""
    seed = hashlib.sha256(b"nosana-dash run account\x00" + bytes(job_secret)[:32]).digest()
    return Keypair.from_seed(seed)


def display_state(job: acc.JobAccount, run: acc.RunAccount | None) -> DisplayState:
    """Spec §4: done is COMPLETED; otherwise a run account means RUNNING."""
    if job.state == acc.JOB_STATE_DONE:
        return "COMPLETED"
    if run is not None:
        return "RUNNING"
    return _DISPLAY.get(job.state, "QUEUED")


def job_info(address: str, job: acc.JobAccount, run: acc.RunAccount | None) -> JobInfo:
    state = display_state(job, run)
    node: str | None = job.node if job.node != acc.ZERO_PUBKEY else None
    time_start = job.time_start
    if state == "RUNNING" and run is not None:
        node, time_start = run.node, run.time
    return JobInfo(
        address=address,
        ipfs_job=job.ipfs_job_cid,
        ipfs_result=job.ipfs_result_cid,
        market=job.market,
        node=node,
        payer=job.payer,
        project=job.project,
        price=job.price,
        state=state,
        time_start=time_start,
        time_end=job.time_end,
        timeout=job.timeout,
    )


def market_info(address: str, market: acc.MarketAccount) -> MarketInfo:
    open_market = market.node_access_key == SYSTEM_PROGRAM
    return MarketInfo(
        address=address,
        price=market.job_price,
        timeout=market.job_timeout,
        job_expiration=market.job_expiration,
        job_type=market.job_type,
        queue_type=_QUEUE_TYPES.get(market.queue_type, "empty"),  # type: ignore[arg-type]
        queue=market.queue,
        node_access_key=None if open_market else market.node_access_key,
        node_xnos_minimum=market.node_xnos_minimum,
        authority=market.authority,
        vault=market.vault,
    )


def _decode(decoder: Callable[[bytes], T], data: bytes, address: str) -> T:
    try:
        return decoder(data)
    except acc.AccountDecodeError as exc:
        raise NetworkError(f"Account {address} could not be read: {exc}") from None


class RemoteNetwork:
    """`Network` for devnet/mainnet. Clients are built on first use, so links work unconfigured."""

    def __init__(
        self,
        name: RemoteName,
        *,
        rpc_url: str | None = None,
        wallet: Wallet | None = None,
        transport: httpx.BaseTransport | None = None,
        poll_interval: float = 1.0,
        confirm_seconds: float = 90.0,
        retry_backoff: float = 0.5,
    ) -> None:
        self.name: NetworkName = name
        self.constants: NetworkConstants = constants(name)
        self._rpc_url = rpc_url
        self._wallet = wallet
        self._transport = transport
        self.poll_interval = poll_interval
        self.confirm_seconds = confirm_seconds
        self.retry_backoff = retry_backoff
        self.timeout = float(settings.NOSANA_NETWORK_TIMEOUT_SECONDS)

    def __repr__(self) -> str:
        return f"RemoteNetwork({self.name})"

    # --- clients -------------------------------------------------------------------------------

    @cached_property
    def rpc(self) -> SolanaRpc:
        url = self._rpc_url or (
            settings.NOSANA_RPC_URL_MAINNET if self.name == "mainnet" else settings.NOSANA_RPC_URL_DEVNET
        )
        if not url:
            variable = "NOSANA_RPC_URL_MAINNET" if self.name == "mainnet" else "NOSANA_RPC_URL_DEVNET"
            raise NotConfigured(f"No RPC endpoint for {self.name}: set {variable} to your Solana RPC URL.")
        return SolanaRpc(url, timeout=self.timeout, transport=self._transport, backoff=self.retry_backoff)

    @cached_property
    def ipfs(self) -> IpfsClient:
        return IpfsClient(
            pinning_url=settings.NOSANA_PINNING_URL,
            jwt=settings.NOSANA_PINNING_JWT,
            gateway=settings.NOSANA_IPFS_GATEWAY,
            timeout=self.timeout,
            max_bytes=int(settings.NOSANA_MAX_UPLOAD_BYTES) * 50,  # results are larger than definitions
            transport=self._transport,
            backoff=self.retry_backoff,
        )

    @property
    def wallet(self) -> Wallet:
        if self._wallet is None:
            try:
                self._wallet = load_keypair()
            except KeypairError as exc:
                raise NotConfigured(str(exc)) from None
        return self._wallet

    # --- content -------------------------------------------------------------------------------

    def upload(self, data: bytes) -> str:
        return self.ipfs.upload(data)

    def fetch(self, cid: str) -> bytes:
        return self.ipfs.fetch(cid)

    def content_url(self, cid: str) -> str:
        gateway = settings.NOSANA_IPFS_GATEWAY
        return f"{gateway if gateway.endswith('/') else gateway + '/'}{cid}"

    # --- reads ---------------------------------------------------------------------------------

    def _job_filters(self, *extra: Filter) -> list[Filter]:
        return [Filter(0, _b58(acc.JOB_DISCRIMINATOR)), *extra]

    def get_run_for_job(self, job_address: str) -> RunInfo | None:
        found = self._run_account(job_address)
        if found is None:
            return None
        address, run = found
        return RunInfo(address=address, job=run.job, node=run.node, payer=run.payer, time=run.time)

    def _run_account(self, job_address: str) -> tuple[str, acc.RunAccount] | None:
        found = self.rpc.get_program_accounts(
            self.constants.jobs_program,
            [Filter(0, _b58(acc.RUN_DISCRIMINATOR)), Filter(acc.RUN_JOB_OFFSET, job_address)],
        )
        for address, data in found:
            return address, _decode(acc.decode_run, data, address)
        return None

    def _job_account(self, address: str) -> acc.JobAccount | None:
        data = self.rpc.get_account_data(address)
        return None if data is None else _decode(acc.decode_job, data, address)

    def get_job(self, address: str) -> JobInfo | None:
        job = self._job_account(address)
        if job is None:
            return None
        run = None
        if job.state != acc.JOB_STATE_DONE:
            found = self._run_account(address)
            run = found[1] if found else None
        return job_info(address, job, run)

    def _market_account(self, address: str) -> acc.MarketAccount | None:
        data = self.rpc.get_account_data(address)
        return None if data is None else _decode(acc.decode_market, data, address)

    def get_market(self, address: str) -> MarketInfo | None:
        market = self._market_account(address)
        return None if market is None else market_info(address, market)

    def list_markets(self) -> list[MarketInfo]:
        found = self.rpc.get_program_accounts(self.constants.jobs_program, [Filter(0, _b58(acc.MARKET_DISCRIMINATOR))])
        return [market_info(address, _decode(acc.decode_market, data, address)) for address, data in found]

    def list_runs(self) -> list[RunInfo]:
        found = self.rpc.get_program_accounts(self.constants.jobs_program, [Filter(0, _b58(acc.RUN_DISCRIMINATOR))])
        runs = []
        for address, data in found:
            run = _decode(acc.decode_run, data, address)
            runs.append(RunInfo(address=address, job=run.job, node=run.node, payer=run.payer, time=run.time))
        return runs

    def list_jobs(
        self, *, market: str | None = None, payer: str | None = None, node: str | None = None
    ) -> list[JobInfo]:
        filters = self._job_filters()
        if market:
            filters.append(Filter(acc.JOB_MARKET_OFFSET, market))
        if payer:
            filters.append(Filter(acc.JOB_PAYER_OFFSET, payer))
        if node:
            filters.append(Filter(acc.JOB_NODE_OFFSET, node))
        found = self.rpc.get_program_accounts(self.constants.jobs_program, filters)
        runs = {run.job: run for run in self.list_runs()} if found else {}
        out = []
        for address, data in found:
            job = _decode(acc.decode_job, data, address)
            r = runs.get(address)
            run = acc.RunAccount(r.job, r.node, r.payer, 0, r.time) if r and job.state != acc.JOB_STATE_DONE else None
            out.append(job_info(address, job, run))
        return out

    def get_node(self, address: str) -> NodeInfo | None:
        """The node's own description (GET /node/info); specs None when it does not answer."""
        market: str | None = None
        specs: dict[str, object] | None = None
        try:
            with new_client(timeout=min(self.timeout, 10.0), transport=self._transport) as client:
                response = client.get(f"{self.constants.node_api_url(address)}/node/info")
            if response.status_code == 200:
                body = response.json()
                if isinstance(body, dict):
                    specs = body
                    info = body.get("info")
                    if isinstance(info, dict) and isinstance(info.get("market"), str):
                        market = info["market"]
        except (httpx.HTTPError, ValueError) as exc:
            log.info("node %s info unavailable: %s", address, type(exc).__name__)
        return NodeInfo(address=address, market=market, specs=specs)

    def wallet_address(self) -> str | None:
        try:
            return self.wallet.address
        except NotConfigured:
            return None

    def balances(self, address: str) -> Balances:
        return Balances(
            sol=self.rpc.get_balance(address), nos=self.rpc.get_token_balance(address, self.constants.nos_mint)
        )

    # --- writes --------------------------------------------------------------------------------

    def _instructions(self, body: list[Instruction]) -> list[Instruction]:
        fee = int(settings.NOSANA_PRIORITY_FEE_MICROLAMPORTS)
        return ([ixs.set_compute_unit_price(fee)] if fee > 0 else []) + body

    def _send_and_confirm(self, body: list[Instruction], extra_signers: list[Keypair], landed: Callable[[], bool]) -> str:
        """Simulate, send once, confirm. After a lost answer, `landed()` decides; never resends."""
        blockhash = self.rpc.get_latest_blockhash()
        tx = build_transaction(self.wallet.keypair, self._instructions(body), blockhash.blockhash, extra_signers)
        simulation = self.rpc.simulate(tx)
        if simulation.err is not None:
            raise explain_failure(simulation.err, simulation.logs)
        signature = str(tx.signatures[0])
        try:
            self.rpc.send(tx)
        except NetworkError as exc:
            if not exc.retryable:
                raise
            log.warning("send of %s unanswered (%s); checking whether it landed", signature, exc.message)
        try:
            self.rpc.confirm(
                signature,
                blockhash.last_valid_block_height,
                poll_interval=self.poll_interval,
                deadline_seconds=self.confirm_seconds,
            )
        except ConfirmTimeout:
            if landed():
                return signature
            raise
        return signature

    def post_job(self, request: PostRequest) -> PostReceipt:
        job_kp = Keypair.from_bytes(request.job_secret)
        job_address = str(job_kp.pubkey())
        if self.rpc.get_account_data(job_address) is not None:
            # Listed by an earlier attempt: report it, never list again.
            return PostReceipt(job_address=job_address, tx_signature=self.rpc.get_first_signature(job_address) or "")
        market = self._market_account(request.market)
        if market is None:
            raise NetworkError(f"Unknown market: {request.market} does not exist on {self.name}.")
        wallet = self.wallet.address
        deposit = market.job_price * request.timeout
        sol = self.rpc.get_balance(wallet)
        if sol < MIN_SOL_LAMPORTS:
            raise InsufficientFunds(f"Minimum of 0.005 SOL needed: SOL available {sol / 1e9:g}")
        if deposit > 0:
            nos = self.rpc.get_token_balance(wallet, self.constants.nos_mint)
            if nos < deposit:
                raise InsufficientFunds(f"Not enough NOS: NOS available {nos / 1e6:g}, NOS needed: {deposit / 1e6:g}")
        vault = pda.market_vault(request.market, self.constants.nos_mint, self.constants.jobs_program)[0]
        if market.vault != vault:
            raise NetworkError(f"Market {request.market} stores vault {market.vault}, expected {vault}; refusing.")
        run_kp = derive_run_keypair(request.job_secret)
        accounts = ixs.list_accounts(
            self.constants, job=job_address, run=str(run_kp.pubkey()), market=request.market, authority=wallet
        )
        if market.job_price == 0:
            accounts = ixs.ListAccounts(**{**accounts.__dict__, "user": vault})  # the CLI passes the vault
        list_ix = ixs.list_ix(self.constants.jobs_program, accounts, cid_to_digest(request.ipfs_job), request.timeout)
        signature = self._send_and_confirm(
            [list_ix], [job_kp, run_kp], lambda: self.rpc.get_account_data(job_address) is not None
        )
        return PostReceipt(job_address=job_address, tx_signature=signature)

    def _owned_job(self, address: str) -> acc.JobAccount:
        job = self._job_account(address)
        if job is None:
            raise NetworkError(f"Job {address} does not exist on {self.name} (closed or never listed).")
        if job.project != self.wallet.address:
            raise NetworkError(f"Job {address} was posted by {job.project}, not by this wallet.")
        return job

    def _deposit_account(self, job: acc.JobAccount, vault: str) -> str:
        return pda.associated_token_address(job.payer, self.constants.nos_mint) if job.price > 0 else vault

    def delist_job(self, job_address: str) -> str:
        job = self._owned_job(job_address)
        if job.state != acc.JOB_STATE_QUEUED or self._run_account(job_address) is not None:
            raise NetworkError("Only a QUEUED job can be delisted; stop a running job instead.")
        vault = pda.market_vault(job.market, self.constants.nos_mint, self.constants.jobs_program)[0]
        ix = ixs.delist_ix(
            jobs_program=self.constants.jobs_program,
            job=job_address,
            market=job.market,
            deposit=self._deposit_account(job, vault),
            payer=job.payer,
            vault=vault,
            authority=self.wallet.address,
        )
        return self._send_and_confirm([ix], [], lambda: self.rpc.get_account_data(job_address) is None)

    def end_job(self, job_address: str) -> str:
        job = self._owned_job(job_address)
        found = self._run_account(job_address)
        if found is None:
            raise NetworkError("Only a RUNNING job can be stopped with end; delist a queued job instead.")
        run_address, run = found
        vault = pda.market_vault(job.market, self.constants.nos_mint, self.constants.jobs_program)[0]
        node_ata = pda.associated_token_address(run.node, self.constants.nos_mint)
        body: list[Instruction] = []
        if self.rpc.get_account_data(node_ata) is None:  # `end` pays the node: its NOS account must exist
            body.append(ixs.create_ata_idempotent(payer=self.wallet.address, owner=run.node, mint=self.constants.nos_mint))
        body.append(
            ixs.end_ix(
                jobs_program=self.constants.jobs_program,
                job=job_address,
                market=job.market,
                run=run_address,
                deposit=self._deposit_account(job, vault),
                user=node_ata,
                vault=vault,
                payer=run.payer,
                authority=self.wallet.address,
            )
        )

        def ended() -> bool:
            current = self._job_account(job_address)
            return current is None or current.state == acc.JOB_STATE_DONE

        return self._send_and_confirm(body, [], ended)

    def extend_job(self, job_address: str, new_timeout: int) -> str:
        job = self._owned_job(job_address)
        if job.state != acc.JOB_STATE_QUEUED:
            raise NetworkError("Only a queued or running job can be extended.")
        if new_timeout <= job.timeout:
            raise NetworkError(f"The new timeout must be greater than the current {job.timeout} seconds.")
        if job.payer != self.wallet.address and job.price > 0:
            raise NetworkError(f"Job {job_address} is paid by {job.payer}, whose signature this dashboard cannot add.")
        vault = pda.market_vault(job.market, self.constants.nos_mint, self.constants.jobs_program)[0]
        ix = ixs.extend_ix(
            jobs_program=self.constants.jobs_program,
            job=job_address,
            market=job.market,
            user=pda.associated_token_address(job.payer, self.constants.nos_mint),
            vault=vault,
            rewards_reflection=pda.rewards_reflection()[0],
            rewards_vault=pda.rewards_vault(self.constants.nos_mint)[0],
            authority=self.wallet.address,
            payer=job.payer,
            new_timeout=new_timeout,
        )

        def extended() -> bool:
            current = self._job_account(job_address)
            return current is not None and current.timeout >= new_timeout

        return self._send_and_confirm([ix], [], extended)

    # --- links ---------------------------------------------------------------------------------

    def job_url(self, address: str) -> str:
        return self.constants.job_url(address)

    def market_url(self, address: str) -> str:
        return self.constants.market_url(address)

    def node_url(self, address: str) -> str:
        return self.constants.node_url(address)

    def tx_url(self, signature: str) -> str:
        return self.constants.tx_url(signature)


def _b58(raw: bytes) -> str:
    return base58.b58encode(raw).decode("ascii")

