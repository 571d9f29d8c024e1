"""`manage.py job validate` and `manage.py job cid` through call_command."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from jobs.definition import canonical_bytes, parse_json_text
from nosana_dash.network.codec import cid as cid_module
from tests.conftest import load_vectors

CASES = load_vectors("job-definition-cases.json")["cases"]


def _job(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("job", *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = int(exc.code or 0)
    return status, out.getvalue(), err.getvalue()


def _write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_valid_file_prints_valid_and_warnings(tmp_path: Path, seed_job_text: str) -> None:
    seed = _write(tmp_path, "multi_job.json", seed_job_text)
    status, out, _ = _job("validate", seed)
    assert status == 0
    assert out.splitlines()[0] == f"{seed}: VALID"
    assert "  warning: ops[1].args.cmd:" in out


def test_invalid_file_prints_each_error_path_and_exits_1(tmp_path: Path) -> None:
    case = next(c for c in CASES if c["name"] == "multiple-errors-reported-together")
    bad = _write(tmp_path, "bad.json", case["definition"])
    good = _write(tmp_path, "good.json", next(c for c in CASES if c["valid"])["definition"])
    status, out, _ = _job("validate", good, bad)
    assert status == 1
    assert f"{good}: VALID" in out and f"{bad}: INVALID" in out
    for error in case["errors"]:
        path = error["path"].removeprefix("$input").removeprefix(".")
        assert f"  {path}: " in out


def test_not_json_and_unreadable_exit_2_with_line_and_column(tmp_path: Path) -> None:
    broken = _write(tmp_path, "broken.json", '{\n  "version": "0.1",\n  "ops": [}')
    missing = str(tmp_path / "missing.json")
    good = _write(tmp_path, "good.json", next(c for c in CASES if c["valid"])["definition"])
    status, out, _ = _job("validate", good, broken, missing)
    assert status == 2
    assert f"{broken}: NOT JSON:" in out and "(line 3, column 11)" in out
    assert f"{missing}: UNREADABLE:" in out
    status, out, _ = _job("validate", _write(tmp_path, "latin1.json", b'{"a": "\xe9"}'))
    assert status == 2 and "UTF-8" in out


def test_json_output(tmp_path: Path, seed_job_text: str) -> None:
    case = next(c for c in CASES if c["name"] == "op-id-with-space")
    seed = _write(tmp_path, "seed.json", seed_job_text)
    bad = _write(tmp_path, "bad.json", case["definition"])
    broken = _write(tmp_path, "broken.json", "[1,")
    status, out, _ = _job("validate", "--json", seed, bad, broken)
    assert status == 2
    results = json.loads(out)
    assert [r["file"] for r in results] == [seed, bad, broken]
    assert results[0]["valid"] is True and results[0]["errors"] == []
    assert any(w["path"] == "ops[1].args.cmd" and "suggestion" in w for w in results[0]["warnings"])
    assert results[1]["valid"] is False
    assert [e["path"] for e in results[1]["errors"]] == ["ops[0].id"]
    assert results[2]["errors"][0]["line"] == 1 and results[2]["errors"][0]["column"] >= 1


def test_cid_prints_what_posting_would_pin(tmp_path: Path, seed_job_text: str) -> None:
    seed = _write(tmp_path, "multi_job.json", seed_job_text)
    try:
        expected = cid_module.cid_v0(canonical_bytes(parse_json_text(seed_job_text)))
    except NotImplementedError:
        pytest.skip("cid_v0 is not built yet")
    vector = next(v for v in load_vectors("cid.json")["vectors"] if v["name"] == "seed_multi_job_compact")
    assert expected == vector["cid"]
    status, out, _ = _job("cid", seed)
    assert status == 0
    assert out == f"{vector['cid']}  {seed}\n"


def test_cid_of_a_broken_file_exits_2(tmp_path: Path) -> None:
    broken = _write(tmp_path, "broken.json", "{")
    status, out, err = _job("cid", broken)
    assert status == 2 and out == "" and "line 1" in err
