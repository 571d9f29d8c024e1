"""POSTed flat fields (`ops-0-args-image`, `global-env-key`…) <-> `ComposerState`, and the form's buttons.

Field names follow the JSON paths of the definition, so an issue at `ops[1].args.image`
lands beside the field named `ops-1-args-image`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from django.http import QueryDict

from jobs.composer.state import (
    RUN,
    VOLUME,
    Check,
    ComposerState,
    OpForm,
    Port,
    Row,
    StrOrList,
    Volume,
)

MAX_LIST_ROWS = 500  # rows per table or list the form accepts in one POST (bounded loops)


def _json(text: str, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except (ValueError, RecursionError):  # hand-edited or hostile hidden fields: keep the default
        return default


def _json_list(text: str) -> list[Any]:
    value = _json(text, [])
    return value if isinstance(value, list) else []


def _int(text: str | None, default: int = 0, upper: int = MAX_LIST_ROWS) -> int:
    try:
        return max(0, min(int(text or default), upper))
    except ValueError:
        return default


def _rows(post: QueryDict, prefix: str) -> list[Row]:
    keys = post.getlist(f"{prefix}-key")[:MAX_LIST_ROWS]
    values = post.getlist(f"{prefix}-value")[:MAX_LIST_ROWS]
    values += [""] * (len(keys) - len(values))
    return [Row(k, v) for k, v in zip(keys, values, strict=False)]


def area(text: str) -> str:
    """Browsers send textarea line breaks as CRLF; the form only holds LF (values with CR stay JSON-only)."""
    return text.replace("\r\n", "\n")


def _str_or_list(post: QueryDict, prefix: str) -> StrOrList:
    mode = "list" if post.get(f"{prefix}-mode") == "list" else "string"
    items = [area(item) for item in post.getlist(f"{prefix}-item")[:MAX_LIST_ROWS]]
    return StrOrList(mode=mode, text=area(post.get(prefix, "")), items=items)


def _op(post: QueryDict, p: str, max_ops: int) -> OpForm:
    raw = _json(post.get(f"{p}-raw", ""), {})
    op = OpForm(raw=raw if isinstance(raw, dict) else {})
    op.unmanaged = [k for k in _json_list(post.get(f"{p}-unmanaged", "")) if isinstance(k, str)]
    op.collapsed = post.get(f"{p}-collapsed") == "1"
    if f"{p}-json" in post:
        op.json_text = area(post.get(f"{p}-json", ""))
        return op
    op.type = post.get(f"{p}-type", RUN)
    op.id = post.get(f"{p}-id", "")
    op.name = post.get(f"{p}-args-name", "")
    op.image = post.get(f"{p}-args-image", "")
    op.cmd = _str_or_list(post, f"{p}-args-cmd")
    op.entrypoint = _str_or_list(post, f"{p}-args-entrypoint")
    op.env = _rows(post, f"{p}-args-env")
    names = post.getlist(f"{p}-args-volumes-name")[:MAX_LIST_ROWS]
    dests = post.getlist(f"{p}-args-volumes-dest")[:MAX_LIST_ROWS]
    dests += [""] * (len(names) - len(dests))
    op.volumes = [Volume(n, d) for n, d in zip(names, dests, strict=False)]
    op.work_dir = post.get(f"{p}-args-work_dir", "")
    op.gpu = post.get(f"{p}-args-gpu") == "on"
    op.private = post.get(f"{p}-args-private") == "on"
    for k in range(_int(post.get(f"{p}-args-expose-count"))):
        e = f"{p}-args-expose-{k}"
        port_raw = _json(post.get(f"{e}-raw", ""), {})
        port = Port(
            port=post.get(f"{e}-port", ""),
            type=post.get(f"{e}-type", ""),
            short=post.get(f"{e}-short") == "1",
            raw=port_raw if isinstance(port_raw, dict) else {},
        )
        for j in range(_int(post.get(f"{e}-health_checks-count"))):
            h = f"{e}-health_checks-{j}"
            check_raw = _json(post.get(f"{h}-raw", ""), {})
            port.checks.append(
                Check(
                    type=post.get(f"{h}-type", "http"),
                    path=post.get(f"{h}-path", ""),
                    method=post.get(f"{h}-method", "GET"),
                    expected_status=post.get(f"{h}-expected_status", ""),
                    expected_response=post.get(f"{h}-expected_response", ""),
                    continuous=post.get(f"{h}-continuous") == "on",
                    raw=check_raw if isinstance(check_raw, dict) else {},
                )
            )
        op.expose.append(port)
    op.restart_policy = post.get(f"{p}-args-restart_policy", "")
    op.restart_tries = post.get(f"{p}-args-restart_policy-restart_tries", "")
    op.resources = area(post.get(f"{p}-args-resources", ""))
    op.group = post.get(f"{p}-execution-group", "")
    op.depends_on = list(dict.fromkeys(post.getlist(f"{p}-execution-depends_on")[:max_ops]))
    op.stop_if_dependent_stops = post.get(f"{p}-execution-stop_if_dependent_stops") == "on"
    return op


def state_from_post(post: QueryDict, max_ops: int) -> ComposerState:
    """Read the composer form exactly as typed (nothing is dropped or normalised here)."""
    raw = _json(post.get("raw-root", ""), None)
    state = ComposerState(raw=raw) if isinstance(raw, dict) else ComposerState()
    state.unmanaged = [k for k in _json_list(post.get("root-unmanaged", "")) if isinstance(k, str)]
    state.ops_in_form = post.get("ops-in-form", "1") == "1"
    state.ops_absent = post.get("ops-absent") == "1"
    state.trigger = post.get("meta-trigger", "")
    state.required_vram = post.get("meta-system_resources-required_vram", "")
    state.global_image = post.get("global-image", "")
    state.global_work_dir = post.get("global-work_dir", "")
    state.global_gpu = post.get("global-gpu") == "on"
    state.global_entrypoint = _str_or_list(post, "global-entrypoint")
    state.global_env = _rows(post, "global-env")
    state.global_variables = _rows(post, "global-variables")
    count = _int(post.get("ops-count"), upper=max_ops)
    state.ops = [_op(post, f"ops-{i}", max_ops) for i in range(count)]
    return state


def hidden_root(state: ComposerState, definition: dict[str, Any]) -> str:
    """The root as last derived, ops left out (each op card carries its own)."""
    root = dict(definition)
    if state.ops_in_form and "ops" in root:
        root["ops"] = []
    return json.dumps(root, ensure_ascii=False)


# ---- buttons ----------------------------------------------------------------------------------


class ActionError(ValueError):
    """A button value that does not match the form (stale page): reported, never a 500."""


def _list_target(state: ComposerState, path: str) -> tuple[list[Any], Callable[[], Any]]:
    """The list a row button works on, and a factory for its new rows."""
    if path == "global-env":
        return state.global_env, Row
    if path == "global-variables":
        return state.global_variables, Row
    if path == "global-entrypoint":
        return state.global_entrypoint.items, str
    match = re.fullmatch(r"ops-(\d+)-(args|execution)-(.+)", path)
    if not match or int(match.group(1)) >= len(state.ops):
        raise ActionError(f"unknown list {path!r}")
    op = state.ops[int(match.group(1))]
    rest = match.group(3)
    simple: dict[str, tuple[list[Any], Callable[[], Any]]] = {
        "env": (op.env, Row),
        "volumes": (op.volumes, Volume),
        "expose": (op.expose, Port),
        "cmd": (op.cmd.items, str),
        "entrypoint": (op.entrypoint.items, str),
    }
    if rest in simple:
        return simple[rest]
    match = re.fullmatch(r"expose-(\d+)-health_checks", rest)
    if match and int(match.group(1)) < len(op.expose):
        return op.expose[int(match.group(1))].checks, Check
    raise ActionError(f"unknown list {path!r}")


def _str_or_list_target(state: ComposerState, path: str) -> StrOrList:
    if path == "global-entrypoint":
        return state.global_entrypoint
    match = re.fullmatch(r"ops-(\d+)-args-(cmd|entrypoint)", path)
    if not match or int(match.group(1)) >= len(state.ops):
        raise ActionError(f"unknown field {path!r}")
    value: StrOrList = getattr(state.ops[int(match.group(1))], match.group(2))
    return value


def _index(state: ComposerState, text: str) -> int:
    try:
        index = int(text)
    except ValueError:
        raise ActionError(f"not an op number: {text!r}") from None
    if not 0 <= index < len(state.ops):
        raise ActionError(f"there is no op number {index + 1}")
    return index


def new_op(state: ComposerState, kind: str) -> OpForm:
    taken = set(state.all_ids())
    base = "volume" if kind == VOLUME else "run"
    n = 1
    while f"{base}-{n}" in taken:
        n += 1
    op = OpForm(type=kind, id=f"{base}-{n}")
    if kind == VOLUME:
        op.name = f"{base}-{n}"
    else:
        op.cmd = StrOrList(mode="string")
    return op


def apply_action(state: ComposerState, action: str, max_ops: int) -> str | None:
    """Change the form's structure for one button. Returns the id of the element to focus, if any."""
    verb, _, arg = action.partition(":")
    if verb == "add-op":
        if len(state.ops) >= max_ops:
            raise ActionError(f"the form holds at most {max_ops} ops")
        state.ops.append(new_op(state, VOLUME if arg == "volume" else RUN))
        return f"ops-{len(state.ops) - 1}-id"
    if verb in ("op-remove", "op-dup", "op-up", "op-down", "op-toggle"):
        i = _index(state, arg)
        if verb == "op-remove":
            del state.ops[i]
            return "ops-add" if not state.ops else f"op-{min(i, len(state.ops) - 1)}"
        if verb == "op-dup":
            if len(state.ops) >= max_ops:
                raise ActionError(f"the form holds at most {max_ops} ops")
            twin = copy.deepcopy(state.ops[i])
            taken = set(state.all_ids())
            n = 2
            while f"{twin.id}-{n}" in taken:
                n += 1
            twin.id = f"{twin.id}-{n}"
            state.ops.insert(i + 1, twin)
            return f"ops-{i + 1}-id"
        if verb == "op-toggle":
            state.ops[i].collapsed = not state.ops[i].collapsed
            return f"op-{i}"
        j = i - 1 if verb == "op-up" else i + 1
        if 0 <= j < len(state.ops):
            state.ops[i], state.ops[j] = state.ops[j], state.ops[i]
        return f"op-{max(0, min(j, len(state.ops) - 1))}"
    if verb == "op-move":
        src, _, dst = arg.partition(":")
        i, j = _index(state, src), _index(state, dst)
        state.ops.insert(j, state.ops.pop(i))
        return f"op-{j}"
    if verb == "cmd-mode":
        path, _, mode = arg.rpartition(":")
        _str_or_list_target(state, path).switch("list" if mode == "list" else "string")
        return path
    if verb == "add":
        rows, factory = _list_target(state, arg)
        if len(rows) >= MAX_LIST_ROWS:
            raise ActionError("that list is full")
        rows.append(factory())
        return f"{arg}-{len(rows) - 1}"
    if verb == "del":
        path, _, k = arg.rpartition(":")
        rows, _factory = _list_target(state, path)
        try:
            del rows[int(k)]
        except (ValueError, IndexError):
            raise ActionError(f"there is no row {k!r}") from None
        return path
    if verb in ("", "refresh", "apply-json", "reset-json", "save-draft", "post", "import", "download"):
        return None
    raise ActionError(f"unknown button {action!r}")


def apply_fix(state: ComposerState, slot: str) -> str:
    """One-click fix: replace a cmd/entrypoint with the validator's suggested portable list."""
    from jobs.composer.slots import path_tokens
    from jobs.definition import validate

    target = _str_or_list_target(state, slot)
    verdict = validate(state.to_definition())
    for issue in verdict.warnings:
        suggestion = issue.suggestion
        if "-".join(path_tokens(issue.path)) == slot and isinstance(suggestion, list) and all(
            isinstance(item, str) for item in suggestion
        ):
            target.mode = "list"
            target.items = list(suggestion)
            target.text = ""
            return slot
    raise ActionError("there is nothing to fix there any more")
