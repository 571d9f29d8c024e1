"""USD prices: the price-source client (httpx MockTransport as the fake source), the cached quote, the pages."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from markets import selectors, services
from markets.models import Market, PriceQuote
from nosana_dash.network import http as network_http
from nosana_dash.network import prices
from nosana_dash.network.base import NOS_DECIMALS, NotConfigured

SOURCE = "http://127.0.0.1:9/api/v3/simple/price?ids=nosana&vs_currencies=usd&x_cg_demo_api_key=secret-key"
QUOTE = "0.4321"  # what the fake source answers, as JSON text


def _source(answers: list[Callable[[httpx.Request], httpx.Response]]) -> tuple[httpx.MockTransport, list[str]]:
    """A fake price source answering in turn; records the URLs it was asked."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return answers[min(len(asked), len(answers)) - 1](request)

    return httpx.MockTransport(handle), asked


def _json(body: str, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, content=body.encode(), headers={"content-type": "application/json"})


def _coingecko(value: str = QUOTE) -> Callable[[httpx.Request], httpx.Response]:
    return _json(json.dumps({"nosana": {"usd": "VALUE"}}).replace('"VALUE"', value))


@pytest.mark.parametrize("body", ['{"nosana": {"usd": QUOTE}}', '{"usd": QUOTE}'])
def test_both_documented_shapes_give_the_exact_decimal(body: str) -> None:
    assert prices.parse_quote(body.replace("QUOTE", QUOTE).encode()) == Decimal(QUOTE)


@pytest.mark.parametrize(
    "body",
    ["not json", '{"nosana": {"eur": 0.5}}', '{"usd": -1}', '{"usd": 0}', '{"usd": "0.5"}', '{"a": {"usd": 1}, "b": 2}',
     "[0.5]", '{"usd": NaN}', '{"usd": 1e999}', '{"usd": 1e-12}'],
)
def test_answers_that_are_not_a_quote_are_refused_clearly(body: str) -> None:
    with pytest.raises(prices.PriceSourceError) as caught:
        prices.parse_quote(body.encode(), host="prices.test")
    assert "prices.test" in caught.value.message


def test_an_oversized_answer_is_refused() -> None:
    body = json.dumps({"usd": 0.5, "pad": "x" * prices.MAX_BODY_BYTES}).encode()
    with pytest.raises(prices.PriceSourceError, match="too large"):
        prices.parse_quote(body)


def test_reads_retry_server_errors_and_timeouts_then_answer() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    transport, asked = _source([_json("busy", 503), timeout, _coingecko()])
    source = prices.PriceSource(url=SOURCE, timeout=1, transport=transport, retries=2, backoff=0)
    assert source.usd_per_nos() == Decimal(QUOTE)
    assert len(asked) == 3


def test_client_errors_are_not_retried_and_the_key_never_shows() -> None:
    transport, asked = _source([_json("{}", 401)])
    source = prices.PriceSource(url=SOURCE, timeout=1, transport=transport, retries=3, backoff=0)
    with pytest.raises(prices.PriceSourceError) as caught:
        source.usd_per_nos()
    assert len(asked) == 1
    assert "401" in caught.value.message and "secret-key" not in caught.value.message
    assert "secret-key" not in repr(source)


def test_retries_are_bounded() -> None:
    transport, asked = _source([_json("down", 502)])
    source = prices.PriceSource(url=SOURCE, timeout=1, transport=transport, retries=2, backoff=0)
    with pytest.raises(prices.PriceSourceError, match="502"):
        source.usd_per_nos()
    assert len(asked) == 3


def test_no_source_configured_means_no_client() -> None:
    with pytest.raises(NotConfigured):
        prices.PriceSource(url="", timeout=1)


@pytest.mark.django_db
def test_quote_is_cached_and_refreshed_after_its_interval(settings: Any) -> None:
    settings.NOSANA_PRICE_SOURCE_URL = ""
    assert services.refresh_price() is None and not PriceQuote.objects.exists()
    settings.NOSANA_PRICE_SOURCE_URL = SOURCE
    transport, asked = _source([_coingecko(), _coingecko("0.5")])
    first = services.refresh_price(transport=transport)
    assert first is not None and first.usd_per_nos == Decimal(QUOTE) and len(asked) == 1
    again = services.refresh_price(transport=transport)
    assert again is not None and again.pk == first.pk and len(asked) == 1  # within PRICE_REFRESH: no call
    PriceQuote.objects.filter(pk=first.pk).update(fetched_at=timezone.now() - services.PRICE_REFRESH)
    fresh = services.refresh_price(transport=transport)
    assert fresh is not None and fresh.usd_per_nos == Decimal("0.5") and len(asked) == 2
    assert selectors.usd_per_nos() == Decimal("0.5")


def _market(network: str = "local", **extra: Any) -> Market:
    values: dict[str, Any] = {
        "network": network, "address": "UsdMarket" + "1" * 35, "name": "USD test", "gpu": "RTX 4090", "vram_gb": 24,
        "price": 115, "timeout": 7200, "queue_type": "nodes", "idle_nodes": 2, "synced_at": timezone.now(),
    }
    values.update(extra)
    return Market.objects.create(**values)


def _usd_hour(market: Market, usd: Decimal) -> str:
    per_hour = Decimal(market.price * 3600) / NOS_DECIMALS * usd
    return format(per_hour.quantize(Decimal("0.0001")).normalize(), "f")


@pytest.mark.django_db
def test_markets_page_and_picker_show_usd_per_hour_only_with_a_source(client: Client, settings: Any) -> None:
    market = _market()
    PriceQuote.objects.create(usd_per_nos=Decimal(QUOTE), fetched_at=timezone.now())
    settings.NOSANA_PRICE_SOURCE_URL = ""
    assert "USD/hour" not in client.get(reverse("markets:list")).content.decode()  # a stale quote alone shows nothing
    settings.NOSANA_PRICE_SOURCE_URL = SOURCE
    expected = _usd_hour(market, Decimal(QUOTE))
    page = client.get(reverse("markets:list")).content.decode()
    assert "USD/hour" in page and f"${expected}" in page
    picker = client.get(reverse("markets:picker"), {"timeout_minutes": "60"}, HTTP_HX_REQUEST="true").content.decode()
    assert "USD/hour" in picker and f"${expected}" in picker
    detail = client.get(reverse("markets:detail", args=[market.address])).content.decode()
    assert f"${expected}/hour" in detail


@pytest.mark.django_db
def test_a_failing_price_source_does_not_fail_the_sync(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.NOSANA_PRICE_SOURCE_URL = SOURCE
    transport, asked = _source([_json("down", 500)])
    fake = functools.partial(prices.fetch_usd_per_nos, transport=transport)
    monkeypatch.setattr(services.prices, "fetch_usd_per_nos", lambda transport=None: fake())
    monkeypatch.setattr(network_http.time, "sleep", lambda seconds: None)  # the retries' backoff
    run = services.sync_network(network="local", include_specs=False)
    assert asked  # the sync asked the source
    assert run.finished_at is not None and run.ok is False
    assert "USD price" in run.message and "500" in run.message and "secret-key" not in run.message
    assert Market.objects.filter(network="local").exists()  # the network's markets were still synced
    assert not PriceQuote.objects.exists()
