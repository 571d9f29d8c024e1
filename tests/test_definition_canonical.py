"""canonical_bytes: exactly JSON.stringify of the parsed definition, in UTF-8."""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.definition import canonical_bytes, parse_json_text
from jobs.definition.canonical import js_number
from nosana_dash.network.codec import cid as cid_module
from tests.conftest import load_vectors

CID_VECTORS = load_vectors("cid.json")["vectors"]
TEXT_VECTORS = [v for v in CID_VECTORS if "text" in v]
BY_NAME = {v["name"]: v for v in CID_VECTORS}


def _cid_or_skip(data: bytes) -> str:
    try:
        return cid_module.cid_v0(data)
    except NotImplementedError:
        pytest.skip("cid_v0 is not built yet")


def test_seed_multi_job_gives_the_cid_the_documentation_printed(seed_job_text: str) -> None:
    seed_vector = BY_NAME["seed_multi_job_compact"]
    data = canonical_bytes(parse_json_text(seed_job_text))
    assert data == seed_vector["text"].encode("utf-8")
    assert _cid_or_skip(data) == seed_vector["cid"]
    assert seed_vector["cid"] == "QmRSLxBU9iemsmjmHMmmqkwEkqujuYSrtPeNYqoNRGmmxT"  # the CID the seed doc prints


@pytest.mark.parametrize("vector", TEXT_VECTORS, ids=[v["name"] for v in TEXT_VECTORS])
def test_text_vectors_canonicalise_to_the_compact_form(vector: dict[str, Any]) -> None:
    parsed = parse_json_text(vector["text"])
    # pretty forms canonicalise to the compact form of the same object
    compact = BY_NAME["job_compact"] if vector["name"].startswith("job_pretty") else vector
    assert canonical_bytes(parsed) == compact["text"].encode("utf-8")
    assert canonical_bytes(parsed).hex() == compact["bytes_hex"]


@pytest.mark.parametrize("vector", [v for v in TEXT_VECTORS if v["name"].endswith("_compact")], ids=lambda v: v["name"])
def test_compact_vectors_hash_to_their_cid(vector: dict[str, Any]) -> None:
    assert _cid_or_skip(canonical_bytes(parse_json_text(vector["text"]))) == vector["cid"]


def test_numbers_vector_exercises_every_javascript_rule() -> None:
    text = BY_NAME["numbers_compact"]["text"]
    parsed = parse_json_text(text)
    assert isinstance(parsed, dict)
    # every number in the vector prints as JavaScript printed it
    for key, value in parsed.items():
        assert f'"{key}":{js_number(value)}' in text, key
    assert canonical_bytes(parsed) == text.encode("utf-8")
    # -0 parses to a Python float that json.dumps prints as "-0.0"; JavaScript prints 0
    assert js_number(-0.0) == js_number(0) == "0"


json_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text()
json_no_floats = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
json_any = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


def _has_index_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k.isdigit() for k in value) or any(_has_index_key(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_index_key(v) for v in value)
    return False


def _no_surrogates(value: Any) -> bool:
    text = json.dumps(value, ensure_ascii=False)
    return not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


@settings(max_examples=300, deadline=None)
@given(json_no_floats)
def test_without_floats_equals_python_compact_json(value: Any) -> None:
    if _has_index_key(value) or not _no_surrogates(value):
        return  # JavaScript orders index-like keys first; covered by the node comparison below
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert canonical_bytes(value) == expected


@settings(max_examples=300, deadline=None)
@given(json_any)
def test_round_trips_through_json_loads(value: Any) -> None:
    back = json.loads(canonical_bytes(value))
    assert _same(back, value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, float) or isinstance(a, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and (a == b or math.isclose(a, b))
    if isinstance(b, dict):
        return isinstance(a, dict) and set(a) == set(b) and all(_same(a[k], b[k]) for k in b)
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# ---- differential check against JavaScript itself -----------------------------------------

_NODE_DRIVER = """
const lines = require('fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean);
for (const line of lines) process.stdout.write(JSON.stringify(JSON.parse(line)) + '\\n');
"""


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(10 if depth < 3 else 6)
    if pick == 0:
        return rng.choice([0.1, -0.0, 1e21, 1e-7, 123e-20, 5e-324, 1.7976931348623157e308, 2**53 + 1, 1e20, 0.5])
    if pick == 1:
        return rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-30, 30)
    if pick == 2:
        return rng.randint(-(2**64), 2**64)
    if pick == 3:
        return "".join(rng.choice(["a", "é", "\u2028", "\x07", '"', "\\", "💯", "\ud800", "/", "\t"]) for _ in range(5))
    if pick == 4:
        return rng.choice([None, True, False])
    if pick == 5:
        return rng.randint(-1000, 1000)
    if pick < 8:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["b", "a", "10", "2", "01", "-1", "4294967294", "4294967295", "__proto__", "x y", "1.5"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_matches_javascript_json_stringify_on_random_documents() -> None:
    rng = random.Random(20240730)
    texts = [json.dumps(_random_json(rng)) for _ in range(400)]
    done = subprocess.run(
        ["node", "-e", _NODE_DRIVER], input="\n".join(texts) + "\n", capture_output=True, text=True, timeout=60,
        encoding="utf-8", errors="surrogatepass",
    )
    assert done.returncode == 0, done.stderr
    js_lines = done.stdout.split("\n")[: len(texts)]
    for text, js in zip(texts, js_lines, strict=True):
        ours = canonical_bytes(parse_json_text(text, max_depth=100)).decode("utf-8")
        assert ours == js, text
