"""Shared fixtures. An autouse guard fails any attempt to reach beyond loopback."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VECTORS = SHARED / "vectors"
SEED_DOC = SHARED / "seed" / "multi-operation-job.md"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API runs an event loop in the main thread while a
    browser is open, which asyncio-based tests (consumers, channels) must not find running."""
    items.sort(key=lambda item: "/browser/" in str(item.path).replace("\\", "/"))


class InternetAccessError(AssertionError):
    pass


def _is_local(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = socket.create_connection


def _guard_address(sock: socket.socket, address: Any) -> None:
    if sock.family == socket.AF_UNIX:
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_local(host):
        raise InternetAccessError(f"test tried to reach {address!r}; only loopback is allowed")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _guard_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _guard_address(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_local(host):
        raise InternetAccessError(f"test tried to resolve {host!r}; only loopback is allowed")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    yield


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


@pytest.fixture(scope="session")
def seed_job_text() -> str:
    """The seed document's multi_job.json, exactly as written there."""
    doc = SEED_DOC.read_text()
    start = doc.index("```json\n") + len("```json\n")
    return doc[start : doc.index("```", start)]


@pytest.fixture(scope="session")
def seed_job(seed_job_text: str) -> dict[str, Any]:
    return json.loads(seed_job_text)


# --- Secrets never reach a response -------------------------------------------------
# Every test runs with a keypair file, a pinning token and an RPC key configured, and
# every response Django renders during the suite is scanned for them.

TEST_PINNING_TOKEN = "pinning-token-SECRET-3f9a1c"
TEST_RPC_KEY = "rpc-key-SECRET-77d2e0"
_TEST_WALLET_SEED = bytes(range(1, 33))  # the vectors' wallet seed (0x01..0x20)


def _secret_forms() -> list[str]:
    import base58
    from solders.keypair import Keypair

    keypair = Keypair.from_seed(_TEST_WALLET_SEED)
    secret = bytes(keypair)
    return [
        TEST_PINNING_TOKEN,
        TEST_RPC_KEY,
        base58.b58encode(secret).decode(),
        secret.hex(),
        json.dumps(list(secret)),
        json.dumps(list(secret), separators=(",", ":")),
    ]


class SecretLeak(AssertionError):
    pass


def _scan(response: Any) -> None:
    if getattr(response, "streaming", False):
        return
    body = getattr(response, "content", b"")
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    headers = " ".join(f"{k}: {v}" for k, v in response.items()) if hasattr(response, "items") else ""
    for secret in _SECRETS:
        if secret in text or secret in headers:
            raise SecretLeak(f"a secret ({secret[:12]}…) reached a response")


_SECRETS: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def configured_secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    from django.conf import settings
    from django.core.handlers import base
    from solders.keypair import Keypair

    keyfile = tmp_path_factory.mktemp("wallet") / "nosana_key.json"
    keyfile.write_text(json.dumps(list(bytes(Keypair.from_seed(_TEST_WALLET_SEED)))))
    saved = {
        name: getattr(settings, name)
        for name in ("NOSANA_KEYPAIR_PATH", "NOSANA_PINNING_JWT", "NOSANA_RPC_URL_DEVNET", "NOSANA_RPC_URL_MAINNET")
    }
    settings.NOSANA_KEYPAIR_PATH = str(keyfile)
    settings.NOSANA_PINNING_JWT = TEST_PINNING_TOKEN
    # Loopback addresses only; tests that talk RPC point these at their fakes.
    settings.NOSANA_RPC_URL_DEVNET = f"http://127.0.0.1:9/devnet?api-key={TEST_RPC_KEY}"
    settings.NOSANA_RPC_URL_MAINNET = f"http://127.0.0.1:9/mainnet?api-key={TEST_RPC_KEY}"
    _SECRETS[:] = _secret_forms()

    real_sync, real_async = base.BaseHandler.get_response, base.BaseHandler.get_response_async

    def get_response(self: Any, request: Any) -> Any:
        response = real_sync(self, request)
        _scan(response)
        return response

    async def get_response_async(self: Any, request: Any) -> Any:
        response = await real_async(self, request)
        _scan(response)
        return response

    base.BaseHandler.get_response = get_response  # type: ignore[method-assign]
    base.BaseHandler.get_response_async = get_response_async  # type: ignore[method-assign]
    yield
    base.BaseHandler.get_response, base.BaseHandler.get_response_async = real_sync, real_async  # type: ignore[method-assign]
    for name, value in saved.items():
        setattr(settings, name, value)
