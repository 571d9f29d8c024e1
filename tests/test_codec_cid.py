"""CIDv0 and digest conversions agree with every vector in cid.json."""

from __future__ import annotations

import hashlib
import os

import pytest

from nosana_dash.network.codec.cid import CidError, cid_to_digest, cid_v0, digest_to_cid
from tests.conftest import load_vectors

CID = load_vectors("cid.json")
FULL = os.environ.get("NOSANA_DASH_FULL_VECTORS") == "1"


def _input(vector: dict) -> bytes:
    length = int(vector["length"])
    if "generator" in vector:
        pattern = bytes(range(251))
        return (pattern * (length // 251 + 1))[:length]
    if "bytes_hex" in vector and len(vector["bytes_hex"]) == 2 * length:
        return bytes.fromhex(vector["bytes_hex"])
    return vector["text"].encode("utf-8")


def _params() -> list:
    out = []
    for v in CID["vectors"]:
        big = int(v["length"]) > 40_000_000
        marks = [pytest.mark.skipif(big and not FULL, reason="45 MiB input: set NOSANA_DASH_FULL_VECTORS=1")]
        out.append(pytest.param(v, id=v["name"], marks=marks))
    return out


@pytest.mark.parametrize("vector", _params())
def test_cid_v0_matches_vector(vector: dict) -> None:
    data = _input(vector)
    assert hashlib.sha256(data).hexdigest() == vector["sha256_of_input"]
    assert cid_v0(data) == vector["cid"]
    assert cid_to_digest(vector["cid"]).hex() == vector["digest32_hex"]
    assert digest_to_cid(bytes.fromhex(vector["digest32_hex"])) == vector["cid"]


@pytest.mark.parametrize("vector", CID["reverse"], ids=lambda v: v["note"][:30])
def test_digest_to_cid_reverse(vector: dict) -> None:
    assert digest_to_cid(bytes.fromhex(vector["digest32_hex"])) == vector["cid"]
    assert cid_to_digest(vector["cid"]).hex() == vector["digest32_hex"]


def test_cid_accepts_memoryview_and_bytearray() -> None:
    vector = next(v for v in CID["vectors"] if v["name"] == "mod251_300KiB")
    data = _input(vector)
    assert cid_v0(memoryview(data)) == vector["cid"]
    assert cid_v0(bytearray(data)) == vector["cid"]


@pytest.mark.parametrize("bad", ["", "not-base58-0OIl", "QmNLei78zWmzUdbeRB3CiUfAizWUrbeeZh5K1rhAQKCh5",
                                 "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"])
def test_cid_to_digest_rejects_non_cidv0(bad: str) -> None:
    with pytest.raises(CidError):
        cid_to_digest(bad)


def test_sha512_multihash_rejected() -> None:
    quirk = next(q for q in CID["helper_quirks"] if "sha2-512" in q["what"])
    import base58

    fake = base58.b58encode(b"\x12\x40" + bytes(64)).decode()
    with pytest.raises(CidError, match="Invalid IPFS hash"):
        cid_to_digest(fake)
    assert quirk["kit_error"] == "Invalid IPFS hash"


def test_digest_length_checked() -> None:
    with pytest.raises(CidError, match="32 bytes"):
        digest_to_cid(bytes(31))
