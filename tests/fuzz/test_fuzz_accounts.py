"""Fuzzing the account decoders with random bytes and mutated vectors from accounts.json.

Every decoder either returns its record or raises `AccountDecodeError`;
nothing else (no IndexError, struct.error, UnicodeDecodeError, OverflowError).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nosana_dash.network.codec import accounts as acc
from tests.conftest import load_vectors
from tests.fuzz.conftest import fuzz_count, record

DECODERS: dict[str, Callable[[bytes], Any]] = {
    "job": acc.decode_job, "run": acc.decode_run, "market": acc.decode_market, "stake": acc.decode_stake,
    "settings": acc.decode_settings, "node": acc.decode_node,
}
VECTORS = [base64.b64decode(v["data_base64"]) for v in load_vectors("accounts.json")["vectors"] if "data_base64" in v]
PREFIXES = sorted({data[:8] for data in VECTORS})  # real discriminators: random bodies get past the first check
BATCH = 10


def _decode_all(data: bytes, counts: dict[str, int]) -> None:
    for name, decoder in DECODERS.items():
        counts[name] += 1
        try:
            decoded = decoder(data)
        except acc.AccountDecodeError as exc:
            assert str(exc), "an AccountDecodeError without a message"
            continue
        assert isinstance(decoded, tuple)  # a NamedTuple record


def _mutate(data: bytes, rng: random.Random) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        edit = rng.choice(["flip", "truncate", "extend", "max", "splice"])
        at = rng.randrange(max(1, len(raw)))
        if edit == "flip" and raw:
            raw[at] = rng.randrange(256)
        elif edit == "truncate":
            del raw[at:]
        elif edit == "extend":
            raw += rng.randbytes(rng.randint(1, 64))
        elif edit == "max" and len(raw) >= at + 4:
            raw[at:at + 4] = b"\xff\xff\xff\xff"  # lengths and counts at their largest
        else:
            raw[at:at] = rng.randbytes(rng.randint(1, 16))
    return bytes(raw)


def _campaign(full: bool) -> None:
    n = fuzz_count("accounts", full=full)
    counts = {name: 0 for name in DECODERS}
    examples = max(1, n // (BATCH * len(DECODERS)))
    options = settings(max_examples=max(1, examples // 2), deadline=None, database=None,
                       suppress_health_check=list(HealthCheck))

    @options
    @given(st.lists(st.one_of(st.binary(max_size=700),
                              st.tuples(st.sampled_from(PREFIXES), st.binary(max_size=700)).map(lambda t: t[0] + t[1])),
                    min_size=BATCH, max_size=BATCH))
    def random_bytes(items: list[bytes]) -> None:
        for data in items:
            _decode_all(data, counts)

    @options
    @given(st.sampled_from(VECTORS), st.randoms(use_true_random=False))
    def mutated_vectors(data: bytes, rng: random.Random) -> None:
        for _ in range(BATCH):
            _decode_all(_mutate(data, rng), counts)

    random_bytes()
    mutated_vectors()
    for name, count in counts.items():
        record(f"accounts/{name}", count)
    assert sum(counts.values()) >= n * 0.9, counts


def test_every_vector_decodes_with_its_own_decoder() -> None:
    """The baseline the mutations start from: each vector is readable by at least one decoder."""
    for data in VECTORS:
        readable = []
        for decoder in DECODERS.values():
            try:
                decoder(data)
                readable.append(decoder)
            except acc.AccountDecodeError:
                pass
        assert readable, data[:8].hex()


@pytest.mark.timeout(120)
def test_account_bytes_fuzz_quick() -> None:
    _campaign(full=False)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_account_bytes_fuzz_full() -> None:
    _campaign(full=True)
