"""Browse markets in chromium: sort by price, open one, compose a job there; light and dark screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth import get_user_model

from markets import services
from markets.models import Market
from nosana_dash.network.local import ledger

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def markets() -> list[Market]:
    """Database work happens here, before Playwright's own event loop starts (it forbids sync ORM calls)."""
    ledger.ensure_local_markets()
    run = services.sync_network(network="local")
    assert run.ok, run.message
    get_user_model().objects.create_user("browser", password="browser-pass-123")
    return list(Market.objects.filter(network="local").order_by("price"))


@pytest.fixture
def node_address() -> str:
    return ledger.node_address()


def _sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "browser")
    page.fill("input[name=password]", "browser-pass-123")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()


def test_browse_sort_open_and_compose(markets: list[Market], live_server: Any, browser: Any) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    assert len(markets) >= 2
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _sign_in(page, live_server.url)

    page.goto(f"{live_server.url}/markets/?network=local&sort=name")
    rows = page.locator("tr[data-market]")
    assert rows.count() == len(markets)
    # Sort by price: the first click sorts ascending, the second descending (htmx swaps the table).
    page.click("a[data-sort=price]")
    page.wait_for_url("**sort=price&dir=asc**")
    playwright.expect(rows.first).to_have_attribute("data-market", markets[0].address)
    page.click("a[data-sort=price]")
    page.wait_for_url("**sort=price&dir=desc**")
    playwright.expect(rows.first).to_have_attribute("data-market", markets[-1].address)
    playwright.expect(rows.last).to_have_attribute("data-market", markets[0].address)
    shown = [rows.nth(i).get_attribute("data-market") for i in range(rows.count())]
    assert shown == [m.address for m in reversed(markets)]
    prices = [int(p) for p in page.locator("td[data-price]").evaluate_all("els => els.map(e => e.dataset.price)")]
    assert prices == sorted(prices, reverse=True)

    # Open the most expensive market, then compose a job there.
    page.locator("tr[data-market] a.market-link").first.click()
    page.wait_for_url(f"**/markets/{markets[-1].address}**")
    assert page.locator("h1").inner_text().strip() == (markets[-1].name or markets[-1].address)
    page.click("#compose-here")
    page.wait_for_load_state()
    url = urlparse(page.url)
    assert url.path == "/jobs/new"
    assert parse_qs(url.query)["market"] == [markets[-1].address]
    chosen = page.locator(f"[name=market][value='{markets[-1].address}']")
    if chosen.count():  # the composer is built: its market field holds this market
        tag = chosen.first.evaluate("e => e.tagName + ':' + (e.type || '')")
        if tag.endswith(":radio") or tag.endswith(":checkbox"):
            assert chosen.first.is_checked()
    assert not [e for e in errors if "Content Security Policy" in e]
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_market_pages_render_in_both_schemes(
    markets: list[Market], node_address: str, live_server: Any, browser: Any, tmp_path: Path, scheme: str
) -> None:
    out = Path(os.environ.get("NOSANA_DASH_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1360, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    csp_errors: list[str] = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    for name, path in (
        ("markets", "/markets/?network=local"),
        ("market", f"/markets/{markets[0].address}?network=local"),
        ("nodes", "/nodes/?network=local"),
        ("node", f"/nodes/{node_address}?network=local"),
    ):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(out / f"{name}-{scheme}.png"), full_page=True)
    # uPlot replaced the SVG fallback on the market page.
    page.goto(f"{live_server.url}/markets/{markets[0].address}?network=local")
    page.wait_for_selector(".chart.enhanced .uplot")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(13, 17, 23)") == (scheme == "dark")
    assert not csp_errors
    context.close()
