"""Reads of the markets cache for pages and commands. Every list is paginated and
costs a fixed number of queries, whatever the page size or the number of rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, FloatField, Max, Q, QuerySet, Value, Window
from django.db.models.functions import Cast, Coalesce, Lower, NullIf, RowNumber
from django.utils import timezone

from jobs.models import Job
from markets.models import Market, MarketSnapshot, NetworkJob, Node, PriceQuote, SyncRun
from nosana_dash.network.base import NOS_DECIMALS

PAGE_SIZE = 25
SPARK_POINTS = 48
SPARK_WINDOW = timedelta(days=7)
SECONDS_PER_HOUR = 3600


def nos(units: int | None) -> Decimal | None:
    """NOS base units as NOS."""
    return None if units is None else Decimal(units) / NOS_DECIMALS


def nos_per_hour(price_per_second: int) -> Decimal:
    return Decimal(price_per_second * SECONDS_PER_HOUR) / NOS_DECIMALS


def usd_per_nos() -> Decimal | None:
    """The latest NOS price in USD, or None when no price source is configured or it never answered."""
    from django.conf import settings

    if not settings.NOSANA_PRICE_SOURCE_URL:
        return None
    quote = PriceQuote.objects.order_by("-fetched_at").first()
    return quote.usd_per_nos if quote else None


# --- sparklines -----------------------------------------------------------------------


def spark_points(values: list[float], *, width: int = 100, height: int = 24, pad: int = 2) -> str:
    """SVG polyline points for a sparkline: drawn by the server, so it works without JS."""
    if not values:
        return ""
    if len(values) == 1:
        values = values * 2
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    inner = height - 2 * pad
    return " ".join(
        f"{i * step:.1f},{pad + inner - (v - low) / span * inner:.1f}" for i, v in enumerate(values)
    )


@dataclass(frozen=True)
class Spark:
    points: str
    low: float
    high: float
    last: float

    @classmethod
    def of(cls, values: list[float]) -> Spark | None:
        if not values:
            return None
        return cls(points=spark_points(values), low=min(values), high=max(values), last=values[-1])

    @classmethod
    def stored(cls, data: Any) -> Spark | None:
        """The sparkline the sync stored on the market (see `spark_json`); None when there is none."""
        if not isinstance(data, dict) or not data.get("points"):
            return None
        return cls(points=str(data["points"]), low=float(data["low"]), high=float(data["high"]),
                   last=float(data["last"]))


def spark_json(values: list[float]) -> dict[str, Any] | None:
    """A sparkline as stored in `Market.sparks` (JSON), or None without values."""
    spark = Spark.of(values)
    if spark is None:
        return None
    return {"points": spark.points, "low": spark.low, "high": spark.high, "last": spark.last}


def latest_snapshots(
    market_ids: list[int],
    *,
    since: timedelta = SPARK_WINDOW,
    last: int = SPARK_POINTS,
    now: datetime | None = None,
    model: type[MarketSnapshot] = MarketSnapshot,
) -> dict[int, list[tuple[int, int, int]]]:
    """One query: the latest `last` (price, idle nodes, jobs waiting) of each market, oldest first.

    `model` may be a migration's historical MarketSnapshot."""
    grouped: dict[int, list[tuple[int, int, int]]] = {pk: [] for pk in market_ids}
    if not market_ids:
        return grouped
    rows = (
        model.objects.filter(market_id__in=market_ids, taken_at__gte=(now or timezone.now()) - since)
        .annotate(rank=Window(RowNumber(), partition_by=[F("market_id")], order_by=F("taken_at").desc()))
        .filter(rank__lte=last)
        .order_by("market_id", "taken_at")
        .values_list("market_id", "price", "idle_nodes", "jobs_waiting")
    )
    for market_id, price, idle, waiting in rows:
        grouped[market_id].append((price, idle, waiting))
    return grouped


def _snapshot_history(market_id: int, *, since: timedelta = SPARK_WINDOW, last: int = 500) -> list[tuple[Any, ...]]:
    """(taken_at, price, idle, waiting, running) of one market's latest snapshots, oldest first."""
    rows = list(
        MarketSnapshot.objects.filter(market_id=market_id, taken_at__gte=timezone.now() - since)
        .order_by("-taken_at")
        .values_list("taken_at", "price", "idle_nodes", "jobs_waiting", "running_jobs")[:last]
    )
    rows.reverse()
    return rows


@dataclass(frozen=True)
class Bar:
    """One bar's SVG attributes, formatted here once rather than by template filters per attribute."""

    x: str
    y: str
    width: str
    height: str
    t: int
    n: int
    title: str  # "2026-11-25 13:00 UTC: 5"


def bars(series: list[tuple[int, int]], *, width: int = 600, height: int = 120) -> list[Bar]:
    """SVG bars for a (time, count) series: the chart without JavaScript."""
    if not series:
        return []
    top = max(n for _, n in series) or 1
    step = width / len(series)
    return [
        Bar(
            x=f"{i * step + 1:.1f}", y=f"{height - n / top * height:.1f}", width=f"{max(step - 2, 1):.1f}",
            height=f"{n / top * height:.1f}", t=t, n=n,
            title=f"{datetime.fromtimestamp(t, tz=UTC):%Y-%m-%d %H:00} UTC: {n}",
        )
        for i, (t, n) in enumerate(series)
    ]


# --- markets list -------------------------------------------------------------------------


def _sort_key(expression: Any, descending: bool) -> Any:
    return expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)


MARKET_SORTS: dict[str, Any] = {
    "name": Lower(Coalesce(NullIf("name", Value("")), "address")),
    "gpu": Lower(NullIf("gpu", Value(""))),
    "vram": F("vram_gb"),
    "price": F("price"),
    "timeout": F("timeout"),
    "idle": F("idle_nodes"),
    "waiting": F("jobs_waiting"),
    "running": F("running_jobs"),
    "access": F("node_access_key"),
}
DEFAULT_MARKET_SORT = "price"


@dataclass(frozen=True)
class MarketFilters:
    network: str
    sort: str = DEFAULT_MARKET_SORT
    descending: bool = False
    gpu: str = ""
    min_nos_hour: Decimal | None = None
    max_nos_hour: Decimal | None = None
    q: str = ""
    page: int = 1


def parse_decimal(raw: str | None, label: str, errors: list[str]) -> Decimal | None:
    """A non-negative decimal from a query parameter; a clear message when it is not one."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        errors.append(f"{label} must be a number, like 0.5 (got {raw[:20]!r}).")
        return None
    if not value.is_finite() or value < 0:
        errors.append(f"{label} must be zero or more.")
        return None
    return value


def parse_page(raw: str | None) -> int:
    try:
        return max(1, int(raw or "1"))
    except ValueError:
        return 1


def filter_markets(f: MarketFilters) -> QuerySet[Market]:
    qs = Market.objects.filter(network=f.network)
    if f.gpu:
        qs = qs.filter(gpu=f.gpu)
    # Price filters are in NOS per hour on the page; the column is base units per second.
    if f.min_nos_hour is not None:
        qs = qs.filter(price__gte=_units_per_second(f.min_nos_hour, up=True))
    if f.max_nos_hour is not None:
        qs = qs.filter(price__lte=_units_per_second(f.max_nos_hour, up=False))
    if f.q:
        qs = qs.filter(Q(name__icontains=f.q) | Q(gpu__icontains=f.q) | Q(address__icontains=f.q))
    key = MARKET_SORTS.get(f.sort, MARKET_SORTS[DEFAULT_MARKET_SORT])
    return qs.order_by(_sort_key(key, f.descending), "address")


def _units_per_second(nos_hour: Decimal, *, up: bool) -> int:
    exact = nos_hour * NOS_DECIMALS / SECONDS_PER_HOUR
    whole = int(exact)
    return whole + 1 if up and exact > whole else whole


@dataclass(frozen=True)
class MarketRow:
    market: Market
    nos_per_second: Decimal
    nos_per_hour: Decimal
    usd_per_hour: Decimal | None
    price_spark: Spark | None
    idle_spark: Spark | None
    waiting_spark: Spark | None


@dataclass(frozen=True)
class MarketPage:
    page: Page[Market]
    rows: list[MarketRow]
    usd_per_nos: Decimal | None
    total: int


# What the markets table shows: the queue itself (one address per node, thousands on a big
# market) is left in the database.
_LIST_FIELDS = (
    "id", "network", "address", "name", "gpu", "vram_gb", "price", "timeout", "idle_nodes", "jobs_waiting",
    "running_jobs", "node_access_key", "sparks", "synced_at",
)


def market_page(f: MarketFilters, *, page_size: int = PAGE_SIZE) -> MarketPage:
    """The table: count, page, price quote (when configured). The page adds GPU options and last sync.

    Sparklines come drawn from the sync (`Market.sparks`), not from the snapshots table.
    """
    paginator = Paginator(filter_markets(f).only(*_LIST_FIELDS), page_size)
    page = paginator.get_page(f.page)
    usd = usd_per_nos()
    rows = []
    for m in page.object_list:
        per_hour = nos_per_hour(m.price)
        sparks = m.sparks if isinstance(m.sparks, dict) else {}
        rows.append(
            MarketRow(
                market=m,
                nos_per_second=Decimal(m.price) / NOS_DECIMALS,
                nos_per_hour=per_hour,
                usd_per_hour=usd_per_hour(per_hour, usd),
                price_spark=Spark.stored(sparks.get("price")),
                idle_spark=Spark.stored(sparks.get("idle")),
                waiting_spark=Spark.stored(sparks.get("waiting")),
            )
        )
    return MarketPage(page=page, rows=rows, usd_per_nos=usd, total=paginator.count)


def usd_per_hour(nos_hour: Decimal, usd: Decimal | None) -> Decimal | None:
    """NOS per hour in USD at the quoted rate, to the hundredth of a cent; None without a quote."""
    return None if usd is None else (nos_hour * usd).quantize(Decimal("0.0001"))


def market_gpus(network: str) -> list[str]:
    """The GPU filter's options."""
    return markets_frame(network)[1]


def markets_frame(network: str) -> tuple[str, list[str]]:
    """(version, GPU options) in one query over the network's markets (tens, not thousands).

    The version changes whenever the markets table can change: every write of market rows goes
    through a sync or `refresh_market`, which set `synced_at`; a deleted market changes the count;
    a new USD quote changes the quote id.
    """
    rows = list(Market.objects.filter(network=network).values_list("gpu", "synced_at"))
    last = max((synced for _, synced in rows), default=None)
    version = f"{len(rows)}:{last.isoformat() if last else '-'}:{usd_version()}"
    return version, sorted({gpu for gpu, _ in rows if gpu})


def markets_version(network: str) -> str:
    return markets_frame(network)[0]


def usd_version() -> str:
    """Which USD quote the pages show: none without a price source, else the latest quote's id."""
    from django.conf import settings

    if not settings.NOSANA_PRICE_SOURCE_URL:
        return "-"
    return str(PriceQuote.objects.order_by("-fetched_at").values_list("pk", flat=True).first())


def last_sync(network: str) -> SyncRun | None:
    return SyncRun.objects.filter(network=network).order_by("-started_at").first()


def get_market(network: str, address: str) -> Market | None:
    return Market.objects.filter(network=network, address=address).first()


def market_names(network: str, addresses: set[str]) -> dict[str, str]:
    """address → display name (curated name or GPU), one query."""
    if not addresses:
        return {}
    return {
        address: name or gpu
        for address, name, gpu in Market.objects.filter(network=network, address__in=addresses).values_list(
            "address", "name", "gpu"
        )
    }


# --- one market ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRow:
    job: NetworkJob
    duration: int | None
    cost_nos: Decimal | None
    posted_here: bool
    started: datetime | None = None  # time_start as a UTC datetime, None before the start


def _job_rows(jobs: list[NetworkJob]) -> list[JobRow]:
    if not jobs:
        return []
    mine = set(Job.objects.filter(address__in=[j.address for j in jobs]).order_by().values_list("address", flat=True))
    return [
        JobRow(
            job=j, duration=j.duration, cost_nos=nos(j.cost), posted_here=j.address in mine,
            started=datetime.fromtimestamp(j.time_start, tz=UTC) if j.time_start else None,
        )
        for j in jobs
    ]


@dataclass(frozen=True)
class MarketDetail:
    market: Market
    nos_per_hour: Decimal
    usd_per_hour: Decimal | None
    running: list[JobRow]
    recent: Page[NetworkJob]
    recent_rows: list[JobRow]
    jobs_per_hour: list[tuple[int, int]]  # (unix hour start, jobs started)
    history: dict[str, list[float]]  # series for the chart: t, price (NOS/h), idle, waiting, running
    queue_is_nodes: bool
    avg_duration: float | None


def market_detail(market: Market, *, page: int = 1, hours: int = 48) -> MarketDetail:
    jobs = NetworkJob.objects.filter(network=market.network, market=market.address)
    running = list(jobs.filter(state="RUNNING").order_by("-time_start")[:50])
    recent = Paginator(jobs.exclude(state="RUNNING").order_by("-time_start", "address"), PAGE_SIZE).get_page(page)
    since = int(timezone.now().timestamp()) - hours * SECONDS_PER_HOUR
    per_hour = (
        jobs.filter(time_start__gte=since)
        .annotate(hour=F("time_start") / SECONDS_PER_HOUR)
        .values("hour")
        .annotate(n=Count("id"))
        .order_by("hour")
    )
    counts = {int(row["hour"]): row["n"] for row in per_hour}
    first_hour = since // SECONDS_PER_HOUR + 1
    last_hour = int(timezone.now().timestamp()) // SECONDS_PER_HOUR
    series = [(h * SECONDS_PER_HOUR, counts.get(h, 0)) for h in range(first_hour, last_hour + 1)]
    snaps = _snapshot_history(market.pk)
    history = {
        "t": [taken.timestamp() for taken, *_ in snaps],
        "price": [float(nos_per_hour(price)) for _, price, *_ in snaps],
        "idle": [float(idle) for _, _, idle, _, _ in snaps],
        "waiting": [float(waiting) for *_, waiting, _ in snaps],
        "running": [float(running) for *_, running in snaps],
    }
    done = jobs.filter(state="COMPLETED", time_start__gt=0, time_end__gte=F("time_start"))
    avg = done.annotate(d=Cast(F("time_end") - F("time_start"), FloatField())).values_list("d", flat=True)[:500]
    durations = list(avg)
    usd = usd_per_nos()
    per_hour_nos = nos_per_hour(market.price)
    return MarketDetail(
        market=market,
        nos_per_hour=per_hour_nos,
        usd_per_hour=usd_per_hour(per_hour_nos, usd),
        running=_job_rows(running),
        recent=recent,
        recent_rows=_job_rows(list(recent.object_list)),
        jobs_per_hour=series,
        history=history,
        queue_is_nodes=market.queue_type == "nodes",
        avg_duration=sum(durations) / len(durations) if durations else None,
    )


# --- nodes --------------------------------------------------------------------------------


NODE_SORTS: dict[str, Any] = {
    "address": F("address"),
    "market": F("market"),
    "jobs": F("jobs_done"),
    "success": F("success_rate"),
    "duration": F("avg_duration"),
    "seen": F("last_seen"),
}
DEFAULT_NODE_SORT = "seen"


@dataclass(frozen=True)
class NodeFilters:
    network: str
    sort: str = DEFAULT_NODE_SORT
    descending: bool = True
    market: str = ""
    q: str = ""
    busy: str = ""  # "", "running", "idle"
    page: int = 1


def _with_rates(qs: QuerySet[Node]) -> QuerySet[Node]:
    done = NullIf(F("jobs_done"), Value(0))
    return qs.annotate(
        success_rate=Cast(F("jobs_succeeded"), FloatField()) / Cast(done, FloatField()),
        avg_duration=Cast(F("total_duration"), FloatField()) / Cast(done, FloatField()),
    )


def filter_nodes(f: NodeFilters) -> QuerySet[Node]:
    qs = Node.objects.filter(network=f.network)
    if f.market:
        qs = qs.filter(market=f.market)
    if f.q:
        qs = qs.filter(Q(address__icontains=f.q) | Q(current_job__icontains=f.q))
    if f.busy == "running":
        qs = qs.exclude(current_job="")
    elif f.busy == "idle":
        qs = qs.filter(current_job="")
    key = NODE_SORTS.get(f.sort, NODE_SORTS[DEFAULT_NODE_SORT])
    return _with_rates(qs).order_by(_sort_key(key, f.descending), "address")


@dataclass(frozen=True)
class NodePage:
    page: Page[Node]
    market_names: dict[str, str]
    total: int


def market_choices(network: str) -> list[tuple[str, str]]:
    """(address, label) of the network's markets, cheapest first: the nodes page's market filter."""
    return [
        (address, name or gpu or address)
        for address, name, gpu in Market.objects.filter(network=network).order_by("price").values_list(
            "address", "name", "gpu"
        )
    ]


def node_page(f: NodeFilters, *, page_size: int = PAGE_SIZE) -> NodePage:
    """Queries: count, page, names of the page's markets."""
    paginator = Paginator(filter_nodes(f).defer("specs_checked_at"), page_size)
    page = paginator.get_page(f.page)
    names = market_names(f.network, {n.market for n in page.object_list if n.market})
    return NodePage(page=page, market_names=names, total=paginator.count)


def nodes_version(network: str) -> str:
    """Changes whenever the nodes table of `network` can change: one query.

    Syncs stamp `synced_at` on every node row they write (reported, or no longer running a job),
    spec lookups stamp `specs_checked_at`, removals change the count.
    """
    row = Node.objects.filter(network=network).aggregate(
        n=Count("id"), synced=Max("synced_at"), specs=Max("specs_checked_at")
    )
    return f"{row['n']}:{row['synced']}:{row['specs']}"


def get_node(network: str, address: str) -> Node | None:
    return _with_rates(Node.objects.filter(network=network, address=address)).first()


@dataclass(frozen=True)
class NodeDetail:
    node: Node
    market: Market | None
    jobs: Page[NetworkJob]
    job_rows: list[JobRow]
    specs: dict[str, Any] | None


def node_detail(node: Node, *, page: int = 1) -> NodeDetail:
    jobs = NetworkJob.objects.filter(network=node.network, node=node.address).order_by("-time_start", "address")
    paged = Paginator(jobs, PAGE_SIZE).get_page(page)
    return NodeDetail(
        node=node,
        market=get_market(node.network, node.market) if node.market else None,
        jobs=paged,
        job_rows=_job_rows(list(paged.object_list)),
        specs=node_specs(node.specs),
    )


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def node_specs(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The node's own /node/info answer (spec §10.4) as display fields; None when it never answered.

    Fields the node did not report stay None and the page says "unknown".
    """
    if not raw:
        return None
    info = raw.get("info", raw) if isinstance(raw.get("info", raw), dict) else raw
    devices = _dig(info, "gpus", "devices") or []
    gpu_names = [str(d.get("name")) for d in devices if isinstance(d, dict) and d.get("name")]
    vram = [d.get("memory") for d in devices if isinstance(d, dict) and isinstance(d.get("memory"), int | float)]
    cpu_model = _dig(info, "cpu", "model")
    cores = _dig(info, "cpu", "logical_cores")
    ram_mb = info.get("ram_mb")
    raw_network = info.get("network")
    network: dict[str, Any] = raw_network if isinstance(raw_network, dict) else {}
    return {
        "gpu": ", ".join(gpu_names) or None,
        "gpu_count": len(devices) if devices else None,
        "vram_mb": sum(vram) if vram else None,
        "cpu": f"{cpu_model} ({cores} threads)" if cpu_model and cores else cpu_model,
        "ram_mb": ram_mb if isinstance(ram_mb, int | float) else None,
        "disk_gb": info.get("disk_gb") if isinstance(info.get("disk_gb"), int | float) else None,
        "download_mbps": network.get("download_mbps"),
        "upload_mbps": network.get("upload_mbps"),
        "ping_ms": network.get("ping_ms"),
        "country": info.get("country") or None,
        "version": info.get("version") or None,
        "cuda": _dig(info, "gpus", "cuda_driver_version"),
        "state": raw.get("state") if "info" in raw else None,
    }
