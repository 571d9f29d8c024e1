"""The Nosana result document (FlowState, spec job-definition §14, protocol §8.4).

Built in the node's key order and shapes (`vectors/result.json`): times in epoch
milliseconds, one OpState per op in definition order, logs as
`{type, log, timestamp}` chunks that keep their newline. Stored as compact
`JSON.stringify` bytes, exactly what a node pins.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

MAX_LOGS_PER_OP = 25_000  # what a node keeps per op


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ms_timestamp(ms: int | None = None) -> str:
    """A log timestamp when the engine gave none: epoch milliseconds as a string, as the node writes."""
    return str(now_ms() if ms is None else ms)


def reason(*, stopped: bool = False, expired: bool = False, text: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"hostShutDown": False, "jobStopped": stopped, "jobExpired": expired}
    if text:
        out["reason"] = text
    return out


def diagnostics_state(inspect_state: dict[str, Any] | None) -> dict[str, Any] | None:
    """The engine's inspect `State`, reduced to the keys of the DiagnosticsState type."""
    if not inspect_state:
        return None
    keys = ("Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error",
            "StartedAt", "FinishedAt")
    state = {key: inspect_state.get(key) for key in keys}
    state["Error"] = state["Error"] or ""
    if (inspect_state.get("Health") or {}).get("Status"):
        state["Health"] = inspect_state["Health"]
    state["RestartCount"] = int(inspect_state.get("RestartCount") or 0)
    return state


@dataclass
class OpState:
    operation_id: str
    group: str
    provider_id: str | None = None
    status: str = "init"
    start_time: int | None = None
    end_time: int | None = None
    exit_code: int | None = None
    logs: list[dict[str, str]] = field(default_factory=list)
    results: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    reason: dict[str, Any] = field(default_factory=reason)
    state: dict[str, Any] | None = None

    def log(self, kind: str, text: str, timestamp: str) -> None:
        if len(self.logs) < MAX_LOGS_PER_OP:
            self.logs.append({"type": kind, "log": text, "timestamp": timestamp})

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "operationId": self.operation_id,
            "group": self.group,
            "providerId": self.provider_id,
            "status": self.status,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "exitCode": self.exit_code,
            "logs": list(self.logs),
        }
        if self.error is not None:
            out["error"] = self.error
        diagnostics: dict[str, Any] = {"reason": self.reason}
        if self.state is not None:
            diagnostics["state"] = self.state
        out["diagnostics"] = diagnostics
        if self.results is not None:
            out["results"] = self.results
        return out


@dataclass
class FlowState:
    start_time: int
    ops: list[OpState]
    status: str = "running"
    end_time: int | None = None
    secrets: dict[str, Any] = field(default_factory=dict)
    errors: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "secrets": self.secrets,
            "opStates": [op.as_dict() for op in self.ops],
            "errors": list(self.errors),
        }


def to_bytes(document: dict[str, Any]) -> bytes:
    """JSON.stringify: compact, key order kept, raw UTF-8."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
