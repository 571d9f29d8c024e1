"""Checks the reference does not make but users need (spec section 13). Never change the verdict.

Every check reads the raw parsed JSON defensively: it also runs on definitions the reference
rejects, so it never assumes a shape. One pass over the ops gathers what the cross-op
checks (volumes, dependencies, literal references) need; validation speed matters.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from jobs.definition.canonical import canonical_text
from jobs.definition.cmd import first_item_has_whitespace, legacy_exec_form
from jobs.definition.issues import Issue
from jobs.definition.reference import access

_OP_REFERENCE = re.compile(r"%%ops\.([^.%]+)\.")
_WHITESPACE = re.compile(r"\s")
_PLACEHOLDER = "%%"


class _Ops:
    """What one pass over the ops collects for the cross-op checks."""

    __slots__ = ("ids", "volumes_created", "mounts", "edges", "groups", "literal_args", "global_entrypoint")

    def __init__(self, global_entrypoint: bool) -> None:
        self.global_entrypoint = global_entrypoint  # cmd items are then arguments, not the program
        self.ids: dict[str, int] = {}  # first index of each id
        self.volumes_created: dict[str, int] = {}  # volume name -> first create-volume op index
        self.mounts: list[tuple[int, int, str]] = []  # (op index, volume index, name)
        self.edges: list[tuple[int, int, str]] = []  # (op index, depends_on index, target id)
        self.groups: dict[int, str | None] = {}  # op index -> execution group
        self.literal_args: list[int] = []  # ops whose args mention "%%ops."


def definition_warnings(obj: object) -> list[Issue]:
    if type(obj) is not dict:
        return []
    ops = obj.get("ops")
    if type(ops) is not list:
        return []
    warnings: list[Issue] = []
    max_ops = _max_ops()
    if len(ops) > max_ops:
        warnings.append(
            Issue(
                "ops",
                f"has {len(ops):,} ops; this dashboard handles at most {max_ops:,} per job "
                "(NOSANA_MAX_OPS), so the composer and runner will refuse it",
            )
        )
        return warnings  # per-op checks on a huge list would only bury that message
    glob = obj.get("global")
    seen = _Ops(type(glob) is dict and bool(glob.get("entrypoint")))
    ids = seen.ids
    for i, op in enumerate(ops):
        if type(op) is not dict:
            continue
        op_id = op.get("id")
        if type(op_id) is str:
            if op_id not in ids:
                ids[op_id] = i
            # A non-empty printable ASCII id has no whitespace but " " (which the reference
            # rejects itself): only other ids need the regex.
            if not op_id or not (op_id.isascii() and op_id.isprintable()):
                _id_checks(i, op_id, warnings)
        if "execution" in op:
            _collect_execution(i, op["execution"], seen)
        args = op.get("args")
        if type(args) is not dict:
            continue
        if len(args) == 1 and type(args.get("image")) is str and op.get("type") == "container/run":
            # the common minimal op, inline: only the image to look at (long op lists are made of these)
            image = args["image"]
            message = _image_problem(image)
            if message:
                warnings.append(Issue(f"ops[{i}].args.image", message))
            if "%%ops." in image:
                seen.literal_args.append(i)
        else:
            _args_checks(i, op.get("type"), args, seen, warnings)
    if seen.mounts:
        _volume_checks(seen, warnings)
    if seen.edges:
        _dependency_checks(ops, seen, warnings)
    for i in seen.literal_args:
        _reference_checks(i, ops[i]["args"], seen.ids, warnings)
    return warnings


_MAX_OPS: list[int] = []  # settings.NOSANA_MAX_OPS, read once (a settings read costs more than an op's checks)


def _max_ops() -> int:
    if not _MAX_OPS:
        _MAX_OPS.append(settings.NOSANA_MAX_OPS)
    return _MAX_OPS[0]


@receiver(setting_changed)
def _forget_max_ops(*, setting: str, **kwargs: object) -> None:
    if setting == "NOSANA_MAX_OPS":  # override_settings in tests
        _MAX_OPS.clear()


# ---- per op -------------------------------------------------------------------------------


def _collect_execution(i: int, execution: Any, seen: _Ops) -> None:
    if type(execution) is not dict:
        return
    group = execution.get("group")
    seen.groups[i] = group if type(group) is str else None
    depends = execution.get("depends_on")
    if type(depends) is list:
        for j, target in enumerate(depends):
            if type(target) is str:
                seen.edges.append((i, j, target))


def _args_checks(i: int, kind: Any, args: dict[str, Any], seen: _Ops, warnings: list[Issue]) -> None:
    path = f"ops[{i}]"
    is_run = "image" in args  # the reference picks the args shape by this key
    if is_run:
        if kind == "container/create-volume":
            warnings.append(
                Issue(
                    path + ".type",
                    'is "container/create-volume" but args look like a container run ({"image": …}); '
                    'the node would create a volume named "undefined". Use "container/run"',
                )
            )
        _run_args_checks(i, args, path + ".args", seen, warnings)
        if _mentions_op(args):
            seen.literal_args.append(i)
    elif "name" in args:
        name = args["name"]
        if type(name) is str:
            seen.volumes_created.setdefault(name, i)
        if kind == "container/run":
            warnings.append(
                Issue(
                    path + ".type",
                    'is "container/run" but args look like a volume ({"name": …}); '
                    'the node would run a container without an image. Use "container/create-volume" or add "image"',
                )
            )


def _id_checks(i: int, op_id: str, warnings: list[Issue]) -> None:
    if op_id == "":
        warnings.append(Issue(f"ops[{i}].id", "is empty; give the op a name so logs and references can use it"))
    elif " " not in op_id and _WHITESPACE.search(op_id):
        warnings.append(
            Issue(f"ops[{i}].id", "contains whitespace (tab or non-breaking space); use letters, digits and -")
        )


def _run_args_checks(i: int, args: dict[str, Any], path: str, seen: _Ops, warnings: list[Issue]) -> None:
    image = args["image"]
    if type(image) is str:
        message = _image_problem(image)
        if message:
            warnings.append(Issue(path + ".image", message))
    if len(args) == 1:
        return  # only an image: nothing else to check
    cmd = args.get("cmd")
    has_entrypoint = seen.global_entrypoint or bool(args.get("entrypoint"))
    if not has_entrypoint and type(cmd) is list and first_item_has_whitespace(cmd) and all(type(item) is str for item in cmd):
        portable = legacy_exec_form(cmd)
        text = (
            f"starts with {cmd[0]!r}, which contains whitespace. Today's Nosana nodes run a cmd list in exec "
            "form, so the whole first item is taken as the program's name and the op fails to start "
            "(the 2024 node joined the items and split them like a shell)."
        )
        if portable:
            text += " Use the portable form: " + _json_list(portable)
        warnings.append(Issue(path + ".cmd", text, suggestion=portable))
    entrypoint = args.get("entrypoint")
    if type(entrypoint) is str and _WHITESPACE.search(entrypoint.strip()):
        suggestion = entrypoint.split()
        warnings.append(
            Issue(
                path + ".entrypoint",
                "is a string with spaces: the node does not split it, so it looks for a program with that "
                "whole name. Use a list instead: " + _json_list(suggestion),
                suggestion=suggestion,
            )
        )
    if "expose" in args:
        _port_checks(args["expose"], path + ".expose", warnings)
    volumes = args.get("volumes")
    if type(volumes) is list:
        for j, volume in enumerate(volumes):
            name = volume.get("name") if type(volume) is dict else None
            if type(name) is str and _PLACEHOLDER not in name:
                seen.mounts.append((i, j, name))


def _json_list(items: list[str]) -> str:
    return canonical_text(items).replace('","', '", "')


@lru_cache(maxsize=1024)
def _image_problem(image: str) -> str | None:
    if image == "":
        return "is empty; a container/run op needs an image to run"
    if _PLACEHOLDER in image:
        return None  # resolved by the node at run time
    if image != image.strip():
        return "has leading or trailing whitespace, which no registry accepts"
    if "@" in image:
        return None  # pinned by digest
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return (
            f'has no tag, so nodes pull "{image}:latest", which can change between runs; '
            f'pin a version such as "{image}:<version>"'
        )
    return None


def _port_checks(expose: Any, path: str, warnings: list[Issue]) -> None:
    if type(expose) is list:
        for i, item in enumerate(expose):
            _port_check(item, path, i, warnings)
    else:
        _port_check(expose, path, None, warnings)


def _port_check(item: Any, path: str, index: int | None, warnings: list[Issue]) -> None:
    port = item.get("port") if type(item) is dict else item
    if type(port) is not int and type(port) is not float:
        return
    if port != int(port) or not 1 <= port <= 65535:
        # the path is only built for a warning
        item_path = path if index is None else f"{path}[{index}]"
        port_path = item_path + ".port" if type(item) is dict else item_path
        warnings.append(Issue(port_path, f"is {port}; a port must be a whole number from 1 to 65535"))


# ---- volumes ------------------------------------------------------------------------------


def _volume_checks(seen: _Ops, warnings: list[Issue]) -> None:
    for i, j, name in seen.mounts:
        path = f"ops[{i}].args.volumes[{j}].name"
        created = seen.volumes_created.get(name)
        if created is None:
            warnings.append(
                Issue(
                    path,
                    f'mounts volume "{name}", but no container/create-volume op creates it; '
                    "the engine would mount an empty volume",
                )
            )
        elif created > i:
            warnings.append(Issue(path, f'mounts volume "{name}", which is only created later, by ops[{created}]'))


# ---- execution ----------------------------------------------------------------------------


def _dependency_checks(ops: list[Any], seen: _Ops, warnings: list[Issue]) -> None:
    ids = seen.ids
    graph: dict[str, list[str]] = {}
    for i, j, target in seen.edges:
        path = f"ops[{i}].execution.depends_on[{j}]"
        op_id = ops[i].get("id")
        if target == op_id:
            warnings.append(Issue(path, "names the op itself; the node rejects the job (init error)"))
        elif target not in ids:
            warnings.append(Issue(path, f'names "{target}", but no op has that id; the node rejects the job'))
        else:
            if seen.groups.get(ids[target]) != seen.groups.get(i):
                warnings.append(
                    Issue(
                        path,
                        f'names "{target}", which is in another execution group; '
                        "the node only allows dependencies inside one group",
                    )
                )
            if type(op_id) is str and ids.get(op_id) == i:
                graph.setdefault(op_id, []).append(target)
    cycle = _find_cycle(graph)
    if cycle:
        chain = " → ".join([*cycle, cycle[0]])
        warnings.append(
            Issue(
                f"ops[{ids[cycle[0]]}].execution.depends_on",
                f"is part of a dependency cycle ({chain}); the node does not detect it and these ops never start",
            )
        )


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle of length >= 2 (self-loops are reported on their own), found iteratively."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(graph, white)
    for start in graph:
        if color[start] != white:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = [start]
        color[start] = grey
        while stack:
            node, index = stack[-1]
            edges = graph.get(node, [])
            if index >= len(edges):
                stack.pop()
                trail.pop()
                color[node] = black
                continue
            stack[-1] = (node, index + 1)
            nxt = edges[index]
            if nxt == node:
                continue
            state = color.get(nxt, black)  # ops without dependencies cannot be on a cycle
            if state == grey:
                return trail[trail.index(nxt) :]
            if state == white:
                color[nxt] = grey
                stack.append((nxt, 0))
                trail.append(nxt)
    return None


# ---- literal references -------------------------------------------------------------------


def _mentions_op(value: Any, depth: int = 0) -> bool:
    """Whether a string inside the object or array `value` contains "%%ops." (no paths built).

    Only a filter before `_reference_checks`, which finds the strings themselves and looks at
    most 32 levels down: deeper than that, this answers "maybe" (True) and lets it decide.
    """
    if depth > 32:
        return True
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is str:
            if "%%ops." in item:
                return True
        elif (kind is dict or kind is list) and _mentions_op(item, depth + 1):
            return True
    return False


def _strings(value: Any, path: str, out: list[tuple[str, str]], depth: int = 0) -> None:
    """Every string under `value` (at most 32 levels down) that contains "%%ops.", with its path.

    A path is only built for a match or for a container to descend into.
    """
    if type(value) is str:
        if "%%ops." in value:
            out.append((path, value))
        return
    if depth >= 32:  # children would be deeper than 32 levels
        return
    items: Any
    if type(value) is dict:
        items = value.items()
    elif type(value) is list:
        items = enumerate(value)
    else:
        return
    for key, item in items:
        kind = type(item)
        if kind is str:
            if "%%ops." in item:
                out.append((path + (access(key) if type(key) is str else f"[{key}]"), item))
        elif kind is dict or kind is list:
            _strings(item, path + (access(key) if type(key) is str else f"[{key}]"), out, depth + 1)


def _reference_checks(i: int, args: Any, ids: dict[str, int], warnings: list[Issue]) -> None:
    found: list[tuple[str, str]] = []
    _strings(args, f"ops[{i}].args", found)
    for path, text in found:
        for match in _OP_REFERENCE.finditer(text):
            target = match.group(1)
            if target not in ids:
                warnings.append(Issue(path, f'refers to op "{target}", but no op has that id'))
            elif ids[target] == i:
                warnings.append(Issue(path, f'refers to its own op "{target}"; it cannot be resolved before start'))
