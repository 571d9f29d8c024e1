"""Our extra checks: shown as warnings, never changing the reference verdict."""

from __future__ import annotations

import copy
from typing import Any

from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.definition import validate
from jobs.definition.cmd import legacy_exec_form
from tests.conftest import load_vectors

CASES: list[dict[str, Any]] = load_vectors("job-definition-cases.json")["cases"]


def _job(*ops: dict[str, Any], **root: Any) -> dict[str, Any]:
    return {"version": "0.1", "type": "container", **root, "ops": list(ops)}


def _run(op_id: str, **args: Any) -> dict[str, Any]:
    return {"type": "container/run", "id": op_id, "args": {"image": "ubuntu:24.04", **args}}


def _paths(definition: dict[str, Any]) -> dict[str, str]:
    verdict = validate(definition)
    assert verdict.valid, verdict.errors  # every definition here is valid for the reference
    return {w.path: w.message for w in verdict.warnings}


def test_volume_mounted_but_never_created() -> None:
    warnings = _paths(_job(_run("a", volumes=[{"name": "data", "dest": "/data"}])))
    assert "no container/create-volume op creates it" in warnings["ops[0].args.volumes[0].name"]


def test_volume_created_after_it_is_mounted() -> None:
    definition = _job(
        _run("a", volumes=[{"name": "data", "dest": "/data"}]),
        {"type": "container/create-volume", "id": "v", "args": {"name": "data"}},
    )
    assert "created later" in _paths(definition)["ops[0].args.volumes[0].name"]


def test_depends_on_unknown_and_self_and_other_group() -> None:
    definition = _job(
        _run("a"),
        {**_run("b"), "execution": {"group": "g2", "depends_on": ["nope", "b", "a"]}},
    )
    warnings = _paths(definition)
    assert "no op has that id" in warnings["ops[1].execution.depends_on[0]"]
    assert "itself" in warnings["ops[1].execution.depends_on[1]"]
    assert "another execution group" in warnings["ops[1].execution.depends_on[2]"]


def test_dependency_cycle() -> None:
    definition = _job(
        {**_run("a"), "execution": {"depends_on": ["c"]}},
        {**_run("b"), "execution": {"depends_on": ["a"]}},
        {**_run("c"), "execution": {"depends_on": ["b"]}},
    )
    cycle = [w for w in validate(definition).warnings if "cycle" in w.message]
    assert len(cycle) == 1
    for op_id in "abc":
        assert op_id in cycle[0].message


def test_type_and_args_mismatch_both_ways() -> None:
    definition = _job(
        {"type": "container/run", "id": "a", "args": {"name": "x"}},
        {"type": "container/create-volume", "id": "b", "args": {"image": "ubuntu:24.04"}},
    )
    warnings = _paths(definition)
    assert "container without an image" in warnings["ops[0].type"]
    assert "volume named" in warnings["ops[1].type"]


def test_image_without_tag_but_not_with_tag_digest_or_placeholder() -> None:
    definition = _job(
        {"type": "container/run", "id": "a", "args": {"image": "ubuntu"}},
        {"type": "container/run", "id": "b", "args": {"image": "registry.example:5000/team/app"}},
        {"type": "container/run", "id": "c", "args": {"image": "ubuntu@sha256:" + "0" * 64}},
        {"type": "container/run", "id": "d", "args": {"image": "%%ops.a.results.image%%"}},
        {"type": "container/run", "id": "e", "args": {"image": "registry.example:5000/app:1.2"}},
    )
    warnings = _paths(definition)
    assert "no tag" in warnings["ops[0].args.image"]
    assert "no tag" in warnings["ops[1].args.image"]
    assert not {"ops[2].args.image", "ops[3].args.image", "ops[4].args.image"} & set(warnings)


def test_ports_outside_range_or_fractional() -> None:
    definition = _job(_run("a", expose=[0, 70000, 80.5, {"port": -1}, 8080]))
    warnings = _paths(definition)
    assert {"ops[0].args.expose[0]", "ops[0].args.expose[1]", "ops[0].args.expose[2]"} <= set(warnings)
    assert "ops[0].args.expose[3].port" in warnings
    assert "ops[0].args.expose[4]" not in warnings


def test_cmd_first_item_with_whitespace_offers_the_portable_form(seed_job: dict[str, Any]) -> None:
    verdict = validate(seed_job)
    (warning,) = [w for w in verdict.warnings if w.path == "ops[1].args.cmd"]
    seed_cmd = seed_job["ops"][1]["args"]["cmd"]
    assert warning.suggestion == legacy_exec_form(seed_cmd)
    assert warning.suggestion == ["/bin/bash", "-c", "".join(seed_cmd[1:])]
    assert "exec form" in warning.message and "portable form" in warning.message
    # after applying the fix the warning is gone
    fixed = copy.deepcopy(seed_job)
    fixed["ops"][1]["args"]["cmd"] = warning.suggestion
    assert not [w for w in validate(fixed).warnings if w.path == "ops[1].args.cmd"]


def test_cmd_list_after_an_entrypoint_is_not_flagged() -> None:
    definition = _job(_run("a", entrypoint=["sh", "-c"], cmd=["echo a && echo b"]))
    assert "ops[0].args.cmd" not in _paths(definition)


def test_legacy_exec_form_keeps_single_quotes_inside_items() -> None:
    assert legacy_exec_form(["/bin/sh -c ", "echo 'hi'"]) == ["/bin/sh", "-c", "echo 'hi'"]
    assert legacy_exec_form(["/bin/sh -c 'unbalanced"]) is None


def test_entrypoint_string_with_spaces() -> None:
    warning = [w for w in validate(_job(_run("a", entrypoint="/bin/sh -c"))).warnings][0]
    assert warning.path == "ops[0].args.entrypoint" and warning.suggestion == ["/bin/sh", "-c"]


def test_duplicate_ids_and_ids_with_spaces_are_clear_errors() -> None:
    duplicate = validate(_job(_run("a"), _run("a")))
    assert not duplicate.valid
    assert 'id "a" is used by both ops[0] and ops[1]' in duplicate.errors[0].message
    spaced = validate(_job(_run("my op")))
    assert [(e.path, e.message) for e in spaced.errors] == [("ops[0].id", "must not contain spaces")]
    tabbed = validate(_job(_run("my\top")))
    assert tabbed.valid and "whitespace" in tabbed.warnings[0].message


def test_references_to_unknown_ops() -> None:
    definition = _job(_run("a", env={"URL": "http://%%ops.missing.host%%:80"}))
    assert "missing" in _paths(definition)['ops[0].args.env.URL']


@override_settings(NOSANA_MAX_OPS=50)
def test_thousands_of_ops_give_one_clear_warning_without_crashing() -> None:
    definition = _job(*[_run(f"op-{i}") for i in range(5000)])
    verdict = validate(definition)
    assert verdict.valid
    assert [w.path for w in verdict.warnings] == ["ops"]
    assert "5,000 ops" in verdict.warnings[0].message


def test_warnings_never_change_the_verdict() -> None:
    for case in CASES:
        verdict = validate(case["definition"])
        assert verdict.valid is case["valid"]
        assert all(isinstance(w.message, str) and w.message for w in verdict.warnings)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=25,
)
keys = st.sampled_from(
    ["type", "id", "args", "image", "name", "cmd", "expose", "port", "volumes", "execution", "depends_on",
     "resources", "meta", "global", "env", "health_checks", "__spread__", "results", "logType", "x"]
)  # fmt: skip


def _mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """Replace or add something somewhere in a valid definition."""
    if depth > 6 or data.draw(st.integers(0, 4)) == 0:
        return data.draw(json_values)
    if isinstance(value, dict) and value:
        key = data.draw(st.sampled_from(sorted(value)))
        value = dict(value)
        if data.draw(st.booleans()):
            value[key] = _mutate(value[key], data, depth + 1)
        else:
            value[data.draw(keys)] = data.draw(json_values)
        return value
    if isinstance(value, list) and value:
        index = data.draw(st.integers(0, len(value) - 1))
        value = list(value)
        value[index] = _mutate(value[index], data, depth + 1)
        return value
    return data.draw(json_values)


VALID = [c["definition"] for c in CASES if c["valid"]]


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_validate_never_raises_on_mutated_definitions(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(VALID))
    mutated = _mutate(base, data)
    verdict = validate(mutated)
    assert verdict.valid is (not verdict.errors)
    if verdict.valid:
        assert verdict.definition is not None  # the typed model accepts all the reference accepts
    else:
        assert all(isinstance(e.path, str) and e.message for e in verdict.errors)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_validate_never_raises_on_any_json_value(value: Any) -> None:
    verdict = validate(value)
    assert verdict.valid is False or verdict.definition is not None
