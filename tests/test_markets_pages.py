# ruff: noqa: F811  (the RPC-fake fixtures are shared with test_markets_sync)
"""Markets and nodes pages: content, sort, filter, search, pagination, bounded queries, refresh, picker."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from markets import services
from markets.models import Market, MarketSnapshot, NetworkJob, Node, SyncRun
from markets.picker import job_requirements, picker_rows
from nosana_dash.network.base import NOS_DECIMALS
from tests.test_markets_sync import KEYS, MARKET_AT, VECTORS, _sync, chain, remote  # noqa: F401  (fixtures)


def _make_markets(count: int, network: str = "local") -> list[Market]:
    now = timezone.now()
    markets = Market.objects.bulk_create(
        Market(
            network=network,
            address=f"Mkt{i:041d}",
            name=f"Market {i}" if i % 2 else "",
            gpu=f"GPU-{i % 3}",
            vram_gb=8 * (i % 3 + 1),
            price=10 * (i + 1),
            timeout=600 * (i + 1),
            queue_type="nodes" if i % 2 else "jobs",
            queue=[],
            idle_nodes=i % 4,
            jobs_waiting=(i + 1) % 3,
            running_jobs=i % 5,
            synced_at=now,
        )
        for i in range(count)
    )
    MarketSnapshot.objects.bulk_create(
        MarketSnapshot(
            market=m, taken_at=now - timedelta(hours=h), price=m.price + h, idle_nodes=h % 3, jobs_waiting=h % 2,
            running_jobs=1,
        )
        for m in markets
        for h in range(5)
    )
    services.draw_sparks(network=network)  # as the sync does after storing snapshots
    return markets


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-market="([^"]+)"', html)


@pytest.mark.django_db
def test_market_list_shows_decoded_markets(client: Client, remote: Any) -> None:
    _sync(remote)
    html = client.get(reverse("markets:list"), {"network": "mainnet"}).content.decode()
    for name, address in MARKET_AT.items():
        assert address[:4] in html
        decoded = VECTORS[name]["decoded"]
        per_second = format((Decimal(decoded["jobPrice"]) / NOS_DECIMALS).normalize(), "f")
        assert f"{per_second} NOS/s" in html
    known = services.known_market("mainnet", MARKET_AT["market_node_queue"])
    assert known is not None and known.name in html
    assert "name unknown" in html  # the other markets are shown by address
    assert "access key" in html and ">open<" in html
    assert "USD/hour" not in html  # no price source configured


@pytest.mark.django_db
def test_market_list_sorts_by_every_column_without_js(client: Client) -> None:
    _make_markets(6)
    by_price = _rows(client.get(reverse("markets:list"), {"sort": "price"}).content.decode())
    expected = list(Market.objects.filter(network="local").order_by("price").values_list("address", flat=True))
    assert by_price == expected
    desc = _rows(client.get(reverse("markets:list"), {"sort": "price", "dir": "desc"}).content.decode())
    assert desc == expected[::-1]
    for key in ("name", "gpu", "timeout", "idle", "waiting", "running", "access", "vram"):
        response = client.get(reverse("markets:list"), {"sort": key, "dir": "desc"})
        assert response.status_code == 200
        assert len(_rows(response.content.decode())) == 6
    by_idle = _rows(client.get(reverse("markets:list"), {"sort": "idle", "dir": "desc"}).content.decode())
    idle = dict(Market.objects.values_list("address", "idle_nodes"))
    assert [idle[a] for a in by_idle] == sorted(idle.values(), reverse=True)


@pytest.mark.django_db
def test_market_list_filters_and_search(client: Client) -> None:
    markets = _make_markets(9)
    html = client.get(reverse("markets:list"), {"gpu": "GPU-1"}).content.decode()
    assert set(_rows(html)) == {m.address for m in markets if m.gpu == "GPU-1"}
    # Price filter in NOS per hour.
    limit = Decimal(markets[3].price * 3600) / NOS_DECIMALS
    html = client.get(reverse("markets:list"), {"max_price": str(limit)}).content.decode()
    assert set(_rows(html)) == {m.address for m in markets if m.price <= markets[3].price}
    html = client.get(reverse("markets:list"), {"min_price": str(limit)}).content.decode()
    assert set(_rows(html)) == {m.address for m in markets if m.price >= markets[3].price}
    html = client.get(reverse("markets:list"), {"q": "Market 5"}).content.decode()
    assert _rows(html) == [markets[5].address]


@pytest.mark.django_db
def test_bad_filter_input_is_a_clear_message(client: Client) -> None:
    _make_markets(2)
    response = client.get(reverse("markets:list"), {"min_price": "cheap", "page": "x", "sort": "nope"})
    assert response.status_code == 400
    assert "Minimum price must be a number" in response.content.decode()


@pytest.mark.django_db
def test_htmx_gets_only_the_table(client: Client) -> None:
    _make_markets(3)
    response = client.get(reverse("markets:list"), {"sort": "price"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="market-table")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="market-table"')
    assert "<html" not in html and len(_rows(html)) == 3


def _queries(client: Client, url: str, params: dict[str, str] | None = None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_market_list_paginates_with_bounded_queries(client: Client, django_assert_max_num_queries: Any) -> None:
    _make_markets(3)
    few = _queries(client, reverse("markets:list"))
    # 60 more markets: still the same number of queries, and 25 rows per page.
    now = timezone.now()
    Market.objects.bulk_create(
        Market(network="local", address=f"Big{i:041d}", price=i + 1, timeout=60, synced_at=now) for i in range(60)
    )
    many = _queries(client, reverse("markets:list"))
    assert many == few
    with django_assert_max_num_queries(6):
        html = client.get(reverse("markets:list"), {"page": "2"}).content.decode()
    assert len(_rows(html)) == 25 and "page 2 of 3" in html


@pytest.mark.django_db
def test_sparklines_render_as_svg_from_snapshots(client: Client) -> None:
    _make_markets(1)
    html = client.get(reverse("markets:list")).content.decode()
    assert html.count("<polyline") == 3  # price, idle nodes, jobs waiting
    assert 'style="' not in html and "<script>" not in html  # CSP: no inline style or script


@pytest.mark.django_db
def test_market_detail(client: Client, remote: Any) -> None:
    _sync(remote)
    address = VECTORS["job_queued"]["decoded"]["market"]
    response = client.get(reverse("markets:detail", args=[address]), {"network": "mainnet"})
    html = response.content.decode()
    assert response.status_code == 200
    for queued in VECTORS["market_job_queue"]["decoded"]["queue"]:
        assert queued in html  # queue members
    assert "Running now" in html and KEYS["job"][:4] in html
    compose = re.search(r'id="compose-here" href="([^"]+)"', html)
    assert compose is not None
    assert compose.group(1).startswith(reverse("jobs:new") + "?market=" + address)
    assert 'data-chart="jobs"' in html and "<rect" in html


@pytest.mark.django_db
def test_market_detail_shows_durations_and_costs(client: Client, remote: Any) -> None:
    _sync(remote)
    done = NetworkJob.objects.filter(state="COMPLETED", has_result=True).first()
    assert done is not None and done.duration is not None and done.cost is not None
    html = client.get(reverse("markets:detail", args=[done.market]), {"network": "mainnet"}).content.decode()
    cost = format((Decimal(done.cost) / NOS_DECIMALS).quantize(Decimal("0.000001")).normalize(), "f")
    assert cost in html
    assert f"{done.duration} s" in html


@pytest.mark.django_db
def test_unknown_market_and_node_are_404_pages(client: Client) -> None:
    assert client.get(reverse("markets:detail", args=["nope"])).status_code == 404
    assert client.get(reverse("markets:node", args=["nope"])).status_code == 404


@pytest.mark.django_db
def test_nodes_pages(client: Client, remote: Any) -> None:
    _sync(remote)
    html = client.get(reverse("markets:nodes"), {"network": "mainnet"}).content.decode()
    for address in VECTORS["market_node_queue"]["decoded"]["queue"]:
        assert address[:4] in html
    node_html = client.get(reverse("markets:node", args=[KEYS["node"]]), {"network": "mainnet"}).content.decode()
    assert "AMD Ryzen 9" in node_html and "NVIDIA GeForce RTX 4090" in node_html
    silent = Node.objects.filter(network="mainnet", specs__isnull=True).first()
    assert silent is not None
    silent_html = client.get(reverse("markets:node", args=[silent.address]), {"network": "mainnet"}).content.decode()
    assert "Specs: <strong>unknown</strong>" in silent_html


@pytest.mark.django_db
def test_nodes_list_bounded_queries(client: Client) -> None:
    now = timezone.now()
    Node.objects.bulk_create(Node(network="local", address=f"N{i:043d}", synced_at=now, jobs_done=i) for i in range(3))
    few = _queries(client, reverse("markets:nodes"), {"sort": "success"})
    Node.objects.bulk_create(Node(network="local", address=f"M{i:043d}", synced_at=now, jobs_done=i) for i in range(80))
    assert _queries(client, reverse("markets:nodes"), {"sort": "success"}) == few
    html = client.get(reverse("markets:nodes"), {"sort": "jobs", "dir": "desc"}).content.decode()
    assert "page 1 of 4" in html


@pytest.mark.django_db
def test_refresh_needs_sign_in_and_post(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    monkeypatch.setattr(services, "start_background", started.append)
    response = client.post(reverse("markets:refresh"), {"network": "local"})
    assert response.status_code == 302 and reverse("login") in response["Location"]
    user = get_user_model().objects.create_user("ann", password="pw-123456789")
    client.force_login(user)
    assert client.get(reverse("markets:refresh")).status_code == 405
    response = client.post(reverse("markets:refresh"), {"network": "local"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    run = SyncRun.objects.get()
    assert "<progress" in response.content.decode()
    progress = client.get(reverse("markets:refresh_progress", args=[run.pk]), {"polling": "1"}, HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in progress
    services.run_sync(sync_run_id=run.pk)
    done = client.get(reverse("markets:refresh_progress", args=[run.pk]), {"polling": "1"}, HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"


def test_job_requirements_reads_meta_hints() -> None:
    assert job_requirements({"meta": {"system_resources": {"required_vram": 18}}}).vram_gb == 18
    assert job_requirements({"meta": {"system_requirements": {"required_vram": "16GB"}}}).vram_gb == 16
    assert job_requirements({"global": {"gpu": True}, "ops": []}).gpu is True
    assert job_requirements({"ops": [{"args": {"gpu": True}}]}).gpu is True
    bad = job_requirements({"meta": {"system_resources": {"required_vram": "lots"}}})
    assert bad.vram_gb is None and bad.notes


@pytest.mark.django_db
def test_picker_fits_wait_and_cost(client: Client, django_assert_max_num_queries: Any) -> None:
    markets = _make_markets(3)
    cid = "QmRSLxBU9iemsmjmHMmmqkwEkqujuYSrtPeNYqoNRGmmxT"
    NetworkJob.objects.create(
        network="local", address="J1", market=markets[0].address, state="COMPLETED", ipfs_job=cid, price=markets[0].price,
        time_start=1000, time_end=1041, synced_at=timezone.now(),
    )
    NetworkJob.objects.create(
        network="local", address="J2", market=markets[1].address, state="COMPLETED", ipfs_job=cid, price=markets[1].price,
        time_start=1000, time_end=1100, synced_at=timezone.now(),
    )
    need = markets[1].vram_gb
    definition = {"meta": {"system_resources": {"required_vram": need}}, "ops": []}
    with django_assert_max_num_queries(4):
        rows = picker_rows(network="local", timeout_seconds=3600, definition=definition, ipfs_job=cid)
    by_address = {r.market.address: r for r in rows}
    for m in markets:
        row = by_address[m.address]
        assert row.fits == ("yes" if m.vram_gb >= need else "no")
        assert row.max_cost_nos == Decimal(m.price * 3600) / NOS_DECIMALS
        assert row.cost_low_nos == Decimal(m.price * 41) / NOS_DECIMALS
        assert row.cost_high_nos == Decimal(m.price * 100) / NOS_DECIMALS
        assert bool(row.warnings and "No idle node" in row.warnings[0]) == (m.idle_nodes == 0)
    assert [r.fits for r in rows] == sorted((r.fits for r in rows), key={"yes": 0, "unknown": 1, "no": 2}.get)
    html = client.get(
        reverse("markets:picker"), {"timeout_minutes": "60", "market": markets[0].address}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="market-picker"' in html and "checked" in html and "<html" not in html
    page = client.get(reverse("markets:picker"), {"timeout_minutes": "abc", "definition": "{oops"}).content.decode()
    assert "not valid JSON" in page and "<html" in page
