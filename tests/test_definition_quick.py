"""The yes/no fast path (`quick.is_valid`) gives exactly the verdict of the error-reporting pass.

`validate` trusts `is_valid` and skips the reporting pass when it says yes; these tests check
that it says yes exactly when the reporting pass finds no error: on every conformance case and
on definitions that hypothesis derives from them by random edits.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jobs.definition import validate
from jobs.definition.messages import strip_root
from jobs.definition.quick import _RUN_ARG_CHECKS, is_valid
from jobs.definition.reference import _RUN_KEYS, reference_errors
from tests.conftest import load_vectors

CASES: list[dict[str, Any]] = load_vectors("job-definition-cases.json")["cases"]
# Small enough to copy and walk many times per example.
SEEDS = [c["definition"] for c in CASES if len(json.dumps(c["definition"])) < 4000]
VALID_SEEDS = [c["definition"] for c in CASES if c["valid"] and len(json.dumps(c["definition"])) < 4000]


def _subvalues(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for item in value.values():
            out.extend(_subvalues(item))
    elif isinstance(value, list):
        for item in value:
            out.extend(_subvalues(item))
    return out


# Parts of real definitions (valid and broken ones), so that edits often build shapes the
# validator knows: a health check moved into a resource list, an op into expose, and so on.
DONORS = [part for seed in SEEDS for part in _subvalues(seed)]
KEYS = sorted({key for part in DONORS if isinstance(part, dict) for key in part} | {"0", "a b", "__proto__"})
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        [
            "",
            " ",
            "x y",
            "a\tb",
            "%%ops.a.results.x%%",
            "%%global.variables.X%%",
            "8000-8010",
            "container/run",
            "container/create-volume",
            "GET",
            "http",
            "websocket",
            "S3",
            "HF",
            "Ollama",
            "stdout",
            "on-failure",
            "__remove-if-empty__",
            "ubuntu:24.04",
        ]
    )
    | st.sampled_from(KEYS)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*prefix, index)))
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """One random edit somewhere in `doc`: replace, take a donor part, delete, insert, duplicate, wrap."""
    path = data.draw(st.sampled_from(_paths(doc)), label="path")
    if not path:
        return copy.deepcopy(data.draw(st.sampled_from(DONORS))) if data.draw(st.booleans()) else doc
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    target = parent[last]
    kind = data.draw(
        st.sampled_from(["replace", "donor", "delete", "insert", "duplicate", "wrap"]), label="edit"
    )
    if kind == "replace":
        parent[last] = data.draw(VALUES, label="value")
    elif kind == "donor":
        parent[last] = copy.deepcopy(data.draw(st.sampled_from(DONORS), label="donor"))
    elif kind == "delete":
        del parent[last]
    elif kind == "insert" and isinstance(target, dict):
        target[data.draw(st.sampled_from(KEYS), label="key")] = copy.deepcopy(
            data.draw(st.sampled_from(DONORS))
        )
    elif kind == "insert" and isinstance(target, list):
        target.insert(
            data.draw(st.integers(0, len(target))), copy.deepcopy(data.draw(st.sampled_from(DONORS)))
        )
    elif kind == "duplicate" and isinstance(target, list) and target:
        target.append(copy.deepcopy(target[0]))
    elif kind == "wrap":
        parent[last] = [target]
    return doc


def _assert_same_verdict(definition: Any) -> None:
    full = reference_errors(definition)
    assert is_valid(definition) is (full == []), full[:3]
    verdict = validate(definition)
    assert verdict.valid is (full == [])
    assert [issue.path for issue in verdict.errors] == [strip_root(path) for path, _, _ in full]


def test_run_args_table_covers_exactly_the_reference_keys() -> None:
    assert set(_RUN_ARG_CHECKS) == set(_RUN_KEYS)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fast_path_agrees_on_every_conformance_case(case: dict[str, Any]) -> None:
    assert is_valid(case["definition"]) is case["valid"]
    _assert_same_verdict(case["definition"])


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fast_path_agrees_on_mutated_definitions(data: st.DataObject) -> None:
    # half of the seeds valid: the fast path matters most where edits keep a definition valid
    doc = copy.deepcopy(data.draw(st.sampled_from(VALID_SEEDS) | st.sampled_from(SEEDS), label="seed"))
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        doc = _mutate(doc, data)
    valid = is_valid(doc)
    event("still valid" if valid else "now invalid")  # --hypothesis-show-statistics: both must occur
    _assert_same_verdict(doc)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_fast_path_agrees_on_arbitrary_json(value: Any) -> None:
    _assert_same_verdict(value)
    _assert_same_verdict({"type": "container", "version": "0.1", "ops": [value]})
