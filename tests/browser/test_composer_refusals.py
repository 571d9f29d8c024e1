"""The composer in chromium when the server refuses an action (400, 413), fails (5xx) or cannot be
reached: the page says so in its alert banner, and nothing typed is lost.

htmx swaps nothing for an error answer, so before the banner these ended in silence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.composer_support import settle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
HELLO = "/jobs/new/template/hello-world"
ALERT = "#composer-alert[role=alert] .composer-alert-text"
LIMIT = 20_000  # bytes: the hello-world form posts a few thousand


@pytest.fixture
def small_limit(settings: Any) -> int:
    # The live server runs in this process: the override holds for the requests it serves.
    settings.NOSANA_MAX_UPLOAD_BYTES = LIMIT
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    return LIMIT


def _alert(page: Any) -> str:
    text: str = page.inner_text(ALERT)
    return text


def test_a_refused_button_says_why_and_keeps_the_form(page: Any, live_server: Any, small_limit: int) -> None:
    page.goto(f"{live_server.url}{HELLO}")
    settle(page)
    image = "ubuntu:" + "x" * small_limit  # the form is now over the limit
    page.fill("#ops-0-args-image", image)
    settle(page)
    # the live check of that field was refused too, and said so
    assert "more than the dashboard accepts" in _alert(page)
    page.click("#composer-alert .composer-alert-close")  # leaving the field checks it again (change) ...
    settle(page)
    assert page.locator(ALERT).count() == 0  # ... and dismissed words do not come back from live checks

    page.click("button[value='add-op:run']")
    settle(page)
    assert _alert(page) == (
        f"That was more than the dashboard accepts in one go (limit {small_limit:,} bytes). Nothing was changed."
    )
    assert page.locator("#ops-1-id").count() == 0  # no op was added ...
    assert page.input_value("#ops-0-args-image") == image  # ... and what was typed is still there
    assert page.locator("#form-pane[aria-busy]").count() == 0  # the form is given back
    assert page.is_enabled("button[value='add-op:run']")

    page.fill("#ops-0-args-image", "ubuntu:24.04")
    page.click("button[value='add-op:run']")
    settle(page)
    assert page.locator("#ops-1-id").count() == 1
    assert page.locator(ALERT).count() == 0  # the next successful action clears it


def test_an_oversized_import_says_why_and_keeps_the_form(
    page: Any, live_server: Any, small_limit: int, tmp_path: Path
) -> None:
    big = tmp_path / "big.json"
    big.write_text('{"version": "0.1", "type": "container", "ops": [], "pad": "' + "a" * small_limit + '"}')
    page.goto(f"{live_server.url}{HELLO}")
    settle(page)
    before = page.input_value("#ops-0-id")
    with page.expect_navigation() as nav:  # import is a plain form post: the page comes back with the message
        page.set_input_files("#import-file", str(big))
    response = nav.value
    assert response is not None and response.status == 413
    message = page.locator(".messages .flash-error")
    assert message.inner_text() == (
        f"big.json is {big.stat().st_size:,} bytes; the limit is {small_limit:,} bytes. Nothing was imported."
    )
    assert page.input_value("#ops-0-id") == before


def test_a_server_error_or_no_server_gets_a_plain_message(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}{HELLO}")
    settle(page)
    page.fill("#ops-0-id", "typed-before")
    settle(page)

    page.route(
        "**/jobs/new",
        lambda route: route.fulfill(status=502, content_type="text/html", body="<h1>Bad gateway</h1>"),
    )
    page.click("button[value='add-op:run']")
    settle(page)
    assert _alert(page).startswith("Something went wrong on the server (HTTP 502). Nothing was changed")
    assert "<h1>" not in _alert(page)

    page.unroute("**/jobs/new")
    page.route("**/jobs/new", lambda route: route.abort("connectionrefused"))
    page.click("button[value='add-op:run']")
    settle(page)
    assert _alert(page).startswith("Could not reach the server. Nothing was changed")
    assert page.input_value("#ops-0-id") == "typed-before" and page.locator("#ops-1-id").count() == 0

    page.unroute("**/jobs/new")
    page.click("button[value='add-op:run']")
    settle(page)
    assert page.locator("#ops-1-id").count() == 1 and page.locator(ALERT).count() == 0
    assert page.input_value("#ops-0-id") == "typed-before"
