"""What keeps the list pages fast: sparklines drawn at sync time, tables cached per data version, bounded queries."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from markets import selectors, services
from markets.models import Market, MarketSnapshot, NetworkJob, Node, PriceQuote

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    caches["pages"].clear()


def _market(i: int, **extra: Any) -> Market:
    values: dict[str, Any] = {
        "network": "local", "address": f"Perf{i:040d}", "name": f"Perf {i}", "gpu": "A100", "vram_gb": 40,
        "price": 100 + i, "timeout": 3600, "queue_type": "nodes", "idle_nodes": 1, "synced_at": timezone.now(),
    }
    values.update(extra)
    return Market.objects.create(**values)


def _table(html: str, table_id: str) -> str:
    start = html.index(f'<div id="{table_id}"')
    return html[start:html.index("</table>", start)]


def _queries(client: Client, url: str, params: dict[str, str] | None = None) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        html = client.get(url, params or {}).content.decode()
    return len(captured), html


def test_sync_draws_each_sparkline_from_the_latest_snapshots_in_the_window() -> None:
    market = _market(1)
    now = timezone.now()
    count = selectors.SPARK_POINTS + 10
    snaps = [
        MarketSnapshot(market=market, taken_at=now - timedelta(minutes=30 * k), price=1000 + (k * 37) % 101,
                       idle_nodes=k % 7, jobs_waiting=k % 3, running_jobs=0)
        for k in range(count)
    ]
    old = MarketSnapshot(market=market, taken_at=now - selectors.SPARK_WINDOW - timedelta(hours=1), price=10**9,
                         idle_nodes=99, jobs_waiting=99, running_jobs=0)
    MarketSnapshot.objects.bulk_create([*snaps, old])
    assert services.draw_sparks(network="local", now=now) == 1
    market.refresh_from_db()
    latest = sorted(snaps, key=lambda s: s.taken_at)[-selectors.SPARK_POINTS:]
    for key, values in (("price", [s.price for s in latest]), ("idle", [s.idle_nodes for s in latest]),
                        ("waiting", [s.jobs_waiting for s in latest])):
        spark = market.sparks[key]
        assert (spark["low"], spark["high"], spark["last"]) == (min(values), max(values), values[-1])
        assert spark["points"] == selectors.spark_points([float(v) for v in values])


def test_markets_table_is_served_from_the_cache_until_the_markets_change(client: Client, settings: Any) -> None:
    markets = [_market(i) for i in range(3)]
    url = reverse("markets:list")
    first_queries, first = _queries(client, url)
    again_queries, again = _queries(client, url)
    assert _table(again, "market-table") == _table(first, "market-table") and again_queries < first_queries
    assert "csrfmiddlewaretoken" not in _table(first, "market-table")  # nothing per-user in the cached part
    # A sync rewrites the market (and stamps synced_at): the page shows it at once.
    Market.objects.filter(pk=markets[0].pk).update(name="Renamed by a sync", synced_at=timezone.now())
    assert "Renamed by a sync" in client.get(url).content.decode()
    # A new USD quote changes the table too.
    settings.NOSANA_PRICE_SOURCE_URL = "http://127.0.0.1:9/price"
    PriceQuote.objects.create(usd_per_nos=Decimal("0.5"), fetched_at=timezone.now())
    assert "USD/hour" in client.get(url).content.decode()
    # Each query string is its own entry: sort links and pages stay right.
    by_price = re.findall(r'<tr data-market="([^"]+)"', client.get(url, {"sort": "price", "dir": "desc"}).content.decode())
    assert by_price == [m.address for m in sorted(markets, key=lambda m: -m.price)]


def test_bad_filters_are_never_cached(client: Client) -> None:
    _market(1)
    response = client.get(reverse("markets:list"), {"min_price": "cheap"})
    assert response.status_code == 400 and b"must be a number" in response.content
    assert b"must be a number" not in client.get(reverse("markets:list")).content


def test_nodes_table_is_cached_until_a_sync_or_spec_lookup(client: Client) -> None:
    market = _market(1)
    now = timezone.now()
    node = Node.objects.create(network="local", address="PerfNode" + "9" * 36, market=market.address,
                               jobs_done=4, jobs_succeeded=3, total_duration=400, last_seen=now, synced_at=now)
    url = reverse("markets:nodes")
    first_queries, first = _queries(client, url)
    assert "Perf 1" in first and ">reported<" not in first
    again_queries, again = _queries(client, url)
    assert _table(again, "node-table") == _table(first, "node-table") and again_queries < first_queries
    Node.objects.filter(pk=node.pk).update(specs={"info": {"country": "NL"}}, specs_checked_at=timezone.now())
    assert ">reported<" in client.get(url).content.decode()


def test_pages_cost_a_fixed_number_of_queries(client: Client, django_assert_max_num_queries: Any) -> None:
    market = _market(1)
    now = timezone.now()
    stamp = int(now.timestamp())
    Node.objects.bulk_create(
        Node(network="local", address=f"PerfNode{i:036d}", market=market.address, last_seen=now, synced_at=now)
        for i in range(60)
    )
    NetworkJob.objects.bulk_create(
        NetworkJob(network="local", address=f"PerfJob{i:037d}", market=market.address, node=f"PerfNode{i:036d}",
                   state="COMPLETED", price=market.price, time_start=stamp - 100 * i, time_end=stamp - 100 * i + 30,
                   synced_at=now)
        for i in range(60)
    )
    with django_assert_max_num_queries(9):
        assert client.get(reverse("markets:detail", args=[market.address])).status_code == 200
    with django_assert_max_num_queries(6):  # version, count, page, market names, market filter, last sync
        assert client.get(reverse("markets:nodes")).status_code == 200


def test_market_page_body_is_cached_until_the_next_sync_of_the_market(client: Client) -> None:
    market = _market(1)
    url = reverse("markets:detail", args=[market.address])
    first_queries, first = _queries(client, url)
    again_queries, again = _queries(client, url)
    assert again_queries < first_queries and _body(again) == _body(first)
    Market.objects.filter(pk=market.pk).update(running_jobs=7, synced_at=timezone.now())
    assert "<dt>Running jobs</dt><dd>7</dd>" in client.get(url).content.decode()


def _body(html: str) -> str:
    return html[html.index('<main id="main"'):html.index("</main>")]
