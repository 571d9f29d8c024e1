"""Fuzzing the job-definition validator: random JSON values, mutated valid definitions, mangled text.

`validate` and `validate_text` must never raise or hang; every rejection
carries at least one error whose message is clear (and whose path is a
string naming where, "" for the root); whatever is accepted has canonical
bytes that validate again.
"""

from __future__ import annotations

import copy
import json
import random
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.definition import Verdict, canonical_bytes, validate, validate_text
from jobs.definition.templates import TEMPLATES
from tests.conftest import load_vectors
from tests.fuzz.conftest import fuzz_count, record

SLOW_INPUT_SECONDS = 2.0  # one definition taking longer than this counts as a hang
KEYS = ["version", "type", "meta", "trigger", "global", "ops", "id", "args", "image", "cmd", "entrypoint", "env",
        "work_dir", "gpu", "expose", "port", "health_checks", "volumes", "name", "dest", "execution", "group",
        "depends_on", "stop_if_dependent_stops", "private", "resources", "required_vram", "system_requirements",
        "restart_policy", "variables", "container/run", "container/create-volume", "url", "path", "method"]
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=40) | st.sampled_from(KEYS))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=12), inner,
                                                               max_size=6),
    max_leaves=40,
)
VALID = [t.definition() for t in TEMPLATES.values()] + [
    c["definition"] for c in load_vectors("job-definition-cases.json")["cases"] if c["valid"]]


def _check(verdict: Verdict, started: float) -> None:
    assert time.monotonic() - started < SLOW_INPUT_SECONDS, "validation took too long"
    if verdict.valid:
        assert verdict.errors == []
        return
    assert verdict.errors, "rejected without a single error"
    for issue in verdict.errors:
        assert isinstance(issue.path, str)
        assert isinstance(issue.message, str) and len(issue.message.strip()) >= 3, issue


def _validate(obj: Any) -> Verdict:
    started = time.monotonic()
    verdict = validate(obj)
    _check(verdict, started)
    if verdict.valid:
        again = validate(json.loads(canonical_bytes(obj)))
        assert again.valid, "the canonical bytes of a valid definition are not valid"
    return verdict


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.extend(_paths(child, (*prefix, index)))
    return out


def _mutate(doc: Any, rng: random.Random, spare: list[Any]) -> Any:
    """One random edit at a random place: replace, delete, insert, duplicate, stringify or wrap."""
    doc = copy.deepcopy(doc)
    path = rng.choice(_paths(doc))
    kind = rng.choice(["replace", "delete", "insert", "duplicate", "stringify", "wrap"])
    if not path:
        return rng.choice(spare) if kind == "replace" else [doc] if kind == "wrap" else doc
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if kind == "replace":
        parent[last] = copy.deepcopy(rng.choice(spare))
    elif kind == "delete":
        del parent[last]
    elif kind == "insert" and isinstance(parent, dict):
        parent[rng.choice(KEYS)] = copy.deepcopy(rng.choice(spare))
    elif kind == "insert":
        parent.insert(last, copy.deepcopy(rng.choice(spare)))
    elif kind == "duplicate" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    elif kind == "stringify":
        parent[last] = json.dumps(parent[last])
    else:
        parent[last] = [parent[last]]
    return doc


def _mangle(raw: bytearray, rng: random.Random) -> bytes:
    for _ in range(rng.randint(1, 5)):
        at = rng.randrange(max(1, len(raw)))
        edit = rng.choice(["flip", "cut", "insert"])
        if edit == "flip" and raw:
            raw[at] = rng.randrange(256)
        elif edit == "cut":
            del raw[at:at + rng.randint(1, 20)]
        else:
            raw[at:at] = rng.randbytes(rng.randint(1, 8))
    return bytes(raw)


BATCH = 10  # inputs per hypothesis example: the engine's own cost is paid once per batch


def _campaign(full: bool) -> None:
    n = fuzz_count("definition", full=full)
    counts = {"random": 0, "mutated": 0, "text": 0}

    def options(inputs: int) -> Any:
        return settings(max_examples=max(1, inputs // BATCH), deadline=None, database=None,
                        suppress_health_check=list(HealthCheck))

    @options(n * 4 // 10)
    @given(st.lists(st.one_of(JSON_VALUES, st.fixed_dictionaries(
        {"version": SCALARS, "type": SCALARS, "ops": JSON_VALUES})), min_size=BATCH, max_size=BATCH))
    def random_values(objs: list[Any]) -> None:
        for obj in objs:
            counts["random"] += 1
            _validate(obj)

    @options(n * 5 // 10)
    @given(st.sampled_from(VALID), st.randoms(use_true_random=False), st.lists(JSON_VALUES, min_size=3, max_size=3))
    def mutated(base: Any, rng: random.Random, spare: list[Any]) -> None:
        for _ in range(BATCH):
            doc = base
            for _ in range(rng.randint(1, 4)):
                doc = _mutate(doc, rng, spare)
            counts["mutated"] += 1
            _validate(doc)

    @options(n // 10)
    @given(st.sampled_from(VALID), st.randoms(use_true_random=False))
    def mangled_text(base: Any, rng: random.Random) -> None:
        text = json.dumps(base, indent=rng.choice([None, 2]), ensure_ascii=rng.random() < 0.5).encode()
        for _ in range(BATCH):
            counts["text"] += 1
            started = time.monotonic()
            verdict = validate_text(_mangle(bytearray(text), rng))
            _check(verdict, started)
            first = verdict.errors[0] if verdict.errors else None
            if first is not None and first.path == "" and " at line " in first.message:
                assert "column" in first.message  # parse errors say where

    random_values()
    mutated()
    mangled_text()
    for name, count in counts.items():
        record(f"definition/{name}", count)
    assert sum(counts.values()) >= n * 0.9, counts


@pytest.mark.timeout(120)
def test_definition_fuzz_quick() -> None:
    _campaign(full=False)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_definition_fuzz_full() -> None:
    _campaign(full=True)
