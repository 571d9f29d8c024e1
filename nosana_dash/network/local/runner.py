"""Runs a job definition's ops as a Nosana node does, on a container engine or a bubblewrap sandbox.

The runner knows nothing of the dashboard's tables: it reports through a `Sink`
(step started / line / step ended / service URL) and asks a `Control` whether to
stop and when the job expires. It returns the Nosana result document.
Node semantics (spec job-definition §5–7, §10): global values merged into each
op, groups as stages, depends_on, the 2024 node's cmd quirk, per-job volumes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import base58
from django.db import connection

from nosana_dash.network.local.result import FlowState, OpState, diagnostics_state, now_ms, reason


class Sink(Protocol):
    def step_started(self, index: int, at_ms: int) -> None: ...
    def line(self, index: int | None, stream: str, text: str, timestamp: str) -> None: ...
    def step_ended(self, index: int, status: str, exit_code: int | None, at_ms: int, error: str) -> None: ...
    def service_url(self, index: int, port: int, url: str) -> None: ...


class Control(Protocol):
    def stop_requested(self) -> bool: ...
    def deadline(self) -> float: ...  # epoch seconds; re-read often (extend moves it)


@dataclass
class PreparedOp:
    index: int
    op_id: str
    op_type: str
    group: str
    depends_on: list[str]
    image: str = ""
    cmd: list[str] | None = None
    cmd_note: str = ""
    entrypoint: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    work_dir: str = ""
    volumes: list[tuple[str, str]] = field(default_factory=list)  # (job-scoped volume name, dest)
    ports: list[int] = field(default_factory=list)
    gpu: bool = False
    volume_name: str = ""  # container/create-volume: the job-scoped name
    results: dict[str, Any] = field(default_factory=dict)


@dataclass
class OpRun:
    """What a backend reports for one container/run op."""

    exit_code: int | None
    provider_id: str | None = None
    inspect_state: dict[str, Any] | None = None
    error: str = ""  # a node-side failure (pull, create…): the op fails with exit code 2
    error_code: int | None = None


class OpContext:
    """What a backend may do while running one op: record output, report start, ask whether to abort."""

    def __init__(self, runner: JobRunner, op: PreparedOp, state: OpState) -> None:
        self.runner = runner
        self.op = op
        self.state = state
        self.ready = threading.Event()

    def out(self, stream: str, text: str, timestamp: str) -> None:
        self.state.log(stream, text + "\n", timestamp or str(now_ms()))
        self.runner.sink.line(self.op.index, stream, text, timestamp)

    def system(self, text: str) -> None:
        self.runner.sink.line(self.op.index, "system", text, "")

    def node_error(self, text: str) -> None:
        self.state.log("nodeerr", text, _iso_now())
        self.runner.sink.line(self.op.index, "node", text, "")

    def started(self, provider_id: str | None) -> None:
        self.state.provider_id = provider_id
        self.ready.set()

    def abort_reason(self) -> str | None:
        return self.runner.abort_reason()

    def remaining(self) -> float:
        return max(0.0, self.runner.control.deadline() - time.time())

    def publish_port(self, port: int, url: str) -> None:
        self.runner.published(self.op, port, url)


class Backend(Protocol):
    kind: str  # podman | docker | bubblewrap

    def notes(self) -> list[str]: ...
    def create_volume(self, ctx: OpContext, name: str) -> None: ...
    def run(self, ctx: OpContext) -> OpRun: ...
    def cleanup(self) -> list[str]: ...


@dataclass
class RunOutcome:
    status: str  # completed | failed | stopped (the dashboard's words)
    exit_code: int | None
    flow: dict[str, Any]
    error: str = ""


# --- definition → prepared ops ----------------------------------------------------------------------


def container_command(cmd: object) -> tuple[list[str] | None, str]:
    """cmd as today's node runs it, plus the 2024 node's way for an array whose first item has spaces."""
    if cmd is None or cmd == [] or cmd == "":
        return None, ""
    if isinstance(cmd, str):
        return ["/bin/sh", "-c", cmd], ""
    items = [str(item) for item in cmd] if isinstance(cmd, list) else [str(cmd)]
    if not any(ch.isspace() for ch in items[0]):
        return items, ""
    # Exec form cannot run "/bin/bash -c ": join the way the 2024 node did, then split as a shell would.
    line = items[0] + "".join("'" + item.replace("'", "'\"'\"'") + "'" for item in items[1:])
    argv = shlex.split(line)
    note = (
        f"cmd: the first item {items[0]!r} contains spaces, which exec form cannot run. Ran it as the 2024 "
        f"Nosana node did (first item as is, later items single-quoted, split as a shell would): "
        f"{json.dumps(argv)}. Today's nodes reject this form; the portable form is that array."
    )
    return argv, note


def _ports(expose: object) -> list[int]:
    items = expose if isinstance(expose, list) else [expose]
    ports: list[int] = []
    for item in items:
        value = item.get("port") if isinstance(item, dict) else item
        if isinstance(value, int | float) and not isinstance(value, bool) and int(value) == value and 0 < value < 65536:
            ports.append(int(value))
    return ports


def prepare(definition: dict[str, Any], job_address: str) -> list[PreparedOp]:
    glob = definition.get("global") or {}
    ops: list[PreparedOp] = []
    for index, op in enumerate(definition.get("ops") or []):
        args = op.get("args") or {}
        execution = op.get("execution") or {}
        op_id = str(op.get("id", ""))
        prepared = PreparedOp(
            index=index, op_id=op_id, op_type=str(op.get("type", "")),
            group=str(execution.get("group") or op_id), depends_on=[str(d) for d in execution.get("depends_on") or []],
            results=dict(op.get("results") or {}),
        )
        if prepared.op_type == "container/create-volume" or ("image" not in args and "name" in args):
            prepared.op_type = "container/create-volume"
            prepared.volume_name = f"{job_address}-{args.get('name')}"
            ops.append(prepared)
            continue
        prepared.image = str(args.get("image") or glob.get("image") or "")
        prepared.cmd, prepared.cmd_note = container_command(args.get("cmd"))
        entrypoint = args.get("entrypoint") or glob.get("entrypoint")
        prepared.entrypoint = [entrypoint] if isinstance(entrypoint, str) else (list(entrypoint) if entrypoint else None)
        env = {**(glob.get("env") or {}), **(args.get("env") or {}), "NOSANA_ID": job_address}
        prepared.env = {str(k): str(v) for k, v in env.items()}
        prepared.work_dir = str(args.get("work_dir") or glob.get("work_dir") or "")
        prepared.volumes = [(f"{job_address}-{v['name']}", str(v["dest"])) for v in args.get("volumes") or []]
        prepared.ports = _ports(args.get("expose")) if "expose" in args else []
        prepared.gpu = bool(args.get("gpu")) or bool(glob.get("gpu"))
        ops.append(prepared)
    return ops


def node_checks(ops: list[PreparedOp]) -> list[str]:
    """What a node rejects before running (status `init error`)."""
    by_id = {op.op_id: op for op in ops}
    errors = []
    for op in ops:
        for dep in op.depends_on:
            if dep == op.op_id:
                errors.append(f"op {op.op_id!r} depends on itself")
            elif dep not in by_id:
                errors.append(f"op {op.op_id!r} depends on unknown op {dep!r}")
            elif by_id[dep].group != op.group:
                errors.append(f"op {op.op_id!r} depends on {dep!r}, which is in another execution group")
    return errors


def extract_results(spec: dict[str, Any], logs: list[dict[str, str]]) -> dict[str, Any]:
    """`results`: each regex over the chosen log streams, first match per line."""
    out: dict[str, Any] = {}
    for name, item in spec.items():
        pattern, kinds = (item, None) if isinstance(item, str) else (item.get("regex", ""), set(item.get("logType") or []))
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            out[name] = str(exc)
            continue
        found: list[str] = []
        for entry in logs:
            if kinds and entry["type"] not in kinds:
                continue
            match = regex.search(entry.get("log") or "")
            if match:
                found.append(match.group(0))
                found.extend(g for g in match.groups() if g is not None)
        out[name] = found
    return out


def expose_id(index: int, port: int, job_address: str) -> str:
    """Spec §10.5: the first 44 characters of base58(sha512("<index>:<port>:<job>"))."""
    return base58.b58encode(hashlib.sha512(f"{index}:{port}:{job_address}".encode()).digest()).decode()[:44]


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 1_000_000_000 // 1_000_000:03d}Z"


# --- the run ----------------------------------------------------------------------------------------


class JobRunner:
    def __init__(self, definition: dict[str, Any], *, job_address: str, backend: Backend, sink: Sink,
                 control: Control) -> None:
        self.job_address = job_address
        self.backend = backend
        self.sink = sink
        self.control = control
        self.ops = prepare(definition, job_address)
        self.flow = FlowState(start_time=now_ms(), ops=[OpState(op.op_id, op.group) for op in self.ops])
        self._abort: str | None = None
        self._lock = threading.Lock()
        self._contexts: dict[int, OpContext] = {}

    def abort_reason(self) -> str | None:
        """`stopped` (stop request) or `expired` (past the timeout); sticky once seen."""
        with self._lock:
            if self._abort is None:
                if self.control.stop_requested():
                    self._abort = "stopped"
                elif time.time() >= self.control.deadline():
                    self._abort = "expired"
            return self._abort

    def published(self, op: PreparedOp, port: int, url: str) -> None:
        with self._lock:
            self.flow.secrets.setdefault(self.job_address, {})[expose_id(op.index, port, self.job_address)] = {
                "opID": op.op_id, "port": port, "url": url, "status": "ONLINE",
            }
        self.sink.service_url(op.index, port, url)

    def run(self) -> RunOutcome:
        for note in self.backend.notes():
            self.sink.line(None, "system", note, "")
        errors = node_checks(self.ops)
        failed_code: int | None = None
        last_code: int | None = None
        if errors:
            self.flow.errors.extend(errors)
            for text in errors:
                self.sink.line(None, "node", f"init error: {text}", "")
        else:
            groups: dict[str, list[PreparedOp]] = {}
            for op in self.ops:
                groups.setdefault(op.group, []).append(op)
            for members in groups.values():
                if failed_code is not None or self.abort_reason():
                    break
                self._run_group(members)
                for op in members:
                    state = self.flow.ops[op.index]
                    if state.exit_code is not None and state.status != "init":
                        last_code = state.exit_code
                    if state.status == "failed" and failed_code is None:
                        failed_code = state.exit_code
        try:
            for note in self.backend.cleanup():
                self.sink.line(None, "system", note, "")
        except Exception as exc:  # clean-up trouble must not hide the job's outcome
            self.sink.line(None, "node", f"clean-up failed: {exc}", "")
        end = now_ms()
        abort = self._abort
        for op in self.ops:  # ops that never ran
            state = self.flow.ops[op.index]
            if state.status == "init":
                # The node gives them the flow's stop status (`success` when expired); the page says stopped.
                state.status, state.end_time, state.exit_code = _stop_status(abort), end, 0
                self.sink.step_ended(op.index, "stopped" if abort else "skipped", None, end, "")
        self.flow.end_time = end
        if errors:
            self.flow.status = "init error"
            return RunOutcome("failed", None, self.flow.as_dict(), "; ".join(errors))
        if abort == "expired":
            # A node whose deadline passes stops the containers and finishes normally (protocol §7.3).
            self.flow.status = "success"
            return RunOutcome("completed", last_code if last_code is not None else 0, self.flow.as_dict(), "")
        if abort:
            self.flow.status = "stopped"
            return RunOutcome("stopped", last_code, self.flow.as_dict(), "stopped on request")
        if failed_code is not None:
            self.flow.status = "failed"
            return RunOutcome("failed", failed_code, self.flow.as_dict(), "")
        self.flow.status = "success"
        return RunOutcome("completed", last_code if last_code is not None else 0, self.flow.as_dict(), "")

    def _run_group(self, members: list[PreparedOp]) -> None:
        if len(members) == 1:
            self._run_op(members[0], threaded=False)
            return
        for op in members:
            self._contexts[op.index] = OpContext(self, op, self.flow.ops[op.index])
        threads = [threading.Thread(target=self._run_op, args=(op, True), daemon=True) for op in members]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _wait_for_dependency(self, op: PreparedOp) -> bool:
        """Start when one dependency is ready (spec §10: not when it exits)."""
        deps = [self._contexts[o.index] for o in self.ops if o.op_id in op.depends_on and o.index in self._contexts]
        while deps:
            if any(ctx.ready.is_set() for ctx in deps):
                return True
            if self.abort_reason():
                return False
            time.sleep(0.05)
        return True

    def _run_op(self, op: PreparedOp, threaded: bool) -> None:
        ctx = self._contexts.get(op.index) or OpContext(self, op, self.flow.ops[op.index])
        self._contexts[op.index] = ctx
        try:
            if op.depends_on and not self._wait_for_dependency(op):
                return
            if self.abort_reason():
                return
            self._execute(op, ctx)
        finally:
            ctx.ready.set()  # dependents never wait on an op that ended
            if threaded:
                connection.close()  # this thread's database connection (the sink writes rows)

    def _execute(self, op: PreparedOp, ctx: OpContext) -> None:
        state = ctx.state
        state.start_time = now_ms()
        state.status = "running"
        self.sink.step_started(op.index, state.start_time)
        if op.op_type == "container/create-volume":
            try:
                self.backend.create_volume(ctx, op.volume_name)
                state.exit_code, state.status = 0, "success"
            except Exception as exc:
                self._node_failure(ctx, f"create volume failed: {exc}", None)
            ctx.started(None)
            state.end_time = now_ms()
            self.sink.step_ended(op.index, state.status, state.exit_code, state.end_time, _error_text(state))
            return
        if op.cmd_note:
            ctx.system(op.cmd_note)
        try:
            run = self.backend.run(ctx)
        except Exception as exc:  # an engine failure is this op's node error, never the worker's crash
            run = OpRun(exit_code=None, error=str(getattr(exc, "message", exc)), error_code=getattr(exc, "status", None))
        state.end_time = now_ms()
        state.provider_id = run.provider_id or state.provider_id
        if run.inspect_state is not None:
            state.state = diagnostics_state(run.inspect_state)
        abort = self._abort
        if run.error and not abort:
            self._node_failure(ctx, run.error, run.error_code)
        elif abort:
            # As the node records it: the kill's exit code, and `success` when the deadline cut the op off.
            state.status, state.exit_code = _stop_status(abort), run.exit_code
            state.reason = reason(
                stopped=abort == "stopped", expired=abort == "expired",
                text=f"Operation stopped due to flow {'stopped' if abort == 'stopped' else 'expired'}",
            )
        else:
            state.exit_code = run.exit_code
            state.status = "success" if run.exit_code == 0 else "failed"
        if op.results:
            state.results = extract_results(op.results, state.logs)
        elif op.op_type == "container/run":
            state.results = {}
        self.sink.step_ended(op.index, state.status, state.exit_code, state.end_time, _error_text(state))

    def _node_failure(self, ctx: OpContext, message: str, code: int | None) -> None:
        """Node-side failure (pull, create…): exit code 2 and an error object, as the node writes."""
        ctx.node_error(f"Error: {message}")
        ctx.state.status, ctx.state.exit_code = "failed", 2
        ctx.state.error = {"event": "operation-error", "message": message, **({"code": code} if code else {})}


def _stop_status(abort: str | None) -> str:
    """The op status a node writes when the flow ends early: an expired flow's ops count as `success`."""
    return "success" if abort == "expired" else "stopped"


def _error_text(state: OpState) -> str:
    return str(state.error["message"]) if state.error else ""


def run_job(definition: dict[str, Any], *, job_address: str, backend: Backend, sink: Sink,
            control: Control) -> RunOutcome:
    return JobRunner(definition, job_address=job_address, backend=backend, sink=sink, control=control).run()

