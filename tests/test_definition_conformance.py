"""Agreement with the reference validator (@nosana/types 2.1.6) on every conformance case."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.definition import JobDefinition, validate
from jobs.definition.messages import strip_root
from jobs.definition.reference import reference_errors
from tests.conftest import load_vectors

CASES: list[dict[str, Any]] = load_vectors("job-definition-cases.json")["cases"]


def test_vectors_cover_both_verdicts() -> None:
    counts = load_vectors("job-definition-cases.json")["counts"]
    assert len(CASES) == counts["total"]
    assert sum(1 for c in CASES if c["valid"]) == counts["valid"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case_agrees_with_reference(case: dict[str, Any]) -> None:
    verdict = validate(case["definition"])
    assert verdict.valid is case["valid"], case["note"]
    expected_paths = {strip_root(e["path"]) for e in case["errors"]}
    assert {issue.path for issue in verdict.errors} == expected_paths
    assert all(issue.message for issue in verdict.errors)
    if case["valid"]:
        assert isinstance(verdict.definition, JobDefinition)
    else:
        assert verdict.definition is None


@pytest.mark.parametrize("case", [c for c in CASES if not c["valid"]], ids=lambda c: c["name"])
def test_error_order_and_expected_types_match_exactly(case: dict[str, Any]) -> None:
    """Stronger than the brief asks: same errors, same order, same `expected` text."""
    got = [(path, expected) for path, expected, _ in reference_errors(case["definition"])]
    assert got == [(e["path"], e["expected"]) for e in case["errors"]]


def test_valid_model_round_trips_to_same_json() -> None:
    """The typed model keeps every key it was given (exclude_unset), values unchanged."""
    for case in CASES:
        if not case["valid"]:
            continue
        definition = validate(case["definition"]).definition
        assert definition is not None
        assert definition.to_json() == case["definition"], case["name"]
