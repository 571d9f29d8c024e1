"""The composer's form state: what the form shows, convertible to and from a definition dict.

A definition round-trips through the form unchanged: every key the form has a widget
for is rebuilt from the widgets and every other key is copied from the op's `raw`
copy (kept in a hidden field), in its original position. A value that does not fit
its widget (an `image` that is a number, an `env` with non-string values) is left
unmanaged the same way: kept verbatim and edited in the JSON tab.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

RUN: Final = "container/run"
VOLUME: Final = "container/create-volume"
OP_TYPES: Final = (RUN, VOLUME)
SERVICE_TYPES: Final = ("web", "api", "webapi", "websocket", "none")
HTTP_METHODS: Final = ("GET", "POST", "PUT", "DELETE")
RESTART_POLICIES: Final = ("no", "always", "unless-stopped", "on-failure")

# Key order for keys the composer adds: the seed example's, then the spec's.
ROOT_ORDER: Final = ("version", "type", "meta", "global", "ops", "logistics", "deployment_id")
META_ORDER: Final = ("trigger", "system_resources")
GLOBAL_ORDER: Final = ("work_dir", "env", "image", "gpu", "entrypoint", "variables")
OP_ORDER: Final = ("type", "id", "args", "results", "execution")
RUN_ORDER: Final = (
    "cmd", "image", "volumes", "work_dir", "entrypoint", "env", "gpu", "expose",
    "private", "aliases", "restart_policy", "resources", "authentication",
)
EXECUTION_ORDER: Final = ("group", "depends_on", "stop_if_dependent_stops")
PORT_ORDER: Final = ("port", "type", "health_checks")
HTTP_CHECK_ORDER: Final = ("type", "path", "method", "expected_status", "continuous")
WS_CHECK_ORDER: Final = ("type", "expected_response", "continuous")
RESTART_ORDER: Final = ("policy", "restart_tries")

# Keys of run args that have widgets; create-volume args manage only `name`.
RUN_MANAGED: Final = frozenset(
    {"cmd", "image", "volumes", "work_dir", "entrypoint", "env", "gpu", "expose", "private",
     "restart_policy", "resources"}
)

_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class _Absent:
    """Marks a managed key that must not appear in the output."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


def merge(raw: dict[str, Any], managed: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    """Rebuild an object: raw keys keep their place, managed ones take widget values, and a new key
    goes where `order` puts it among the keys already there (before the first one that follows it)."""
    rank = {key: n for n, key in enumerate(order)}
    keys = [k for k in raw if not (k in managed and managed[k] is ABSENT)]
    new = [k for k in [*order, *managed] if k in managed and k not in raw and managed[k] is not ABSENT]
    for key in dict.fromkeys(new):
        mine = rank.get(key, len(rank))
        at = next((n for n, k in enumerate(keys) if rank.get(k, len(rank) + 1) > mine), len(keys))
        keys.insert(at, key)
    return {k: managed[k] if k in managed else raw[k] for k in keys}


def text_out(text: str, raw: dict[str, Any], key: str, *, required: bool = False) -> Any:
    """A text widget's value: empty means absent unless the key was there (or is required)."""
    if text:
        return text
    if key in raw and (required or raw[key] == ""):
        return ""
    return "" if required and not raw else ABSENT


def bool_out(checked: bool, raw: dict[str, Any], key: str) -> Any:
    if checked:
        return True
    return False if raw.get(key) is False else ABSENT


def number_or_text(text: str, raw_value: Any = None) -> Any:
    """Numbers typed as text become JSON numbers; anything else is kept as typed (the validator says why)."""
    stripped = text.strip()
    if isinstance(raw_value, str):
        return text  # the field held a string before: keep it one (e.g. "16GB")
    if _INT.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped):
        value = float(stripped)
        return int(value) if value.is_integer() and "e" not in stripped.lower() and "." not in stripped else value
    return text


def number_text(value: Any) -> str:
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    return str(value)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fits_input(value: Any) -> bool:
    """A string a one-line <input> gives back unchanged (browsers drop line breaks, HTML turns NUL into U+FFFD)."""
    return isinstance(value, str) and not any(ch in value for ch in "\r\n\x00")


def fits_area(value: Any) -> bool:
    """A string a <textarea> gives back unchanged (CR is normalised away by HTML)."""
    return isinstance(value, str) and not any(ch in value for ch in "\r\x00")


def is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(fits_area(item) for item in value)


def is_str_map(value: Any) -> bool:
    """An object a key/value table shows (an empty row is dropped, so {"": ""} stays JSON-only)."""
    return isinstance(value, dict) and all(fits_input(k) and fits_input(v) and (k or v) for k, v in value.items())


# ---- widget states ------------------------------------------------------------------------


@dataclass
class Row:
    key: str = ""
    value: str = ""


@dataclass
class StrOrList:
    """`cmd` / `entrypoint`: one shell string, or a list of arguments."""

    mode: str = "string"  # "string" | "list"
    text: str = ""
    items: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, value: Any, default_mode: str = "string") -> StrOrList:
        if isinstance(value, list):
            return cls(mode="list", items=list(value))
        if isinstance(value, str):
            return cls(mode="string", text=value)
        return cls(mode=default_mode)

    def out(self, raw: dict[str, Any], key: str) -> Any:
        if self.mode == "list":
            if self.items:
                return list(self.items)
            return [] if raw.get(key) == [] else ABSENT
        return text_out(self.text, raw, key)

    def switch(self, mode: str) -> None:
        """Switch shape while keeping what it means: a shell string runs under /bin/sh -c."""
        if mode == self.mode:
            return
        if mode == "list":
            self.items = ["/bin/sh", "-c", self.text] if self.text else []
            self.text = ""
        else:
            items = self.items
            if len(items) == 3 and items[0] in ("/bin/sh", "sh") and items[1] == "-c":
                self.text = items[2]
            else:
                self.text = shlex.join(items)
            self.items = []
        self.mode = mode


def table_of(value: dict[str, Any]) -> list[Row]:
    return [Row(key, value) for key, value in value.items()]


def table_out(rows: list[Row], raw: dict[str, Any], key: str) -> tuple[Any, list[str]]:
    """Rows -> object; empty rows are dropped. Returns the value and the keys given twice."""
    out: dict[str, str] = {}
    twice: list[str] = []
    for row in rows:
        if not row.key and not row.value:
            continue
        if row.key in out:
            twice.append(row.key)
        out[row.key] = row.value
    if out:
        return out, twice
    return ({} if raw.get(key) == {} else ABSENT), twice


@dataclass
class Volume:
    name: str = ""
    dest: str = ""


@dataclass
class Check:
    type: str = "http"
    path: str = ""
    method: str = "GET"
    expected_status: str = "200"
    expected_response: str = ""
    continuous: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fits(cls, value: Any) -> bool:
        if not isinstance(value, dict) or value.get("type") not in ("http", "websocket"):
            return False
        needed = HTTP_CHECK_ORDER if value["type"] == "http" else WS_CHECK_ORDER
        if any(key not in value for key in needed):
            return False  # the form always writes every required key: keep an incomplete one as imported
        for key in ("path", "method", "expected_response"):
            if key in value and not fits_input(value[key]):
                return False
        if "continuous" in value and not isinstance(value["continuous"], bool):
            return False
        status = value.get("expected_status", 0)
        return is_number(status) or fits_input(status)

    @classmethod
    def of(cls, value: dict[str, Any]) -> Check:
        return cls(
            type=value["type"],
            path=value.get("path", ""),
            method=value.get("method", "GET"),
            expected_status=number_text(value.get("expected_status", "")),
            expected_response=value.get("expected_response", ""),
            continuous=value.get("continuous") is True,
            raw=value,
        )

    def out(self) -> dict[str, Any]:
        raw = self.raw if self.raw.get("type") == self.type else {}
        continuous = self.continuous  # required by the reference: always written
        if self.type == "websocket":
            managed: dict[str, Any] = {
                "type": self.type, "expected_response": self.expected_response, "continuous": continuous,
                "path": ABSENT, "method": ABSENT, "expected_status": ABSENT,
            }
            return merge(raw, managed, WS_CHECK_ORDER)
        managed = {
            "type": self.type,
            "path": self.path,
            "method": self.method,
            "expected_status": number_or_text(self.expected_status, raw.get("expected_status")),
            "continuous": continuous,
            "expected_response": ABSENT,
        }
        return merge(raw, managed, HTTP_CHECK_ORDER)


@dataclass
class Port:
    port: str = ""
    type: str = ""
    checks: list[Check] = field(default_factory=list)
    short: bool = True  # written as a bare number when it has no type and no checks
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fits(cls, value: Any) -> bool:
        if is_number(value):
            return True
        if not isinstance(value, dict) or "port" not in value or "__spread__" in value:
            return False
        if not (is_number(value["port"]) or fits_input(value["port"])):
            return False
        if "type" in value and not fits_input(value["type"]):
            return False
        checks = value.get("health_checks", [])
        return isinstance(checks, list) and all(Check.fits(c) for c in checks)

    @classmethod
    def of(cls, value: Any) -> Port:
        if is_number(value):
            return cls(port=number_text(value), short=True)
        return cls(
            port=number_text(value["port"]),
            type=value.get("type", ""),
            checks=[Check.of(c) for c in value.get("health_checks", [])],
            short=False,
            raw=value,
        )

    def out(self) -> Any:
        number = number_or_text(self.port, self.raw.get("port"))
        if self.short and not self.type and not self.checks and not self.raw:
            return number
        managed: dict[str, Any] = {
            "port": number,
            "type": self.type or ABSENT,
            "health_checks": [c.out() for c in self.checks] if self.checks else (
                [] if self.raw.get("health_checks") == [] else ABSENT
            ),
        }
        return merge(self.raw, managed, PORT_ORDER)


# ---- ops and the whole definition -------------------------------------------------------------


@dataclass
class OpForm:
    raw: dict[str, Any] = field(default_factory=dict)
    # Keys (as "args.image", "execution.group", "id"…) whose value did not fit a widget: kept from raw.
    unmanaged: list[str] = field(default_factory=list)
    json_text: str | None = None  # the op is not an object at all: edited as JSON text
    type: str = RUN
    id: str = ""
    name: str = ""
    image: str = ""
    cmd: StrOrList = field(default_factory=StrOrList)
    entrypoint: StrOrList = field(default_factory=StrOrList)
    env: list[Row] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    work_dir: str = ""
    gpu: bool = False
    private: bool = False
    expose: list[Port] = field(default_factory=list)
    restart_policy: str = ""
    restart_tries: str = ""
    resources: str = ""
    group: str = ""
    depends_on: list[str] = field(default_factory=list)
    stop_if_dependent_stops: bool = False
    collapsed: bool = False

    @property
    def is_volume(self) -> bool:
        return self.type == VOLUME

    def managed(self, key: str) -> bool:
        return key not in self.unmanaged

    @property
    def raw_args(self) -> dict[str, Any]:
        args = self.raw.get("args")
        return args if isinstance(args, dict) else {}

    @property
    def raw_execution(self) -> dict[str, Any]:
        execution = self.raw.get("execution")
        return execution if isinstance(execution, dict) else {}

    @property
    def kept(self) -> dict[str, Any]:
        """Values the form keeps without a widget, for display ("edit in JSON")."""
        out: dict[str, Any] = {}
        for key, value in self.raw.items():
            if key not in OP_ORDER:
                out[key] = value
        if "results" in self.raw:
            out["results"] = self.raw["results"]
        for key, value in self.raw_args.items():
            widget = key == "name" if self.is_volume else key in RUN_MANAGED
            if not widget or not self.managed(f"args.{key}"):
                out[f"args.{key}"] = value
        for key in self.unmanaged:
            if not key.startswith("args.") and "." not in key and key in self.raw:
                out[key] = self.raw[key]
            elif key.startswith("execution.") and key[10:] in self.raw_execution:
                out[key] = self.raw_execution[key[10:]]
        return out

    @classmethod
    def of(cls, value: Any) -> OpForm:
        if not isinstance(value, dict) or ("args" in value and not isinstance(value["args"], dict)):
            return cls(json_text=json.dumps(value, indent=2, ensure_ascii=False))
        op = cls(raw=value)
        unmanaged: list[str] = []

        def text(source: dict[str, Any], key: str, label: str) -> str:
            item = source.get(key, "")
            if fits_input(item):
                return str(item)
            unmanaged.append(label)
            return ""

        def flag(source: dict[str, Any], key: str, label: str) -> bool:
            item = source.get(key, False)
            if isinstance(item, bool):
                return item
            unmanaged.append(label)
            return False

        op.type = text(value, "type", "type") if "type" in value else RUN
        op.id = text(value, "id", "id")
        for key in ("type", "id", "args"):
            if key not in value and value:
                unmanaged.append(key)  # an imported op without it: do not invent one
        args = op.raw_args
        if op.type == VOLUME:
            op.name = text(args, "name", "args.name")
        else:
            op.image = text(args, "image", "args.image")
            op.work_dir = text(args, "work_dir", "args.work_dir")
            op.gpu = flag(args, "gpu", "args.gpu")
            op.private = flag(args, "private", "args.private")
            for key in ("cmd", "entrypoint"):
                item = args.get(key)
                if key not in args or fits_area(item) or is_str_list(item):
                    setattr(op, key, StrOrList.of(item, "string"))
                else:
                    unmanaged.append(f"args.{key}")
            env = args.get("env", {})
            if is_str_map(env):
                op.env = table_of(env)
            else:
                unmanaged.append("args.env")
            volumes = args.get("volumes", [])
            if isinstance(volumes, list) and all(
                isinstance(v, dict) and list(v) == ["name", "dest"] and all(fits_input(x) for x in v.values())
                for v in volumes
            ):
                op.volumes = [Volume(v["name"], v["dest"]) for v in volumes]
            else:
                unmanaged.append("args.volumes")
            expose = args.get("expose", [])
            items = expose if isinstance(expose, list) else [expose]
            if all(Port.fits(item) for item in items):
                op.expose = [Port.of(item) for item in items]
            else:
                unmanaged.append("args.expose")
            policy = args.get("restart_policy", "")
            if fits_input(policy):
                op.restart_policy = policy
            elif (
                isinstance(policy, dict)
                and isinstance(policy.get("policy"), str)
                and set(policy) <= {"policy", "restart_tries"}
                and (is_number(policy.get("restart_tries", 0)))
            ):
                op.restart_policy = policy["policy"]
                op.restart_tries = number_text(policy["restart_tries"]) if "restart_tries" in policy else ""
            else:
                unmanaged.append("args.restart_policy")
            if "resources" in args:
                op.resources = json.dumps(args["resources"], indent=2, ensure_ascii=False)
        execution = value.get("execution", {})
        if isinstance(execution, dict):
            op.group = text(execution, "group", "execution.group")
            deps = execution.get("depends_on", [])
            if isinstance(deps, list) and all(fits_input(d) for d in deps) and len(set(deps)) == len(deps):
                op.depends_on = list(deps)
            else:
                unmanaged.append("execution.depends_on")
            op.stop_if_dependent_stops = flag(execution, "stop_if_dependent_stops", "execution.stop_if_dependent_stops")
        else:
            unmanaged.append("execution")
        op.unmanaged = unmanaged
        return op

    def out(self, issues: list[tuple[str, str]], index: int) -> Any:
        """The op as JSON; problems the form itself finds (bad JSON text, twice-given keys) go to `issues`."""
        if self.json_text is not None:
            try:
                return json.loads(self.json_text)
            except ValueError as exc:
                issues.append((f"ops[{index}]", f"not valid JSON: {exc}"))
                return self.raw if self.raw else {}
        raw = self.raw
        raw_type = raw.get("type")
        args_raw = dict(self.raw_args)
        if isinstance(raw_type, str) and raw_type != self.type and raw_type in OP_TYPES:
            # The type was switched: the other type's fields no longer apply.
            for key in (RUN_MANAGED if self.type == VOLUME else {"name"}):
                args_raw.pop(key, None)
        new = "args" not in raw
        managed: dict[str, Any] = {}
        if self.is_volume:
            if self.managed("args.name"):
                managed["name"] = self.name if (self.name or "name" in args_raw or new or self.type != raw_type) else ABSENT
        else:
            required_image = new or "image" in args_raw or self.type != raw_type
            if self.managed("args.image"):
                managed["image"] = self.image if (self.image or required_image) else ABSENT
            if self.managed("args.cmd"):
                managed["cmd"] = self.cmd.out(args_raw, "cmd")
            if self.managed("args.entrypoint"):
                managed["entrypoint"] = self.entrypoint.out(args_raw, "entrypoint")
            if self.managed("args.work_dir"):
                managed["work_dir"] = text_out(self.work_dir, args_raw, "work_dir")
            if self.managed("args.gpu"):
                managed["gpu"] = bool_out(self.gpu, args_raw, "gpu")
            if self.managed("args.private"):
                managed["private"] = bool_out(self.private, args_raw, "private")
            if self.managed("args.env"):
                env, twice = table_out(self.env, args_raw, "env")
                managed["env"] = env
                issues.extend((f"ops[{index}].args.env", f"{key!r} is given twice; the last value wins") for key in twice)
            if self.managed("args.volumes"):
                volumes = [{"name": v.name, "dest": v.dest} for v in self.volumes]
                managed["volumes"] = volumes if volumes or args_raw.get("volumes") == [] else ABSENT
            if self.managed("args.expose"):
                ports = [p.out() for p in self.expose]
                raw_expose = args_raw.get("expose")
                if raw_expose is not None and not isinstance(raw_expose, list) and len(ports) == 1:
                    managed["expose"] = ports[0]
                else:
                    managed["expose"] = ports if ports or raw_expose == [] else ABSENT
            if self.managed("args.restart_policy"):
                managed["restart_policy"] = self._restart_out(args_raw)
            if self.resources.strip():
                try:
                    managed["resources"] = json.loads(self.resources)
                except ValueError as exc:
                    issues.append((f"ops[{index}].args.resources", f"not valid JSON: {exc}"))
                    managed["resources"] = args_raw.get("resources", ABSENT)
            else:
                managed["resources"] = ABSENT
        args = merge(args_raw, managed, RUN_ORDER if not self.is_volume else ("name",))
        execution_raw = self.raw_execution
        if "execution" in self.unmanaged:
            execution: Any = raw.get("execution", ABSENT)
        else:
            emanaged: dict[str, Any] = {}
            if self.managed("execution.group"):
                emanaged["group"] = text_out(self.group, execution_raw, "group")
            if self.managed("execution.depends_on"):
                deps = list(self.depends_on)
                emanaged["depends_on"] = deps if deps or execution_raw.get("depends_on") == [] else ABSENT
            if self.managed("execution.stop_if_dependent_stops"):
                emanaged["stop_if_dependent_stops"] = bool_out(
                    self.stop_if_dependent_stops, execution_raw, "stop_if_dependent_stops"
                )
            execution = merge(execution_raw, emanaged, EXECUTION_ORDER)
            if not execution and "execution" not in raw:
                execution = ABSENT
        op_managed: dict[str, Any] = {"args": args if self.managed("args") else raw.get("args", ABSENT),
                                      "execution": execution}
        if self.managed("type"):
            op_managed["type"] = self.type
        if self.managed("id"):
            op_managed["id"] = self.id
        return merge(raw, op_managed, OP_ORDER)

    def _restart_out(self, args_raw: dict[str, Any]) -> Any:
        raw_policy = args_raw.get("restart_policy")
        if not self.restart_policy and not self.restart_tries:
            return "" if raw_policy == "" else ABSENT
        if self.restart_tries or isinstance(raw_policy, dict):
            raw_obj = raw_policy if isinstance(raw_policy, dict) else {}
            tries = number_or_text(self.restart_tries) if self.restart_tries else ABSENT
            return merge(raw_obj, {"policy": self.restart_policy, "restart_tries": tries}, RESTART_ORDER)
        return self.restart_policy


@dataclass
class ComposerState:
    raw: dict[str, Any] = field(default_factory=lambda: {"version": "0.1", "type": "container"})
    unmanaged: list[str] = field(default_factory=list)
    ops_in_form: bool = True  # False when `ops` is not a list: kept verbatim, edited as JSON
    ops_absent: bool = False  # an imported definition without `ops`: do not invent one
    trigger: str = ""
    required_vram: str = ""
    global_image: str = ""
    global_work_dir: str = ""
    global_gpu: bool = False
    global_entrypoint: StrOrList = field(default_factory=StrOrList)
    global_env: list[Row] = field(default_factory=list)
    global_variables: list[Row] = field(default_factory=list)
    ops: list[OpForm] = field(default_factory=list)
    # Problems found by the form itself (not the validator): (path, message).
    form_issues: list[tuple[str, str]] = field(default_factory=list)

    @property
    def raw_meta(self) -> dict[str, Any]:
        meta = self.raw.get("meta")
        return meta if isinstance(meta, dict) else {}

    @property
    def raw_global(self) -> dict[str, Any]:
        glob = self.raw.get("global")
        return glob if isinstance(glob, dict) else {}

    @property
    def raw_resources(self) -> dict[str, Any]:
        resources = self.raw_meta.get("system_resources")
        return resources if isinstance(resources, dict) else {}

    @property
    def kept(self) -> dict[str, Any]:
        """Top-level values without a widget (shown read-only, edited in JSON)."""
        out = {k: v for k, v in self.raw.items() if k not in ("meta", "global", "ops", "version", "type")}
        if not self.ops_in_form and "ops" in self.raw:
            out["ops"] = self.raw["ops"]
        for key in self.unmanaged:
            section, _, name = key.partition(".")
            source = self.raw_meta if section == "meta" else self.raw_global
            if section in ("meta", "global") and name in source:
                out[key] = source[name]
            elif key in self.raw:
                out[key] = self.raw[key]
        for key, value in self.raw_meta.items():
            if key not in META_ORDER:
                out[f"meta.{key}"] = value
        for key, value in self.raw_resources.items():
            if key != "required_vram":
                out[f"meta.system_resources.{key}"] = value
        return out

    def managed(self, key: str) -> bool:
        return key not in self.unmanaged

    @classmethod
    def of(cls, value: dict[str, Any]) -> ComposerState:
        state = cls(raw=value)
        unmanaged: list[str] = []
        meta = value.get("meta", {})
        if isinstance(meta, dict):
            trigger = meta.get("trigger", "")
            if fits_input(trigger):
                state.trigger = trigger
            else:
                unmanaged.append("meta.trigger")
            resources = meta.get("system_resources", {})
            vram = resources.get("required_vram", "") if isinstance(resources, dict) else None
            if fits_input(vram) or is_number(vram):
                state.required_vram = number_text(vram)
            else:
                unmanaged.append("meta.system_resources")
        else:
            unmanaged.append("meta")
        glob = value.get("global", {})
        if isinstance(glob, dict):
            for key in ("image", "work_dir"):
                item = glob.get(key, "")
                if fits_input(item):
                    setattr(state, f"global_{key}", item)
                else:
                    unmanaged.append(f"global.{key}")
            gpu = glob.get("gpu", False)
            if isinstance(gpu, bool):
                state.global_gpu = gpu
            else:
                unmanaged.append("global.gpu")
            entrypoint = glob.get("entrypoint")
            if "entrypoint" not in glob or fits_area(entrypoint) or is_str_list(entrypoint):
                state.global_entrypoint = StrOrList.of(entrypoint)
            else:
                unmanaged.append("global.entrypoint")
            for key in ("env", "variables"):
                table = glob.get(key, {})
                if is_str_map(table):
                    setattr(state, f"global_{key}", table_of(table))
                else:
                    unmanaged.append(f"global.{key}")
        else:
            unmanaged.append("global")
        state.ops_absent = "ops" not in value
        ops = value.get("ops", [])
        if isinstance(ops, list):
            state.ops = [OpForm.of(op) for op in ops]
        else:
            state.ops_in_form = False
        state.unmanaged = unmanaged
        return state

    def to_definition(self) -> dict[str, Any]:
        issues: list[tuple[str, str]] = []
        raw = self.raw
        managed: dict[str, Any] = {}
        if "meta" not in self.unmanaged:
            meta_raw = self.raw_meta
            mmanaged: dict[str, Any] = {}
            if self.managed("meta.trigger"):
                mmanaged["trigger"] = text_out(self.trigger, meta_raw, "trigger")
            if self.managed("meta.system_resources"):
                resources_raw = self.raw_resources
                vram = (
                    number_or_text(self.required_vram, resources_raw.get("required_vram"))
                    if self.required_vram
                    else ABSENT
                )
                resources = merge(resources_raw, {"required_vram": vram}, ("required_vram",))
                mmanaged["system_resources"] = (
                    resources if resources or "system_resources" in meta_raw else ABSENT
                )
            meta = merge(meta_raw, mmanaged, META_ORDER)
            managed["meta"] = meta if meta or "meta" in raw else ABSENT
        if "global" not in self.unmanaged:
            glob_raw = self.raw_global
            gmanaged: dict[str, Any] = {}
            if self.managed("global.image"):
                gmanaged["image"] = text_out(self.global_image, glob_raw, "image")
            if self.managed("global.work_dir"):
                gmanaged["work_dir"] = text_out(self.global_work_dir, glob_raw, "work_dir")
            if self.managed("global.gpu"):
                gmanaged["gpu"] = bool_out(self.global_gpu, glob_raw, "gpu")
            if self.managed("global.entrypoint"):
                gmanaged["entrypoint"] = self.global_entrypoint.out(glob_raw, "entrypoint")
            for key in ("env", "variables"):
                if self.managed(f"global.{key}"):
                    table, twice = table_out(getattr(self, f"global_{key}"), glob_raw, key)
                    gmanaged[key] = table
                    issues.extend((f"global.{key}", f"{k!r} is given twice; the last value wins") for k in twice)
            glob = merge(glob_raw, gmanaged, GLOBAL_ORDER)
            managed["global"] = glob if glob or "global" in raw else ABSENT
        if self.ops_in_form:
            ops = [op.out(issues, i) for i, op in enumerate(self.ops)]
            managed["ops"] = ops if ops or "ops" in raw or not self.ops_absent else ABSENT
        self.form_issues = issues
        return merge(raw, managed, ROOT_ORDER)

    # ---- structure ---------------------------------------------------------------------

    def volumes_before(self, index: int) -> list[str]:
        """Names of volumes created by ops before `index` (what a mount can sensibly pick)."""
        names: list[str] = []
        for op in self.ops[:index]:
            if op.json_text is None and op.is_volume and op.name and op.name not in names:
                names.append(op.name)
        return names

    def other_ids(self, index: int) -> list[str]:
        """depends_on choices for op `index`: its current picks first (keeps their order), then the rest."""
        own = self.ops[index]
        ids = [op.id for i, op in enumerate(self.ops) if i != index and op.json_text is None]
        rest = [i for i in ids if i not in own.depends_on and i != own.id]
        return [*own.depends_on, *dict.fromkeys(rest)]

    def all_ids(self) -> Iterable[str]:
        return (op.id for op in self.ops if op.json_text is None)
