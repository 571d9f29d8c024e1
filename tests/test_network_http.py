"""network/http.py: reads retry with backoff in the caller's error class, writes are tried once,
and the TLS context is built once per process and shared by every client and node socket."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from nosana_dash.network import http, nodelogs
from nosana_dash.network.base import NetworkError
from nosana_dash.network.prices import PriceSource
from nosana_dash.network.remote import RemoteNetwork

URL = "http://127.0.0.1:9/thing"


class ThingError(NetworkError):
    """A caller's own error class."""


def _answers(*answers: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.Client, list[str]]:
    """A client whose fake server answers in turn (the last answer repeats); records each request."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return answers[min(len(asked), len(answers)) - 1](request)

    return http.new_client(timeout=1, transport=httpx.MockTransport(handle)), asked


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"fine")


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def _slow(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


def _read(client: httpx.Client, *, retries: int, backoff: float = 0.0) -> httpx.Response:
    return http.retry_read(
        lambda: http.request_once(lambda: client.get(URL), error=ThingError, subject="The thing 127.0.0.1", timeout=1),
        retries=retries,
        backoff=backoff,
        what="the thing",
    )


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(http.time, "sleep", waited.append)
    return waited


def test_a_read_retries_a_transport_error_and_a_timeout_then_succeeds(sleeps: list[float]) -> None:
    client, asked = _answers(_unreachable, _slow, _ok)
    assert _read(client, retries=2, backoff=0.5).content == b"fine"
    assert len(asked) == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff


def test_a_read_gives_up_after_its_retries_in_the_callers_error_class(sleeps: list[float]) -> None:
    client, asked = _answers(_slow)
    with pytest.raises(ThingError, match=r"^The thing 127\.0\.0\.1 did not answer within 1s\.$") as caught:
        _read(client, retries=2)
    assert caught.value.retryable and len(asked) == 3
    client, asked = _answers(_unreachable)
    with pytest.raises(ThingError, match=r"is unreachable \(ConnectError\)"):
        _read(client, retries=0)
    assert len(asked) == 1


def test_a_refusal_that_cannot_get_better_is_not_retried(sleeps: list[float]) -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise ThingError("The thing refused it.")

    with pytest.raises(ThingError, match="refused"):
        http.retry_read(refused, retries=3, backoff=0, what="the thing")
    assert calls == [1] and sleeps == []


def test_a_write_is_tried_once(sleeps: list[float]) -> None:
    client, asked = _answers(_slow, _ok)
    with pytest.raises(ThingError, match="did not send it within 1s") as caught:
        http.request_once(
            lambda: client.post(URL, content=b"tx"), error=ThingError, subject="The thing", timeout=1, doing="send it"
        )
    assert caught.value.retryable  # "maybe done": the caller looks the result up, never resends
    assert len(asked) == 1 and sleeps == []


@pytest.fixture
def context_builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Counts every SSL context built in the process (httpx and websockets build theirs the same way)."""
    built: list[Any] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    http.tls_context.cache_clear()
    yield built
    http.tls_context.cache_clear()


def test_the_tls_context_is_built_once_for_every_client(context_builds: list[Any]) -> None:
    clients: list[httpx.Client] = []
    for name in ("devnet", "mainnet", "devnet"):
        net = RemoteNetwork(name, rpc_url="https://rpc.test")  # type: ignore[arg-type]
        clients += [net.rpc._client, net.ipfs._client]
    prices = PriceSource(url="https://prices.test/usd", timeout=1)
    clients.append(prices._client)
    assert len(context_builds) == 1
    for client in clients:
        client.close()


def test_injected_transports_still_answer(context_builds: list[Any]) -> None:
    def node_info(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"info": {"market": "M"}})

    net = RemoteNetwork("devnet", rpc_url="https://rpc.test", transport=httpx.MockTransport(node_info))
    for _ in range(2):
        node = net.get_node("N")
        assert node is not None and node.market == "M"
    assert len(context_builds) == 1


def test_node_sockets_share_the_context_over_wss_only(monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[object] = []

    def fake_connect(url: str, **kwargs: Any) -> Any:
        given.append(kwargs["ssl"])
        raise OSError("no network in tests")

    monkeypatch.setattr(nodelogs, "connect", fake_connect)
    for url in ("wss://node.test/", "wss://other.test/", "ws://127.0.0.1:9/"):
        with pytest.raises(NetworkError, match="could not reach"), nodelogs.NodeLogStream(url, "{}"):
            pass
    assert given == [http.tls_context(), http.tls_context(), None]  # websockets refuses a context for ws://
