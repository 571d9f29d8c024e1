"""Scale-out: two Daphne processes and two workers share PostgreSQL and Redis; 50 local jobs run once each,
and viewers on either web process get every line of every job, in order, once.

The deployment is real: `daphne` and `manage.py worker` subprocesses on loopback, against the test
database pytest-django created and the Redis server (a unique channel prefix per run). Jobs are
posted through the posting service; ops run on the container engine when `DOCKER_HOST` is set, else in
the bubblewrap sandbox. Viewers (two per job, one on each web process) connect before any worker
starts, so every line reaches them through the Redis channel layer from another process; a third,
late viewer for every fifth job connects mid-run and must get the backlog and the live tail seamlessly.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from jobs.models import FINAL_STATUSES, Job, JobStatus, LogLine, LogStream, Step, StepStatus
from jobs.services import post_job
from nosana_dash.network.local import ledger
from nosana_dash.network.local.models import LedgerJob, LedgerJobState, LedgerRun
from tests.scaleout.harness import ProcessGroup, child_env, database_url, sign_in, wait_for_http
from tests.scaleout.viewer import Viewer

JOBS = 50
OPS = ("count-a", "count-b")
LINES_PER_OP = 12
WEB_PROCESSES = 2
WORKERS = ("scaleout-w1", "scaleout-w2")
HANDSHAKES_AT_ONCE = 8  # viewers arrive together; a busy daphne drops handshakes it cannot accept in 5 s
RUN_SECONDS = 240  # everything must have run and been seen by then
MARKER = re.compile(r"^scaleout job=(\d+) op=([\w-]+) line=(\d+)$")

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(RUN_SECONDS + 120)]


def definition(k: int) -> dict[str, Any]:
    """Two ops, each printing numbered marker lines a little apart (several live batches per op)."""
    ops = []
    for op in OPS:
        script = (f'i=1; while [ "$i" -le {LINES_PER_OP} ]; do echo "scaleout job={k} op={op} line=$i"; '
                  f'i=$((i+1)); sleep 0.02; done')
        ops.append({"type": "container/run", "id": op, "args": {"image": "ubuntu", "cmd": ["/bin/sh", "-c", script]}})
    return {"version": "0.1", "type": "container", "meta": {"trigger": "cli"}, "ops": ops}


@dataclass
class Watch:
    """What a poller thread sees in the database while the deployment runs."""

    addresses: list[str]
    final_seq: dict[str, int] = field(default_factory=dict)  # set once a job is final
    started: set[str] = field(default_factory=set)  # has at least one line
    owners: dict[str, set[str]] = field(default_factory=dict)  # every lease holder ever seen
    failure: str = ""

    def all_final(self) -> bool:
        return len(self.final_seq) == len(self.addresses)


def poll_database(watch: Watch, group: ProcessGroup, stop: threading.Event) -> None:
    try:
        while not stop.wait(0.05):
            rows = Job.objects.filter(address__in=watch.addresses).values_list("address", "status", "last_seq",
                                                                               "lease_owner")
            for address, status, last_seq, owner in rows:
                if owner:
                    watch.owners.setdefault(address, set()).add(owner)
                if last_seq:
                    watch.started.add(address)
                if status in FINAL_STATUSES:
                    watch.final_seq[address] = last_seq
            try:
                group.check_alive()
            except AssertionError as exc:
                watch.failure = str(exc)
                return
    finally:
        connection.close()


@pytest.fixture
def deployment_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    if connection.vendor != "postgresql":
        pytest.skip("the scale-out topology needs PostgreSQL (set DATABASE_URL)")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"{os.environ.get('NOSANA_DASH_CHANNEL_PREFIX', 'test')}-scaleout-{uuid.uuid4().hex[:8]}"
    sandbox = "engine" if os.environ.get("DOCKER_HOST") else "bubblewrap"
    env = child_env(database=database_url(settings.DATABASES["default"]), redis=redis_url, prefix=prefix,
                    secret_key=secrets.token_urlsafe(40), var_dir=tmp_path / "var",
                    extra={"NOSANA_LOCAL_SANDBOX": sandbox, "NOSANA_WORKER_POLL_SECONDS": "0.1"})
    try:
        yield env, sandbox
    finally:
        # The channel layer's group keys live for a day: remove this run's keys (its prefix is unique).
        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def test_two_web_processes_and_two_workers_run_each_job_once_and_every_viewer_sees_every_line(
    deployment_env: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, sandbox = deployment_env
    ledger.ensure_local_markets()
    password = secrets.token_urlsafe(16)
    user = get_user_model().objects.create_user("scaleout", password=password)
    group = ProcessGroup(folder=tmp_path, env=env)
    stop_poller = threading.Event()
    try:
        webs = []
        for n in range(WEB_PROCESSES):
            process, port = group.daphne(f"web{n + 1}")
            webs.append((process, port))
        for process, port in webs:
            wait_for_http(f"http://127.0.0.1:{port}", process)
        # One sign-in on the first process; the session (PostgreSQL) is honoured by the second.
        cookie = sign_in(f"http://127.0.0.1:{webs[0][1]}", "scaleout", password)
        for _, port in webs:
            page = httpx.get(f"http://127.0.0.1:{port}/jobs/", cookies={"sessionid": cookie}, timeout=10)
            assert page.status_code == 200, f"web process on {port} did not accept the session: {page.status_code}"

        jobs = [post_job(user=user, network="local", market=ledger.default_market_address(), definition=definition(k))
                for k in range(JOBS)]
        assert [job.status for job in jobs] == [JobStatus.QUEUED] * JOBS, [job.error for job in jobs]
        index_of = {job.address: k for k, job in enumerate(jobs)}
        watch = Watch(addresses=list(index_of))
        poller = threading.Thread(target=poll_database, args=(watch, group, stop_poller), daemon=True)

        def viewer(address: str, port: int, label: str) -> Viewer:
            return Viewer(name=f"{label} viewer of job {index_of[address]} on web:{port}",
                          base=f"ws://127.0.0.1:{port}", address=address, cookie=cookie)

        def done(v: Viewer) -> bool:
            target = watch.final_seq.get(v.address)
            return bool(watch.failure) or (target is not None and v.last >= target)

        async def late(v: Viewer, deadline: float, gate: asyncio.Semaphore) -> None:
            while v.address not in watch.started and time.monotonic() < deadline and not watch.failure:
                await asyncio.sleep(0.02)
            await v.run(done=done, deadline=deadline, gate=gate)

        async def scenario() -> list[Viewer]:
            deadline = time.monotonic() + RUN_SECONDS
            gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
            early = [viewer(job.address, port, "early") for job in jobs for _, port in webs]
            tasks = [asyncio.create_task(v.run(done=done, deadline=deadline, gate=gate)) for v in early]
            await asyncio.wait_for(asyncio.gather(*(v.connected.wait() for v in early)), timeout=60)
            # Subscribed before any line exists: from here every line reaches them through Redis.
            for name in WORKERS:
                group.worker(name)
            poller.start()
            lates = [viewer(job.address, webs[k % WEB_PROCESSES][1], "late")
                     for k, job in enumerate(jobs) if k % 5 == 0]
            tasks += [asyncio.create_task(late(v, deadline, gate)) for v in lates]
            await asyncio.gather(*tasks)
            while not watch.all_final() and not watch.failure and time.monotonic() < deadline:
                await asyncio.sleep(0.1)  # viewers that gave up must not cut the run short
            return early + lates

        started = time.monotonic()
        viewers = asyncio.run(scenario())
        elapsed = time.monotonic() - started
        stop_poller.set()
        poller.join(timeout=10)
        assert not watch.failure, watch.failure
        problems = [p for v in viewers for p in v.problems]
        assert not problems, problems[:10]
        assert watch.all_final(), f"{len(watch.final_seq)} of {JOBS} jobs ended within {RUN_SECONDS} s"
        group.check_alive()
    except BaseException:
        print(group.log_tails())  # shown by pytest with the failure
        raise
    finally:
        stop_poller.set()
        group.stop_all()

    # --- each job ran exactly once -------------------------------------------------------------
    ran = list(Job.objects.filter(address__in=index_of))
    assert len(ran) == JOBS
    engines = {"bubblewrap"} if sandbox == "bubblewrap" else {"podman", "docker"}
    for job in ran:
        k = index_of[job.address]
        assert job.status == JobStatus.COMPLETED and job.exit_code == 0, (k, job.status, job.error)
        assert job.sandbox in engines, (k, job.sandbox)
        steps = list(Step.objects.filter(job=job).order_by("index"))
        assert [(s.op_id, s.status) for s in steps] == [(op, StepStatus.SUCCESS) for op in OPS], k
        lines = list(LogLine.objects.filter(job=job).order_by("seq").values_list("seq", "stream", "text"))
        assert [seq for seq, _, _ in lines] == list(range(1, job.last_seq + 1))  # gap-free numbering
        assert not [text for _, stream, text in lines if stream == LogStream.NODE_ERROR], k  # no takeover, no error
        markers = Counter(MARKER.match(text).groups() for _, _, text in lines if MARKER.match(text))  # type: ignore[union-attr]
        expected = {(str(k), op, str(i)) for op in OPS for i in range(1, LINES_PER_OP + 1)}
        assert set(markers) == expected, k  # every marker line of this job, and no other job's
        assert set(markers.values()) == {1}, f"job {k}: marker lines printed more than once: {markers.most_common(3)}"
        record = LedgerJob.objects.get(address=job.address)  # on the ledger: one run, finished with the result
        assert record.state == LedgerJobState.DONE and record.ipfs_result == job.ipfs_result and record.time_end
        assert not LedgerRun.objects.filter(job=record).exists()
        assert len(watch.owners.get(job.address, set())) <= 1, f"job {k} was held by {watch.owners[job.address]}"
    held = set().union(*watch.owners.values())
    assert held == set(WORKERS), f"lease holders seen: {held} (both workers should have run jobs)"

    # --- every viewer on either process got every line, in order, once -------------------------
    stored = {
        job.address: list(LogLine.objects.filter(job=job).order_by("seq").values_list("seq", "text"))
        for job in ran
    }
    for v in viewers:
        assert list(zip(v.seqs, v.texts, strict=True)) == stored[v.address], f"{v.name}: {len(v.seqs)} lines " \
            f"received, {len(stored[v.address])} stored"
    assert {v.port for v in viewers} == {port for _, port in webs}
    print(f"scale-out: {JOBS} jobs ({sandbox}), {len(viewers)} viewers, "
          f"{sum(len(v.seqs) for v in viewers)} lines received, {sum(v.resyncs for v in viewers)} resyncs, "
          f"{sum(v.handshake_retries for v in viewers)} handshake retries, "
          f"{elapsed:.1f} s")
