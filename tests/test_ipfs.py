"""IpfsClient: file upload with CID check, retries, gateway fetch verified against the CID, limits."""

from __future__ import annotations

import httpx
import pytest

from nosana_dash.network.base import NetworkError, NotConfigured
from nosana_dash.network.codec.cid import cid_v0
from nosana_dash.network.ipfs import CidMismatch, IpfsClient
from tests.conftest import load_vectors
from tests.fakes import FakePinning, serve

CID = load_vectors("cid.json")
SEED = next(v for v in CID["vectors"] if v["name"] == "seed_multi_job_compact")


def _client(pinning: FakePinning, *, jwt: str = "test-token", max_bytes: int = 10_000, url: str = "http://127.0.0.1:9") -> IpfsClient:
    return IpfsClient(pinning_url=url, jwt=jwt, gateway=f"{url}/ipfs", timeout=2, max_bytes=max_bytes,
                      transport=None if url != "http://127.0.0.1:9" else httpx.MockTransport(pinning.handle),
                      backoff=0.001)


def test_upload_seed_job_gets_the_cli_cid() -> None:
    pinning = FakePinning()
    client = _client(pinning)
    assert client.upload(SEED["text"].encode()) == SEED["cid"]
    assert pinning.store[SEED["cid"]] == SEED["text"].encode()
    assert pinning.options == [{"cidVersion": 0}]


def test_upload_retries_5xx_timeout_429_then_succeeds() -> None:
    pinning = FakePinning()
    pinning.fail("upload", "5xx")
    pinning.fail("upload", "timeout")
    pinning.fail("upload", "429")
    assert _client(pinning).upload(b"{}") == cid_v0(b"{}")
    assert pinning.uploads == 1


def test_upload_refusals() -> None:
    pinning = FakePinning()
    pinning.fail("upload", "wrong_cid")
    with pytest.raises(CidMismatch):
        _client(pinning).upload(b"{}")
    with pytest.raises(NotConfigured, match="refused the token"):
        _client(pinning, jwt="wrong").upload(b"{}")
    with pytest.raises(NotConfigured, match="NOSANA_PINNING_JWT"):
        _client(pinning, jwt="").upload(b"{}")
    with pytest.raises(NetworkError, match="limit"):
        _client(pinning, max_bytes=10).upload(b"x" * 11)
    assert "test-token" not in repr(_client(pinning))


def test_fetch_verifies_bytes() -> None:
    pinning = FakePinning()
    cid = pinning.put(b'{"status":"success"}')
    client = _client(pinning)
    pinning.fail("fetch", "5xx")
    assert client.fetch(cid) == b'{"status":"success"}'
    pinning.fail("fetch", "corrupt")
    with pytest.raises(CidMismatch):
        client.fetch(cid)
    with pytest.raises(NetworkError, match="does not have"):
        client.fetch(cid_v0(b"missing"))
    with pytest.raises(NetworkError, match="Invalid IPFS hash"):
        client.fetch("not-a-cid")
    big = pinning.put(b"y" * 20_000)
    with pytest.raises(NetworkError, match="larger than"):
        client.fetch(big)


def test_over_loopback_http() -> None:
    pinning = FakePinning()
    with serve(pinning.handle) as url:
        client = _client(pinning, url=url)
        cid = client.upload(SEED["text"].encode())
        assert cid == SEED["cid"] and client.fetch(cid) == SEED["text"].encode()
        client.close()
