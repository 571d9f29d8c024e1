"""parse_json_text / validate_text: JSON.parse semantics, limits, and line/column on errors."""

from __future__ import annotations

import pytest

from jobs.definition import DefinitionParseError, parse_json_text, validate_text


def test_keeps_key_order_and_last_duplicate_wins_in_first_position() -> None:
    parsed = parse_json_text('{"b": 1, "a": 2, "b": 3}')
    assert isinstance(parsed, dict)
    assert list(parsed) == ["b", "a"]
    assert parsed["b"] == 3


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(DefinitionParseError) as caught:
        parse_json_text('{\n  "version": "0.1",\n  "ops": [}\n')
    assert (caught.value.line, caught.value.column) == (3, 11)
    assert "line 3" in str(caught.value)


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '[-Infinity]'])
def test_python_only_constants_are_rejected(text: str) -> None:
    with pytest.raises(DefinitionParseError) as caught:
        parse_json_text(text)
    assert caught.value.line == 1 and caught.value.column > 1


def test_not_utf8_is_a_parse_error_with_position() -> None:
    with pytest.raises(DefinitionParseError) as caught:
        parse_json_text(b'{"version": "0.1",\n "x": "\xff"}')
    assert "UTF-8" in caught.value.message
    assert caught.value.line == 2


def test_size_limit() -> None:
    text = '{"a": "' + "x" * 200 + '"}'
    with pytest.raises(DefinitionParseError) as caught:
        parse_json_text(text, max_bytes=100)
    assert "limit" in caught.value.message
    assert parse_json_text(text, max_bytes=1000) == {"a": "x" * 200}


def test_depth_limit_reports_where_it_is_exceeded() -> None:
    deep = "[" * 10 + "]" * 10
    assert parse_json_text(deep, max_depth=10) is not None
    with pytest.raises(DefinitionParseError) as caught:
        parse_json_text(deep, max_depth=9)
    assert caught.value.column == 10
    # brackets inside strings do not count
    assert parse_json_text('{"a": "[[[[[[[[[[[["}', max_depth=2) == {"a": "[" * 12}


def test_hostile_nesting_never_reaches_the_recursion_limit() -> None:
    with pytest.raises(DefinitionParseError):
        parse_json_text("[" * 100_000 + "]" * 100_000, max_bytes=10**6)


def test_byte_order_mark_and_empty_input() -> None:
    assert parse_json_text("\ufeff{}") == {}
    with pytest.raises(DefinitionParseError):
        parse_json_text("   ")


def test_validate_text_turns_parse_errors_into_one_root_error() -> None:
    verdict = validate_text('{"version": "0.1",')
    assert not verdict.valid
    assert [issue.path for issue in verdict.errors] == [""]
    assert "line 1" in verdict.errors[0].message and "column" in verdict.errors[0].message
    assert verdict.definition is None


def test_validate_text_accepts_bytes(seed_job_text: str) -> None:
    verdict = validate_text(seed_job_text.encode("utf-8"))
    assert verdict.valid
    assert verdict.definition is not None
    assert [op.id for op in verdict.definition.ops] == ["create-volume", "run-from-cli", "run-from-cli-2"]
