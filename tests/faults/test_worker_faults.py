"""Workers under faults: database connections cut mid-job, a worker killed with SIGKILL mid-job.

Real `python manage.py worker` subprocesses run local jobs in the bubblewrap
sandbox against this test's PostgreSQL database. The job prints numbered
lines; afterwards its log must hold each printed line at most once, in order,
under gap-free sequence numbers, and the job must end with an honest status.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from jobs import services
from jobs.models import FINAL_STATUSES, Job, JobStatus, LogLine, Step, StepStatus
from nosana_dash.network.local import ledger
from nosana_dash.network.local.models import LedgerJob
from tests.faults.conftest import WorkerProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("bubblewrap")]
OP = "count"


def _post(user: Any, lines: int, pause: float, marker: str) -> Job:
    script = f'i=1; while [ $i -le {lines} ]; do echo "{marker} $i"; i=$((i+1)); sleep {pause}; done'
    definition = {"version": "0.1", "type": "container", "ops": [
        {"type": "container/run", "id": OP, "args": {"image": "ubuntu", "cmd": ["sh", "-c", script]}}]}
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(),
                            definition=definition)
    assert job.status == JobStatus.QUEUED, job.error
    return job


def _wait(what: str, check: Callable[[], bool], timeout: float, *workers: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {w.name}\n{w.output()}" for w in workers)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.05)


def _output(job: Job) -> list[str]:
    return list(LogLine.objects.filter(job=job, step__op_id=OP, stream="stdout").order_by("seq")
                .values_list("text", flat=True))


def _assert_log_is_whole(job: Job, marker: str) -> list[str]:
    """Gap-free seqs from 1; the op's stdout is `marker 1..n` in order, nothing doubled."""
    job.refresh_from_db()
    seqs = list(LogLine.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and job.last_seq == len(seqs)
    out = _output(job)
    assert out == [f"{marker} {i}" for i in range(1, len(out) + 1)], "a line was lost, doubled or reordered"
    step = Step.objects.get(job=job, op_id=OP)
    assert step.line_count == LogLine.objects.filter(step=step).count()
    return out


def _terminate_sessions_of(worker: WorkerProcess) -> int:
    """Cut every connection of the worker, as a PostgreSQL restart or failover would (only its sessions)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s AND pid <> pg_backend_pid()",
            [f"h8-{worker.name}"],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _sandbox_processes(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def _cut_mid_job(user: Any, workers: Callable[..., WorkerProcess], marker: str) -> tuple[Job, WorkerProcess, list[str]]:
    job = _post(user, lines=300, pause=0.01, marker=marker)
    worker = workers("w-dbcut")
    _wait("the job to print", lambda: LogLine.objects.filter(job=job, stream="stdout").count() >= 20, 60, worker)
    cut = 0
    for _ in range(3):  # cut the worker's connections three times while the job writes
        cut += _terminate_sessions_of(worker)
        time.sleep(0.4)
    assert cut >= 1, "the worker held no database connection to cut"
    _wait("the job to end", lambda: Job.objects.get(pk=job.pk).status in FINAL_STATUSES, 90, worker)
    return job, worker, _assert_log_is_whole(job, marker)


@pytest.mark.timeout(150)
def test_database_connections_cut_mid_job_double_nothing_and_the_worker_recovers(
    django_user_model: Any, workers: Callable[..., WorkerProcess]
) -> None:
    user = django_user_model.objects.create_user("db-fault", password="pw-123456789")
    job, worker, out = _cut_mid_job(user, workers, "h8-dbcut")
    job.refresh_from_db()
    # An honest end: completed with every line, or ended saying why (a node error line and the cause).
    if job.status == JobStatus.COMPLETED:
        assert len(out) == 300, f"completed, but {300 - len(out)} lines were lost"
        assert LedgerJob.objects.get(address=job.address).state == 2
    else:
        notes = list(LogLine.objects.filter(job=job).exclude(stream="stdout").values_list("stream", "text"))
        step = Step.objects.get(job=job, op_id=OP)
        assert job.status in (JobStatus.STOPPED, JobStatus.FAILED), (job.status, notes)
        assert job.error or step.error, (job.status, step.status, notes)
        assert any(stream == "node" for stream, _text in notes), notes
        assert LedgerJob.objects.get(address=job.address).state in (2, 3)  # ended once on the ledger
    assert worker.process.poll() is None, "the worker died instead of reconnecting"
    # The worker reconnected: the next job runs to completion, every line once.
    again = _post(user, lines=20, pause=0, marker="h8-reconnected")
    _wait("the next job", lambda: Job.objects.get(pk=again.pk).status in FINAL_STATUSES, 60, worker)
    again.refresh_from_db()
    assert again.status == JobStatus.COMPLETED, (again.status, again.error, worker.output())
    assert _assert_log_is_whole(again, "h8-reconnected") == [f"h8-reconnected {i}" for i in range(1, 21)]


@pytest.mark.timeout(150)
def test_database_connections_cut_mid_job_the_job_still_completes_whole(
    django_user_model: Any, workers: Callable[..., WorkerProcess]
) -> None:
    user = django_user_model.objects.create_user("db-fault-whole", password="pw-123456789")
    job, _worker, out = _cut_mid_job(user, workers, "h8-dbwhole")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and len(out) == 300, (job.status, job.error, len(out))


@pytest.mark.timeout(120)
def test_worker_killed_mid_job_ends_it_honestly_and_another_takes_over(
    django_user_model: Any, workers: Callable[..., WorkerProcess]
) -> None:
    user = django_user_model.objects.create_user("kill-fault", password="pw-123456789")
    marker = "h8-killed"
    job = _post(user, lines=400, pause=0.02, marker=marker)
    first = workers("w-first")
    _wait("the job to print", lambda: LogLine.objects.filter(job=job, stream="stdout").count() >= 20, 60, first)
    assert Job.objects.get(pk=job.pk).lease_owner == "w-first"
    first.kill()  # SIGKILL: no cleanup, no release of the lease
    printed = len(_output(job))
    # The sandbox dies with its worker (--die-with-parent): nothing keeps running unowned.
    _wait("the sandbox to exit", lambda: not _sandbox_processes(f'echo "{marker}'), 15, first)

    second = workers("w-second")
    _wait("the job to end", lambda: Job.objects.get(pk=job.pk).status in FINAL_STATUSES, 60, second)
    job.refresh_from_db()
    out = _assert_log_is_whole(job, marker)
    assert len(out) >= printed and len(out) < 400  # what was printed stays; it was not run again
    assert job.status == JobStatus.STOPPED and "died" in job.error, (job.status, job.error)
    assert job.lease_owner == "" and job.time_end is not None
    assert LogLine.objects.filter(job=job, stream="node", text__contains="w-first").exists()
    assert Step.objects.get(job=job, op_id=OP).status == StepStatus.STOPPED
    assert LedgerJob.objects.get(address=job.address).state == 3  # the node quit: STOPPED on the ledger

    # The surviving worker goes on: a new job runs to completion, once.
    again = _post(user, lines=5, pause=0, marker="h8-after")
    _wait("the next job", lambda: Job.objects.get(pk=again.pk).status in FINAL_STATUSES, 60, second)
    again.refresh_from_db()
    assert again.status == JobStatus.COMPLETED and _assert_log_is_whole(again, "h8-after") == [
        f"h8-after {i}" for i in range(1, 6)]
