"""What every outside HTTP(S) call of the network clients shares.

- `tls_context()`: the trust store, loaded once per process. Parsing the CA bundle
  takes milliseconds, and httpx (like websockets) would do it again for every client.
- `new_client()`: an httpx client with an explicit timeout and that TLS context.
- `request_once()`: one try, with httpx's timeout and transport errors turned into the
  caller's own error class, marked retryable ("may work later", or for a write: "may
  have been done").
- `retry_read()`: retries a read on retryable errors with exponential backoff.
  Writes never go through it: a caller that lost a write's answer looks the result up.

Messages name a host only, never a URL: URLs may carry an API key.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
import time
from collections.abc import Callable
from typing import TypeVar

import certifi
import httpx

from nosana_dash.network.base import NetworkError

log = logging.getLogger(__name__)

T = TypeVar("T")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of this process, trusting what httpx trusts by default."""
    # The same choice as httpx's default, so sharing the context changes no verdict.
    cafile = os.environ.get("SSL_CERT_FILE")
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    capath = os.environ.get("SSL_CERT_DIR")
    if capath:
        return ssl.create_default_context(capath=capath)
    return ssl.create_default_context(cafile=certifi.where())


def new_client(*, timeout: float, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client whose every call is bounded by `timeout` seconds; `transport` is for tests."""
    # Redirects are not followed: one could take a token in a header to another host.
    return httpx.Client(
        timeout=httpx.Timeout(timeout), transport=transport, verify=tls_context(), follow_redirects=False
    )


def server_busy(status_code: int) -> bool:
    """The answers a read may retry: rate limited or a server-side failure."""
    return status_code == 429 or status_code >= 500


def request_once(
    call: Callable[[], T],
    *,
    error: type[NetworkError],
    subject: str,
    timeout: float,
    doing: str = "answer",
) -> T:
    """Run `call` once; a timeout or transport failure becomes `error`, retryable.

    Messages read "<subject> did not <doing> within <timeout>s." and "<subject> is unreachable (<kind>).".
    """
    try:
        return call()
    except httpx.TimeoutException:
        raise error(f"{subject} did not {doing} within {timeout:g}s.", retryable=True) from None
    except httpx.TransportError as exc:
        raise error(f"{subject} is unreachable ({type(exc).__name__}).", retryable=True) from None


def retry_read(call: Callable[[], T], *, retries: int, backoff: float, what: str) -> T:
    """Run a read; retry it up to `retries` times on a retryable NetworkError, waiting backoff·2ⁿ.

    Any other error, and the last retryable one, reaches the caller unchanged (its own class and message).
    """
    attempt = 0
    while True:
        try:
            return call()
        except NetworkError as exc:
            attempt += 1
            if not exc.retryable or attempt > retries:
                raise
            delay = backoff * 2 ** (attempt - 1)
            log.info("retrying %s in %.2fs: %s", what, delay, exc.message)
            time.sleep(delay)
