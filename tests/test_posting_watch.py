"""jobs.watch.follow: remote jobs followed on a fake chain fed with the result vectors."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from jobs import services, watch
from jobs.logwriter import LogWriter
from jobs.models import Job, JobStatus, LogLine, Step
from nosana_dash import network as networks
from tests.conftest import load_vectors
from tests.posting_fakes import FakeRemote

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRemote:
    remote = FakeRemote("devnet")
    monkeypatch.setattr(networks, "get_network", lambda name: remote)
    return remote


def _document(name: str) -> dict:
    return next(d for d in load_vectors("result.json")["documents"] if d["name"] == name)


def _post(fake: FakeRemote, document: dict) -> Job:
    user = User.objects.create_user("poster", password="pw-123456789")
    user.user_permissions.add(Permission.objects.get(codename="post_remote"))
    user = User.objects.get(pk=user.pk)
    ops = [{"type": "container/run", "id": s["operationId"], "args": {"image": "ubuntu", "cmd": "true"}}
           for s in document["document"]["opStates"]]
    return services.post_job(user=user, network="devnet", market=fake.market.address,
                             definition={"version": "0.1", "type": "container", "ops": ops})


@pytest.mark.parametrize("name, expected", [
    ("success_two_ops", JobStatus.COMPLETED),
    ("failure_nonzero_exit", JobStatus.FAILED),
    ("stopped_by_poster", JobStatus.STOPPED),
    ("expired_timeout", JobStatus.COMPLETED),
])
def test_result_documents_become_steps_and_status(fake: FakeRemote, name: str, expected: str) -> None:
    document = _document(name)
    job = _post(fake, document)
    watch.follow(job, force=True)
    assert job.status == JobStatus.QUEUED
    run = fake.start_run(job.address)
    watch.follow(job, force=True)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.node == run.node
    fake.finish(job.address, document["compact_json"].encode())
    watch.follow(job, force=True)
    job.refresh_from_db()
    assert job.status == expected
    assert job.ipfs_result == document["cid"] and json.loads(job.result_json) == document["document"]
    steps = {s.op_id: s for s in Step.objects.filter(job=job)}
    for state in document["document"]["opStates"]:
        step = steps[state["operationId"]]
        assert step.exit_code == state["exitCode"]
        assert step.status == state["status"]
        texts = list(LogLine.objects.filter(step=step).order_by("seq").values_list("text", flat=True))
        expected = "".join(c["log"] for c in state["logs"]).split("\n")
        if expected[-1] == "":
            expected.pop()  # the last chunk ended its line
        assert texts == expected


def test_relayed_lines_are_not_doubled(fake: FakeRemote) -> None:
    document = _document("success_two_ops")
    job = _post(fake, document)
    fake.start_run(job.address)
    watch.follow(job, force=True)
    state = next(s for s in document["document"]["opStates"] if s["logs"])
    step = Step.objects.get(job=job, op_id=state["operationId"])
    writer = LogWriter(job)
    relayed = state["logs"][0]["log"].rstrip("\n")
    writer.line(relayed, step=step)  # what the live relay wrote while the job ran
    writer.flush()
    fake.finish(job.address, document["compact_json"].encode())
    watch.follow(job, force=True)
    assert list(LogLine.objects.filter(step=step).values_list("text", flat=True)) == [relayed]


def test_tampered_result_is_not_stored(fake: FakeRemote) -> None:
    document = _document("success_two_ops")
    job = _post(fake, document)
    fake.start_run(job.address)
    cid = fake.finish(job.address, document["compact_json"].encode())
    fake.content[cid] = document["compact_json"].replace("success", "failed").encode()
    watch.follow(job, force=True)
    job.refresh_from_db()
    assert job.status != JobStatus.COMPLETED and not job.result_json


def test_delisted_job_account_closed_ends_stopped(fake: FakeRemote) -> None:
    job = _post(fake, _document("success_two_ops"))
    fake.jobs.pop(job.address)
    watch.follow(job, force=True)
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED and "closed" in job.error


def test_poster_end_waits_for_the_result_then_stops(fake: FakeRemote, monkeypatch: pytest.MonkeyPatch) -> None:
    document = _document("stopped_by_poster")
    job = _post(fake, document)
    fake.start_run(job.address)
    watch.follow(job, force=True)
    services.stop_job(user=job.owner, job=job)  # type: ignore[arg-type]
    # `end`: done on chain with no result yet
    run = fake.runs.pop(job.address)
    info = fake.jobs[job.address]
    fake.jobs[job.address] = type(info)(**{**info.__dict__, "state": "COMPLETED", "node": run.node,
                                           "time_start": run.time - 100, "time_end": run.time - 50})
    watch.follow(job, force=True)
    job.refresh_from_db()
    assert not job.is_final  # waiting for the node's `complete`
    monkeypatch.setattr(watch, "RESULT_GRACE_SECONDS", -1)
    watch.follow(job, force=True)
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED and "no" in job.error.lower()


def test_backoff_skips_polls_that_are_not_due(fake: FakeRemote) -> None:
    job = _post(fake, _document("success_two_ops"))
    watch.follow(job, force=True)
    before = fake.lookups
    watch.follow(job)  # just polled: not due yet
    assert fake.lookups == before
    assert timezone.now() - job.created_at < timedelta(minutes=1)
