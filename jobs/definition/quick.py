"""A yes/no pass of the reference checks, run before the error-reporting pass.

The reference does the same: typia's `validate` first runs the boolean `__is` check and
builds errors only when it fails. `is_valid(obj)` is True exactly when
`reference.reference_errors(obj)` is empty. It evaluates the same predicates as
`reference._Run`, one for one and guarded the same way, but stops at the first failure
and builds no paths, lists or error tuples. Why that is the same verdict: every check in
`_Run` is a conjunction whose only source of False is `report`, and the first `report`
always records an error; so "no error" means "every predicate held", which is what this
module tests. `tests/test_definition_quick.py` checks the two agree on every conformance
case and on hypothesis-mutated definitions.

Values are parsed JSON. A key holding `null` is present (`"k" in o`), as in the reference,
where only an absent key is `undefined`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobs.definition.reference import (
    _DOCKER_KEYS,
    _EXEC_KEYS,
    _GLOBAL_KEYS,
    _HF_KEYS,
    _HTTP_KEYS,
    _IAM_KEYS,
    _K_DOCKER,
    _K_ENDPOINT,
    _K_NAME,
    _K_NAME_DEST,
    _K_POLICY_RESTART_TRIES,
    _K_PORT_TYPE_HEALTH_CHECKS,
    _K_REGEX_LOGTYPE,
    _K_SEND_RECEIVE,
    _K_SPREAD___CHUNKED,
    _K_TYPE_ARGS,
    _K_URL_FILES,
    _LOG_TYPES,
    _METHODS,
    _OLLAMA_KEYS,
    _OP_KEYS,
    _RESTART_NAMES,
    _ROOT_KEYS,
    _S3_BUCKET_KEYS,
    _S3_BUCKETS_KEYS,
    _S3_KEYS,
    _SERVICE_TYPES,
    _WS_KEYS,
    _literal,
    expose_ports_ok,
    log_types_ok,
)

# Where the reference accepts "an object" via `_as_object`, every such shape has a required
# key or a dispatch key, so an array (whose only keys are "0", "1", …) never passes there:
# the checks below accept dicts only. Where it tests `type(v) is dict`, the same holds.


def _str_or_absent(o: dict[str, Any], key: str) -> bool:
    return key not in o or type(o[key]) is str


def _bool_or_absent(o: dict[str, Any], key: str) -> bool:
    return key not in o or type(o[key]) is bool


def _number(v: Any) -> bool:
    return type(v) is int or type(v) is float


def _strings(v: Any) -> bool:
    """A list of strings."""
    if type(v) is not list:
        return False
    for item in v:
        if type(item) is not str:
            return False
    return True


def _str_or_strings(o: dict[str, Any], key: str) -> bool:
    """`_Run.str_or_list`: absent, a string, or a list of strings (null fails)."""
    if key not in o:
        return True
    v = o[key]
    return type(v) is str or _strings(v)


def _string_map_or_absent(o: dict[str, Any], key: str) -> bool:
    """`_Run.optional_map`: absent, or an object whose values are all strings."""
    if key not in o:
        return True
    v = o[key]
    if type(v) is not dict:
        return False
    for item in v.values():
        if type(item) is not str:
            return False
    return True


def _known(o: dict[str, Any], allowed: frozenset[str], required: int) -> bool:
    """`_Run.unknown_keys` for an object: the reference skips the scan when the sizes match."""
    return len(o) == required or allowed.issuperset(o)


def _scalars(v: list[Any]) -> bool:
    for item in v:
        if not (type(item) is str or type(item) is int or type(item) is float):
            return False
    return True


# ---- root ----------------------------------------------------------------------------------


def is_valid(obj: object) -> bool:
    """True exactly when the reference validator accepts `obj` (no error would be reported)."""
    if type(obj) is not dict:
        return False  # an array root has no "type"; anything else is not an object
    o: dict[str, Any] = obj
    kind = o.get("type")
    if type(kind) is not str or kind != "container":
        return False
    version = o.get("version")
    if type(version) is not str or version != "0.1":
        return False
    if not _ops(o.get("ops")):
        return False
    if len(o) == 3:
        return True  # type, version and ops were all required and present: nothing else to check
    if "logistics" in o and not _logistics(o["logistics"]):
        return False
    if not _str_or_absent(o, "deployment_id"):
        return False
    if "meta" in o and not _meta(o["meta"]):
        return False
    if "global" in o and not _global(o["global"]):
        return False
    return _ROOT_KEYS.issuperset(o)


def _logistics(v: Any) -> bool:
    if type(v) is not dict:
        return False
    return _logistic(v.get("send")) and _logistic(v.get("receive")) and _known(v, _K_SEND_RECEIVE, 2)


def _logistic(v: Any) -> bool:
    if type(v) is not dict:
        return False
    kind = v.get("type")
    if type(kind) is not str or kind not in ("api", "api-listen"):
        return False
    args = v.get("args")
    if type(args) is not dict:
        return False
    if not (_str_or_absent(args, "endpoint") and _known(args, _K_ENDPOINT, 0)):
        return False
    return _known(v, _K_TYPE_ARGS, 2)


# ---- meta ------------------------------------------------------------------------------------


def _meta(v: Any) -> bool:
    if type(v) is not dict:
        return False
    if not _str_or_absent(v, "trigger"):
        return False
    if "system_resources" in v:
        resources = v["system_resources"]
        if type(resources) is not dict or not _scalars(list(resources.values())):
            return False
    for key, item in v.items():
        if key == "trigger" or key == "system_resources":
            continue
        if type(item) is str or type(item) is int or type(item) is float:
            continue
        if type(item) is list:
            if not _scalars(item):
                return False
        elif type(item) is dict:
            if not _meta_record(item):
                return False
        else:
            return False  # null, a boolean
    return True


def _meta_record(v: dict[str, Any]) -> bool:
    for item in v.values():
        if type(item) is str or type(item) is int or type(item) is float:
            continue
        if type(item) is not list or not _scalars(item):
            return False
    return True


# ---- global ----------------------------------------------------------------------------------


def _global(v: Any) -> bool:
    if type(v) is not dict:
        return False
    return (
        _str_or_absent(v, "image")
        and _bool_or_absent(v, "gpu")
        and _str_or_strings(v, "entrypoint")
        and _string_map_or_absent(v, "env")
        and _str_or_absent(v, "work_dir")
        and _string_map_or_absent(v, "variables")
        and _known(v, _GLOBAL_KEYS, 0)
    )


# ---- ops -------------------------------------------------------------------------------------


def _ops(ops: Any) -> bool:
    if type(ops) is not list:
        return False
    # UniqueById (every op an object with a string id, no id twice) and each op's own checks.
    # The reference tests uniqueness over the whole list first; the conjunction is the same.
    seen: set[str] = set()
    for op in ops:
        if type(op) is not dict:
            return False
        op_id = op.get("id")
        if type(op_id) is not str or op_id in seen or " " in op_id:
            return False
        seen.add(op_id)
        if len(op) == 3:
            # the common minimal op {"type", "id", "args": {"image"}}, inline (long op lists are made of these)
            args = op.get("args")
            if (
                type(args) is dict
                and len(args) == 1
                and type(args.get("image")) is str
                and op.get("type") == "container/run"
            ):
                continue
        if not _op(op):
            return False
    return True


def _op(o: dict[str, Any]) -> bool:
    """One op whose id is already checked."""
    kind = o.get("type")
    if type(kind) is not str or (kind != "container/run" and kind != "container/create-volume"):
        return False
    args = o.get("args")
    if type(args) is not dict:
        return False  # an array has neither "image" nor "name"
    if "image" in args:
        if len(args) == 1:
            if type(args["image"]) is not str:
                return False
        elif not _run_args(args):
            return False
    elif "name" in args:
        if type(args["name"]) is not str or not _known(args, _K_NAME, 1):
            return False
    else:
        return False
    if len(o) == 3:
        return True  # type, id and args, all checked
    if "results" in o and not _results(o["results"]):
        return False
    if "execution" in o and not _execution(o["execution"]):
        return False
    return _OP_KEYS.issuperset(o)


def _run_args(o: dict[str, Any]) -> bool:
    # One check per key present (an unknown key fails): cheaper than asking for every known key.
    for key, value in o.items():
        check = _RUN_ARG_CHECKS.get(key)
        if check is None or not check(value):
            return False
    return True


def _is_str(v: Any) -> bool:
    return type(v) is str


def _is_bool(v: Any) -> bool:
    return type(v) is bool


def _str_or_strings_value(v: Any) -> bool:
    return type(v) is str or _strings(v)


def _string_map(v: Any) -> bool:
    if type(v) is not dict:
        return False
    for item in v.values():
        if type(item) is not str:
            return False
    return True


def _volumes(v: Any) -> bool:
    if type(v) is not list:
        return False
    for item in v:
        if type(item) is not dict:
            return False
        if type(item.get("name")) is not str or type(item.get("dest")) is not str:
            return False
        if not _known(item, _K_NAME_DEST, 2):
            return False
    return True


# ---- expose ----------------------------------------------------------------------------------


def _expose(v: Any) -> bool:
    if _number(v):
        return True
    if type(v) is str:
        return _literal(v)
    if type(v) is list:
        if not expose_ports_ok(v):
            return False
        for item in v:
            if not _expose_item(item):
                return False
        return True
    if type(v) is dict:
        return _expose_object(v)
    return False  # null, a boolean


def _expose_item(v: Any) -> bool:
    if _number(v):
        return True
    if type(v) is str:
        return _literal(v)
    if type(v) is dict:
        return _expose_object(v)
    return False


def _expose_object(o: dict[str, Any]) -> bool:
    if "__spread__" in o:
        return _spread(o)
    if "port" in o:
        return _exposed_port(o)
    return False


def _spread(o: dict[str, Any]) -> bool:
    v = o["__spread__"]
    return (
        type(v) is str and _literal(v) and _bool_or_absent(o, "chunked") and _known(o, _K_SPREAD___CHUNKED, 1)
    )


def _exposed_port(o: dict[str, Any]) -> bool:
    if not _number(o["port"]):
        return False
    if "type" in o:
        kind = o["type"]
        if type(kind) is not str or kind not in _SERVICE_TYPES:
            return False
    if "health_checks" in o:
        checks = o["health_checks"]
        if type(checks) is not list:
            return False
        for check in checks:
            if not _health_check(check):
                return False
    return _known(o, _K_PORT_TYPE_HEALTH_CHECKS, 1)


def _health_check(o: Any) -> bool:
    if type(o) is not dict:
        return False
    kind = o.get("type")
    if type(kind) is not str:
        return False
    if kind == "http":
        method = o.get("method")
        return (
            type(o.get("path")) is str
            and type(method) is str
            and method in _METHODS
            and _number(o.get("expected_status"))
            and _string_map_or_absent(o, "headers")
            and type(o.get("continuous")) is bool
            and _known(o, _HTTP_KEYS, 5)
        )
    if kind == "websocket":
        return (
            type(o.get("expected_response")) is str
            and type(o.get("continuous")) is bool
            and _known(o, _WS_KEYS, 3)
        )
    return False


# ---- restart policy, resources, authentication -----------------------------------------------


def _restart_policy(v: Any) -> bool:
    if type(v) is str:
        return v in _RESTART_NAMES
    if type(v) is not dict:
        return False  # null, a number, an array (no "policy")
    policy = v.get("policy")
    return (
        type(policy) is str
        and policy == "on-failure"
        and ("restart_tries" not in v or _number(v["restart_tries"]))
        and _known(v, _K_POLICY_RESTART_TRIES, 1)
    )


def _resources(v: Any) -> bool:
    if type(v) is not list:
        return False
    for item in v:
        if type(item) is str:
            if item != "__remove-if-empty__":
                return False
        elif type(item) is not dict or not _resource(item):
            return False  # an array is an S3 resource without "type": "S3"
    return True


def _resource(o: dict[str, Any]) -> bool:
    if "__spread__" in o:
        return _spread(o)
    if "bucket" in o:
        return _s3(o) and type(o["bucket"]) is str and _known(o, _S3_BUCKET_KEYS, 3)
    if "buckets" in o:
        return _s3(o) and _buckets(o["buckets"]) and _known(o, _S3_BUCKETS_KEYS, 3)
    kind = o.get("type")
    if type(kind) is str and kind == "HF":
        return (
            type(o.get("target")) is str
            and type(o.get("repo")) is str
            and _str_or_absent(o, "revision")
            and _files_or_absent(o)
            and _str_or_absent(o, "accessToken")
            and _known(o, _HF_KEYS, 3)
        )
    if type(kind) is str and kind == "Ollama":
        return type(o.get("model")) is str and _str_or_absent(o, "target") and _known(o, _OLLAMA_KEYS, 2)
    return _s3(o) and _files_or_absent(o) and _known(o, _S3_KEYS, 2)


def _s3(o: dict[str, Any]) -> bool:
    """What the three S3 shapes share: type, target, url, allowWrite, IAM."""
    kind = o.get("type")
    return (
        type(kind) is str
        and kind == "S3"
        and type(o.get("target")) is str
        and _str_or_absent(o, "url")
        and _bool_or_absent(o, "allowWrite")
        and ("IAM" not in o or _iam(o["IAM"]))
    )


def _files_or_absent(o: dict[str, Any]) -> bool:
    return "files" not in o or _strings(o["files"])


def _buckets(v: Any) -> bool:
    if type(v) is not list:
        return False
    for item in v:
        if type(item) is not dict:
            return False
        if not (type(item.get("url")) is str and _files_or_absent(item) and _known(item, _K_URL_FILES, 1)):
            return False
    return True


def _iam(v: Any) -> bool:
    return (
        type(v) is dict
        and type(v.get("REGION")) is str
        and type(v.get("ACCESS_KEY_ID")) is str
        and type(v.get("SECRET_ACCESS_KEY")) is str
        and _known(v, _IAM_KEYS, 3)
    )


def _authentication(v: Any) -> bool:
    if type(v) is not dict:
        return False
    if "docker" in v:
        docker = v["docker"]
        if type(docker) is not dict:
            return False
        if not (
            _str_or_absent(docker, "username")
            and _str_or_absent(docker, "password")
            and _str_or_absent(docker, "email")
            and _str_or_absent(docker, "server")
            and _known(docker, _DOCKER_KEYS, 0)
        ):
            return False
    return _known(v, _K_DOCKER, 0)


# ---- results and execution -------------------------------------------------------------------


def _results(v: Any) -> bool:
    if type(v) is not dict:
        return False
    for item in v.values():
        if type(item) is str:
            continue
        if type(item) is not dict:
            return False  # null, a number, an array (no "regex")
        log_type = item.get("logType")
        if type(item.get("regex")) is not str or type(log_type) is not list or not log_types_ok(log_type):
            return False
        for name in log_type:
            if type(name) is not str or name not in _LOG_TYPES:
                return False
        if not _known(item, _K_REGEX_LOGTYPE, 2):
            return False
    return True


def _execution(v: Any) -> bool:
    if type(v) is not dict:
        return False
    if not _str_or_absent(v, "group"):
        return False
    depends = v.get("depends_on")
    if "depends_on" in v and _strings(depends):
        return _bool_or_absent(v, "stop_if_dependent_stops") and _known(v, _EXEC_KEYS, 1)
    # without a list of strings, neither depends_on nor stop_if_dependent_stops may be present
    return "depends_on" not in v and "stop_if_dependent_stops" not in v and _known(v, _EXEC_KEYS, 0)


# What `_Run.run_args` checks for each key of a container/run op's args, when present
# (its keys are exactly `reference._RUN_KEYS`; a test checks that).
_RUN_ARG_CHECKS: dict[str, Callable[[Any], bool]] = {
    "image": _is_str,
    "aliases": _str_or_strings_value,
    "cmd": _str_or_strings_value,
    "volumes": _volumes,
    "expose": _expose,
    "gpu": _is_bool,
    "work_dir": _is_str,
    "entrypoint": _str_or_strings_value,
    "env": _string_map,
    "restart_policy": _restart_policy,
    "private": _is_bool,
    "resources": _resources,
    "authentication": _authentication,
}
