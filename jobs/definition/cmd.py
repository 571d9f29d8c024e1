"""How a node runs `cmd`, and the portable rewrite of the seed's legacy array form."""

from __future__ import annotations

import re
import shlex

_WHITESPACE = re.compile(r"\s")


def _single_quote(item: str) -> str:
    return "'" + item.replace("'", "'\"'\"'") + "'"


def legacy_exec_form(cmd: list[str]) -> list[str] | None:
    """The argv the 2024 node ran for an array whose first item contains whitespace.

    It took the first item as is, appended every later item in single quotes, and split
    the result as a shell would; so `["/bin/bash -c ", "echo a;", "pwd;"]` became
    `["/bin/bash", "-c", "echo a;pwd;"]`. That list is also the portable form today's
    nodes accept. None when the first item does not split cleanly (unbalanced quotes).
    """
    if not cmd:
        return None
    line = cmd[0] + "".join(_single_quote(item) for item in cmd[1:])
    try:
        argv = shlex.split(line, posix=True)
    except ValueError:
        return None
    return argv or None


def first_item_has_whitespace(cmd: object) -> bool:
    return (
        isinstance(cmd, list) and bool(cmd) and isinstance(cmd[0], str) and _WHITESPACE.search(cmd[0]) is not None
    )
