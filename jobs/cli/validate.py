"""`python manage.py job validate FILE... [--json]`: the reference verdict plus our warnings.

Exit status: 0 when every file is valid, 1 when any is invalid, 2 when any file cannot
be read or is not JSON (reported with line and column).
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any, TextIO

from jobs.definition import DefinitionParseError, Issue, format_path, parse_json_text, validate


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="job definition JSON files")
    parser.add_argument("--json", action="store_true", help="print a JSON array of results")


def _issues(items: list[Issue]) -> list[dict[str, object]]:
    return [item.as_dict() for item in items]


def check_file(name: str) -> tuple[int, dict[str, Any]]:
    """(status, result) for one file: status 0 valid, 1 invalid, 2 unreadable or not JSON."""
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror or exc}"
        return 2, {"file": name, "valid": False, "errors": [{"path": "", "message": message}], "warnings": []}
    try:
        obj = parse_json_text(raw)
    except DefinitionParseError as exc:
        error = {"path": "", "message": exc.message, "line": exc.line, "column": exc.column}
        return 2, {"file": name, "valid": False, "errors": [error], "warnings": []}
    verdict = validate(obj)
    result = {
        "file": name,
        "valid": verdict.valid,
        "errors": _issues(verdict.errors),
        "warnings": _issues(verdict.warnings),
    }
    return (0 if verdict.valid else 1), result


def _print_text(result: dict[str, Any], status: int, out: TextIO) -> None:
    name = result["file"]
    if status == 2:
        error = result["errors"][0]
        if "line" in error:
            out.write(f"{name}: NOT JSON: {error['message']} (line {error['line']}, column {error['column']})\n")
        else:
            out.write(f"{name}: UNREADABLE: {error['message']}\n")
        return
    if result["valid"]:
        out.write(f"{name}: VALID\n")
    else:
        count = len(result["errors"])
        out.write(f"{name}: INVALID ({count} error{'s' if count != 1 else ''})\n")
        for error in result["errors"]:
            out.write(f"  {format_path(error['path'])}: {error['message']}\n")
    for warning in result["warnings"]:
        out.write(f"  warning: {format_path(warning['path'])}: {warning['message']}\n")


def run(options: dict[str, Any], out: TextIO, err: TextIO) -> int:
    worst = 0
    results: list[dict[str, Any]] = []
    for name in options["files"]:
        status, result = check_file(name)
        worst = max(worst, status)
        results.append(result)
        if not options.get("json"):
            _print_text(result, status, out)
    if options.get("json"):
        out.write(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    return worst
