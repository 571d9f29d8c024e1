"""Plain-English messages for the reference's errors (its `expected` texts are TypeScript types)."""

from __future__ import annotations

import json
from typing import Any

from jobs.definition import reference as ref
from jobs.definition.issues import Issue

_ROOT = "$input"
# What `json.dumps(value, ensure_ascii=False)` uses, built once: dumps builds a new encoder per
# call whenever an option differs from its defaults.
_ENCODER = json.JSONEncoder(ensure_ascii=False)

_BY_EXPECTED: dict[str, str] = {
    '"0.1"': 'must be exactly the string "0.1"',
    '"container"': 'must be exactly "container"',
    "string": "must be a string",
    "(string | undefined)": "must be a string",
    "boolean": "must be true or false",
    "(boolean | undefined)": "must be true or false",
    "number": "must be a number",
    "(number | undefined)": "must be a number",
    "(number | string)": "must be a string or a number",
    ref.E_META_NESTED: "must be a string, a number or a list of them",
    ref.E_META_EXTRA: "must be a string, a number, a list of them, or an object of those",
    "(Meta | undefined)": "must be an object",
    "(Global | undefined)": "must be an object",
    "(Logistics | undefined)": 'must be an object with "send" and "receive"',
    "Logistic": 'must be an object with "type" and "args"',
    "Partial<__type>": "must be an object (it may be empty)",
    '("api" | "api-listen")': 'must be "api" or "api-listen"',
    "(Record<string, string | number> | undefined)": "must be an object of strings or numbers",
    "(Env | undefined)": "must be an object of string values",
    "(Variables | undefined)": "must be an object of string values",
    "(Record<string, string> | undefined)": "must be an object of string values",
    ref.E_CMD: "must be a string or a list of strings",
    "(Aliases | string | undefined)": "must be a string or a list of strings",
    ref.E_OPS: "is required: a list of operations",
    "Operation<keyof OperationArgsMap>": "must be an operation object",
    '("container/create-volume" | "container/run")': 'must be "container/run" or "container/create-volume"',
    "(string & TagBase<__type>)": "must be a string without spaces",
    ref.E_ARGS: 'must be an object with "image" (container/run) or "name" (container/create-volume)',
    ref.E_ARGS_UNION: 'must have "image" (container/run) or "name" (container/create-volume)',
    "(Array<Volume> | undefined)": 'must be a list of {"name", "dest"} objects',
    "Volume": 'must be an object {"name": …, "dest": …}',
    ref.E_EXPOSE: "must be a port number, a placeholder, a port object, or a list of those",
    ref.E_EXPOSE_ITEM: "must be a port number, a placeholder or a port object",
    ref.E_EXPOSE_RULE: (
        "ports must be numbers (or whole %%…%% placeholders in a list item), "
        "and a port may appear only once per op"
    ),
    "(__type | ExposedPort)": 'must have "port" (a number) or "__spread__" (a placeholder)',
    '("api" | "none" | "web" | "webapi" | "websocket" | undefined)': (
        'must be one of "web", "api", "webapi", "websocket", "none"'
    ),
    "(Array<HealthCheck> | undefined)": "must be a list of health checks",
    "(HttpHealthCheck | WebSocketHealthCheck)": 'must be a health check with "type": "http" or "websocket"',
    '("DELETE" | "GET" | "POST" | "PUT")': 'must be "GET", "POST", "PUT" or "DELETE" (upper case)',
    ref.E_RESTART: 'must be "no", "always", "unless-stopped", "on-failure" or {"policy": "on-failure"}',
    '"on-failure"': 'must be "on-failure" (the object form is only for on-failure)',
    "(Resources | undefined)": "must be a list of resources",
    ref.E_RESOURCE: 'must be a resource object (S3, HF, Ollama) or "__remove-if-empty__"',
    '"S3"': 'must be "S3", "HF" or "Ollama" (case-sensitive)',
    '"HF"': 'must be "HF"',
    '"Ollama"': 'must be "Ollama"',
    "(Array<string> | undefined)": "must be a list of strings",
    "(S3Auth | undefined)": "must be an object with REGION, ACCESS_KEY_ID and SECRET_ACCESS_KEY",
    "Array<__type>": 'must be a list of {"url", "files"} objects',
    "__type.o5": 'must be an object {"url": …}',
    "(Authentication | undefined)": 'must be an object (only the key "docker")',
    "(DockerAuth | undefined)": "must be an object of username, password, email, server",
    "(OperationResults | undefined)": "must be an object of result names",
    "(OperationResult | string)": 'must be a regex string or {"regex": …, "logType": […]}',
    ref.E_LOGTYPE: 'must be a list of "stdin", "stdout", "stderr", "nodeerr"',
    ref.E_LOGTYPE_RULE: "must list 1 to 4 log types, each at most once",
    '("nodeerr" | "stderr" | "stdin" | "stdout")': 'must be "stdin", "stdout", "stderr" or "nodeerr"',
    ref.E_EXECUTION: 'must be an object with "group" and/or "depends_on"',
    "Array<string>": "must be a list of op ids",
    "JobDefinitionWithRule": "must be a JSON object (a job definition)",
}


def strip_root(path: str) -> str:
    """`$input.ops[0]` -> `ops[0]`, `$input["0"]` -> `["0"]`, `$input` -> ``."""
    if path.startswith(_ROOT + "."):
        return path[len(_ROOT) + 1 :]
    if path.startswith(_ROOT):
        return path[len(_ROOT) :]
    return path


def _show(value: Any) -> str:
    text = _ENCODER.encode(value)
    return text if len(text) <= 40 else text[:37] + "…"


def message_for(path: str, expected: str, value: Any, ops: Any = None) -> str:
    if expected == ref.E_UNIQUE_IDS:
        return _ids_message(ops)
    if expected == ref.E_TAG:
        if path.endswith(".id"):
            return "must not contain spaces"
        return 'must be a whole placeholder like "%%ops.<id>.results.<name>%%" or "%%global.variables.<NAME>%%"'
    if expected == ref._UNKNOWN:
        if path.endswith(".depends_on"):
            return "must be a list of op ids (strings)"
        if path.endswith(".stop_if_dependent_stops"):
            return "is only allowed together with depends_on"
        return "is not a known key here"
    if value is ref.MISSING:
        return "is required"
    text = _BY_EXPECTED.get(expected)
    if text is None:
        text = f"has the wrong type (expected {expected})"
    if value is None:
        return text + " (null is not allowed; leave the key out instead)"
    if not isinstance(value, (dict, list)):
        return f"{text} (got {_show(value)})"
    return text


def _ids_message(ops: Any) -> str:
    if not isinstance(ops, list):
        return "every op needs a string id, unique across ops"
    seen: dict[str, int] = {}
    for i, op in enumerate(ops):
        op_id = op.get("id") if isinstance(op, dict) else None
        if not isinstance(op_id, str):
            return f"ops[{i}] has no string id; every op needs one"
        if op_id in seen:
            return f'id "{op_id}" is used by both ops[{seen[op_id]}] and ops[{i}]; ids must be unique'
        seen[op_id] = i
    return "every op needs a string id, unique across ops"


def to_issues(errors: list[ref.Error], obj: Any) -> list[Issue]:
    ops = obj.get("ops") if isinstance(obj, dict) else None
    return [Issue(strip_root(path), message_for(path, expected, value, ops)) for path, expected, value in errors]
