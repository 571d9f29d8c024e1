"""Following remote (devnet/mainnet) jobs until they end, then storing their result.

The worker calls `follow(job)` over and over; each call polls the network at
most once, when the job's backoff says so. A job is RUNNING when a run account
for it exists (the job account does not change then); when it is done, the
result document is fetched by CID, verified, and its per-op states and logs
stored. Log lines the live relay already wrote for a step are never doubled:
a step that already has lines keeps them and gets none from the result.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs import live
from jobs.logwriter import LogWriter
from jobs.models import Job, JobStatus, LogStream, Step, StepStatus
from jobs.services import REMOTE_NETWORKS, publish, resume_post
from nosana_dash import network as networks
from nosana_dash.network.base import JobInfo, Network, NetworkError
from nosana_dash.network.codec.cid import cid_v0

log = logging.getLogger(__name__)

FIRST_INTERVAL = 2.0  # seconds between polls right after a change
MAX_INTERVAL = 30.0
BACKOFF = 1.5
# After a poster `end`, the node uploads the result and sends `complete`; wait this long for it.
RESULT_GRACE_SECONDS = 600
MAX_LOG_LINES_PER_STEP = 25_000


@dataclass
class _Schedule:
    next_at: float
    interval: float


_schedules: dict[str, _Schedule] = {}
_lock = threading.Lock()


def _due(address: str, now: float) -> bool:
    with _lock:
        schedule = _schedules.get(address)
        return schedule is None or now >= schedule.next_at


def _plan(address: str, now: float, *, changed: bool) -> None:
    with _lock:
        schedule = _schedules.get(address)
        interval = FIRST_INTERVAL if changed or schedule is None else min(schedule.interval * BACKOFF, MAX_INTERVAL)
        _schedules[address] = _Schedule(next_at=now + interval, interval=interval)


def _forget(address: str) -> None:
    with _lock:
        _schedules.pop(address, None)


def follow(job: Job, *, force: bool = False, before_result: Callable[[], None] | None = None) -> None:
    """Poll a remote job once if due; record what changed. Never raises for network trouble.

    `before_result` runs once the verified result document is in hand, just before its logs are
    stored: the worker stops the job's live relay there so the two never write the same step.
    """
    if job.network not in REMOTE_NETWORKS or job.is_final:
        _forget(job.address)
        return
    now = time.monotonic()
    if not force and not _due(job.address, now):
        return
    net = networks.get_network(job.network)
    try:
        if job.status == JobStatus.POSTING:
            resume_post(job)  # a post interrupted by a timeout or crash: finish it exactly once
            changed = job.status != JobStatus.POSTING
        else:
            changed = _poll(job, net, before_result)
    except NetworkError as exc:
        log.warning("following %s: %s", job.address, exc.message)
        changed = False
    if job.is_final:
        _forget(job.address)
    else:
        _plan(job.address, now, changed=changed)


def _poll(job: Job, net: Network, before_result: Callable[[], None] | None = None) -> bool:
    info = net.get_job(job.address)
    if info is None:
        return _closed(job)
    state = info.state
    node, started = info.node or "", info.time_start
    if state in ("QUEUED", "STOPPED"):
        run = net.get_run_for_job(job.address)
        if run is not None:  # a run account exists: a node is running it
            state, node, started = "RUNNING", run.node, run.time
    if state == "QUEUED":
        return _update(job, status=JobStatus.QUEUED, timeout=info.timeout)
    if state == "RUNNING":
        return _update(job, status=JobStatus.RUNNING, node=node, time_start=_dt(started), timeout=info.timeout)
    if state == "STOPPED":
        return _update(job, status=JobStatus.STOPPED, node=node, error=job.error or (
            "The node quit the job before it finished; another node may claim it, or the deposit can be recovered."
        ))
    return _completed(job, net, info, before_result)


def _closed(job: Job) -> bool:
    """The job account is gone: delisted (or recovered/cleaned) — its last known state ends here."""
    if job.status == JobStatus.QUEUED:
        return _update(job, status=JobStatus.STOPPED, error=job.error or "The job account was closed (delisted).")
    return False


def _completed(job: Job, net: Network, info: JobInfo, before_result: Callable[[], None] | None = None) -> bool:
    changed = _update(job, node=info.node or job.node, time_start=_dt(info.time_start), time_end=_dt(info.time_end))
    if info.ipfs_result is None:
        # Ended by the poster: done on chain, the node posts the result with `complete` later.
        ended = info.time_end or int(time.time())
        if time.time() - ended < RESULT_GRACE_SECONDS:
            return changed
        return _update(job, status=JobStatus.STOPPED if job.stop_requested else JobStatus.COMPLETED,
                       error=job.error or "The node has not posted a result.")
    data = net.fetch(info.ipfs_result)
    if cid_v0(data) != info.ipfs_result:
        raise NetworkError(f"the result document does not match its CID {info.ipfs_result}; not stored")
    try:
        result = json.loads(data)
    except ValueError:
        _update(job, status=JobStatus.FAILED, error="The result document is not JSON.")
        return True
    if before_result is not None:
        before_result()
    store_result(job, info.ipfs_result, data.decode("utf-8", "replace"), result)
    return True


def store_result(job: Job, cid: str, text: str, result: Any) -> None:
    """Per-op states and logs from a result document (Nosana's FlowState), then the final status."""
    states = result.get("opStates") if isinstance(result, dict) else None
    states = states if isinstance(states, list) else []
    steps = {s.op_id: s for s in Step.objects.filter(job=job)}
    writer = LogWriter(job)
    exit_code: int | None = None
    for position, state in enumerate(s for s in states if isinstance(s, dict)):
        op_id = str(state.get("operationId", ""))
        step = steps.get(op_id) or Step.objects.create(job=job, index=len(steps) + position, op_id=op_id, op_type="")
        steps[op_id] = step
        code = state.get("exitCode")
        step.exit_code = code if isinstance(code, int) else None
        step.started_at = _ms(state.get("startTime"))
        step.status = _step_status(str(state.get("status", "")))
        if step.status == StepStatus.SUCCESS and step.started_at is None:
            step.status = StepStatus.STOPPED  # never ran: an expired flow's node marks such ops `success`
        step.ended_at = _ms(state.get("endTime"))
        error = state.get("error")
        if isinstance(error, dict) and error.get("message"):
            step.error = str(error["message"])
        step.save(update_fields=["exit_code", "status", "started_at", "ended_at", "error"])
        live.publish_step(job.address, {"op_id": op_id, "status": step.status, "exit_code": step.exit_code})
        if exit_code in (None, 0) and step.exit_code is not None:
            exit_code = step.exit_code
        if step.line_count == 0 and not step.lines.exists():
            _write_logs(writer, step, state.get("logs"), step.started_at)
    writer.flush()
    flow_status = str(result.get("status", "")) if isinstance(result, dict) else ""
    if job.stop_requested or flow_status == "stopped":
        status = JobStatus.STOPPED
    elif flow_status == "failed" or (not flow_status and exit_code not in (None, 0)):
        # The flow's own status decides: an expired job ends "success" even with the kill's exit code.
        status = JobStatus.FAILED
    else:
        status = JobStatus.COMPLETED
    with transaction.atomic():
        job.ipfs_result = cid
        job.result_json = text
        job.exit_code = exit_code
        job.save(update_fields=["ipfs_result", "result_json", "exit_code", "updated_at"])
    _update(job, status=status)


def _write_logs(writer: LogWriter, step: Step, logs: object, fallback: datetime | None) -> None:
    if not isinstance(logs, list):
        return
    partial = ""
    written = 0
    for entry in logs:
        if not isinstance(entry, dict) or written >= MAX_LOG_LINES_PER_STEP:
            continue
        stream = {"stdout": LogStream.STDOUT, "stderr": LogStream.STDERR, "nodeerr": LogStream.NODE_ERROR}.get(
            str(entry.get("type", "")), LogStream.SYSTEM
        )
        ts = _timestamp(entry.get("timestamp")) or fallback or timezone.now()
        # Chunks carry their own newlines; a chunk may end mid-line and the next one continue it.
        text = partial + str(entry.get("log", ""))
        *complete, partial = text.split("\n")
        for line in complete:
            writer.line(line.rstrip("\r"), step=step, stream=stream, ts=ts)
            written += 1
    if partial:
        writer.line(partial, step=step, stream=LogStream.STDOUT, ts=fallback or timezone.now())


def _update(job: Job, **changes: Any) -> bool:
    """Save the fields that changed and publish the new status; True when anything changed."""
    dirty = [name for name, value in changes.items() if value is not None and getattr(job, name) != value]
    if not dirty:
        return False
    for name in dirty:
        setattr(job, name, changes[name])
    with transaction.atomic():
        job.save(update_fields=[*dirty, "updated_at"])
        publish(job)
    return True


def _step_status(status: str) -> str:
    return {
        "success": StepStatus.SUCCESS, "failed": StepStatus.FAILED, "stopped": StepStatus.STOPPED,
        "running": StepStatus.RUNNING,
    }.get(status, StepStatus.PENDING)


def _dt(unix_seconds: int) -> datetime | None:
    return datetime.fromtimestamp(unix_seconds, tz=UTC) if unix_seconds else None


def _ms(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return None


def _timestamp(value: object) -> datetime | None:
    """Log timestamps: RFC 3339 with nanoseconds, or milliseconds as a string."""
    if isinstance(value, int | float):
        return _ms(value)
    if not isinstance(value, str) or not value:
        return None
    if value.isdigit():
        return _ms(int(value))
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python reads at most microseconds
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
