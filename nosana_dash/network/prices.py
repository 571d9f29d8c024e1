"""The NOS price in USD from a configured JSON endpoint (`NOSANA_PRICE_SOURCE_URL`).

Accepted answers (anything else is refused with a clear message):

- CoinGecko's simple-price shape, one coin: `{"nosana": {"usd": 0.5}}`
  (e.g. `/api/v3/simple/price?ids=nosana&vs_currencies=usd`);
- a bare quote: `{"usd": 0.5}`.

The price must be a positive number the stored quote can hold (1e-8 to 1e12). It is read as a decimal straight from
the JSON text (never through a float). The URL may carry an API key in its query, so
messages name only its host. A read: retried with backoff, each try bounded by the timeout.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx

from nosana_dash.network.base import NetworkError, NotConfigured
from nosana_dash.network.http import new_client, request_once, retry_read, server_busy

MAX_BODY_BYTES = 64_000  # a quote is a few dozen bytes; anything big is not a quote
# What the stored quote (8 decimal places, 20 digits) can hold without rounding to zero or overflowing.
MIN_PRICE = Decimal("0.00000001")
MAX_PRICE = Decimal(10) ** 12


class PriceSourceError(NetworkError):
    """The price source did not answer, or answered something that is not a NOS/USD quote."""


def _host(url: str) -> str:
    return urlsplit(url).hostname or "the price source"


def parse_quote(body: bytes, *, host: str = "the price source") -> Decimal:
    """The USD price of one NOS from a price source's JSON body."""
    if len(body) > MAX_BODY_BYTES:
        raise PriceSourceError(f"{host} answered {len(body)} bytes: too large for a price quote.")
    try:
        data: Any = json.loads(body, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PriceSourceError(f"{host} did not answer JSON.") from exc
    if isinstance(data, dict) and "usd" not in data and len(data) == 1:
        data = next(iter(data.values()))  # {"nosana": {"usd": …}}
    price = data.get("usd") if isinstance(data, dict) else None
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
        raise PriceSourceError(
            f'{host} answered no usable USD price: expected {{"nosana": {{"usd": 0.5}}}} or {{"usd": 0.5}}.'
        )
    if not MIN_PRICE <= price < MAX_PRICE:
        raise PriceSourceError(f"{host} answered a USD price out of range ({price:.3g}).")
    return price


class PriceSource:
    def __init__(
        self,
        *,
        url: str,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        if not url:
            raise NotConfigured("No price source: set NOSANA_PRICE_SOURCE_URL to show prices in USD.")
        self._url = url
        self.host = _host(url)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._client = new_client(timeout=timeout, transport=transport)

    def __repr__(self) -> str:  # the URL may hold an API key
        return f"PriceSource(host={self.host})"

    def close(self) -> None:
        self._client.close()

    def usd_per_nos(self) -> Decimal:
        return retry_read(
            self._quote_once, retries=self.retries, backoff=self.backoff, what=f"the price quote from {self.host}"
        )

    def _quote_once(self) -> Decimal:
        response = request_once(
            lambda: self._client.get(self._url, headers={"Accept": "application/json"}),
            error=PriceSourceError,
            subject=self.host,
            timeout=self.timeout,
        )
        if server_busy(response.status_code):
            raise PriceSourceError(f"{self.host} answered HTTP {response.status_code}.", retryable=True)
        if response.status_code != 200:
            raise PriceSourceError(f"{self.host} answered HTTP {response.status_code}.")
        return parse_quote(response.content, host=self.host)


def fetch_usd_per_nos(transport: httpx.BaseTransport | None = None) -> Decimal:
    """One quote from the configured source (settings.NOSANA_PRICE_SOURCE_URL)."""
    from django.conf import settings

    source = PriceSource(
        url=settings.NOSANA_PRICE_SOURCE_URL,
        timeout=min(settings.NOSANA_NETWORK_TIMEOUT_SECONDS, 10.0),
        transport=transport,
    )
    try:
        return source.usd_per_nos()
    finally:
        source.close()
