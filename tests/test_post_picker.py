"""The post step uses the markets app's picker: price per hour, idle nodes, cost for the timeout, fit, cost range."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from jobs.services import validated_bytes
from markets.models import Market, NetworkJob
from markets.templatetags.markets_tags import nos
from nosana_dash.network import get_network
from nosana_dash.network.base import NOS_DECIMALS
from nosana_dash.network.codec.cid import cid_v0

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "post-markets"}


@pytest.fixture
def signed_in(client: Client) -> Client:
    client.force_login(User.objects.create_user("picker", password="pw-123456789"))
    return client


def _devnet_markets() -> list[Market]:
    """Two cached devnet markets: a busy big GPU and an idle small one (no network call is needed)."""
    now = timezone.now()
    return [
        Market.objects.create(network="devnet", address="BigGpu" + "1" * 38, name="Big", gpu="H100", vram_gb=80,
                              price=400, timeout=3600, queue_type="jobs", jobs_waiting=3, idle_nodes=0, synced_at=now),
        Market.objects.create(network="devnet", address="SmallGpu" + "2" * 36, name="Small", gpu="RTX 3060",
                              vram_gb=12, price=50, timeout=1800, queue_type="nodes", idle_nodes=2, synced_at=now),
    ]


def _max_cost(market: Market, seconds: int) -> str:
    return nos((Decimal(market.price * seconds) / NOS_DECIMALS).quantize(Decimal("0.000001")))


def _checked(html: str) -> list[str]:
    return re.findall(r'name="market" value="([^"]+)" checked', html)


def test_local_markets_appear_in_the_picker_without_a_prior_sync(signed_in: Client) -> None:
    html = signed_in.get("/jobs/post?network=local").content.decode()
    assert 'id="market-picker"' in html
    local = get_network("local").list_markets()
    assert local
    for market in local:
        assert f'value="{market.address}"' in html
    assert len(_checked(html)) == 1  # the best fit is chosen unless the user chose


def test_costs_follow_the_timeout_and_default_to_each_markets_own(signed_in: Client) -> None:
    big, small = _devnet_markets()
    html = signed_in.get("/jobs/post?network=devnet").content.decode()
    for market in (big, small):  # blank timeout: the market's timeout, as posting would use
        assert f"max {_max_cost(market, market.timeout)} NOS" in html
    html = signed_in.get("/jobs/post?network=devnet&timeout_minutes=10").content.decode()
    for market in (big, small):
        assert f"max {_max_cost(market, 600)} NOS" in html
    assert "No idle node: the job will wait" in html  # the big market's row
    assert _checked(html) == [small.address]  # idle and cheapest first


def test_htmx_timeout_change_returns_the_partial_with_the_choice_kept(signed_in: Client) -> None:
    big, small = _devnet_markets()
    response = signed_in.post("/jobs/post", {"network": "devnet", "market": big.address, "timeout_minutes": "5",
                                             "definition": ""}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="post-markets"') and "<html" not in html
    assert _checked(html) == [big.address]
    assert f"max {_max_cost(big, 300)} NOS" in html


def test_warning_when_no_market_has_an_idle_node(signed_in: Client) -> None:
    big, small = _devnet_markets()
    Market.objects.filter(pk=small.pk).update(idle_nodes=0, queue_type="jobs")
    html = signed_in.get("/jobs/post?network=devnet").content.decode()
    assert "No market has an idle node right now" in html


def test_fit_and_cost_range_for_this_definition(signed_in: Client, seed_job: dict[str, Any]) -> None:
    big, small = _devnet_markets()
    definition = dict(seed_job, meta={**seed_job.get("meta", {}), "system_resources": {"required_vram": 40}})
    text = json.dumps(definition)
    cid = cid_v0(validated_bytes(text)[0])
    runs = [(1000, 1041), (2000, 2300)]
    NetworkJob.objects.bulk_create(
        NetworkJob(network="devnet", address=f"Earlier{i}", market=small.address, state="COMPLETED", ipfs_job=cid,
                   price=small.price, time_start=start, time_end=end, synced_at=timezone.now())
        for i, (start, end) in enumerate(runs)
    )
    html = signed_in.post("/jobs/post", {"network": "devnet", "definition": text, "timeout_minutes": "60"}).content.decode()
    assert "does not fit" in html and f"needs 40 GB VRAM; RTX 3060 has {small.vram_gb} GB" in html
    shortest, longest = (min(e - s for s, e in runs), max(e - s for s, e in runs))
    low = nos(Decimal(big.price * shortest) / NOS_DECIMALS)
    high = nos(Decimal(big.price * longest) / NOS_DECIMALS)
    assert f"likely {low}–{high}" in html
    assert _checked(html) == [big.address]  # the one that fits comes first


def test_without_cached_markets_an_address_can_be_pasted(signed_in: Client) -> None:
    html = signed_in.get("/jobs/post?network=devnet").content.decode()
    assert "No markets known on devnet" in html
    assert 'id="post-market-address"' in html and 'name="market"' in html
