"""Market and node pages. Short functions: parse, call a selector or service, render.

Every page works as plain GET/POST; for htmx requests aimed at a table the view
renders only that table's partial.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from markets import selectors, services
from markets.models import Market, SyncRun
from markets.picker import picker_context
from nosana_dash.network import NETWORK_NAMES

MAX_DEFINITION_CHARS = 200_000
TABLE_CACHE_SECONDS = 300
RELATIVE_TIME_CACHE_SECONDS = 60  # pages that say "3 minutes ago"


def _network(request: HttpRequest) -> str:
    raw = request.GET.get("network") or request.POST.get("network") or settings.NOSANA_DEFAULT_NETWORK
    return raw if raw in NETWORK_NAMES else settings.NOSANA_DEFAULT_NETWORK


def _sort_headers(current: str, descending: bool, keys: list[str]) -> dict[str, dict[str, str]]:
    """For each sortable column: the direction its link asks for and its aria-sort."""
    headers = {}
    for key in keys:
        if key == current:
            headers[key] = {"dir": "asc" if descending else "desc", "aria": "descending" if descending else "ascending"}
        else:
            headers[key] = {"dir": "asc", "aria": "none"}
    return headers


def _wants_partial(request: HttpRequest, target: str) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and getattr(htmx, "target", None) == target


@require_GET
def market_list(request: HttpRequest) -> HttpResponse:
    network = _network(request)
    errors: list[str] = []
    sort = request.GET.get("sort", selectors.DEFAULT_MARKET_SORT)
    if sort not in selectors.MARKET_SORTS:
        sort = selectors.DEFAULT_MARKET_SORT
    filters = selectors.MarketFilters(
        network=network,
        sort=sort,
        descending=request.GET.get("dir") == "desc",
        gpu=request.GET.get("gpu", "")[:120],
        min_nos_hour=selectors.parse_decimal(request.GET.get("min_price"), "Minimum price", errors),
        max_nos_hour=selectors.parse_decimal(request.GET.get("max_price"), "Maximum price", errors),
        q=request.GET.get("q", "").strip()[:100],
        page=selectors.parse_page(request.GET.get("page")),
    )
    context: dict[str, Any] = {
        "network": network,
        "networks": NETWORK_NAMES,
        "filters": filters,
        "errors": errors,
        "headers": _sort_headers(sort, filters.descending, list(selectors.MARKET_SORTS)),
        "min_price": request.GET.get("min_price", ""),
        "max_price": request.GET.get("max_price", ""),
    }
    partial = _wants_partial(request, "market-table")
    version, gpus = selectors.markets_frame(network)
    table = _cached_html(request, "markets/list.html#table", version,
                         lambda: {"data": selectors.market_page(filters)}, context, cacheable=not errors)
    if partial:
        return HttpResponse(table, status=400 if errors else 200)
    context.update(table_html=table, gpus=gpus, sync=selectors.last_sync(network))
    return render(request, "markets/list.html", context, status=400 if errors else 200)


def _cached_html(
    request: HttpRequest, template: str, version: str, build: Callable[[], dict[str, Any]], context: dict[str, Any], *,
    cacheable: bool = True, seconds: int = TABLE_CACHE_SECONDS,
) -> str:
    """A partial rendered once per change of its data, then served from the cache.

    Markets and nodes change only when a sync (or a market/node command) writes them, so the
    HTML is cached under `version` (see `selectors.markets_version`/`nodes_version`) and the
    exact query string (the sort and page links keep every parameter); `seconds` bounds how
    stale relative times ("3 minutes ago") can get.
    """
    htmx = getattr(request, "htmx", None)
    parts = [template, context["network"], version, request.GET.urlencode(), str(bool(htmx)),
             str(getattr(htmx, "target", None))]
    key = "markets:table:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()
    cache = caches["pages"]
    table = cache.get(key) if cacheable else None
    if table is None:
        table = render_to_string(template, {**context, **build()}, request=request)
        if cacheable:
            cache.set(key, table, seconds)
    return mark_safe(table)  # noqa: S308 - rendered (and escaped) by the template above  # nosec B308, B703 - template output


@login_required
@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    network = _network(request)
    run = services.request_sync(network=network)
    if getattr(request, "htmx", None):
        return render(request, "markets/_sync.html", {"sync": run, "network": network})
    return redirect(f"{reverse('markets:list')}?{urlencode({'network': network})}")


@require_GET
def refresh_progress(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SyncRun, pk=pk)
    response = render(request, "markets/_sync.html", {"sync": run, "network": run.network})
    if run.finished_at is not None and getattr(request, "htmx", None) and request.GET.get("polling"):
        response["HX-Refresh"] = "true"  # the sync finished: show the fresh numbers
    return response


@require_GET
def market_detail(request: HttpRequest, address: str) -> HttpResponse:
    network = _network(request)
    market = selectors.get_market(network, address)
    if market is None:
        return render(
            request, "markets/missing.html", {"kind": "market", "address": address, "network": network}, status=404
        )
    page = selectors.parse_page(request.GET.get("page"))
    context = {"network": network, "m": market}
    # The body changes when a sync rewrites the market and its jobs (synced_at), with a new USD
    # quote, and each hour (the jobs-per-hour chart).
    hour = int(time.time()) // selectors.SECONDS_PER_HOUR
    version = f"{market.pk}:{market.synced_at.isoformat()}:{selectors.usd_version()}:{hour}"
    body = _cached_html(request, "markets/detail.html#body", version,
                        lambda: _market_body(market, network, page), context, seconds=RELATIVE_TIME_CACHE_SECONDS)
    return render(request, "markets/detail.html", {**context, "body_html": body})


def _market_body(market: Market, network: str, page: int) -> dict[str, Any]:
    detail = selectors.market_detail(market, page=page)
    chart = {
        "jobs": {"t": [t for t, _ in detail.jobs_per_hour], "n": [n for _, n in detail.jobs_per_hour]},
        "history": detail.history,
    }
    return {
        "d": detail,
        "bars": selectors.bars(detail.jobs_per_hour),
        "chart_json": json.dumps(chart, separators=(",", ":")),
        "compose_url": f"{reverse('jobs:new')}?{urlencode({'market': market.address, 'network': network})}",
    }


@require_GET
def node_list(request: HttpRequest) -> HttpResponse:
    network = _network(request)
    sort = request.GET.get("sort", selectors.DEFAULT_NODE_SORT)
    if sort not in selectors.NODE_SORTS:
        sort = selectors.DEFAULT_NODE_SORT
    busy = request.GET.get("busy", "")
    filters = selectors.NodeFilters(
        network=network,
        sort=sort,
        descending=request.GET.get("dir", "desc") == "desc",
        market=request.GET.get("market", "")[:64],
        q=request.GET.get("q", "").strip()[:100],
        busy=busy if busy in ("running", "idle") else "",
        page=selectors.parse_page(request.GET.get("page")),
    )
    context: dict[str, Any] = {
        "network": network,
        "networks": NETWORK_NAMES,
        "filters": filters,
        "headers": _sort_headers(sort, filters.descending, list(selectors.NODE_SORTS)),
    }
    table = _cached_html(request, "markets/nodes.html#table", selectors.nodes_version(network),
                         lambda: {"data": selectors.node_page(filters)}, context, seconds=RELATIVE_TIME_CACHE_SECONDS)
    if _wants_partial(request, "node-table"):
        return HttpResponse(table)
    context.update(table_html=table, markets=selectors.market_choices(network))
    return render(request, "markets/nodes.html", context)


@require_GET
def node_detail(request: HttpRequest, address: str) -> HttpResponse:
    network = _network(request)
    node = selectors.get_node(network, address)
    if node is None:
        return render(
            request, "markets/missing.html", {"kind": "node", "address": address, "network": network}, status=404
        )
    detail = selectors.node_detail(node, page=selectors.parse_page(request.GET.get("page")))
    return render(request, "markets/node.html", {"network": network, "d": detail, "n": node})


def _int_param(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        return default
    return min(max(value, low), high)


@require_http_methods(["GET", "POST"])
def picker(request: HttpRequest) -> HttpResponse:
    """The market picker partial (see markets.picker for the parameters)."""
    params = request.POST if request.method == "POST" else request.GET
    network = params.get("network") if params.get("network") in NETWORK_NAMES else settings.NOSANA_DEFAULT_NETWORK
    minutes = _int_param(params.get("timeout_minutes"), 60, 1, 60 * 24 * 30)
    definition: dict[str, Any] | None = None
    problem = ""
    text = params.get("definition", "")
    if text:
        if len(text) > MAX_DEFINITION_CHARS:
            problem = "The definition is too large to check here."
        else:
            try:
                parsed = json.loads(text)
                definition = parsed if isinstance(parsed, dict) else None
            except json.JSONDecodeError as exc:
                problem = f"The definition is not valid JSON (line {exc.lineno}): requirements not checked."
    field = params.get("field", "market")
    context = picker_context(
        network=str(network),
        timeout_seconds=minutes * 60,
        definition=definition,
        ipfs_job=(params.get("cid") or "")[:64] or None,
        selected=(params.get("market") or "")[:64],
        field_name=field if field.isidentifier() else "market",
    )
    context.update({"picker_problem": problem, "timeout_minutes": minutes, "network": network})
    htmx = getattr(request, "htmx", None)
    template = "markets/_picker.html" if htmx else "markets/picker_page.html"
    return render(request, template, context)
