"""The market picker for the composer and the post step: "Will it run, and when, and for how much?"

How to include it (posting/composer helpers):

    from markets.picker import picker_context

    context.update(picker_context(
        network="local",              # which network's markets
        timeout_seconds=3600,         # the job's timeout, in SECONDS (None: each market's own)
        definition=definition_dict,   # the job definition as a dict (or None)
        ipfs_job=cid_or_none,         # the definition's CIDv0, for the cost range from earlier runs
        selected=market_address,      # the chosen market ("" for none)
        field_name="market",          # the form field the radio buttons post
    ))
    {% include "markets/_picker.html" %}

Template `markets/_picker.html` renders a `<fieldset>` of radio buttons named
`picker_field_name`, one per market, inside your own `<form>` (it has no form of its
own, so it works without JavaScript). Context keys: `picker_rows` (list of
`PickerRow`), `picker_network`, `picker_timeout` (seconds), `picker_selected`,
`picker_field_name`, `picker_requirements` (`Requirements`), `picker_any_idle`, `picker_usd`
(a USD/hour column: a quote from `NOSANA_PRICE_SOURCE_URL` exists).

The same partial is served at `markets:picker` (GET or POST; parameters `network`,
`timeout_minutes`, `market`, `field`, and either `definition` (JSON text) or `cid`),
so htmx can refresh it when the timeout or the definition changes:
`hx-get="{% url 'markets:picker' %}" hx-include="…" hx-target="#market-picker"`.

Selector: `picker_rows(network=…, timeout_seconds=…, definition=…, ipfs_job=…)` → list of
`PickerRow`, cheapest fitting markets first. It reads the cache only (no network call):
4 queries whatever the number of markets (5 with a price source configured).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from statistics import median
from typing import Any

from django.db.models import F

from jobs.models import Job
from markets.models import Market, NetworkJob
from markets.selectors import usd_per_hour, usd_per_nos
from nosana_dash.network.base import NOS_DECIMALS

_VRAM_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(gb|gib|g|mb|mib|m)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Requirements:
    vram_gb: float | None = None  # from meta.system_resources / system_requirements required_vram
    gpu: bool = False  # any op (or global) asks for the GPU
    notes: tuple[str, ...] = ()


def _vram_gb(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        match = _VRAM_RE.match(value)
        if match:
            number = float(match.group(1))
            unit = (match.group(2) or "gb").lower()
            return number / 1024 if unit.startswith("m") else number
    return None


def job_requirements(definition: dict[str, Any] | None) -> Requirements:
    """What the definition asks of a node. Meta hints are advisory on Nosana; we use them to warn."""
    if not isinstance(definition, dict):
        return Requirements()
    meta = definition.get("meta") if isinstance(definition.get("meta"), dict) else {}
    vram: float | None = None
    notes: list[str] = []
    for key in ("system_resources", "system_requirements"):
        hints = meta.get(key) if isinstance(meta, dict) else None
        if isinstance(hints, dict) and "required_vram" in hints:
            vram = _vram_gb(hints["required_vram"])
            if vram is None:
                notes.append(f"meta.{key}.required_vram is not a size ({hints['required_vram']!r}); ignored")
            break
    glob = definition.get("global") if isinstance(definition.get("global"), dict) else {}
    gpu = bool(isinstance(glob, dict) and glob.get("gpu") is True)
    for op in definition.get("ops") or []:
        args = op.get("args") if isinstance(op, dict) else None
        if isinstance(args, dict) and args.get("gpu") is True:
            gpu = True
    return Requirements(vram_gb=vram, gpu=gpu, notes=tuple(notes))


@dataclass(frozen=True)
class PickerRow:
    market: Market
    label: str
    nos_per_hour: Decimal
    idle_nodes: int
    jobs_waiting: int
    running_jobs: int
    max_cost_nos: Decimal  # price × timeout: the deposit, the most it can cost
    cost_low_nos: Decimal | None  # price × the shortest earlier run of the same definition
    cost_high_nos: Decimal | None  # price × the longest (capped at the timeout)
    earlier_runs: int
    fits: str  # "yes", "no", "unknown"
    reasons: tuple[str, ...]
    wait: str  # plain words
    wait_seconds: int | None
    selected: bool = False
    warnings: tuple[str, ...] = field(default=())
    usd_per_hour: Decimal | None = None  # only with a quote from the configured price source
    timeout_seconds: int = 0  # the timeout the costs are computed for


def _fit(market: Market, req: Requirements) -> tuple[str, list[str]]:
    reasons: list[str] = []
    verdict = "yes"
    if req.vram_gb is not None:
        if market.vram_gb is None:
            verdict = "unknown"
            reasons.append(f"needs {req.vram_gb:g} GB VRAM; this market's GPU memory is not known")
        elif market.vram_gb < req.vram_gb:
            return "no", [f"needs {req.vram_gb:g} GB VRAM; {market.gpu or 'this GPU'} has {market.vram_gb} GB"]
        else:
            reasons.append(f"{market.vram_gb} GB VRAM ≥ {req.vram_gb:g} GB needed")
    if req.gpu and not market.gpu:
        verdict = "unknown" if verdict == "yes" else verdict
        reasons.append("the job uses the GPU; this market's GPU is not known")
    return verdict, reasons


def _duration_text(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _wait(market: Market, typical: float | None) -> tuple[str, int | None]:
    """Idle nodes: now. Jobs waiting: (waiting + 1) × typical run ÷ nodes busy in this market."""
    if market.idle_nodes > 0:
        return f"starts now ({market.idle_nodes} idle)", 0
    if typical is None:
        return ("waits for a node; no run history to estimate how long", None)
    busy = max(1, market.running_jobs)
    seconds = int((market.jobs_waiting + 1) * typical / busy)
    return f"about {_duration_text(seconds)} (queue {market.jobs_waiting}, {busy} busy)", seconds


def _nos(units: int | float | Decimal) -> Decimal:
    return (Decimal(units) / NOS_DECIMALS).quantize(Decimal("0.000001"))


def picker_rows(
    *,
    network: str,
    timeout_seconds: int | None,
    definition: dict[str, Any] | None = None,
    ipfs_job: str | None = None,
    selected: str = "",
    select_first: bool = False,
) -> list[PickerRow]:
    """`timeout_seconds=None`: each market's own job timeout (what posting without one uses).
    `select_first`: with no (known) `selected` market, check the first row, the best fit."""
    req = job_requirements(definition)
    markets = list(Market.objects.filter(network=network).defer("queue", "sparks").order_by("price", "address"))
    usd = usd_per_nos()
    addresses = [m.address for m in markets]
    # Typical run time per market: the median of recent completed runs (one query).
    durations: dict[str, list[int]] = {a: [] for a in addresses}
    done = (
        NetworkJob.objects.filter(
            network=network, market__in=addresses, state="COMPLETED", time_start__gt=0, time_end__gte=F("time_start")
        )
        .order_by("-time_start")
        .values_list("market", "time_start", "time_end")[:5000]
    )
    for market, start, end in done:
        durations[market].append(end - start)
    # Earlier runs of the same definition, on any market of this network (chain + this dashboard).
    earlier: list[int] = []
    if ipfs_job:
        earlier += [
            end - start
            for start, end in NetworkJob.objects.filter(
                network=network, ipfs_job=ipfs_job, state="COMPLETED", time_start__gt=0, time_end__gte=F("time_start")
            ).values_list("time_start", "time_end")[:1000]
        ]
        earlier += [
            int((end - start).total_seconds())
            for start, end in Job.objects.filter(
                network=network, ipfs_job=ipfs_job, time_start__isnull=False, time_end__isnull=False
            ).values_list("time_start", "time_end")[:1000]
            if start is not None and end is not None and end >= start
        ]
    rows = []
    for m in markets:
        timeout = timeout_seconds if timeout_seconds is not None else m.timeout
        verdict, reasons = _fit(m, req)
        typical = median(durations[m.address]) if durations[m.address] else None
        wait_text, wait_seconds = _wait(m, typical)
        low = high = None
        if earlier:
            low = _nos(m.price * min(min(earlier), timeout))
            high = _nos(m.price * min(max(earlier), timeout))
        warnings = []
        if m.idle_nodes == 0:
            warnings.append("No idle node: the job will wait in the queue until a node takes it.")
        if m.node_access_key:
            warnings.append("Nodes need an access key to join this market.")
        rows.append(
            PickerRow(
                market=m,
                label=m.name or m.gpu or m.address,
                nos_per_hour=_nos(m.price * 3600),
                idle_nodes=m.idle_nodes,
                jobs_waiting=m.jobs_waiting,
                running_jobs=m.running_jobs,
                max_cost_nos=_nos(m.price * timeout),
                cost_low_nos=low,
                cost_high_nos=high,
                earlier_runs=len(earlier),
                fits=verdict,
                reasons=tuple(reasons),
                wait=wait_text,
                wait_seconds=wait_seconds,
                selected=m.address == selected,
                warnings=tuple(warnings),
                usd_per_hour=usd_per_hour(_nos(m.price * 3600), usd),
                timeout_seconds=timeout,
            )
        )
    order = {"yes": 0, "unknown": 1, "no": 2}
    rows.sort(key=lambda r: (order[r.fits], r.idle_nodes == 0, r.market.price, r.market.address))
    if select_first and rows and not any(r.selected for r in rows):
        rows[0] = replace(rows[0], selected=True)
    return rows


def picker_context(
    *,
    network: str,
    timeout_seconds: int | None,
    definition: dict[str, Any] | None = None,
    ipfs_job: str | None = None,
    selected: str = "",
    field_name: str = "market",
    select_first: bool = False,
) -> dict[str, Any]:
    rows = picker_rows(
        network=network, timeout_seconds=timeout_seconds, definition=definition, ipfs_job=ipfs_job, selected=selected,
        select_first=select_first,
    )
    return {
        "picker_rows": rows,
        "picker_usd": any(r.usd_per_hour is not None for r in rows),
        "picker_network": network,
        "picker_timeout": timeout_seconds,
        "picker_selected": selected,
        "picker_field_name": field_name,
        "picker_requirements": job_requirements(definition),
        "picker_any_idle": any(r.idle_nodes > 0 for r in rows),
    }
