"""The wallet page shows the public key, balances, network and RPC host — and never a secret."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from tests.conftest import load_vectors

pytestmark = pytest.mark.django_db

PINNING_TOKEN = "eyJhbGciOiJIUzI1NiJ9.test-pinning-token.c2lnbmF0dXJl"
RPC_KEY = "rpc-api-key-5f1e2d"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def signed_in(client: Client) -> Client:
    client.force_login(User.objects.create_user("poster", password="pw-123456789"))
    return client


def test_local_network_needs_no_wallet(signed_in: Client) -> None:
    html = signed_in.get("/wallet/?network=local").content.decode()
    assert "No wallet is needed on the local network" in html


def test_missing_settings_say_what_to_set(signed_in: Client, tmp_path: Path) -> None:
    with override_settings(NOSANA_RPC_URL_DEVNET="", NOSANA_PINNING_JWT="",
                           NOSANA_KEYPAIR_PATH=str(tmp_path / "missing.json")):
        response = signed_in.get("/wallet/?network=devnet")
    html = response.content.decode()
    assert response.status_code == 200
    for variable in ("NOSANA_RPC_URL_DEVNET", "NOSANA_KEYPAIR_PATH", "NOSANA_PINNING_JWT"):
        assert variable in html


def test_wallet_page_never_shows_secrets(signed_in: Client, tmp_path: Path) -> None:
    keypair = load_vectors("auth.json")["keypairs"][0]
    key_file = tmp_path / "nosana_key.json"
    key_file.write_text(json.dumps(keypair["solana_cli_keypair_json"]))
    key_file.chmod(0o600)
    port = _closed_port()  # nothing listens: balances fail with a clear message, quickly
    rpc = f"http://user:pass@127.0.0.1:{port}/v2/{RPC_KEY}?api-key={RPC_KEY}"
    with override_settings(NOSANA_RPC_URL_DEVNET=rpc, NOSANA_PINNING_JWT=PINNING_TOKEN,
                           NOSANA_KEYPAIR_PATH=str(key_file), NOSANA_NETWORK_TIMEOUT_SECONDS=1):
        response = signed_in.get("/wallet/?network=devnet")
    html = response.content.decode()
    assert response.status_code == 200
    assert keypair["public_key"] in html
    assert f"http://127.0.0.1:{port}" in html  # the host, and only the host
    secret_forms = [
        PINNING_TOKEN, RPC_KEY, "user:pass", "api-key",
        keypair["secret_key_base58"], keypair["seed_hex"],
        json.dumps(keypair["solana_cli_keypair_json"]), ",".join(map(str, keypair["solana_cli_keypair_json"][:8])),
    ]
    for secret in secret_forms:
        assert secret not in html
