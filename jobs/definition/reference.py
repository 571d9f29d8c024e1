"""The reference verdict: the checks of `@nosana/types` 2.1.6 `validateJobDefinition`, one for one.

The reference is a typia-generated validator. To report exactly its errors (same paths,
same short-circuits), each function below mirrors one generated check and keeps its
boolean shape: `ok or report(...)` reports and yields False, and a parent's fallback
report is swallowed when it would repeat a path the last error already covers (typia's
`_validateReport` rule, implemented in `_report`). Objects with exactly as many keys as
required properties skip the unknown-key scan, as the reference does.

Values are parsed JSON (`dict`, `list`, `str`, `int`, `float`, `bool`, `None`); a key that
is absent is JavaScript's `undefined`, `None` is `null`.

Public entry point: `reference_errors(obj) -> list[(path, expected, value)]` with paths
rooted at `$input` like the reference's.
"""

from __future__ import annotations

import re
from typing import Any

from jobs.definition.canonical import js_key_order, json_string

MISSING: Any = object()  # JavaScript's `undefined`: the key is absent

Error = tuple[str, str, Any]  # (path, expected, value or MISSING)

# The reference's /^%%(ops|global).[^%]+%%$/ (unescaped dot included), as JavaScript reads it:
# "." stops at line terminators and "$" only matches at the very end (hence fullmatch).
_LITERAL = re.compile("%%(ops|global)[^\n\r\u2028\u2029][^%]+%%")
_RANGE = re.compile(r"([0-9]+)-([0-9]+)")
_IDENTIFIER = re.compile(r"[a-zA-Z_$][a-zA-Z_$0-9]*")
_RESERVED = frozenset(
    "break case catch class const continue debugger default delete do else enum export extends false "
    "finally for function if import in instanceof new null return super switch this throw true try "
    "typeof var void while with".split()
)

_UNKNOWN = "undefined"
E_META_EXTRA = (
    "(Array<string | number> | Record<string, string | number | (string | number)[]> | number | string | undefined)"
)
E_META_NESTED = "(Array<string | number> | number | string)"
E_CMD = "(CMDArray | string | undefined)"
E_EXPOSE = (
    "((Array<ExposeBase> & TagBase<__type>) | (__type & TagBase<__type>) | (string & TagBase<__type>)"
    " | ExposedPort | number | undefined)"
)
E_EXPOSE_ITEM = "((__type & TagBase<__type>) | (string & TagBase<__type>) | ExposedPort | number)"
E_TAG = "string & TagBase<__type>"
E_RESTART = '("always" | "no" | "on-failure" | "unless-stopped" | __type.o4 | undefined)'
E_RESOURCE = (
    '("__remove-if-empty__" | (__type & TagBase<__type>) | HFResource | OllamaResource | S3Base'
    " | S3WithBucket | S3WithBuckets)"
)
E_EXECUTION = (
    "(undefined | { group?: string | undefined; } & { depends_on: string[]; stop_if_dependent_stops?:"
    " boolean | undefined; } | { group?: string | undefined; } & { depends_on?: undefined;"
    " stop_if_dependent_stops?: undefined; })"
)
E_ARGS_UNION = "(ContainerRun | ContainerCreateVolume)"
E_ARGS = "(ContainerCreateVolume | ContainerRun)"
E_OPS = "(Ops & UniqueById)"
E_UNIQUE_IDS = "Array<> & UniqueById"
E_EXPOSE_RULE = "Array<> & TagBase<__type>"
E_LOGTYPE = "(Array<StdOption> & UniqueLogTypeTag)"
E_LOGTYPE_RULE = "Array<> & UniqueLogTypeTag"

_RUN_KEYS = frozenset(
    [
        "image", "aliases", "cmd", "volumes", "expose", "gpu", "work_dir", "entrypoint", "env",
        "restart_policy", "private", "resources", "authentication",
    ]
)  # fmt: skip
_ROOT_KEYS = frozenset(["type", "version", "logistics", "deployment_id", "meta", "global", "ops"])
_OP_KEYS = frozenset(["type", "id", "args", "results", "execution"])
_GLOBAL_KEYS = frozenset(["image", "gpu", "entrypoint", "env", "work_dir", "variables"])
_HTTP_KEYS = frozenset(["type", "path", "method", "expected_status", "headers", "body", "continuous"])
_WS_KEYS = frozenset(["type", "expected_response", "continuous"])
_EXEC_KEYS = frozenset(["group", "depends_on", "stop_if_dependent_stops"])
_S3_KEYS = frozenset(["type", "target", "url", "allowWrite", "files", "IAM"])
_S3_BUCKET_KEYS = frozenset(["type", "target", "bucket", "url", "allowWrite", "IAM"])
_S3_BUCKETS_KEYS = frozenset(["type", "target", "buckets", "url", "allowWrite", "IAM"])
_HF_KEYS = frozenset(["type", "target", "repo", "revision", "files", "accessToken"])
_OLLAMA_KEYS = frozenset(["type", "model", "target"])
_IAM_KEYS = frozenset(["REGION", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"])
_DOCKER_KEYS = frozenset(["username", "password", "email", "server"])
_SERVICE_TYPES = frozenset(["api", "web", "websocket", "webapi", "none"])
_METHODS = frozenset(["GET", "POST", "PUT", "DELETE"])
_RESTART_NAMES = frozenset(["on-failure", "no", "always", "unless-stopped"])
_LOG_TYPES = frozenset(["stdin", "stdout", "stderr", "nodeerr"])

_K_DOCKER = frozenset(["docker"])
_K_ENDPOINT = frozenset(["endpoint"])
_K_NAME = frozenset(["name"])
_K_NAME_DEST = frozenset(["name", "dest"])
_K_POLICY_RESTART_TRIES = frozenset(["policy", "restart_tries"])
_K_PORT_TYPE_HEALTH_CHECKS = frozenset(["port", "type", "health_checks"])
_K_REGEX_LOGTYPE = frozenset(["regex", "logType"])
_K_SEND_RECEIVE = frozenset(["send", "receive"])
_K_SPREAD___CHUNKED = frozenset(["__spread__", "chunked"])
_K_TYPE_ARGS = frozenset(["type", "args"])
_K_URL_FILES = frozenset(["url", "files"])


def access(key: str) -> str:
    """How the reference appends a key to a path: `.key` or `["key"]`."""
    if _IDENTIFIER.fullmatch(key) and key not in _RESERVED:
        return "." + key
    return "[" + json_string(key) + "]"


# ---- JavaScript-flavoured value tests ---------------------------------------------------


def _obj(v: Any) -> bool:  # typeof v === "object" && v !== null
    return type(v) is dict or type(v) is list


def _num(v: Any) -> bool:  # typeof v === "number" (bool is not a number)
    return type(v) is int or type(v) is float


def _as_object(o: Any) -> dict[str, Any]:
    """An array seen as a JavaScript object: its keys are "0", "1", …; named properties are absent."""
    return o if type(o) is dict else {str(i): item for i, item in enumerate(o)}


def _literal(v: Any) -> bool:
    return type(v) is str and _LITERAL.fullmatch(v) is not None


class _Run:
    """One validation pass: the error list and typia's report rule."""

    __slots__ = ("errors",)

    def __init__(self) -> None:
        self.errors: list[Error] = []

    def report(self, path: str, expected: str, value: Any) -> bool:
        errors = self.errors
        # typia drops an error whose path is a prefix of the last one reported (a parent
        # re-reporting a child's failure). It is a plain string prefix test, kept as is.
        if not errors or not errors[-1][0].startswith(path):
            errors.append((path, expected, value))
        return False

    def unknown_keys(self, o: Any, path: str, allowed: frozenset[str], required: int) -> bool:
        if len(o) == required:
            return True
        if type(o) is dict and allowed.issuperset(o):
            return True  # no unknown key: skip the ordered scan (the common case)
        ok = True
        for key in js_key_order(o):
            if key in allowed:
                continue
            ok = self.report(path + access(key), _UNKNOWN, o[key]) and ok
        return ok

    # ---- shared shapes -------------------------------------------------------------------

    def optional(self, o: Any, key: str, path: str, kind: type, expected: str) -> bool:
        v = o.get(key, MISSING)
        if v is MISSING or type(v) is kind:
            return True
        return self.report(path + "." + key, expected, v)

    def optional_number(self, o: Any, key: str, path: str) -> bool:
        v = o.get(key, MISSING)
        if v is MISSING or _num(v):
            return True
        return self.report(path + "." + key, "(number | undefined)", v)

    def required_str(self, o: Any, key: str, path: str) -> bool:
        v = o.get(key, MISSING)
        return type(v) is str or self.report(path + "." + key, "string", v)

    def string_map(self, o: Any, path: str) -> bool:
        ok = True
        for key in js_key_order(o):
            v = o[key]
            if type(v) is not str:
                ok = self.report(path + access(key), "string", v) and ok
        return ok

    def optional_map(self, o: Any, key: str, path: str, expected: str) -> bool:
        v = o.get(key, MISSING)
        if v is MISSING:
            return True
        p = path + "." + key
        return ((type(v) is dict or self.report(p, expected, v)) and self.string_map(v, p)) or self.report(
            p, expected, v
        )

    def string_list_items(self, v: list[Any], p: str) -> bool:
        ok = True
        for i, item in enumerate(v):
            if type(item) is not str:
                ok = self.report(f"{p}[{i}]", "string", item) and ok
        return ok

    def str_or_list(self, o: Any, key: str, path: str, expected: str) -> bool:
        v = o.get(key, MISSING)
        p = path + "." + key
        return (v is not None or self.report(p, expected, v)) and (
            v is MISSING
            or type(v) is str
            or ((type(v) is list or self.report(p, expected, v)) and self.string_list_items(v, p))
            or self.report(p, expected, v)
        )

    def optional_files(self, o: Any, path: str) -> bool:
        v = o.get("files", MISSING)
        if v is MISSING:
            return True
        p = path + ".files"
        expected = "(Array<string> | undefined)"
        return ((type(v) is list or self.report(p, expected, v)) and self.string_list_items(v, p)) or self.report(
            p, expected, v
        )

    # ---- root ------------------------------------------------------------------------------

    def root(self, o: Any, path: str) -> bool:
        # `"key" not in o or check(...)` skips optional keys that are absent (the check would
        # pass) without a call; for an array root every optional key is absent anyway.
        if type(o) is not dict:
            o = _as_object(o)
        kind = o.get("type", MISSING)
        version = o.get("version", MISSING)
        checks = [
            (type(kind) is str and kind == "container") or self.report(path + ".type", '"container"', kind),
            (type(version) is str and version == "0.1") or self.report(path + ".version", '"0.1"', version),
            "logistics" not in o or self.logistics_field(o, path),
            "deployment_id" not in o or self.optional(o, "deployment_id", path, str, "(string | undefined)"),
            "meta" not in o or self.meta_field(o, path),
            "global" not in o or self.global_field(o, path),
            self.ops_field(o, path),
            self.unknown_keys(o, path, _ROOT_KEYS, 3),
        ]
        return all(checks)

    def logistics_field(self, o: Any, path: str) -> bool:
        v = o.get("logistics", MISSING)
        if v is MISSING:
            return True
        p = path + ".logistics"
        e = "(Logistics | undefined)"
        return ((_obj(v) or self.report(p, e, v)) and self.logistics(v, p)) or self.report(p, e, v)

    def logistics(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        checks = [
            self.logistic_field(o, "send", path),
            self.logistic_field(o, "receive", path),
            self.unknown_keys(o, path, _K_SEND_RECEIVE, 2),
        ]
        return all(checks)

    def logistic_field(self, o: Any, key: str, path: str) -> bool:
        v = o.get(key, MISSING)
        p = path + "." + key
        return ((_obj(v) or self.report(p, "Logistic", v)) and self.logistic(v, p)) or self.report(p, "Logistic", v)

    def logistic(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        kind = o.get("type", MISSING)
        args = o.get("args", MISSING)
        pa = path + ".args"
        checks = [
            kind in ("api", "api-listen") and type(kind) is str
            or self.report(path + ".type", '("api" | "api-listen")', kind),
            ((type(args) is dict or self.report(pa, "Partial<__type>", args)) and self.logistic_args(args, pa))
            or self.report(pa, "Partial<__type>", args),
            self.unknown_keys(o, path, _K_TYPE_ARGS, 2),
        ]
        return all(checks)

    def logistic_args(self, o: Any, path: str) -> bool:
        checks = [
            self.optional(o, "endpoint", path, str, "(string | undefined)"),
            self.unknown_keys(o, path, _K_ENDPOINT, 0),
        ]
        return all(checks)

    # ---- meta ------------------------------------------------------------------------------

    def meta_field(self, o: Any, path: str) -> bool:
        v = o.get("meta", MISSING)
        if v is MISSING:
            return True
        p = path + ".meta"
        e = "(Meta | undefined)"
        return ((type(v) is dict or self.report(p, e, v)) and self.meta(v, p)) or self.report(p, e, v)

    def meta(self, o: dict[str, Any], path: str) -> bool:
        sr = o.get("system_resources", MISSING)
        psr = path + ".system_resources"
        esr = "(Record<string, string | number> | undefined)"
        checks = [
            self.optional(o, "trigger", path, str, "(string | undefined)"),
            sr is MISSING
            or ((type(sr) is dict or self.report(psr, esr, sr)) and self.number_or_string_map(sr, psr))
            or self.report(psr, esr, sr),
            self.meta_extras(o, path),
        ]
        return all(checks)

    def number_or_string_map(self, o: dict[str, Any], path: str) -> bool:
        ok = True
        for key in js_key_order(o):
            v = o[key]
            if not (type(v) is str or _num(v)):
                ok = self.report(path + access(key), "(number | string)", v) and ok
        return ok

    def scalar_items(self, v: list[Any], p: str) -> bool:
        ok = True
        for i, item in enumerate(v):
            if not (type(item) is str or _num(item)):
                ok = self.report(f"{p}[{i}]", "(number | string)", item) and ok
        return ok

    def meta_extras(self, o: dict[str, Any], path: str) -> bool:
        ok = True
        for key in js_key_order(o):
            if key == "trigger" or key == "system_resources":
                continue
            v = o[key]
            p = path + access(key)
            flag = (v is not None or self.report(p, E_META_EXTRA, v)) and (
                type(v) is str
                or _num(v)
                or (type(v) is list and self.scalar_items(v, p))
                or (type(v) is dict and self.meta_record(v, p))
                or self.report(p, E_META_EXTRA, v)
                or self.report(p, E_META_EXTRA, v)
            )
            ok = flag and ok
        return ok

    def meta_record(self, o: dict[str, Any], path: str) -> bool:
        ok = True
        for key in js_key_order(o):
            v = o[key]
            p = path + access(key)
            flag = (v is not None or self.report(p, E_META_NESTED, v)) and (
                type(v) is str
                or _num(v)
                or ((type(v) is list or self.report(p, E_META_NESTED, v)) and self.scalar_items(v, p))
                or self.report(p, E_META_NESTED, v)
            )
            ok = flag and ok
        return ok

    # ---- global ----------------------------------------------------------------------------

    def global_field(self, o: Any, path: str) -> bool:
        v = o.get("global", MISSING)
        if v is MISSING:
            return True
        p = path + ".global"
        e = "(Global | undefined)"
        return ((type(v) is dict or self.report(p, e, v)) and self.global_(v, p)) or self.report(p, e, v)

    def global_(self, o: dict[str, Any], path: str) -> bool:
        checks = [
            self.optional(o, "image", path, str, "(string | undefined)"),
            self.optional(o, "gpu", path, bool, "(boolean | undefined)"),
            self.str_or_list(o, "entrypoint", path, E_CMD),
            self.optional_map(o, "env", path, "(Env | undefined)"),
            self.optional(o, "work_dir", path, str, "(string | undefined)"),
            self.optional_map(o, "variables", path, "(Variables | undefined)"),
            self.unknown_keys(o, path, _GLOBAL_KEYS, 0),
        ]
        return all(checks)

    # ---- ops -------------------------------------------------------------------------------

    def ops_field(self, o: Any, path: str) -> bool:
        ops = o.get("ops", MISSING)
        p = path + ".ops"
        return (
            (type(ops) is list or self.report(p, E_OPS, ops))
            and (unique_string_ids(ops) or self.report(p, E_UNIQUE_IDS, ops))
            and all(
                [
                    # every op is an object here (UniqueById checked it), so the reference's
                    # "is it an object" test on each op always passes
                    self.op(op, f"{p}[{i}]") or self.report(f"{p}[{i}]", "Operation<keyof OperationArgsMap>", op)
                    for i, op in enumerate(ops)
                ]
            )
        ) or self.report(p, E_OPS, ops)  # fmt: skip

    def op(self, o: Any, path: str) -> bool:
        kind = o.get("type", MISSING)
        op_id = o.get("id", MISSING)
        args = o.get("args", MISSING)
        pa = path + ".args"
        checks = [
            (kind == "container/run" or kind == "container/create-volume") and type(kind) is str
            or self.report(path + ".type", '("container/create-volume" | "container/run")', kind),
            (type(op_id) is str and (" " not in op_id or self.report(path + ".id", E_TAG, op_id)))
            or self.report(path + ".id", "(string & TagBase<__type>)", op_id),
            (
                self.run_args(args, pa)  # the common case, without the union dispatch
                if type(args) is dict and "image" in args
                else ((_obj(args) or self.report(pa, E_ARGS, args)) and self.args(args, pa))
            )
            or self.report(pa, E_ARGS, args),
            "results" not in o or self.results_field(o, path),
            "execution" not in o or self.execution_field(o, path),
            len(o) == 3 or _OP_KEYS.issuperset(o) or self.unknown_keys(o, path, _OP_KEYS, 3),
        ]
        return all(checks)

    def args(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        if o.get("image", MISSING) is not MISSING:
            return self.run_args(o, path)
        if o.get("name", MISSING) is not MISSING:
            return self.volume_args(o, path)
        return self.report(path, E_ARGS_UNION, o)

    def volume_args(self, o: Any, path: str) -> bool:
        checks = [self.required_str(o, "name", path), self.unknown_keys(o, path, _K_NAME, 1)]
        return all(checks)

    def run_args(self, o: Any, path: str) -> bool:
        if len(o) == 1:  # only "image": the common minimal op
            return type(o["image"]) is str or self.report(path + ".image", "string", o["image"])
        checks = [
            type(o["image"]) is str or self.report(path + ".image", "string", o["image"]),
            "aliases" not in o or self.str_or_list(o, "aliases", path, "(Aliases | string | undefined)"),
            "cmd" not in o or type(o["cmd"]) is str or self.str_or_list(o, "cmd", path, E_CMD),
            "volumes" not in o or self.volumes_field(o, path),
            "expose" not in o or self.expose_field(o, path),
            "gpu" not in o or self.optional(o, "gpu", path, bool, "(boolean | undefined)"),
            "work_dir" not in o or self.optional(o, "work_dir", path, str, "(string | undefined)"),
            "entrypoint" not in o or self.str_or_list(o, "entrypoint", path, E_CMD),
            "env" not in o or self.optional_map(o, "env", path, "(Env | undefined)"),
            "restart_policy" not in o or self.restart_policy_field(o, path),
            "private" not in o or self.private_field(o, path),
            "resources" not in o or self.resources_field(o, path),
            "authentication" not in o or self.authentication_field(o, path),
            len(o) == 1 or _RUN_KEYS.issuperset(o) or self.unknown_keys(o, path, _RUN_KEYS, 1),
        ]
        return all(checks)

    def private_field(self, o: Any, path: str) -> bool:
        v = o.get("private", MISSING)
        return v is MISSING or type(v) is bool or self.report(path + '["private"]', "(boolean | undefined)", v)

    def volumes_field(self, o: Any, path: str) -> bool:
        v = o.get("volumes", MISSING)
        if v is MISSING:
            return True
        p = path + ".volumes"
        e = "(Array<Volume> | undefined)"
        return (
            (type(v) is list or self.report(p, e, v))
            and all(
                [
                    ((_obj(item) or self.report(f"{p}[{i}]", "Volume", item)) and self.volume(item, f"{p}[{i}]"))
                    or self.report(f"{p}[{i}]", "Volume", item)
                    for i, item in enumerate(v)
                ]
            )
        ) or self.report(p, e, v)

    def volume(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        checks = [
            self.required_str(o, "name", path),
            self.required_str(o, "dest", path),
            self.unknown_keys(o, path, _K_NAME_DEST, 2),
        ]
        return all(checks)

    # ---- expose ----------------------------------------------------------------------------

    def expose_field(self, o: Any, path: str) -> bool:
        v = o.get("expose", MISSING)
        p = path + ".expose"
        return (v is not None or self.report(p, E_EXPOSE, v)) and (
            v is MISSING
            or _num(v)
            or (type(v) is str and (_literal(v) or self.report(p, E_TAG, v)))
            or (
                type(v) is list
                and (expose_ports_ok(v) or self.report(p, E_EXPOSE_RULE, v))
                and all([self.expose_item(item, f"{p}[{i}]") for i, item in enumerate(v)])
            )
            or (_obj(v) and self.expose_object(v, p))
            or self.report(p, E_EXPOSE, v)
            or self.report(p, E_EXPOSE, v)
        )

    def expose_item(self, v: Any, p: str) -> bool:
        return (v is not None or self.report(p, E_EXPOSE_ITEM, v)) and (
            _num(v)
            or (type(v) is str and (_literal(v) or self.report(p, E_TAG, v)))
            or ((_obj(v) or self.report(p, E_EXPOSE_ITEM, v)) and self.expose_object(v, p))
            or self.report(p, E_EXPOSE_ITEM, v)
        )

    def expose_object(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        if o.get("__spread__", MISSING) is not MISSING:
            return self.spread(o, path)
        if o.get("port", MISSING) is not MISSING:
            return self.exposed_port(o, path)
        return self.report(path, "(__type | ExposedPort)", o)

    def spread(self, o: Any, path: str) -> bool:
        v = o.get("__spread__", MISSING)
        p = path + ".__spread__"
        checks = [
            (type(v) is str and (_literal(v) or self.report(p, E_TAG, v))) or self.report(p, "(" + E_TAG + ")", v),
            self.optional(o, "chunked", path, bool, "(boolean | undefined)"),
            self.unknown_keys(o, path, _K_SPREAD___CHUNKED, 1),
        ]
        return all(checks)

    def exposed_port(self, o: Any, path: str) -> bool:
        port = o.get("port", MISSING)
        kind = o.get("type", MISSING)
        hcs = o.get("health_checks", MISSING)
        ph = path + ".health_checks"
        eh = "(Array<HealthCheck> | undefined)"
        checks = [
            _num(port) or self.report(path + ".port", "number", port),
            kind is MISSING
            or (type(kind) is str and kind in _SERVICE_TYPES)
            or self.report(path + ".type", '("api" | "none" | "web" | "webapi" | "websocket" | undefined)', kind),
            hcs is MISSING
            or (
                (type(hcs) is list or self.report(ph, eh, hcs))
                and all(
                    [
                        ((_obj(hc) or self.report(f"{ph}[{i}]", "(HttpHealthCheck | WebSocketHealthCheck)", hc))
                         and self.health_check(hc, f"{ph}[{i}]"))
                        or self.report(f"{ph}[{i}]", "(HttpHealthCheck | WebSocketHealthCheck)", hc)
                        for i, hc in enumerate(hcs)
                    ]
                )
            )
            or self.report(ph, eh, hcs),
            self.unknown_keys(o, path, _K_PORT_TYPE_HEALTH_CHECKS, 1),
        ]  # fmt: skip
        return all(checks)

    def health_check(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        kind = o.get("type", MISSING)
        if kind == "http" and type(kind) is str:
            return self.http_check(o, path)
        if kind == "websocket" and type(kind) is str:
            return self.websocket_check(o, path)
        return self.report(path, "(HttpHealthCheck | WebSocketHealthCheck)", o)

    def http_check(self, o: Any, path: str) -> bool:
        method = o.get("method", MISSING)
        status = o.get("expected_status", MISSING)
        continuous = o.get("continuous", MISSING)
        checks = [
            True,  # type already chosen by the union
            self.required_str(o, "path", path),
            (type(method) is str and method in _METHODS)
            or self.report(path + ".method", '("DELETE" | "GET" | "POST" | "PUT")', method),
            _num(status) or self.report(path + ".expected_status", "number", status),
            self.optional_map(o, "headers", path, "(Record<string, string> | undefined)"),
            type(continuous) is bool or self.report(path + ".continuous", "boolean", continuous),
            self.unknown_keys(o, path, _HTTP_KEYS, 5),
        ]
        return all(checks)

    def websocket_check(self, o: Any, path: str) -> bool:
        continuous = o.get("continuous", MISSING)
        checks = [
            True,
            self.required_str(o, "expected_response", path),
            type(continuous) is bool or self.report(path + ".continuous", "boolean", continuous),
            self.unknown_keys(o, path, _WS_KEYS, 3),
        ]
        return all(checks)

    # ---- restart policy, resources, authentication -----------------------------------------

    def restart_policy_field(self, o: Any, path: str) -> bool:
        v = o.get("restart_policy", MISSING)
        p = path + ".restart_policy"
        return (v is not None or self.report(p, E_RESTART, v)) and (
            v is MISSING
            or (type(v) is str and v in _RESTART_NAMES)
            or ((_obj(v) or self.report(p, E_RESTART, v)) and self.restart_object(v, p))
            or self.report(p, E_RESTART, v)
        )

    def restart_object(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        policy = o.get("policy", MISSING)
        checks = [
            (policy == "on-failure" and type(policy) is str) or self.report(path + ".policy", '"on-failure"', policy),
            self.optional_number(o, "restart_tries", path),
            self.unknown_keys(o, path, _K_POLICY_RESTART_TRIES, 1),
        ]
        return all(checks)

    def resources_field(self, o: Any, path: str) -> bool:
        v = o.get("resources", MISSING)
        if v is MISSING:
            return True
        p = path + ".resources"
        e = "(Resources | undefined)"
        return (
            (type(v) is list or self.report(p, e, v)) and all([self.resource(item, f"{p}[{i}]") for i, item in enumerate(v)])
        ) or self.report(p, e, v)

    def resource(self, v: Any, p: str) -> bool:
        return (v is not None or self.report(p, E_RESOURCE, v)) and (
            (v == "__remove-if-empty__" and type(v) is str)
            or ((_obj(v) or self.report(p, E_RESOURCE, v)) and self.resource_object(v, p))
            or self.report(p, E_RESOURCE, v)
        )

    def resource_object(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        if o.get("__spread__", MISSING) is not MISSING:
            return self.spread(o, path)
        if o.get("bucket", MISSING) is not MISSING:
            return self.s3(o, path, "bucket")
        if o.get("buckets", MISSING) is not MISSING:
            return self.s3(o, path, "buckets")
        kind = o.get("type", MISSING)
        if kind == "HF" and type(kind) is str:
            return self.hf(o, path)
        if kind == "Ollama" and type(kind) is str:
            return self.ollama(o, path)
        return self.s3(o, path, "base")

    def s3(self, o: Any, path: str, variant: str) -> bool:
        kind = o.get("type", MISSING)
        checks = [
            (kind == "S3" and type(kind) is str) or self.report(path + ".type", '"S3"', kind),
            self.required_str(o, "target", path),
        ]
        if variant == "bucket":
            checks.append(self.required_str(o, "bucket", path))
        elif variant == "buckets":
            checks.append(self.buckets(o, path))
        checks.append(self.optional(o, "url", path, str, "(string | undefined)"))
        checks.append(self.optional(o, "allowWrite", path, bool, "(boolean | undefined)"))
        if variant == "base":
            checks.append(self.optional_files(o, path))
        checks.append(self.iam_field(o, path))
        if variant == "base":
            checks.append(self.unknown_keys(o, path, _S3_KEYS, 2))
        elif variant == "bucket":
            checks.append(self.unknown_keys(o, path, _S3_BUCKET_KEYS, 3))
        else:
            checks.append(self.unknown_keys(o, path, _S3_BUCKETS_KEYS, 3))
        return all(checks)

    def buckets(self, o: Any, path: str) -> bool:
        v = o.get("buckets", MISSING)
        p = path + ".buckets"
        return (
            (type(v) is list or self.report(p, "Array<__type>", v))
            and all(
                [
                    ((_obj(item) or self.report(f"{p}[{i}]", "__type.o5", item)) and self.bucket(item, f"{p}[{i}]"))
                    or self.report(f"{p}[{i}]", "__type.o5", item)
                    for i, item in enumerate(v)
                ]
            )
        ) or self.report(p, "Array<__type>", v)

    def bucket(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        checks = [
            self.required_str(o, "url", path),
            self.optional_files(o, path),
            self.unknown_keys(o, path, _K_URL_FILES, 1),
        ]
        return all(checks)

    def iam_field(self, o: Any, path: str) -> bool:
        v = o.get("IAM", MISSING)
        if v is MISSING:
            return True
        p = path + ".IAM"
        e = "(S3Auth | undefined)"
        return ((_obj(v) or self.report(p, e, v)) and self.iam(v, p)) or self.report(p, e, v)

    def iam(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        checks = [
            self.required_str(o, "REGION", path),
            self.required_str(o, "ACCESS_KEY_ID", path),
            self.required_str(o, "SECRET_ACCESS_KEY", path),
            self.unknown_keys(o, path, _IAM_KEYS, 3),
        ]
        return all(checks)

    def hf(self, o: Any, path: str) -> bool:
        checks = [
            True,
            self.required_str(o, "target", path),
            self.required_str(o, "repo", path),
            self.optional(o, "revision", path, str, "(string | undefined)"),
            self.optional_files(o, path),
            self.optional(o, "accessToken", path, str, "(string | undefined)"),
            self.unknown_keys(o, path, _HF_KEYS, 3),
        ]
        return all(checks)

    def ollama(self, o: Any, path: str) -> bool:
        checks = [
            True,
            self.required_str(o, "model", path),
            self.optional(o, "target", path, str, "(string | undefined)"),
            self.unknown_keys(o, path, _OLLAMA_KEYS, 2),
        ]
        return all(checks)

    def authentication_field(self, o: Any, path: str) -> bool:
        v = o.get("authentication", MISSING)
        if v is MISSING:
            return True
        p = path + ".authentication"
        e = "(Authentication | undefined)"
        return ((type(v) is dict or self.report(p, e, v)) and self.authentication(v, p)) or self.report(p, e, v)

    def authentication(self, o: dict[str, Any], path: str) -> bool:
        docker = o.get("docker", MISSING)
        p = path + ".docker"
        e = "(DockerAuth | undefined)"
        checks = [
            docker is MISSING
            or ((type(docker) is dict or self.report(p, e, docker)) and self.docker(docker, p))
            or self.report(p, e, docker),
            self.unknown_keys(o, path, _K_DOCKER, 0),
        ]
        return all(checks)

    def docker(self, o: dict[str, Any], path: str) -> bool:
        checks = [
            self.optional(o, "username", path, str, "(string | undefined)"),
            self.optional(o, "password", path, str, "(string | undefined)"),
            self.optional(o, "email", path, str, "(string | undefined)"),
            self.optional(o, "server", path, str, "(string | undefined)"),
            self.unknown_keys(o, path, _DOCKER_KEYS, 0),
        ]
        return all(checks)

    # ---- results and execution ---------------------------------------------------------------

    def results_field(self, o: Any, path: str) -> bool:
        v = o.get("results", MISSING)
        if v is MISSING:
            return True
        p = path + ".results"
        e = "(OperationResults | undefined)"
        return ((type(v) is dict or self.report(p, e, v)) and self.results(v, p)) or self.report(p, e, v)

    def results(self, o: dict[str, Any], path: str) -> bool:
        e = "(OperationResult | string)"
        ok = True
        for key in js_key_order(o):
            v = o[key]
            p = path + access(key)
            flag = (v is not None or self.report(p, e, v)) and (
                type(v) is str
                or ((_obj(v) or self.report(p, e, v)) and self.result_object(v, p))
                or self.report(p, e, v)
            )
            ok = flag and ok
        return ok

    def result_object(self, o: Any, path: str) -> bool:
        o = _as_object(o)
        log_type = o.get("logType", MISSING)
        p = path + ".logType"
        checks = [
            self.required_str(o, "regex", path),
            (
                (type(log_type) is list or self.report(p, E_LOGTYPE, log_type))
                and (log_types_ok(log_type) or self.report(p, E_LOGTYPE_RULE, log_type))
                and all(
                    [
                        (type(item) is str and item in _LOG_TYPES)
                        or self.report(f"{p}[{i}]", '("nodeerr" | "stderr" | "stdin" | "stdout")', item)
                        for i, item in enumerate(log_type)
                    ]
                )
            )
            or self.report(p, E_LOGTYPE, log_type),
            self.unknown_keys(o, path, _K_REGEX_LOGTYPE, 2),
        ]
        return all(checks)

    def execution_field(self, o: Any, path: str) -> bool:
        v = o.get("execution", MISSING)
        if v is MISSING:
            return True
        p = path + ".execution"
        return ((type(v) is dict or self.report(p, E_EXECUTION, v)) and self.execution(v, p)) or self.report(
            p, E_EXECUTION, v
        )

    def execution(self, o: dict[str, Any], path: str) -> bool:
        depends = o.get("depends_on", MISSING)
        if type(depends) is list and all(type(d) is str for d in depends):
            checks = [
                self.optional(o, "group", path, str, "(string | undefined)"),
                True,  # depends_on: a list of strings, as the union's choice showed
                self.optional(o, "stop_if_dependent_stops", path, bool, "(boolean | undefined)"),
                self.unknown_keys(o, path, _EXEC_KEYS, 1),
            ]
            return all(checks)
        stop = o.get("stop_if_dependent_stops", MISSING)
        pd = path + ".depends_on"
        ps = path + ".stop_if_dependent_stops"
        checks = [
            self.optional(o, "group", path, str, "(string | undefined)"),
            (depends is not None or self.report(pd, _UNKNOWN, depends))
            and (depends is MISSING or self.report(pd, _UNKNOWN, depends)),
            (stop is not None or self.report(ps, _UNKNOWN, stop)) and (stop is MISSING or self.report(ps, _UNKNOWN, stop)),
            self.unknown_keys(o, path, _EXEC_KEYS, 0),
        ]
        return all(checks)


def unique_string_ids(ops: list[Any]) -> bool:
    """The reference's UniqueById rule: every op has a string id, and no id repeats."""
    seen: set[str] = set()
    for op in ops:
        op_id = op.get("id") if type(op) is dict else None
        if type(op_id) is not str or op_id in seen:
            return False
        seen.add(op_id)
    return True


def expose_ports_ok(items: list[Any]) -> bool:
    """The reference's rule on an expose array: no port twice, strings only as literals or ranges."""
    numbers: set[float] = set()
    ranges: list[tuple[float, float]] = []
    for item in items:
        if _literal(item):
            continue
        if type(item) is dict and item.get("__spread__") not in (None, False, 0, ""):
            continue  # the reference skips truthy __spread__ markers only
        if item is None:
            return False  # the reference throws here (null.port); we call it a failure of the rule
        port = (item.get("port", MISSING) if type(item) is dict else MISSING) if _obj(item) else item
        if _num(port):
            if port in numbers:
                return False
            numbers.add(port)
        elif type(port) is str:
            match = _RANGE.fullmatch(port)
            if not match:
                return False
            start, end = float(match.group(1)), float(match.group(2))
            for r_start, r_end in ranges:
                if start <= r_end and end >= r_start:
                    return False
            ranges.append((start, end))
    return not any(start <= n <= end for n in numbers for start, end in ranges)


def log_types_ok(items: list[Any]) -> bool:
    if not 1 <= len(items) <= 4:
        return False
    seen: set[object] = set()
    for item in items:
        # JavaScript Set semantics (SameValueZero): strings and numbers by value, objects by identity
        key: object = ("n", item) if _num(item) else (type(item).__name__, item if type(item) in (str, bool) else id(item))
        if key in seen:
            return False
        seen.add(key)
    return True


def reference_errors(obj: object) -> list[Error]:
    """The reference's error list for one parsed JSON value: [] when it is valid."""
    run = _Run()
    path = "$input"
    if not ((_obj(obj) or run.report(path, "JobDefinitionWithRule", obj)) and run.root(obj, path)):
        run.report(path, "JobDefinitionWithRule", obj)
    return run.errors
