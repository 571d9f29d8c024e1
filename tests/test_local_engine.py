"""End to end on this machine's container engine: post to the local network, a worker runs it.

Uses DOCKER_HOST from the environment (bin/test starts Podman) or starts the
engine for the session (tests/engine.py). Every run is bounded by job timeouts.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from jobs import services, worker
from jobs.models import Job, JobStatus, LogLine, Step, StepStatus
from nosana_dash.network.local import ledger, store
from nosana_dash.network.local.models import LedgerJob, LedgerJobState, LedgerRun
from tests.conftest import load_vectors
from tests.engine import engine_host  # noqa: F401 - session fixture

pytestmark = [pytest.mark.engine, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def local(settings: Any, engine_host: str, django_user_model: Any) -> Any:  # noqa: F811
    settings.DOCKER_HOST = engine_host
    settings.NOSANA_LOCAL_SANDBOX = "engine"
    settings.NOSANA_WORKER_LEASE_SECONDS = 6
    return django_user_model.objects.create_user("poster", password="pw-123456789")


def _definition(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"version": "0.1", "type": "container", "ops": list(ops)}


def _run_op(op_id: str, cmd: object, image: str = "ubuntu", **args: Any) -> dict[str, Any]:
    return {"type": "container/run", "id": op_id, "args": {"image": image, "cmd": cmd, **args}}


def _post(user: Any, definition: dict[str, Any], timeout: int | None = None) -> Job:
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(),
                            definition=definition, timeout=timeout)
    assert job.status == JobStatus.QUEUED, job.error
    return job


def _output(job: Job, op_id: str) -> list[str]:
    return list(LogLine.objects.filter(job=job, step__op_id=op_id, stream__in=["stdout", "stderr"])
                .order_by("seq").values_list("text", flat=True))


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


def test_seed_job_runs_with_the_seed_outputs(local: Any, seed_job: dict[str, Any]) -> None:
    job = _post(local, seed_job)
    done = worker.run_once("w-seed")
    assert done is not None and done.pk == job.pk
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.exit_code == 0 and job.sandbox in ("podman", "docker")
    assert job.node == ledger.node_address() and job.time_start and job.time_end and job.lease_owner == ""
    steps = list(Step.objects.filter(job=job).order_by("index"))
    assert [s.op_id for s in steps] == [op["id"] for op in seed_job["ops"]]
    assert all(s.status == StepStatus.SUCCESS and s.exit_code == 0 for s in steps)
    assert all(s.started_at and s.ended_at and s.started_at <= s.ended_at for s in steps)
    assert _output(job, "run-from-cli") == ["test.txt", "/home/podman"]
    out2 = _output(job, "run-from-cli-2")
    assert out2[0] == "Hello World" and out2[-1] == "/home" and len(out2) >= 3
    notes = LogLine.objects.filter(job=job, step__op_id="run-from-cli", stream="system").values_list("text", flat=True)
    assert any("2024" in text for text in notes)
    seqs = list(LogLine.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))

    # The result document: stored under its CID, on the ledger, in the Nosana shape.
    assert store.get(job.ipfs_result) is not None
    ledger_job = LedgerJob.objects.get(address=job.address)
    assert ledger_job.state == 2 and ledger_job.ipfs_result == job.ipfs_result
    assert not LedgerRun.objects.filter(job=ledger_job).exists()
    result = json.loads(job.result_json)
    vector = load_vectors("result.json")["documents"][0]["document"]
    assert set(vector) <= set(result) and result["status"] == "success"
    assert [op["operationId"] for op in result["opStates"]] == [op["id"] for op in seed_job["ops"]]
    vector_run, ours_run = vector["opStates"][1], result["opStates"][1]
    assert _shape({k: ours_run[k] for k in vector_run if k != "diagnostics"}) == \
        _shape({k: vector_run[k] for k in vector_run if k != "diagnostics"})
    assert set(vector_run["diagnostics"]["state"]) <= set(ours_run["diagnostics"]["state"])
    assert [entry["log"] for entry in ours_run["logs"]] == ["test.txt\n", "/home/podman\n"]


def test_failing_op_fails_the_job_with_its_code_and_skips_the_rest(local: Any) -> None:
    job = _post(local, _definition(_run_op("boom", "echo before; exit 3"), _run_op("after", "echo never")))
    worker.run_once("w-fail")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.exit_code == 3
    steps = {s.op_id: s for s in Step.objects.filter(job=job)}
    assert steps["boom"].status == StepStatus.FAILED and steps["boom"].exit_code == 3
    assert steps["after"].status == StepStatus.SKIPPED and _output(job, "after") == []
    assert _output(job, "boom") == ["before"]
    result = json.loads(job.result_json)
    assert result["status"] == "failed" and result["opStates"][0]["exitCode"] == 3


def test_timeout_ends_the_job_as_a_node_does(local: Any) -> None:
    """Past `run.time + timeout` a node stops the containers and finishes normally (protocol §7.3)."""
    job = _post(local, _definition(_run_op("sleepy", "echo start; sleep 60"), _run_op("later", "echo no")),
                timeout=4)
    began = time.monotonic()
    worker.run_once("w-timeout")
    assert time.monotonic() - began < 20
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.error == ""
    result = json.loads(job.result_json)
    sleepy, later = result["opStates"]
    assert result["status"] == "success"
    assert sleepy["status"] == "success" and sleepy["exitCode"] not in (None, 0)  # the stop's signal
    assert sleepy["diagnostics"]["reason"] == {"hostShutDown": False, "jobStopped": False, "jobExpired": True,
                                               "reason": "Operation stopped due to flow expired"}
    assert (later["status"], later["exitCode"], later["startTime"]) == ("success", 0, None)
    steps = {s.op_id: s.status for s in Step.objects.filter(job=job)}
    assert steps == {"sleepy": StepStatus.SUCCESS, "later": StepStatus.STOPPED}
    assert LogLine.objects.filter(job=job, step__op_id="sleepy", text="stopping: the job reached its timeout").exists()
    ledger_job = LedgerJob.objects.get(address=job.address)
    assert ledger_job.state == LedgerJobState.DONE and ledger_job.ipfs_result == job.ipfs_result
    assert not LedgerRun.objects.filter(job=ledger_job).exists()


def test_stop_request_stops_the_containers(local: Any) -> None:
    job = _post(local, _definition(_run_op("long", "echo up; sleep 60"), _run_op("later", "echo no")))
    thread = threading.Thread(target=lambda: (worker.run_once("w-stop"), connection.close()))
    thread.start()
    deadline = time.monotonic() + 30
    while not LogLine.objects.filter(job=job, text="up").exists():
        assert time.monotonic() < deadline, "the op never started"
        time.sleep(0.05)
    job.refresh_from_db()
    services.stop_job(user=local, job=job)
    thread.join(timeout=30)
    assert not thread.is_alive()
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    steps = {s.op_id: s.status for s in Step.objects.filter(job=job)}
    assert steps == {"long": StepStatus.STOPPED, "later": StepStatus.STOPPED}
    assert json.loads(job.result_json)["opStates"][0]["diagnostics"]["reason"]["jobStopped"] is True
    assert LedgerJob.objects.get(address=job.address).ipfs_result == job.ipfs_result


def test_unpullable_image_fails_with_a_clear_message(local: Any) -> None:
    job = _post(local, _definition(_run_op("pull", "true", image="localhost:1/nosana-dash/missing:latest")))
    worker.run_once("w-pull")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.exit_code == 2
    errors = list(LogLine.objects.filter(job=job, stream="node").values_list("text", flat=True))
    assert any("could not be pulled" in text for text in errors)
    op = json.loads(job.result_json)["opStates"][0]
    assert op["error"]["event"] == "operation-error" and op["logs"][0]["type"] == "nodeerr"


def test_unpullable_image_runs_in_bubblewrap_when_the_fallback_is_on(local: Any, settings: Any) -> None:
    settings.NOSANA_LOCAL_SANDBOX = "auto"
    settings.NOSANA_LOCAL_IMAGE_FALLBACK = True
    job = _post(local, _definition(_run_op("fallback", "echo ran-anyway", image="localhost:1/nosana-dash/missing:latest")))
    worker.run_once("w-fallback")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.sandbox == "bubblewrap"
    assert _output(job, "fallback") == ["ran-anyway"]
    notes = " ".join(LogLine.objects.filter(job=job, stream="system").values_list("text", flat=True))
    assert "could not be pulled" in notes and "NOT used" in notes


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_two_workers_race_for_one_job(local: Any) -> None:
    job = _post(local, _definition(_run_op("once", "echo ran-once")))
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def race(name: str) -> None:
        barrier.wait()
        results.append(worker.run_once(name))
        connection.close()

    threads = [threading.Thread(target=race, args=(f"racer-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(1 for r in results if r is not None) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert _output(job, "once") == ["ran-once"]


def test_dead_workers_job_ends_honestly(local: Any) -> None:
    job = _post(local, _definition(_run_op("half", "echo x")))
    ledger.work(job.address, ledger.node_address())
    Step.objects.filter(job=job).update(status=StepStatus.RUNNING, started_at=timezone.now())
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, lease_owner="dead-worker",
                                         lease_until=timezone.now() - timezone.timedelta(seconds=5))
    worker.run_once("w-rescue")
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED and job.lease_owner == ""
    assert LogLine.objects.filter(job=job, stream="node", text__contains="dead-worker").exists()
    assert Step.objects.get(job=job).status == StepStatus.STOPPED
    assert LedgerJob.objects.get(address=job.address).state == 3


def test_job_claimed_by_a_worker_that_died_before_starting_is_taken_over(local: Any) -> None:
    job = _post(local, _definition(_run_op("fresh", "echo taken-over")))
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, lease_owner="gone",
                                         lease_until=timezone.now() - timezone.timedelta(seconds=5))
    worker.run_once("w-takeover")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and _output(job, "fresh") == ["taken-over"]


def test_bubblewrap_fallback_runs_the_seed(local: Any, settings: Any, seed_job: dict[str, Any]) -> None:
    settings.NOSANA_LOCAL_SANDBOX = "bubblewrap"
    job = _post(local, seed_job)
    worker.run_once("w-bwrap")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.sandbox == "bubblewrap"
    assert _output(job, "run-from-cli") == ["test.txt", "/home/podman"]
    assert _output(job, "run-from-cli-2")[0] == "Hello World"
    assert _output(job, "run-from-cli-2")[-1] == "/home"
    system = " ".join(LogLine.objects.filter(job=job, stream="system").values_list("text", flat=True))
    assert "bubblewrap" in system and "NOT used" in system


def test_no_engine_and_no_sandbox_is_a_clear_error(local: Any, settings: Any, monkeypatch: Any) -> None:
    settings.DOCKER_HOST = "unix:///nonexistent/podman.sock"
    from nosana_dash.network.local import sandbox

    monkeypatch.setattr(sandbox, "unavailable_reason", lambda: "bwrap is not installed")
    settings.NOSANA_LOCAL_SANDBOX = "auto"
    job = _post(local, _definition(_run_op("x", "true")))
    worker.run_once("w-none")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "bin/local-engine start" in job.error
    assert LedgerJob.objects.get(address=job.address).state == 3


def test_run_forever_picks_up_posted_jobs_and_stops(local: Any, settings: Any) -> None:
    settings.NOSANA_WORKER_POLL_SECONDS = 0.05
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=("w-loop", stop))
    thread.start()
    try:
        job = _post(local, _definition(_run_op("loop", "echo looped")))
        deadline = time.monotonic() + 30
        while Job.objects.get(pk=job.pk).status not in (JobStatus.COMPLETED, JobStatus.FAILED):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert _output(job, "loop") == ["looped"]


def test_exposed_port_is_published_on_localhost_and_recorded(local: Any) -> None:
    import httpx

    serve = "mkdir -p /www && echo exposed-ok > /www/index.html && exec httpd -f -p 8080 -h /www"
    job = _post(local, _definition(_run_op("web", serve, expose=8080)))
    def run() -> None:
        worker.run_once("w-expose")
        connection.close()  # this thread's own database connection

    runner = threading.Thread(target=run)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.service_url:
                break
            time.sleep(0.2)
        assert job.service_url.startswith("http://127.0.0.1:"), job.service_url
        body = ""
        while time.monotonic() < deadline and "exposed-ok" not in body:
            try:
                body = httpx.get(job.service_url + "/index.html", timeout=2).text
            except httpx.HTTPError:
                time.sleep(0.2)
        assert "exposed-ok" in body
    finally:
        services.stop_job(user=local, job=Job.objects.get(pk=job.pk))
        runner.join(timeout=60)
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
