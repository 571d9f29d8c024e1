"""Helpers for driving the composer in chromium: wait on the page's own "settled" signal, and
hold chosen requests in flight (a slow server, made deterministic)."""

from __future__ import annotations

import json
import time
from typing import Any

# Bounded waits sized for a busy 2-CPU CI machine: every wait ends by itself.
SETTLE_MS = 30_000


def settle(page: Any, timeout_ms: int = SETTLE_MS) -> None:
    """Wait until the composer says it is settled: no request in flight, no debounced check pending
    (composer.js sets #composer[data-settled] after the quiet period that follows the last keystroke)."""
    page.wait_for_selector("#composer[data-settled='1']", state="attached", timeout=timeout_ms)


def definition(page: Any) -> Any:
    """The JSON tab once the page has settled (the live check keeps it in sync with the form)."""
    settle(page)
    return json.loads(page.input_value("#json-editor"))


def focused_name(page: Any) -> str:
    name: str = page.evaluate("() => (document.activeElement && document.activeElement.name) || ''")
    return name


def values(page: Any, selector: str) -> list[str]:
    found: list[str] = page.eval_on_selector_all(selector, "els => els.map(e => e.value)")
    return found


class Gate:
    """Holds POSTs to one composer URL in flight while closed; `open()` lets them all go on.

    The browser sees exactly what a slow server looks like (the request has left, no answer yet),
    but the test decides when the answer comes, so a race becomes a fixed sequence."""

    def __init__(self, page: Any, path: str) -> None:
        self.page = page
        self.closed = False
        self.held: list[Any] = []
        page.route(f"**{path}", self._route)

    def _route(self, route: Any) -> None:
        if self.closed and route.request.method == "POST":
            self.held.append(route)
        else:
            route.continue_()

    def close(self) -> None:
        self.closed = True

    def wait_held(self, count: int = 1, timeout_s: float = 20.0) -> None:
        """Until `count` requests are being held (bounded)."""
        deadline = time.monotonic() + timeout_s
        while len(self.held) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} held request(s), have {len(self.held)}")
            self.page.wait_for_timeout(25)  # lets Playwright deliver the route events

    def open(self) -> None:
        from playwright.sync_api import Error as PlaywrightError

        self.closed = False
        held, self.held = self.held, []
        for route in held:
            try:
                route.continue_()
            except PlaywrightError:  # the page itself cancelled it meanwhile (hx-sync replace)
                pass
