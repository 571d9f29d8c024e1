"""Market and node pages. Short functions: parse, call a selector or service, render.

Every page works as plain GET/POST; for htmx requests aimed at a table the view
renders only that table's partial.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from markets import selectors, services
from markets.models import SyncRun
from markets.picker import picker_context
from nosana_dash.network import NETWORK_NAMES

MAX_DEFINITION_CHARS = 200_000


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
    data = selectors.market_page(filters)
    context: dict[str, Any] = {
        "network": network,
        "networks": NETWORK_NAMES,
        "filters": filters,
        "errors": errors,
        "data": data,
        "headers": _sort_headers(sort, filters.descending, list(selectors.MARKET_SORTS)),
        "sync": data.last_sync,
        "min_price": request.GET.get("min_price", ""),
        "max_price": request.GET.get("max_price", ""),
    }
    template = "markets/list.html#table" if _wants_partial(request, "market-table") else "markets/list.html"
    return render(request, template, context, status=400 if errors else 200)


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
    detail = selectors.market_detail(market, page=selectors.parse_page(request.GET.get("page")))
    chart = {
        "jobs": {"t": [t for t, _ in detail.jobs_per_hour], "n": [n for _, n in detail.jobs_per_hour]},
        "history": detail.history,
    }
    context = {
        "network": network,
        "d": detail,
        "m": market,
        "bars": selectors.bars(detail.jobs_per_hour),
        "chart_json": json.dumps(chart, separators=(",", ":")),
        "compose_url": f"{reverse('jobs:new')}?{urlencode({'market': market.address, 'network': network})}",
    }
    return render(request, "markets/detail.html", context)


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
    data = selectors.node_page(filters)
    context = {
        "network": network,
        "networks": NETWORK_NAMES,
        "filters": filters,
        "data": data,
        "headers": _sort_headers(sort, filters.descending, list(selectors.NODE_SORTS)),
    }
    template = "markets/nodes.html#table" if _wants_partial(request, "node-table") else "markets/nodes.html"
    return render(request, template, context)


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
