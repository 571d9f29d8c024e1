"""Parse job definition text the way JavaScript's `JSON.parse` would, with limits.

Key order is kept and a duplicate key keeps its first position with the last value,
exactly as `JSON.parse` builds objects. `NaN`/`Infinity` (which Python accepts and
JavaScript does not) are rejected.
"""

from __future__ import annotations

import json
import re

from django.conf import settings

_BOM = "\ufeff"
# Strings (with escapes) or single brackets: used to measure nesting before parsing,
# so a hostile file cannot reach Python's recursion limit.
_DEPTH_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


class DefinitionParseError(ValueError):
    """The text is not a JSON document we accept. `line`/`column` are 1-based."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.message = message
        self.line = line
        self.column = column


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


_CONSTANT_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|-?Infinity|NaN', re.DOTALL)


def _constant_position(text: str) -> tuple[int, int]:
    for match in _CONSTANT_TOKENS.finditer(text):
        if not match.group().startswith('"'):
            return _line_column(text, match.start())
    return 1, 1


def _check_depth(text: str, max_depth: int) -> None:
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot be too deep: fast exit for ordinary files
    depth = 0
    for match in _DEPTH_TOKENS.finditer(text):
        piece = match.group()
        if piece == "[" or piece == "{":
            depth += 1
            if depth > max_depth:
                line, column = _line_column(text, match.start())
                raise DefinitionParseError(f"JSON is nested deeper than {max_depth} levels", line, column)
        elif piece == "]" or piece == "}":
            depth -= 1


def parse_json_text(
    text: str | bytes, *, max_bytes: int | None = None, max_depth: int | None = None
) -> object:
    """Parse a JSON document; raise DefinitionParseError with line and column on any problem."""
    limit = settings.NOSANA_MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    depth_limit = settings.NOSANA_MAX_JSON_DEPTH if max_depth is None else max_depth
    if isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
        if len(raw) > limit:
            raise DefinitionParseError(f"the file is {len(raw):,} bytes; the limit is {limit:,} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = raw[: exc.start].decode("utf-8", "replace")
            line, column = _line_column(before, len(before))
            raise DefinitionParseError("the file is not UTF-8 text", line, column) from None
    else:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limit:
            raise DefinitionParseError(f"the text is {size:,} bytes; the limit is {limit:,} bytes")
    if text.startswith(_BOM):
        text = text[1:]  # editors on some systems add one; it is not part of the JSON
    if not text.strip():
        raise DefinitionParseError("the file is empty; expected a JSON object")
    _check_depth(text, depth_limit)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DefinitionParseError(f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except ValueError as exc:  # NaN / Infinity: Python reads them, JSON.parse does not
        line, column = _constant_position(text)
        raise DefinitionParseError(f"invalid JSON: {exc}", line, column) from None
    except RecursionError:
        raise DefinitionParseError("JSON is nested too deeply") from None
