"""LogWriter: gap-free seqs, step counts and live pushes, on the one-statement path and its fallback."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from jobs import live, logwriter
from jobs.logwriter import LogWriter
from jobs.models import Job, LogLine, LogStream, Step

pytestmark = pytest.mark.django_db(transaction=True)


def _job(name: str) -> tuple[Job, Step, Step]:
    owner = User.objects.create_user(name, password="pw-123456789")
    job = Job.objects.create(address=f"Writer{name}", owner=owner, status="running", market="m",
                             definition_json="{}", ipfs_job="")
    first = Step.objects.create(job=job, index=0, op_id="a", op_type="container/run", status="running")
    second = Step.objects.create(job=job, index=1, op_id="b", op_type="container/run", status="running")
    return job, first, second


def _stored(job: Job) -> list[tuple[int, str, str | None, str]]:
    return list(LogLine.objects.filter(job=job).order_by("seq").values_list("seq", "text", "step__op_id", "stream"))


@pytest.fixture
def pushed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[list[Any]]]]:
    sent: list[tuple[str, list[list[Any]]]] = []
    monkeypatch.setattr(live, "publish_lines", lambda address, rows: sent.append((address, rows)))
    return sent


def test_batches_get_gap_free_seqs_step_counts_and_one_push_each(pushed: list[Any]) -> None:
    job, a, b = _job("plain")
    writer = LogWriter(job, interval=3600, max_batch=1000)
    for i in range(5):
        writer.line(f"a{i}", step=a)
    writer.line("oops", step=b, stream=LogStream.STDERR)
    writer.line("note")
    assert writer.flush() == 7
    writer.line("b1", step=b)
    assert writer.flush() == 1
    assert writer.flush() == 0  # nothing pending: no statement, no push

    rows = _stored(job)
    assert [seq for seq, *_ in rows] == list(range(1, 9))
    assert rows[5] == (6, "oops", "b", "stderr") and rows[6] == (7, "note", None, "stdout")
    job.refresh_from_db()
    assert job.last_seq == 8 == writer.job.last_seq
    assert Step.objects.get(pk=a.pk).line_count == 5 and Step.objects.get(pk=b.pk).line_count == 2
    assert [[row[live.SEQ] for row in batch] for _, batch in pushed] == [list(range(1, 8)), [8]]
    assert pushed[0][1][5][live.STEP] == "b" and pushed[0][1][6][live.STEP] is None


def test_a_writer_with_a_stale_last_seq_writes_after_the_stored_lines(pushed: list[Any]) -> None:
    """Two writers of one job (a lease handed over): each batch goes after whatever is stored."""
    job, a, _ = _job("stale")
    first = LogWriter(Job.objects.get(pk=job.pk), interval=3600)
    second = LogWriter(Job.objects.get(pk=job.pk), interval=3600)  # both believe last_seq is 0
    for round_ in range(3):
        for writer, name in ((first, "one"), (second, "two")):
            writer.line(f"{name}-{round_}-x", step=a)
            writer.line(f"{name}-{round_}-y", step=a)
            writer.flush()
    rows = _stored(job)
    assert [seq for seq, *_ in rows] == list(range(1, 13))
    assert [text for _, text, *_ in rows][:4] == ["one-0-x", "one-0-y", "two-0-x", "two-0-y"]
    assert Step.objects.get(pk=a.pk).line_count == 12
    pushed_seqs = [row[live.SEQ] for _, batch in pushed for row in batch]
    assert pushed_seqs == list(range(1, 13))  # what is pushed carries the seqs actually stored


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's")
def test_the_guarded_statement_writes_nothing_when_the_last_seq_moved() -> None:
    job, a, _ = _job("guard")
    batch = [logwriter.PendingLine(a, LogStream.STDOUT, "x", job.created_at)]
    assert logwriter._insert_after(job.pk, 0, batch) is True
    assert logwriter._insert_after(job.pk, 0, batch) is False  # last_seq is 1 now
    assert _stored(job) == [(1, "x", "a", "stdout")]
    assert Step.objects.get(pk=a.pk).line_count == 1
    assert Job.objects.get(pk=job.pk).last_seq == 1


def test_the_append_statement_names_the_tables_of_the_models() -> None:
    assert f"INTO {LogLine._meta.db_table} " in logwriter._APPEND
    assert f"UPDATE {Job._meta.db_table} " in logwriter._APPEND
    assert f"UPDATE {Step._meta.db_table} " in logwriter._APPEND


def test_a_bursts_last_lines_are_written_without_waiting_for_more_output(pushed: list[Any]) -> None:
    """A container that prints two lines and falls quiet: both are stored (and pushed) within the interval."""
    job, a, _ = _job("idle")
    writer = LogWriter(job, interval=0.05, idle_flush=True)
    writer.line("first", step=a)  # due at once: nothing was written for longer than the interval
    writer.line("second", step=a)  # not due yet; no more lines will come to make it due
    deadline = time.monotonic() + 5
    while len(_stored(job)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [text for _, text, *_ in _stored(job)] == ["first", "second"]
    assert [row[live.TEXT] for _, batch in pushed for row in batch] == ["first", "second"]


def test_lines_from_parallel_threads_keep_each_threads_order(pushed: list[Any]) -> None:
    """Ops of one group run in threads sharing the job's writer: batches commit in the order they were taken."""
    job, a, b = _job("threads")
    writer = LogWriter(job, interval=0.001, max_batch=7, idle_flush=True)

    def produce(step: Step, name: str) -> None:
        for i in range(150):
            writer.line(f"{name} {i}", step=step)
        connection.close()

    threads = [threading.Thread(target=produce, args=(step, name)) for step, name in ((a, "a"), (b, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.flush()
    rows = _stored(job)
    assert [seq for seq, *_ in rows] == list(range(1, 301))
    for name in ("a", "b"):
        assert [text for _, text, *_ in rows if text.startswith(name)] == [f"{name} {i}" for i in range(150)]
    assert [row[live.SEQ] for _, batch in pushed for row in batch] == list(range(1, 301))


def test_deleting_a_job_or_a_step_still_deletes_its_lines(pushed: list[Any]) -> None:
    """The log table has no foreign-key constraints in the database (a third of a batch's cost): Django cascades."""
    job, a, b = _job("cascade")
    writer = LogWriter(job, interval=3600)
    writer.line("on a", step=a)
    writer.line("on b", step=b)
    writer.line("on the job")
    writer.flush()
    b.delete()
    assert [text for _, text, *_ in _stored(job)] == ["on a", "on the job"]
    job.delete()
    assert not LogLine.objects.filter(job_id=job.pk).exists()
