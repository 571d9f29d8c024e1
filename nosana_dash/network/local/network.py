"""The embedded local network behind the same `Network` interface as devnet and mainnet.

Content lives in the local store under real CIDv0s (served at `/ipfs/<cid>`),
the ledger in database tables with the chain's states, and jobs run on this
machine through the worker. Links point at this dashboard's own pages.
"""

from __future__ import annotations

from typing import Literal

from nosana_dash.network.base import (
    Balances,
    DisplayState,
    JobInfo,
    MarketInfo,
    NetworkError,
    NetworkName,
    NodeInfo,
    PostReceipt,
    PostRequest,
    RunInfo,
)
from nosana_dash.network.codec.cid import CidError, cid_to_digest
from nosana_dash.network.local import ledger, store
from nosana_dash.network.local.models import LedgerJob, LedgerJobState, LedgerMarket, LedgerNode, LedgerRun


def _display_state(job: LedgerJob, has_run: bool) -> DisplayState:
    """Spec §4: done is COMPLETED; otherwise a run account means RUNNING."""
    if job.state == LedgerJobState.DONE:
        return "COMPLETED"
    if has_run:
        return "RUNNING"
    return "STOPPED" if job.state == LedgerJobState.STOPPED else "QUEUED"


def _job_info(job: LedgerJob, run: LedgerRun | None) -> JobInfo:
    return JobInfo(
        address=job.address,
        ipfs_job=job.ipfs_job,
        ipfs_result=job.ipfs_result or None,
        market=job.market.address,
        # As on chain, the job's node is written only when the run ends; while running it comes from the run.
        node=job.node or (run.node if run is not None else None),
        payer=job.payer,
        project=job.project,
        price=job.price,
        state=_display_state(job, run is not None),
        time_start=job.time_start or (run.time if run is not None else 0),
        time_end=job.time_end,
        timeout=job.timeout,
    )


def _run_info(run: LedgerRun) -> RunInfo:
    return RunInfo(address=run.address, job=run.job.address, node=run.node, payer=run.payer, time=run.time)


class LocalNetwork:
    name: NetworkName = "local"
    balance_note = ledger.PLAY_BALANCE_NOTE

    # --- content ---------------------------------------------------------------------------

    def upload(self, data: bytes) -> str:
        return store.put(data)

    def fetch(self, cid: str) -> bytes:
        item = store.get(cid)
        if item is None:
            raise NetworkError(f"no content with CID {cid} in the local store")
        return item[0]

    def content_url(self, cid: str) -> str:
        return f"/ipfs/{cid}"

    # --- ledger reads ----------------------------------------------------------------------

    def get_job(self, address: str) -> JobInfo | None:
        job = LedgerJob.objects.select_related("market").filter(address=address).first()
        if job is None:
            return None
        return _job_info(job, LedgerRun.objects.filter(job=job).first())

    def get_run_for_job(self, job_address: str) -> RunInfo | None:
        run = LedgerRun.objects.select_related("job").filter(job__address=job_address).first()
        return _run_info(run) if run is not None else None

    def _market_info(self, market: LedgerMarket) -> MarketInfo:
        # Queue as on chain: jobs waiting (no run yet), else this machine's node waiting for work.
        waiting = tuple(
            LedgerJob.objects.filter(market=market, state=LedgerJobState.QUEUED, run__isnull=True)
            .order_by("listed_at", "id")
            .values_list("address", flat=True)
        )
        queue_type: Literal["jobs", "nodes", "empty"]
        if waiting:
            queue_type, queue = "jobs", waiting
        else:
            idle = [n for n in LedgerNode.objects.filter(market=market).values_list("address", flat=True)
                    if not LedgerRun.objects.filter(node=n).exists()]
            queue_type, queue = ("nodes", tuple(idle)) if idle else ("empty", ())
        return MarketInfo(
            address=market.address,
            price=market.price,
            timeout=market.timeout,
            job_expiration=market.job_expiration,
            job_type=0,
            queue_type=queue_type,
            queue=queue,
            node_access_key=None,
            node_xnos_minimum=0,
            authority=ledger.wallet_address(),
            vault="",
            name=market.name,
            gpu=market.gpu,
            vram_gb=market.vram_gb,
        )

    def get_market(self, address: str) -> MarketInfo | None:
        ledger.ensure_local_markets()
        market = LedgerMarket.objects.filter(address=address).first()
        return self._market_info(market) if market is not None else None

    def list_markets(self) -> list[MarketInfo]:
        ledger.ensure_local_markets()
        return [self._market_info(m) for m in LedgerMarket.objects.order_by("price", "address")]

    def list_runs(self) -> list[RunInfo]:
        return [_run_info(r) for r in LedgerRun.objects.select_related("job").order_by("time", "id")]

    def list_jobs(
        self, *, market: str | None = None, payer: str | None = None, node: str | None = None
    ) -> list[JobInfo]:
        qs = LedgerJob.objects.select_related("market").order_by("-listed_at", "-id")
        if market:
            qs = qs.filter(market__address=market)
        if payer:
            qs = qs.filter(payer=payer)
        if node:
            qs = qs.filter(node=node)  # finished jobs of a node, as the chain's memcmp on `node`
        runs = {r.job_id: r for r in LedgerRun.objects.filter(job__in=qs)}
        return [_job_info(job, runs.get(job.pk)) for job in qs]

    def get_node(self, address: str) -> NodeInfo | None:
        ledger.ensure_local_markets()
        node = LedgerNode.objects.select_related("market").filter(address=address).first()
        if node is None:
            return None
        return NodeInfo(address=node.address, market=node.market.address, specs=dict(node.specs))

    def wallet_address(self) -> str | None:
        return ledger.wallet_address()

    def balances(self, address: str) -> Balances:
        # Play money: the same generous balance for any address (see `balance_note`).
        return Balances(sol=ledger.PLAY_SOL_LAMPORTS, nos=ledger.PLAY_NOS_UNITS)

    # --- ledger writes ---------------------------------------------------------------------

    def post_job(self, request: PostRequest) -> PostReceipt:
        from solders.keypair import Keypair

        try:
            cid_to_digest(request.ipfs_job)
        except (CidError, ValueError) as exc:
            raise NetworkError(f"the job definition CID {request.ipfs_job!r} is not a CIDv0") from exc
        if store.get(request.ipfs_job) is None:
            raise NetworkError(f"the job definition {request.ipfs_job} was not uploaded to the local store")
        try:
            keypair = Keypair.from_bytes(request.job_secret)
        except ValueError as exc:
            raise NetworkError("the job keypair is not a valid 64-byte keypair") from exc
        job, _created = ledger.list_job(
            job_keypair=keypair, market=request.market, ipfs_job=request.ipfs_job, timeout=request.timeout
        )
        return PostReceipt(job_address=job.address, tx_signature=job.tx_signature)

    def delist_job(self, job_address: str) -> str:
        return ledger.delist(job_address)

    def end_job(self, job_address: str) -> str:
        return ledger.end(job_address)

    def extend_job(self, job_address: str, new_timeout: int) -> str:
        return ledger.extend(job_address, new_timeout)

    # --- links -----------------------------------------------------------------------------

    def job_url(self, address: str) -> str:
        return f"/jobs/{address}"

    def market_url(self, address: str) -> str:
        return f"/markets/{address}"

    def node_url(self, address: str) -> str:
        return f"/nodes/{address}"

    def tx_url(self, signature: str) -> str:
        # No explorer for the local ledger: a listing's transaction leads to its job.
        job = LedgerJob.objects.filter(tx_signature=signature).only("address").first()
        return self.job_url(job.address) if job is not None else ""


__all__ = ["LocalNetwork"]
