"""The remote live-log relay: node websocket → LogWriter, and the result as the final record.

While a remote job runs, `LogRelay.run()` subscribes to the node's `/flog`
stream (falling back to `/log` when the node has no task log), writes each
output line under its step through `LogWriter`, drops what a reconnect replays,
and reconnects with exponential backoff. When the job is final it stops.

After completion the node's result document is authoritative:
`apply_result_logs` matches its per-op lines against what the live stream
stored and appends only the lines the stream missed (lines are append-only and
numbered, so open pages never see a line twice).
"""

from __future__ import annotations

import difflib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from solders.keypair import Keypair
from websockets.exceptions import ConnectionClosed

from jobs import live
from jobs.logwriter import LogWriter
from jobs.models import FINAL_STATUSES, Job, LogLine, LogStream, Step, StepStatus
from nosana_dash.network.base import NetworkError
from nosana_dash.network.nodelogs import (
    NO_TASK,
    UNAUTHORIZED,
    Deduper,
    NodeEvent,
    NodeLogStream,
    close_code,
    flog_frame,
    headers_for,
    log_frame,
    node_ws_url,
)

log = logging.getLogger(__name__)

RESULT_STREAMS = {"stdout": LogStream.STDOUT, "stderr": LogStream.STDERR, "nodeerr": LogStream.NODE_ERROR}
MAX_LINE = 64 * 1024  # longer "lines" (no newline for ages) are cut into pieces


class LineAssembler:
    """Chunks (which may split or join lines) → whole lines, per stream key."""

    def __init__(self) -> None:
        self._partial: dict[Any, str] = {}

    def feed(self, key: Any, chunk: str) -> list[str]:
        text = self._partial.pop(key, "") + chunk.replace("\r\n", "\n")
        *lines, tail = text.split("\n")
        while len(tail) > MAX_LINE:
            lines.append(tail[:MAX_LINE])
            tail = tail[MAX_LINE:]
        if tail:
            self._partial[key] = tail
        return lines

    def flush(self) -> list[tuple[Any, str]]:
        out = list(self._partial.items())
        self._partial.clear()
        return out


def chunks_to_lines(chunks: list[str]) -> list[str]:
    assembler = LineAssembler()
    lines: list[str] = []
    for chunk in chunks:
        lines.extend(assembler.feed(0, chunk))
    lines.extend(text for _, text in assembler.flush())
    return lines


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms > 0 else timezone.now()


@dataclass
class LogRelay:
    job: Job
    keypair: Keypair
    url: str | None = None  # base ws URL of the node (tests: a loopback fake); default from the network
    is_finished: Callable[[], bool] | None = None
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    poll: float = 1.0  # how often a quiet stream checks whether the job ended
    drain_seconds: float = 2.0  # keep reading this long after the job ended, for the last lines
    max_failures: int = 50
    sleep: Callable[[float], object] = time.sleep  # a stop event's wait() ends a backoff early
    path: str = "flog"
    # Set by a caller that must stop at once: nothing more is written (not even buffered lines).
    cancel: threading.Event = field(default_factory=threading.Event)
    writer: LogWriter = field(init=False)
    dedupe: Deduper = field(init=False, default_factory=Deduper)
    assembler: LineAssembler = field(init=False, default_factory=LineAssembler)
    steps: dict[str, Step] = field(init=False, default_factory=dict)
    connections: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.writer = LogWriter(self.job)
        self.steps = {s.op_id: s for s in Step.objects.filter(job=self.job)}
        # A restarted relay skips what it stored before (timestamps from the node are strictly increasing per job).
        last = LogLine.objects.filter(job=self.job).order_by("-seq").values_list("ts", flat=True).first()
        if last is not None:
            self.dedupe.last_ts = int(last.timestamp() * 1000)

    # --- the loop --------------------------------------------------------------------
    def finished(self) -> bool:
        if self.is_finished is not None:
            return self.is_finished()
        return Job.objects.filter(pk=self.job.pk, status__in=FINAL_STATUSES).exists()

    def _frame(self) -> tuple[str, str]:
        cli_header, dash_header = headers_for(self.keypair)
        node = self.job.node
        if self.url:
            url = f"{self.url.rstrip('/')}/{self.path}"
        else:
            url = node_ws_url(node, self.job.network, self.path)
        if self.path == "flog":
            return url, flog_frame(self.job.address, node, dash_header)
        return url, log_frame(self.job.address, str(self.keypair.pubkey()), cli_header)

    def run(self) -> None:
        failures = 0
        delay = self.backoff_initial
        try:
            while failures < self.max_failures and not self.cancel.is_set():
                url, frame = self._frame()
                try:
                    with NodeLogStream(url, frame) as stream:
                        self.connections += 1
                        self._read(stream)
                        return  # the job ended while connected
                except ConnectionClosed as exc:
                    code = close_code(exc)
                    if code == UNAUTHORIZED:
                        self._system("The node refused this dashboard's signature: live logs are unavailable; "
                                     "the result will hold the logs.", LogStream.NODE_ERROR)
                        return
                    if code == NO_TASK and self.path == "flog":
                        self.path = "log"  # like the dashboard: fall back once to the node's own log
                        continue
                    got_any = True
                except NetworkError as exc:
                    log.info("relay %s: %s", self.job.address, exc.message)
                    got_any = False
                self.writer.flush()
                if self.finished() or self.cancel.is_set():
                    return
                failures = 0 if got_any else failures + 1
                delay = self.backoff_initial if got_any else min(self.backoff_max, delay * 2)
                self.sleep(delay * (0.8 + 0.4 * random.random()))  # nosec B311 - retry jitter, not security
        finally:
            self._flush_partials()

    def _read(self, stream: NodeLogStream) -> None:
        ended_at: float | None = None
        checked = time.monotonic()
        for event in stream.events(timeout=self.poll):
            if self.cancel.is_set():
                return
            if event is not None:
                self.handle(event)
            else:
                self.writer.flush()  # quiet: write what we have
            now = time.monotonic()
            if ended_at is None and (event is None or now - checked >= self.poll):
                checked = now
                if self.finished():
                    ended_at = now
            if ended_at is not None and now - ended_at >= self.drain_seconds:
                return

    # --- events → lines --------------------------------------------------------------
    def handle(self, event: NodeEvent) -> None:
        if self.cancel.is_set() or not self.dedupe.fresh(event) or event.text is None:
            return  # replayed, or a progress-bar object
        step = self._step(event.op_id)
        ts = _ms_to_dt(event.timestamp)
        if (event.path, event.kind) in (("flog", "container"), ("log", "log")):  # raw output chunks
            for text in self.assembler.feed((event.op_id, "stdout"), event.text):
                self.writer.line(text, step=step, stream=LogStream.STDOUT, ts=ts)
            return
        stream = LogStream.NODE_ERROR if event.kind == "error" else LogStream.SYSTEM
        for text in chunks_to_lines([event.text]):
            self.writer.line(text, step=step, stream=stream, ts=ts)
        if event.path == "flog" and event.kind == "info":
            self._track_step(event.text, ts)

    def _step(self, op_id: str | None) -> Step | None:
        if op_id is None:
            return None
        if op_id not in self.steps:
            self.steps = {s.op_id: s for s in Step.objects.filter(job=self.job)}
        return self.steps.get(op_id)

    def _track_step(self, text: str, ts: datetime) -> None:
        for prefix, status in (("Operation Started: ", StepStatus.RUNNING), ("Operation Completed: ", None)):
            if text.startswith(prefix):
                step = self._step(text[len(prefix):].strip())
                if step is None:
                    return
                self.writer.flush()
                if status is not None:
                    step.status, step.started_at = status, ts
                else:
                    step.ended_at = ts
                step.save(update_fields=["status", "started_at", "ended_at"])
                publish_step(step)

    def _flush_partials(self) -> None:
        if self.cancel.is_set():
            self.writer.discard()
            return
        # Stamped with the node's time of the newest entry, not ours: a restarted relay skips what is
        # stored by comparing node timestamps, and a wall-clock stamp would make it skip everything.
        ts = _ms_to_dt(self.dedupe.last_ts)
        for (op_id, _stream), text in self.assembler.flush():
            self.writer.line(text, step=self._step(op_id), stream=LogStream.STDOUT, ts=ts)
        self.writer.flush()

    def _system(self, text: str, stream: str = LogStream.SYSTEM) -> None:
        self.writer.line(text, stream=stream)
        self.writer.flush()


def publish_step(step: Step) -> None:
    step.refresh_from_db(fields=["line_count"])
    live.publish_step(step.job.address, {
        "op_id": step.op_id, "index": step.index, "status": step.status, "exit_code": step.exit_code,
        "started_at": step.started_at, "ended_at": step.ended_at, "line_count": step.line_count,
    })


# --- after completion: the result document is the record -------------------------------

def _result_lines(op_state: dict[str, Any]) -> list[tuple[str, str, datetime]]:
    """(stream, text, ts) of one op's result logs, chunks joined per stream into lines."""
    assembler = LineAssembler()
    out: list[tuple[str, str, datetime]] = []
    for entry in op_state.get("logs") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("log"), str):
            continue
        stream = RESULT_STREAMS.get(str(entry.get("type")))
        if stream is None:
            continue  # stdin echoes are not output
        raw_ts = entry.get("timestamp")
        ts = (parse_datetime(raw_ts) if isinstance(raw_ts, str) and not raw_ts.isdigit() else None) or (
            _ms_to_dt(int(raw_ts)) if isinstance(raw_ts, str) and raw_ts.isdigit() else timezone.now())
        out.extend((stream, text, ts) for text in assembler.feed(stream, entry["log"]))
    out.extend((stream, text, timezone.now()) for stream, text in assembler.flush())
    return out


def _ms_field(op_state: dict[str, Any], key: str) -> datetime | None:
    value = op_state.get(key)
    return _ms_to_dt(int(value)) if isinstance(value, int | float) and value > 0 else None


def apply_result_logs(job: Job, flow_state: dict[str, Any], op_ids: set[str] | None = None) -> int:
    """Append the result's lines the live stream missed; update steps from opStates. Idempotent.

    `op_ids` limits it to those steps (the ones the live stream wrote; the others got the result's
    logs from `jobs.watch`). Returns the number of lines appended.
    """
    writer = LogWriter(job, interval=3600, max_batch=5000)
    steps = {s.op_id: s for s in Step.objects.filter(job=job)}
    appended = 0
    for op_state in flow_state.get("opStates") or []:
        if not isinstance(op_state, dict):
            continue
        step = steps.get(str(op_state.get("operationId")))
        if step is None or (op_ids is not None and step.op_id not in op_ids):
            continue
        wanted = _result_lines(op_state)
        stored = list(
            LogLine.objects.filter(step=step, stream__in=list(RESULT_STREAMS.values()))
            .order_by("seq").values_list("stream", "text")
        )
        matcher = difflib.SequenceMatcher(None, stored, [(s, t) for s, t, _ in wanted], autojunk=False)
        matched = {j + k for _, j, size in matcher.get_matching_blocks() for k in range(size)}
        missing = [line for j, line in enumerate(wanted) if j not in matched]
        if missing:
            writer.line(f"{len(missing)} line(s) the live stream missed, from the result document:",
                        step=step, stream=LogStream.SYSTEM)
            for stream, text, ts in missing:
                writer.line(text, step=step, stream=stream, ts=ts)
            appended += len(missing)
        writer.flush()
        status = str(op_state.get("status") or "")
        if status in StepStatus.values:
            step.status = status
        exit_code = op_state.get("exitCode")
        step.exit_code = exit_code if isinstance(exit_code, int) else step.exit_code
        step.started_at = _ms_field(op_state, "startTime") or step.started_at
        step.ended_at = _ms_field(op_state, "endTime") or step.ended_at
        step.save(update_fields=["status", "exit_code", "started_at", "ended_at"])
        publish_step(step)
    return appended


def relay_job(address: str, *, keypair: Keypair, url: str | None = None) -> int:
    """Worker entry: relay a running remote job's logs until it ends, then reconcile with its result.

    Returns the number of lines the result added.
    """
    import json

    job = Job.objects.get(address=address)
    LogRelay(job, keypair=keypair, url=url).run()
    job.refresh_from_db(fields=["result_json"])
    if not job.result_json:
        return 0
    try:
        document = json.loads(job.result_json)
    except ValueError:
        return 0
    return apply_result_logs(job, document) if isinstance(document, dict) else 0
