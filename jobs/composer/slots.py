"""Where each validation issue is shown: the form field whose name matches its JSON path.

`ops[1].args.image` -> the slot `ops-1-args-image`; a path deeper than any field
(`ops[1].args.env.FOO`) goes to the nearest field above it (`ops-1-args-env`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from jobs.composer.state import ComposerState

_TOKEN = re.compile(r'\.([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|^([A-Za-z_$][A-Za-z0-9_$]*)')


def path_tokens(path: str) -> list[str]:
    """`ops[1].args.env["MY-VAR"]` -> ["ops", "1", "args", "env", "MY-VAR"]."""
    tokens: list[str] = []
    pos = 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if not match or match.end() == pos:
            break  # an unusual path: keep what was understood
        ident, index, quoted, first = match.groups()
        if quoted is not None:
            try:
                tokens.append(json.loads(f'"{quoted}"'))
            except ValueError:
                tokens.append(quoted)
        else:
            tokens.append(ident or index or first or "")
        pos = match.end()
    return tokens


def op_index(path: str) -> int | None:
    tokens = path_tokens(path)
    if len(tokens) >= 2 and tokens[0] == "ops" and tokens[1].isdigit():
        return int(tokens[1])
    return None


def slots(state: ComposerState) -> list[str]:
    """Every message slot the form renders (the same list the templates use)."""
    out = ["root", "version", "type", "meta", "global", "ops", "logistics", "deployment_id"]
    for key in ("meta.trigger", "meta.system_resources", "global.image", "global.work_dir", "global.gpu",
                "global.entrypoint", "global.env", "global.variables"):
        if state.managed(key) and state.managed(key.split(".")[0]):
            out.append(key.replace(".", "-"))
    if state.managed("meta.system_resources") and state.managed("meta"):
        out.append("meta-system_resources-required_vram")
    if not state.ops_in_form:
        return out
    for i, op in enumerate(state.ops):
        p = f"ops-{i}"
        out += [p, f"{p}-args", f"{p}-execution", f"{p}-results"]
        if op.json_text is not None:
            continue
        for key in ("type", "id"):
            if op.managed(key):
                out.append(f"{p}-{key}")
        if op.is_volume:
            if op.managed("args.name"):
                out.append(f"{p}-args-name")
        else:
            for key in ("image", "cmd", "entrypoint", "env", "volumes", "work_dir", "gpu", "private",
                        "expose", "restart_policy"):
                if op.managed(f"args.{key}"):
                    out.append(f"{p}-args-{key}")
            out.append(f"{p}-args-resources")
            if op.managed("args.expose"):
                for k, port in enumerate(op.expose):
                    e = f"{p}-args-expose-{k}"
                    out += [e, f"{e}-port", f"{e}-type", f"{e}-health_checks"]
                    for j in range(len(port.checks)):
                        out.append(f"{e}-health_checks-{j}")
        if "execution" not in op.unmanaged:
            for key in ("group", "depends_on", "stop_if_dependent_stops"):
                if op.managed(f"execution.{key}"):
                    out.append(f"{p}-execution-{key}")
    return out


@dataclass
class Placed:
    """Issues sorted by the slot that shows them, plus per-op levels for the graph."""

    by_slot: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    op_levels: dict[int, str] = field(default_factory=dict)  # op index -> "error" | "warning"
    errors: list[dict[str, object]] = field(default_factory=list)
    warnings: list[dict[str, object]] = field(default_factory=list)


def place(state: ComposerState, errors: list[dict[str, object]], warnings: list[dict[str, object]]) -> Placed:
    known = set(slots(state))
    placed = Placed()
    for level, issues in (("error", errors), ("warning", warnings)):
        for issue in issues:
            path = str(issue["path"])
            tokens = path_tokens(path)
            slot = "root"
            for n in range(len(tokens), 0, -1):
                candidate = "-".join(tokens[:n])
                if candidate in known:
                    slot = candidate
                    break
            item = {**issue, "level": level, "slot": slot}
            placed.by_slot.setdefault(slot, []).append(item)
            (placed.errors if level == "error" else placed.warnings).append(item)
            index = op_index(path)
            if index is not None and placed.op_levels.get(index) != "error":
                placed.op_levels[index] = level
    return placed
