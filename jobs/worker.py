"""The worker: claims local jobs and runs them on this machine; follows remote jobs.

Claims go through the database so two workers never run the same job: a
candidate is picked with `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL and
taken with a compare-and-set on its lease (`lease_owner`, `lease_until`), which
is also what keeps SQLite safe. The lease is renewed while the job runs; a job
whose lease expired was left by a dead worker: it is taken over when nothing
had started, otherwise ended honestly (stopped, with a node error line).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from jobs import live
from jobs.dbretry import retry_db
from jobs.logwriter import LogWriter
from jobs.models import FINAL_STATUSES, Job, JobStatus, LogLine, LogStream, Step, StepStatus, WorkerHeartbeat
from nosana_dash.network.base import NetworkError
from nosana_dash.network.local import ledger, result, store
from nosana_dash.network.local.backends import NoBackend, select_backend
from nosana_dash.network.local.models import LedgerJob, LedgerJobState, LedgerRun
from nosana_dash.network.local.runner import RunOutcome, prepare, run_job

log = logging.getLogger(__name__)

REMOTE = ("devnet", "mainnet")
CONTROL_REFRESH_SECONDS = 0.25
STEP_STATUS = {"success": StepStatus.SUCCESS, "failed": StepStatus.FAILED, "stopped": StepStatus.STOPPED,
               "skipped": StepStatus.SKIPPED, "running": StepStatus.RUNNING}


def _lease_seconds() -> int:
    return max(3, int(settings.NOSANA_WORKER_LEASE_SECONDS))


def _status_payload(job: Job) -> dict[str, Any]:
    from jobs.services import status_payload

    return status_payload(job)


def _publish(job: Job) -> None:
    payload = _status_payload(job)
    transaction.on_commit(lambda: live.publish_status(job.address, payload))


def _update_job(job: Job, owner: str, **changes: Any) -> bool:
    """Write job fields only while this worker holds the lease; publish the new status."""
    def update() -> int:
        with transaction.atomic():
            done = Job.objects.filter(pk=job.pk, lease_owner=owner).update(**changes, updated_at=timezone.now())
            if done:
                for key, value in changes.items():
                    setattr(job, key, value)
                _publish(job)
            return done

    return bool(retry_db(update, what=f"updating {job.address}"))


# --- claiming --------------------------------------------------------------------------------------


def _claimable(now: datetime) -> Q:
    expired = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    # A queued job is free unless a worker holds it (claimed, not yet running).
    return Q(network="local") & Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]) & expired


def claim(name: str, where: Q) -> Job | None:
    """Take one job matching `where` for `name`, or None. Safe against any number of competing workers."""
    now = timezone.now()
    with transaction.atomic():
        qs = Job.objects.filter(where).order_by("created_at", "id")
        if connection.vendor == "postgresql":
            qs = qs.select_for_update(skip_locked=True)
        job = qs.first()
        if job is None:
            return None
        won = Job.objects.filter(
            pk=job.pk, status=job.status, lease_owner=job.lease_owner, lease_until=job.lease_until
        ).update(lease_owner=name, lease_until=now + timedelta(seconds=_lease_seconds()))
    if not won:
        return None
    previous = job.lease_owner
    job.refresh_from_db()
    job.previous_lease_owner = previous  # type: ignore[attr-defined]  # who held it before (a dead worker?)
    return job


def renew(job: Job, name: str) -> bool:
    def update() -> bool:
        until = timezone.now() + timedelta(seconds=_lease_seconds())
        return bool(Job.objects.filter(pk=job.pk, lease_owner=name).update(lease_until=until))

    return retry_db(update, what=f"renewing the lease of {job.address}")


def release(job: Job, name: str) -> None:
    Job.objects.filter(pk=job.pk, lease_owner=name).update(lease_owner="", lease_until=None)


def heartbeat(name: str, running: int) -> None:
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now(), "jobs_running": running})


# --- recording: the runner's sink and control ---------------------------------------------------------


def _parse_ts(value: str) -> datetime:
    """Engine timestamps (RFC 3339, maybe nanoseconds) or epoch ms; arrival time when too coarse."""
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    if "." in value:
        head, _, rest = value.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):].replace("Z", "+00:00") or "+00:00"
        try:
            return datetime.fromisoformat(f"{head}.{digits[:6].ljust(6, '0')}{zone}")
        except ValueError:
            pass
    return timezone.now()  # none, or whole seconds only: the moment the line arrived is more precise


class JobRecorder:
    """Implements the runner's Sink and Control over the Job, Step and LogLine rows."""

    def __init__(self, job: Job, owner: str, stop_event: threading.Event) -> None:
        self.job = job
        self.owner = owner
        self.stop_event = stop_event
        self.writer = LogWriter(job, idle_flush=True)
        self.steps = {step.index: step for step in Step.objects.filter(job=job)}
        self.lease_lost = False
        self._checked = 0.0
        self._stop = False
        self._deadline = time.time() + job.timeout
        self._lock = threading.Lock()

    # Sink
    def step_started(self, index: int, at_ms: int) -> None:
        self._step(index, status=StepStatus.RUNNING, started_at=_ms(at_ms))

    def line(self, index: int | None, stream: str, text: str, timestamp: str) -> None:
        kind = {"stdout": LogStream.STDOUT, "stderr": LogStream.STDERR, "node": LogStream.NODE_ERROR}.get(
            stream, LogStream.SYSTEM)
        self.writer.line(text, step=self.steps.get(index) if index is not None else None, stream=kind,
                         ts=_parse_ts(timestamp) if timestamp else None)

    def step_ended(self, index: int, status: str, exit_code: int | None, at_ms: int, error: str) -> None:
        self.writer.flush()  # the step's lines land before its end
        self._step(index, status=STEP_STATUS.get(status, StepStatus.FAILED), exit_code=exit_code,
                   ended_at=_ms(at_ms), error=error)

    def service_url(self, index: int, port: int, url: str) -> None:
        if not self.job.service_url:
            _update_job(self.job, self.owner, service_url=url)

    def _step(self, index: int, **changes: Any) -> None:
        step = self.steps.get(index)
        if step is None:
            return
        retry_db(lambda: Step.objects.filter(pk=step.pk).update(**changes), what=f"updating step {index}")
        for key, value in changes.items():
            setattr(step, key, value)
        payload = {"op_id": step.op_id, "index": step.index, "status": step.status, "exit_code": step.exit_code,
                   "started_at": step.started_at.isoformat() if step.started_at else None,
                   "ended_at": step.ended_at.isoformat() if step.ended_at else None, "error": step.error}
        live.publish_step(self.job.address, payload)

    # Control
    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._checked < CONTROL_REFRESH_SECONDS:
                return
            self._checked = time.monotonic()

            def read() -> tuple[Any, Any, Any]:
                return (Job.objects.filter(pk=self.job.pk).values("stop_requested", "lease_owner").first(),
                        LedgerJob.objects.filter(address=self.job.address).values("state", "timeout").first(),
                        LedgerRun.objects.filter(job__address=self.job.address).values("time").first())

            row, ledger_job, run = retry_db(read, what=f"checking {self.job.address}")
            self.lease_lost = row is None or row["lease_owner"] != self.owner
            # A poster `end` closes the run on the ledger: that is a stop request too.
            ended = ledger_job is None or (ledger_job["state"] == LedgerJobState.DONE and run is None)
            self._stop = bool(row and row["stop_requested"]) or ended or self.lease_lost or self.stop_event.is_set()
            if ledger_job is not None and run is not None:
                self._deadline = run["time"] + ledger_job["timeout"]

    def stop_requested(self) -> bool:
        self._refresh()
        return self._stop

    def deadline(self) -> float:
        self._refresh()
        return self._deadline


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


# --- running a local job -------------------------------------------------------------------------------


def _node_error(job: Job, text: str) -> None:
    writer = LogWriter(job)
    writer.line(text, stream=LogStream.NODE_ERROR)
    writer.flush()


def _images(job: Job) -> list[str]:
    """The images the runner will start for this job (its own op/global merge decides)."""
    ops = prepare(json.loads(job.definition_json), job.address)
    return [op.image for op in ops if op.op_type == "container/run" and op.image]


def run_local(job: Job, name: str, stop_event: threading.Event | None = None) -> Job:
    """Run a claimed local job to its end. The caller holds the lease (renewed by `Lease`)."""
    stop_event = stop_event or threading.Event()
    node = ledger.node_address()
    try:
        run = ledger.work(job.address, node)
    except NetworkError as exc:
        _node_error(job, f"node error: {exc.message}")
        _update_job(job, name, status=JobStatus.STOPPED, error=exc.message, time_end=timezone.now(),
                    lease_owner="", lease_until=None)
        return job
    try:
        backend = select_backend(job.address, images=_images(job))
    except NoBackend as exc:
        _node_error(job, f"node error: {exc.message}")
        ledger.quit_job(job.address)
        _update_job(job, name, status=JobStatus.FAILED, error=exc.message, node=node, time_end=timezone.now(),
                    lease_owner="", lease_until=None)
        return job
    _update_job(job, name, status=JobStatus.RUNNING, node=node, sandbox=backend.kind,
                time_start=datetime.fromtimestamp(run.time, tz=UTC))
    recorder = JobRecorder(job, name, stop_event)
    try:
        outcome = run_job(json.loads(job.definition_json), job_address=job.address, backend=backend,
                          sink=recorder, control=recorder)
    except Exception as exc:  # a bug must still end the job honestly, never leave it running
        log.exception("running %s failed", job.address)
        recorder.writer.flush()
        _node_error(job, f"node error: the runner failed: {type(exc).__name__}: {exc}")
        ledger.quit_job(job.address)
        _update_job(job, name, status=JobStatus.FAILED, error=f"runner failed: {exc}", time_end=timezone.now(),
                    lease_owner="", lease_until=None)
        return job
    recorder.writer.flush()
    if recorder.lease_lost:
        log.warning("lost the lease of %s; leaving its end to the new holder", job.address)
        return job
    return _finish(job, name, outcome)


def _finish(job: Job, name: str, outcome: RunOutcome) -> Job:
    data = result.to_bytes(outcome.flow)
    cid = store.put(data)
    try:
        ledger.finish(job.address, cid)  # `complete` when the poster had ended it
    except NetworkError as exc:
        _node_error(job, f"node error: could not post the result: {exc.message}")
    _update_job(job, name, status=outcome.status, exit_code=outcome.exit_code, error=outcome.error,
                ipfs_result=cid, result_json=data.decode("utf-8"), time_end=timezone.now(),
                lease_owner="", lease_until=None)
    return job


def recover_abandoned(job: Job, name: str, stop_event: threading.Event | None = None) -> Job:
    """A running job whose worker died: take it over if nothing had started, else end it honestly."""
    started = Step.objects.filter(job=job).exclude(status=StepStatus.PENDING).exists()
    dead = getattr(job, "previous_lease_owner", "") or "(unknown)"
    if not started:
        _node_error(job, f"node error: the worker {dead} stopped before starting "
                         f"this job; {name} takes it over")
        return run_local(job, name, stop_event)
    text = (f"node error: the worker {dead} running this job stopped responding "
            f"(its lease expired); the job did not finish and its containers were removed")
    _node_error(job, text)
    Step.objects.filter(job=job, status=StepStatus.RUNNING).update(status=StepStatus.STOPPED, ended_at=timezone.now())
    Step.objects.filter(job=job, status=StepStatus.PENDING).update(status=StepStatus.SKIPPED)
    try:
        backend = select_backend(job.address)
        backend.notes()  # sweeps the job's leftover containers and volumes
        backend.cleanup()
    except NoBackend:
        pass
    ledger.quit_job(job.address)  # on chain: the node quit, state STOPPED
    _update_job(job, name, status=JobStatus.STOPPED, error="The worker running this job died; the job did not finish.",
                time_end=timezone.now(), lease_owner="", lease_until=None)
    return job


def process(job: Job, name: str, stop_event: threading.Event | None = None) -> Job:
    if job.status == JobStatus.RUNNING:
        return recover_abandoned(job, name, stop_event)
    return run_local(job, name, stop_event)


def run_once(name: str, stop_event: threading.Event | None = None) -> Job | None:
    """Claim and run one local job, renewing its lease meanwhile; None when there was nothing to do."""
    job = claim(name, _claimable(timezone.now()))
    if job is None:
        return None
    with Lease(job, name):
        return process(job, name, stop_event)


class Lease:
    """Renews a job's lease in the background while the job is processed."""

    def __init__(self, job: Job, name: str) -> None:
        self.job = job
        self.name = name
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"lease-{job.address[:8]}")

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        try:
            while not self._done.wait(_lease_seconds() / 3):
                try:
                    if not renew(self.job, self.name):
                        return
                    heartbeat(self.name, 1)
                except DatabaseError as exc:  # still down after retries: try again next round
                    log.warning("could not renew the lease of %s: %s", self.job.address, exc)
        finally:
            connection.close()


# --- remote jobs -------------------------------------------------------------------------------------


def _watch_module() -> Any | None:
    if importlib.util.find_spec("jobs.watch") is None:
        return None
    from jobs import watch

    return watch


# Base websocket URL of every node's log socket; None means the node's own domain (tests point it at a fake).
RELAY_URL: str | None = None
RELAY_POLL_SECONDS = 0.25  # how often a relay checks that its job still runs and is still ours
RELAY_DRAIN_SECONDS = 1.0  # after that, keep reading this long for lines still in flight


@dataclass
class _Relay:
    thread: threading.Thread
    finish: threading.Event  # stop after draining
    cancel: threading.Event  # stop now, write nothing more


class Relays:
    """The live-log relays of the remote jobs this worker holds: one thread per running job.

    A relay runs while its job is RUNNING with a known node and this worker holds the lease; it
    stops by itself when the job is final, the lease is lost or the worker stops, and `stop()`
    ends it (after a short drain) before the result document's logs are stored.
    """

    def __init__(self, name: str, stop_event: threading.Event) -> None:
        self.name = name
        self.stop_event = stop_event
        self._relays: dict[str, _Relay] = {}

    def running(self, address: str) -> bool:
        relay = self._relays.get(address)
        return relay is not None and relay.thread.is_alive()

    def ensure(self, job: Job) -> None:
        """Start the job's relay unless one was started already (a relay that gave up is not restarted)."""
        if job.address in self._relays or job.status != JobStatus.RUNNING or not job.node:
            return
        from nosana_dash.network.codec.keys import KeypairError, load_keypair

        finish, cancel = threading.Event(), threading.Event()
        try:
            wallet = load_keypair()  # the poster's wallet signs the header; it never leaves this thread's call
        except KeypairError as exc:
            log.warning("no live logs for %s: %s", job.address, exc)
            finish.set()
            thread = threading.Thread(target=lambda: None)  # a finished placeholder: do not retry every round
            thread.start()
            self._relays[job.address] = _Relay(thread, finish, cancel)
            return
        thread = threading.Thread(target=self._run, args=(job.pk, wallet.keypair, finish, cancel), daemon=True,
                                  name=f"relay-{job.address[:8]}")
        self._relays[job.address] = _Relay(thread, finish, cancel)
        thread.start()

    def _run(self, job_pk: int, keypair: Any, finish: threading.Event, cancel: threading.Event) -> None:
        from jobs.relay import LogRelay

        checked = 0.0
        over = False

        def finished() -> bool:
            nonlocal checked, over
            if finish.is_set() or self.stop_event.is_set() or over:
                return True
            if time.monotonic() - checked >= RELAY_POLL_SECONDS:
                checked = time.monotonic()
                row = Job.objects.filter(pk=job_pk).values("status", "lease_owner").first()
                over = row is None or row["status"] in FINAL_STATUSES or row["lease_owner"] != self.name
            return over

        try:
            job = Job.objects.get(pk=job_pk)
            relay = LogRelay(job, keypair=keypair, url=RELAY_URL, is_finished=finished, poll=RELAY_POLL_SECONDS,
                             drain_seconds=RELAY_DRAIN_SECONDS, sleep=finish.wait, cancel=cancel)
            relay.run()
        except Exception:  # a relay bug must not take the worker down: the result still holds the logs
            log.exception("relaying the logs of job %s failed", job_pk)
        finally:
            connection.close()

    def stop(self, address: str) -> None:
        """End the job's relay and wait for it; past the drain time it is cancelled (writes nothing more)."""
        relay = self._relays.pop(address, None)
        if relay is None:
            return
        relay.finish.set()
        relay.thread.join(timeout=RELAY_POLL_SECONDS + RELAY_DRAIN_SECONDS + 3)
        if relay.thread.is_alive():
            relay.cancel.set()
            relay.thread.join(timeout=15)  # a connect in progress times out by itself
            if relay.thread.is_alive():
                log.warning("the relay of %s did not stop; it is cancelled and writes nothing more", address)

    def keep_only(self, addresses: set[str]) -> None:
        """Stop the relays of jobs this worker no longer holds."""
        for address in [a for a in self._relays if a not in addresses]:
            self.stop(address)

    def stop_all(self) -> None:
        for address in list(self._relays):
            self.stop(address)


def _steps_with_lines(job: Job) -> set[str]:
    """Op ids of the steps that already have lines (from a live relay): `jobs.watch` leaves those
    alone when it stores the result, so they are the ones to reconcile with it."""
    rows = LogLine.objects.filter(job=job, step__isnull=False)
    return set(rows.values_list("step__op_id", flat=True).distinct())


def _reconcile(job: Job, op_ids: set[str]) -> None:
    """After the result is stored: add to the relayed steps the lines the live stream missed."""
    from jobs.relay import apply_result_logs

    if not op_ids or not job.result_json:
        return
    try:
        document = json.loads(job.result_json)
    except ValueError:
        return
    if isinstance(document, dict):
        added = apply_result_logs(job, document, op_ids)
        if added:
            log.info("job %s: %d line(s) from the result the live stream missed", job.address, added)


def follow_remote(name: str, relays: Relays | None = None) -> int:
    """Poll each open remote job this worker holds or can claim (jobs.watch decides when).

    With `relays`, each running job's live logs are relayed while this worker holds it.
    """
    watch = _watch_module()
    if watch is None:
        return 0
    now = timezone.now()
    mine = Q(lease_owner=name) | Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    open_states = Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]) | Q(
        status=JobStatus.POSTING, created_at__lt=now - timedelta(seconds=60))
    count = 0
    held: set[str] = set()
    for pk in Job.objects.filter(Q(network__in=REMOTE) & open_states & mine).values_list("pk", flat=True)[:200]:
        job = claim(name, Q(pk=pk) & (Q(lease_owner=name) | Q(lease_until__isnull=True) | Q(lease_until__lt=now)))
        if job is None:
            continue
        relayed: set[str] = set()

        def before_result(job: Job = job, relayed: set[str] = relayed) -> None:
            # The result is in: end the live relay first, so only one writer touches the steps from here on.
            if relays is not None:
                relays.stop(job.address)
            relayed.update(_steps_with_lines(job))

        try:
            watch.follow(job, before_result=before_result)
            if job.is_final:
                if relays is not None:
                    relays.stop(job.address)
                _reconcile(job, relayed)
        except Exception:
            log.exception("following %s failed", job.address)
        if job.is_final:
            release(job, name)
        else:
            held.add(job.address)
            if relays is not None:
                relays.ensure(job)
        count += 1
    if relays is not None:
        # A job whose claim failed this round may still be ours (its row was locked by its own relay's
        # write, and SKIP LOCKED skipped it): only jobs whose lease went elsewhere lose their relay.
        held.update(Job.objects.filter(network__in=REMOTE, lease_owner=name).values_list("address", flat=True))
        relays.keep_only(held)
    return count


# --- the loop ---------------------------------------------------------------------------------------


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def run_forever(name: str, stop_event: threading.Event | None = None) -> None:
    """Run local jobs (one at a time, in a thread) and follow remote ones until `stop_event` is set."""
    stop_event = stop_event or threading.Event()
    poll = max(0.01, float(settings.NOSANA_WORKER_POLL_SECONDS))
    current: threading.Thread | None = None
    relays = Relays(name, stop_event)
    log.info("worker %s started", name)
    try:
        ledger.ensure_local_markets()
        while not stop_event.is_set():
            try:
                close_old_connections()
                running = current is not None and current.is_alive()
                heartbeat(name, 1 if running else 0)
                if not running:
                    job = claim(name, _claimable(timezone.now()))
                    if job is not None:
                        current = threading.Thread(target=_run_claimed, args=(job, name, stop_event), daemon=True,
                                                   name=f"job-{job.address[:8]}")
                        current.start()
                        continue
                follow_remote(name, relays)
            except Exception:  # the loop must survive a database hiccup; the next round retries
                log.exception("worker %s: loop error", name)
            stop_event.wait(poll)
    finally:
        relays.stop_all()
        if current is not None:
            current.join(timeout=60)  # the stop event ends its containers
        connection.close()
        log.info("worker %s stopped", name)


def _run_claimed(job: Job, name: str, stop_event: threading.Event) -> None:
    try:
        with Lease(job, name):
            process(job, name, stop_event)
    except Exception:
        log.exception("job %s failed in worker %s", job.address, name)
    finally:
        connection.close()
