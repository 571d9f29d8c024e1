"""Market sync: fills the `Market`, `Node`, `NetworkJob` and `MarketSnapshot` cache.

This is the only code that changes the markets app's rows. It reads the network
only through `nosana_dash.network.get_network(name)` (the same interface for the
local ledger and for devnet/mainnet over RPC):

1. `list_markets()` — every market account, with its queue (idle nodes or jobs waiting);
2. `list_runs()` — what runs right now, and on which node;
3. `list_jobs(market=…)` per market — history for durations, costs and node statistics;
4. `get_node(addr)` for idle and busy nodes — their self-reported specs, when they answer.

Each sync is one `SyncRun` whose `progress` the Refresh button polls, and stores one
`MarketSnapshot` per market for the sparklines and charts.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.db import close_old_connections, transaction
from django.utils import timezone

from markets import selectors
from markets.models import Market, MarketSnapshot, NetworkJob, Node, PriceQuote, QueueType, SyncRun
from nosana_dash.network import NETWORK_NAMES, get_network, prices
from nosana_dash.network.base import JobInfo, MarketInfo, Network, NetworkError, NodeInfo, RunInfo

log = logging.getLogger(__name__)

KNOWN_MARKETS_FILE = Path(__file__).resolve().parent / "known_markets.json"
SYSTEM_PROGRAM = "11111111111111111111111111111111"
# Bounds per sync, so a large network never makes one sync unbounded.
MAX_JOBS_PER_MARKET = 2000
MAX_SPEC_LOOKUPS = 100
SPEC_RECHECK = timedelta(hours=1)
STALE_SYNC = timedelta(minutes=10)  # an unfinished sync older than this is treated as dead


class SyncError(Exception):
    pass


@dataclass(frozen=True)
class KnownMarket:
    name: str
    gpu: str
    vram_gb: int | None


@lru_cache(maxsize=1)
def _known_markets() -> dict[str, dict[str, KnownMarket]]:
    raw: dict[str, Any] = json.loads(KNOWN_MARKETS_FILE.read_text())
    known: dict[str, dict[str, KnownMarket]] = {}
    for network in NETWORK_NAMES:
        entries = raw.get(network, {})
        known[network] = {
            address: KnownMarket(
                name=entry.get("name") or "", gpu=entry.get("gpu") or "", vram_gb=entry.get("vram_gb")
            )
            for address, entry in entries.items()
        }
    return known


def known_market(network: str, address: str) -> KnownMarket | None:
    """The curated name/GPU of a market address, or None when it is not in the file."""
    return _known_markets().get(network, {}).get(address)


def check_network(network: str) -> str:
    if network not in NETWORK_NAMES:
        raise SyncError(f"unknown network {network!r}: choose one of {', '.join(NETWORK_NAMES)}")
    return network


# --- running a sync ---------------------------------------------------------------


def _progress(run: SyncRun, percent: int, message: str) -> None:
    run.progress = percent
    run.message = message[:300]
    SyncRun.objects.filter(pk=run.pk).update(progress=percent, message=run.message)


def _finish(run: SyncRun, *, ok: bool, message: str) -> None:
    run.ok = ok
    run.progress = 100
    run.message = message[:300]
    run.finished_at = timezone.now()
    run.save(update_fields=["ok", "progress", "message", "finished_at"])


def active_sync(network: str) -> SyncRun | None:
    """The unfinished sync of this network, if one started recently."""
    return (
        SyncRun.objects.filter(
            network=network, finished_at__isnull=True, started_at__gte=timezone.now() - STALE_SYNC
        )
        .order_by("-started_at")
        .first()
    )


def _run_in_thread(run_id: int) -> None:
    close_old_connections()
    try:
        run_sync(sync_run_id=run_id)
    finally:
        close_old_connections()
        from django.db import connection

        connection.close()


def _start_background(run_id: int) -> None:
    """Runs the sync beside the web server, so the Refresh button answers at once."""
    threading.Thread(target=_run_in_thread, args=(run_id,), name=f"market-sync-{run_id}", daemon=True).start()


# Tests replace this to run the sync inline.
start_background: Callable[[int], None] = _start_background


def request_sync(*, network: str) -> SyncRun:
    """Start a sync of `network` (or join the one already running) and return its SyncRun."""
    check_network(network)
    with transaction.atomic():
        running = active_sync(network)
        if running is not None:
            return running
        run = SyncRun.objects.create(network=network, message="queued")
    transaction.on_commit(lambda: start_background(run.pk))
    return run


def ensure_cached(*, network: str) -> None:
    """Fill the local network's cache before its first sync, so pickers list its markets at once.

    Only for `local`: its ledger is this database, so the sync is quick and reaches nothing outside
    (no spec lookups, no price quote).
    Remote networks fill on the interval or from the Refresh button.
    """
    if network == "local" and not Market.objects.filter(network=network).exists():
        sync_network(network=network, include_specs=False, include_price=False)


def sync_network(*, network: str, include_specs: bool = True, include_price: bool = True) -> SyncRun:
    """Sync now, in this thread (commands and the interval worker)."""
    check_network(network)
    run = SyncRun.objects.create(network=network, message="starting")
    run_sync(sync_run_id=run.pk, include_specs=include_specs, include_price=include_price)
    run.refresh_from_db()
    return run


def run_sync(
    *, sync_run_id: int, include_specs: bool = True, net: Network | None = None, include_price: bool = True
) -> None:
    run = SyncRun.objects.get(pk=sync_run_id)
    try:
        network = net if net is not None else get_network(run.network)
        summary = _sync(run, network, include_specs=include_specs, include_price=include_price)
    except NetworkError as exc:
        log.warning("market sync of %s failed: %s", run.network, exc.message)
        _finish(run, ok=False, message=exc.message)
        return
    except Exception as exc:  # a failed sync must end its SyncRun, or the button spins for ever
        log.exception("market sync of %s crashed", run.network)
        _finish(run, ok=False, message=f"sync failed ({type(exc).__name__}); see the server log")
        return
    _finish(run, ok=not summary.errors, message=summary.message())


@dataclass
class _Summary:
    markets: int = 0
    running: int = 0
    nodes: int = 0
    jobs: int = 0
    errors: list[str] = field(default_factory=list)

    def message(self) -> str:
        text = f"{self.markets} markets, {self.running} running jobs, {self.nodes} nodes, {self.jobs} jobs"
        if self.errors:
            text += f"; {len(self.errors)} problem(s): " + "; ".join(self.errors[:3])
        return text


# A quote is shared by every network's sync: ask the price source at most this often.
PRICE_REFRESH = timedelta(seconds=60)
PRICE_KEEP = timedelta(days=7)


def refresh_price(*, transport: Any = None, force: bool = False) -> PriceQuote | None:
    """Store a fresh NOS/USD quote when a price source is configured; None when none is.

    Raises NetworkError when the source fails; the last stored quote stays in use.
    """
    from django.conf import settings

    if not settings.NOSANA_PRICE_SOURCE_URL:
        return None
    now = timezone.now()
    latest = PriceQuote.objects.order_by("-fetched_at").first()
    if latest is not None and not force and now - latest.fetched_at < PRICE_REFRESH:
        return latest
    usd = prices.fetch_usd_per_nos(transport=transport)
    quote = PriceQuote.objects.create(usd_per_nos=usd.quantize(Decimal("0.00000001")), fetched_at=now)
    PriceQuote.objects.filter(fetched_at__lt=now - PRICE_KEEP).delete()
    return quote


def _sync(run: SyncRun, net: Network, *, include_specs: bool, include_price: bool = True) -> _Summary:
    summary = _Summary()
    try:
        if include_price:
            refresh_price()
    except NetworkError as exc:  # prices are extra: the sync of the network goes on
        summary.errors.append(f"USD price: {exc.message}")
    _progress(run, 5, "reading markets")
    markets = net.list_markets()
    summary.markets = len(markets)
    _progress(run, 20, f"{len(markets)} markets; reading running jobs")
    runs = net.list_runs()
    summary.running = len(runs)

    jobs_by_market: dict[str, list[JobInfo]] = {}
    for index, market in enumerate(markets, start=1):
        try:
            jobs_by_market[market.address] = _recent(net.list_jobs(market=market.address))
        except NetworkError as exc:
            summary.errors.append(f"jobs of {market.address[:8]}…: {exc.message}")
        _progress(run, 20 + 50 * index // max(1, len(markets)), f"read jobs of {index}/{len(markets)} markets")

    now = timezone.now()
    runs_by_job = {r.job: r for r in runs}
    jobs = [_merge_run(job, runs_by_job.get(job.address)) for items in jobs_by_market.values() for job in items]
    summary.jobs = len(jobs)
    job_market = {job.address: job.market for job in jobs}
    running_per_market: dict[str, int] = defaultdict(int)
    for r in runs:
        if r.job in job_market:
            running_per_market[job_market[r.job]] += 1

    with transaction.atomic():
        _store_markets(run.network, markets, running_per_market, now)
        _store_jobs(run.network, jobs, now)
        node_rows = _store_nodes(run.network, markets, runs, jobs, job_market, now)
    summary.nodes = len(node_rows)

    if include_specs:
        _refresh_specs(run, net, node_rows, summary)
    return summary


def _recent(jobs: list[JobInfo]) -> list[JobInfo]:
    """Queued and running jobs first, then the most recently started, up to the bound."""
    if len(jobs) <= MAX_JOBS_PER_MARKET:
        return jobs
    active = [j for j in jobs if j.state in ("QUEUED", "RUNNING")]
    done = sorted((j for j in jobs if j.state not in ("QUEUED", "RUNNING")), key=lambda j: -j.time_start)
    return (active + done)[:MAX_JOBS_PER_MARKET]


def _merge_run(job: JobInfo, run: RunInfo | None) -> JobInfo:
    """A run account means RUNNING, with node and start from the run (spec §4)."""
    if run is None or job.state == "COMPLETED":
        return job
    return JobInfo(
        address=job.address,
        ipfs_job=job.ipfs_job,
        ipfs_result=job.ipfs_result,
        market=job.market,
        node=run.node,
        payer=job.payer,
        project=job.project,
        price=job.price,
        state="RUNNING",
        time_start=run.time,
        time_end=job.time_end,
        timeout=job.timeout,
    )


def _market_fields(network: str, info: MarketInfo) -> dict[str, Any]:
    known = known_market(network, info.address)
    queue = list(info.queue)
    access = info.node_access_key or ""
    if access == SYSTEM_PROGRAM:
        access = ""
    return {
        "name": info.name or (known.name if known else ""),
        "gpu": info.gpu or (known.gpu if known else ""),
        "vram_gb": info.vram_gb if info.vram_gb is not None else (known.vram_gb if known else None),
        "price": info.price,
        "timeout": info.timeout,
        "job_expiration": info.job_expiration,
        "job_type": info.job_type,
        "queue_type": info.queue_type,
        "queue": queue,
        "idle_nodes": len(queue) if info.queue_type == QueueType.NODES else 0,
        "jobs_waiting": len(queue) if info.queue_type == QueueType.JOBS else 0,
        "node_access_key": access,
        "node_xnos_minimum": Decimal(info.node_xnos_minimum),
    }


def _store_markets(
    network: str, markets: list[MarketInfo], running: dict[str, int], now: datetime
) -> list[Market]:
    stored: list[Market] = []
    for info in markets:
        values = _market_fields(network, info)
        values["running_jobs"] = running.get(info.address, 0)
        values["synced_at"] = now
        market, _ = Market.objects.update_or_create(network=network, address=info.address, defaults=values)
        stored.append(market)
    # Markets the network no longer reports are gone (closed accounts).
    Market.objects.filter(network=network).exclude(address__in=[m.address for m in markets]).delete()
    MarketSnapshot.objects.bulk_create(
        MarketSnapshot(
            market=m,
            taken_at=now,
            price=m.price,
            idle_nodes=m.idle_nodes,
            jobs_waiting=m.jobs_waiting,
            running_jobs=m.running_jobs,
        )
        for m in stored
    )
    draw_sparks(network=network, now=now)
    return stored


def draw_sparks(
    *,
    network: str,
    now: datetime | None = None,
    markets_model: type[Market] = Market,
    snapshots_model: type[MarketSnapshot] = MarketSnapshot,
) -> int:
    """Store each market's sparklines (price, idle nodes, jobs waiting) drawn from its latest snapshots.

    Done once per sync rather than on every page view: two queries and one UPDATE per market.
    Returns the number of markets drawn. The models can be a migration's historical ones
    (migration 0004 draws the markets that predate `sparks` this way).
    """
    markets = list(markets_model.objects.filter(network=network).only("pk", "sparks"))
    series = selectors.latest_snapshots([m.pk for m in markets], now=now, model=snapshots_model)
    for market in markets:
        rows = series[market.pk]
        market.sparks = {
            "price": selectors.spark_json([float(price) for price, _, _ in rows]),
            "idle": selectors.spark_json([float(idle) for _, idle, _ in rows]),
            "waiting": selectors.spark_json([float(waiting) for _, _, waiting in rows]),
        }
    markets_model.objects.bulk_update(markets, ["sparks"], batch_size=200)
    return len(markets)


def _store_jobs(network: str, jobs: list[JobInfo], now: datetime) -> None:
    rows = [
        NetworkJob(
            network=network,
            address=job.address,
            market=job.market,
            node=job.node or "",
            ipfs_job=job.ipfs_job,
            has_result=bool(job.ipfs_result),
            state=job.state,
            price=job.price,
            timeout=job.timeout,
            time_start=job.time_start,
            time_end=job.time_end,
            synced_at=now,
        )
        for job in jobs
    ]
    NetworkJob.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["network", "address"],
        update_fields=[
            "market", "node", "ipfs_job", "has_result", "state", "price", "timeout",
            "time_start", "time_end", "synced_at",
        ],
    )


@dataclass
class _NodeStats:
    market: str = ""
    current_job: str = ""
    idle: bool = False
    jobs_done: int = 0
    jobs_succeeded: int = 0
    total_duration: int = 0
    last_end: int = 0
    last_market: str = ""


def _node_stats(
    markets: Iterable[MarketInfo], runs: Iterable[RunInfo], jobs: Iterable[JobInfo], job_market: dict[str, str]
) -> dict[str, _NodeStats]:
    stats: dict[str, _NodeStats] = defaultdict(_NodeStats)
    for market in markets:
        if market.queue_type == QueueType.NODES:
            for address in market.queue:
                stats[address].market = market.address
                stats[address].idle = True
    for r in runs:
        stats[r.node].current_job = r.job
        if r.job in job_market and not stats[r.node].market:
            stats[r.node].market = job_market[r.job]
    for job in jobs:
        if not job.node or job.node == SYSTEM_PROGRAM or job.state != "COMPLETED":
            continue
        s = stats[job.node]
        s.jobs_done += 1
        # On chain, "succeeded" can only mean "finished with a result document".
        s.jobs_succeeded += 1 if job.ipfs_result else 0
        if job.time_end >= job.time_start > 0:
            s.total_duration += job.time_end - job.time_start
        if job.time_end > s.last_end:
            s.last_end = job.time_end
            s.last_market = job.market
    return stats


def _store_nodes(
    network: str,
    markets: list[MarketInfo],
    runs: list[RunInfo],
    jobs: list[JobInfo],
    job_market: dict[str, str],
    now: datetime,
) -> list[Node]:
    stats = _node_stats(markets, runs, jobs, job_market)
    rows = []
    for address, s in stats.items():
        seen = now if (s.idle or s.current_job) else (
            datetime.fromtimestamp(s.last_end, tz=UTC) if s.last_end else None
        )
        rows.append(
            Node(
                network=network,
                address=address,
                market=s.market or s.last_market,
                current_job=s.current_job,
                jobs_done=s.jobs_done,
                jobs_succeeded=s.jobs_succeeded,
                total_duration=s.total_duration,
                last_seen=seen,
                synced_at=now,
            )
        )
    # Nodes not reported now are not running anything any more.
    Node.objects.filter(network=network).exclude(current_job="").update(current_job="", synced_at=now)
    Node.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["network", "address"],
        update_fields=[
            "market", "current_job", "jobs_done", "jobs_succeeded", "total_duration", "last_seen", "synced_at",
        ],
    )
    return rows


def _refresh_specs(run: SyncRun, net: Network, nodes: list[Node], summary: _Summary) -> None:
    """Ask idle and busy nodes for their specs; keep the last answer, never guess."""
    cutoff = timezone.now() - SPEC_RECHECK
    recent = set(
        Node.objects.filter(network=run.network, specs_checked_at__gte=cutoff).values_list("address", flat=True)
    )
    # Idle (in a queue) or busy nodes are the ones seen this sync; others are likely offline.
    wanted = [n.address for n in nodes if n.last_seen == n.synced_at and n.address not in recent]
    wanted = wanted[:MAX_SPEC_LOOKUPS]
    for index, address in enumerate(wanted, start=1):
        try:
            info = net.get_node(address)
        except NetworkError as exc:
            summary.errors.append(f"node {address[:8]}…: {exc.message}")
            info = None
        if info is not None:
            _store_specs(run.network, info)
        _progress(run, 70 + 29 * index // max(1, len(wanted)), f"asked {index}/{len(wanted)} nodes for their specs")


def _store_specs(network: str, info: NodeInfo) -> None:
    nodes = Node.objects.filter(network=network, address=info.address)
    if info.specs is not None:
        nodes.update(specs=info.specs, specs_checked_at=timezone.now())
    if info.market:
        nodes.filter(market="").update(market=info.market)


# --- single lookups (commands) ------------------------------------------------------


def refresh_market(*, network: str, address: str) -> Market | None:
    """Read one market now and update its cached row; None when it does not exist."""
    check_network(network)
    info = get_network(network).get_market(address)
    if info is None:
        return None
    values = _market_fields(network, info)
    values["synced_at"] = timezone.now()
    market, _ = Market.objects.update_or_create(network=network, address=address, defaults=values)
    return market


def refresh_node(*, network: str, address: str) -> Node | None:
    """Ask the network about one node now; None when the network knows nothing of it."""
    check_network(network)
    info = get_network(network).get_node(address)
    node = Node.objects.filter(network=network, address=address).first()
    if info is None:
        return node
    if node is None:
        node = Node.objects.create(network=network, address=address, market=info.market or "", synced_at=timezone.now())
    _store_specs(network, info)
    node.refresh_from_db()
    return node
