"""Reads of the markets cache for pages and commands. Every list is paginated and
costs a fixed number of queries, whatever the page size or the number of rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, FloatField, Q, QuerySet, Value, Window
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


def _snapshots_by_market(
    market_ids: list[int], *, since: timedelta = SPARK_WINDOW, last: int = SPARK_POINTS
) -> dict[int, list[MarketSnapshot]]:
    """One query for the latest `last` snapshots of each given market, oldest first."""
    grouped: dict[int, list[MarketSnapshot]] = {pk: [] for pk in market_ids}
    if not market_ids:
        return grouped
    rows = (
        MarketSnapshot.objects.filter(market_id__in=market_ids, taken_at__gte=timezone.now() - since)
        .annotate(rank=Window(RowNumber(), partition_by=[F("market_id")], order_by=F("taken_at").desc()))
        .filter(rank__lte=last)
        .order_by("market_id", "taken_at")
    )
    for snap in rows:
        grouped[snap.market_id].append(snap)
    return grouped


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    t: int
    n: int


def bars(series: list[tuple[int, int]], *, width: int = 600, height: int = 120) -> list[Bar]:
    """SVG bars for a (time, count) series: the chart without JavaScript."""
    if not series:
        return []
    top = max(n for _, n in series) or 1
    step = width / len(series)
    return [
        Bar(x=i * step + 1, y=height - n / top * height, width=max(step - 2, 1), height=n / top * height, t=t, n=n)
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
    gpus: list[str]
    usd_per_nos: Decimal | None
    last_sync: SyncRun | None
    total: int


def market_page(f: MarketFilters, *, page_size: int = PAGE_SIZE) -> MarketPage:
    """Queries: count, page, snapshots, GPU options, last sync, price quote (when configured)."""
    paginator = Paginator(filter_markets(f), page_size)
    page = paginator.get_page(f.page)
    markets = list(page.object_list)
    snaps = _snapshots_by_market([m.pk for m in markets])
    usd = usd_per_nos()
    rows = []
    for m in markets:
        series = snaps[m.pk][-SPARK_POINTS:]
        per_hour = nos_per_hour(m.price)
        rows.append(
            MarketRow(
                market=m,
                nos_per_second=Decimal(m.price) / NOS_DECIMALS,
                nos_per_hour=per_hour,
                usd_per_hour=(per_hour * usd).quantize(Decimal("0.0001")) if usd is not None else None,
                price_spark=Spark.of([float(s.price) for s in series]),
                idle_spark=Spark.of([float(s.idle_nodes) for s in series]),
                waiting_spark=Spark.of([float(s.jobs_waiting) for s in series]),
            )
        )
    gpus = list(
        Market.objects.filter(network=f.network).exclude(gpu="").order_by("gpu").values_list("gpu", flat=True).distinct()
    )
    return MarketPage(
        page=page,
        rows=rows,
        gpus=gpus,
        usd_per_nos=usd,
        last_sync=last_sync(f.network),
        total=paginator.count,
    )


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


def _job_rows(jobs: list[NetworkJob]) -> list[JobRow]:
    mine = set(Job.objects.filter(address__in=[j.address for j in jobs]).values_list("address", flat=True))
    return [JobRow(job=j, duration=j.duration, cost_nos=nos(j.cost), posted_here=j.address in mine) for j in jobs]


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
    snaps = _snapshots_by_market([market.pk], last=500)[market.pk]
    history = {
        "t": [s.taken_at.timestamp() for s in snaps],
        "price": [float(nos_per_hour(s.price)) for s in snaps],
        "idle": [float(s.idle_nodes) for s in snaps],
        "waiting": [float(s.jobs_waiting) for s in snaps],
        "running": [float(s.running_jobs) for s in snaps],
    }
    done = jobs.filter(state="COMPLETED", time_start__gt=0, time_end__gte=F("time_start"))
    avg = done.annotate(d=Cast(F("time_end") - F("time_start"), FloatField())).values_list("d", flat=True)[:500]
    durations = list(avg)
    usd = usd_per_nos()
    per_hour_nos = nos_per_hour(market.price)
    return MarketDetail(
        market=market,
        nos_per_hour=per_hour_nos,
        usd_per_hour=(per_hour_nos * usd).quantize(Decimal("0.0001")) if usd is not None else None,
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
    markets: list[tuple[str, str]]
    total: int


def node_page(f: NodeFilters, *, page_size: int = PAGE_SIZE) -> NodePage:
    """Queries: count, page, market names (for the filter and the rows)."""
    paginator = Paginator(filter_nodes(f), page_size)
    page = paginator.get_page(f.page)
    markets = [
        (address, name or gpu or address)
        for address, name, gpu in Market.objects.filter(network=f.network)
        .order_by("price")
        .values_list("address", "name", "gpu")
    ]
    return NodePage(page=page, market_names=dict(markets), markets=markets, total=paginator.count)


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
