"""`validate(obj)`: the reference verdict, our warnings, and the typed model when valid."""

from __future__ import annotations

from jobs.definition.issues import Issue, Verdict
from jobs.definition.jsontext import DefinitionParseError, parse_json_text
from jobs.definition.messages import to_issues
from jobs.definition.quick import is_valid
from jobs.definition.reference import reference_errors
from jobs.definition.warnings import definition_warnings


def validate(obj: object) -> Verdict:
    """Validate one parsed JSON value. Never raises."""
    # Like the reference: a yes/no pass first, the error-reporting pass only when it says no.
    errors = [] if is_valid(obj) else reference_errors(obj)
    warnings = definition_warnings(obj)
    if errors:
        return Verdict(False, to_issues(errors, obj), warnings, obj)
    return Verdict(True, [], warnings, obj)  # the typed model is built when `.definition` is first read


def validate_text(text: str | bytes) -> Verdict:
    """Parse and validate; a parse error becomes one error at the root with its line and column."""
    try:
        obj = parse_json_text(text)
    except DefinitionParseError as exc:
        return Verdict(False, [Issue("", f"{exc.message} at line {exc.line}, column {exc.column}")], [])
    return validate(obj)
