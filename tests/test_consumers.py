"""JobLogConsumer and JobListConsumer over WebsocketCommunicator, on both channel layers."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from jobs import live
from jobs.consumers import JobLogConsumer
from jobs.models import Job, JobStatus, LogStream
from jobs.routing import websocket_urlpatterns
from tests.layers import redis_channel_layers
from tests.test_job_pages import make_job, make_user, write_lines

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["memory", "redis"])
def layer(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    if request.param == "memory":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                               "CONFIG": {"capacity": 5000}}}
    else:
        prefix = os.environ.get("NOSANA_DASH_CHANNEL_PREFIX", "test") + "-" + uuid.uuid4().hex[:8]
        settings.CHANNEL_LAYERS = redis_channel_layers(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), prefix)
    yield request.param


@pytest.fixture
def owner() -> User:
    return make_user("watcher")


def _cookie_for(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def communicator(user: User | None, path: str, *, app: Any = None,
                       origin: bytes = b"http://127.0.0.1") -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"127.0.0.1")]
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(_cookie_for)(user)))
    application = app or AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
    return WebsocketCommunicator(application, path, headers=headers)


async def receive_lines_until(comm: WebsocketCommunicator, last: int, *, ack: bool = True,
                              timeout: float = 5) -> tuple[list[int], int]:
    """Seqs received until `last`, and the number of frames they came in; checks frame bounds."""
    seqs: list[int] = []
    frames = 0
    while not seqs or seqs[-1] < last:
        message = json.loads(await comm.receive_from(timeout=timeout))
        if message["type"] != "lines":
            continue
        frames += 1
        batch = [line[0] for line in message["lines"]]
        assert batch == list(range(message["first"], message["last"] + 1))
        seqs.extend(batch)
        if ack:
            await comm.send_to(text_data=json.dumps({"type": "ack", "seq": batch[-1]}))
    return seqs, frames


async def write(job: Job, count: int, *, start: int = 0, op: str = "run-from-cli", per_batch: int = 10_000) -> None:
    lines = [(op, LogStream.STDOUT, f"line {start + i}") for i in range(count)]
    for i in range(0, count, per_batch):
        await database_sync_to_async(write_lines)(job, lines[i : i + per_batch])


async def test_backlog_then_live_in_order_without_gaps(layer: str, owner: User) -> None:
    job = await database_sync_to_async(make_job)(owner)
    await write(job, 30)
    comm = await communicator(owner, f"/ws/jobs/{job.address}/?after=10")
    connected, _ = await comm.connect()
    assert connected
    seqs, _ = await receive_lines_until(comm, 30)
    assert seqs == list(range(11, 31))
    await write(job, 25, start=30, per_batch=5)
    seqs, _ = await receive_lines_until(comm, 55)
    assert seqs == list(range(31, 56))
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


async def test_resume_after_dropped_connection_loses_and_doubles_nothing(layer: str, owner: User) -> None:
    job = await database_sync_to_async(make_job)(owner)
    await write(job, 40)
    comm = await communicator(owner, f"/ws/jobs/{job.address}/?after=0")
    assert (await comm.connect())[0]
    first, _ = await receive_lines_until(comm, 40)
    await comm.disconnect()  # the laptop lid closes
    await write(job, 35, start=40, per_batch=7)  # output continues meanwhile
    comm = await communicator(owner, f"/ws/jobs/{job.address}/?after={first[-1]}")
    assert (await comm.connect())[0]
    second, _ = await receive_lines_until(comm, 75)
    await write(job, 5, start=75)
    third, _ = await receive_lines_until(comm, 80)
    assert first + second + third == list(range(1, 81))
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


async def test_hello_message_sets_the_start(layer: str, owner: User) -> None:
    job = await database_sync_to_async(make_job)(owner)
    await write(job, 12)
    comm = await communicator(owner, f"/ws/jobs/{job.address}/")
    assert (await comm.connect())[0]
    assert await comm.receive_nothing(timeout=0.2)  # nothing until the client says where it is
    await comm.send_to(text_data=json.dumps({"type": "hello", "after": 7}))
    seqs, _ = await receive_lines_until(comm, 12)
    assert seqs == [8, 9, 10, 11, 12]
    await comm.disconnect()


async def test_many_small_batches_are_coalesced_into_few_frames(
    layer: str, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await database_sync_to_async(make_job)(owner)
    comm = await communicator(owner, f"/ws/jobs/{job.address}/?after=0")
    assert (await comm.connect())[0]
    assert await comm.receive_nothing(timeout=0.2)  # the (empty) backlog has been read
    published: list[list[list[Any]]] = []
    monkeypatch.setattr(live, "publish_lines", lambda address, lines: published.append(lines))
    await write(job, 300)  # committed in one go; the 150 pushes below arrive faster than frames go out
    monkeypatch.undo()
    lines = published[0]
    for i in range(0, 300, 2):
        await live.send_in_loop(live.job_group(job.address), live.lines_message(lines[i : i + 2]))
    seqs, frames = await receive_lines_until(comm, 300)
    assert seqs == list(range(1, 301))
    assert frames <= 20, frames
    await comm.disconnect()


async def test_slow_client_is_told_to_resync_and_memory_stays_bounded(
    layer: str, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JobLogConsumer, "ack_window", 20)
    monkeypatch.setattr(JobLogConsumer, "max_buffer_lines", 50)
    job = await database_sync_to_async(make_job)(owner)
    comm = await communicator(owner, f"/ws/jobs/{job.address}/?after=0")
    assert (await comm.connect())[0]
    await write(job, 200, per_batch=10)
    received: list[int] = []
    resync = None
    while resync is None:  # a client that never acknowledges
        message = json.loads(await comm.receive_from(timeout=5))
        if message["type"] == "lines":
            received.extend(line[0] for line in message["lines"])
        elif message["type"] == "resync":
            resync = message["after"]
    assert received == list(range(1, resync + 1)) and resync <= 20
    # The client catches up from the database and resumes, as the page does after every resync (the
    # writer's pushes may still be arriving, so another can come); nothing is lost or doubled.
    await comm.send_to(text_data=json.dumps({"type": "resume", "after": resync}))
    while received[-1] < 200:
        message = json.loads(await comm.receive_from(timeout=5))
        if message["type"] == "resync":
            await comm.send_to(text_data=json.dumps({"type": "resume", "after": received[-1]}))
        elif message["type"] == "lines":
            batch = [line[0] for line in message["lines"]]
            assert batch == list(range(message["first"], message["last"] + 1))
            received.extend(batch)
            await comm.send_to(text_data=json.dumps({"type": "ack", "seq": batch[-1]}))
    assert received == list(range(1, 201))
    await comm.disconnect()


async def test_step_and_status_events_are_pushed(layer: str, owner: User) -> None:
    job = await database_sync_to_async(make_job)(owner)
    comm = await communicator(owner, f"/ws/jobs/{job.address}/?after=0")
    assert (await comm.connect())[0]
    await database_sync_to_async(live.publish_step)(job.address, {
        "op_id": "run-from-cli", "index": 1, "status": "running", "exit_code": None,
        "started_at": "2026-01-01T00:00:00+00:00", "ended_at": None, "line_count": 0})
    step = json.loads(await comm.receive_from(timeout=5))
    assert step == {"type": "step", "step": {"op_id": "run-from-cli", "index": 1, "status": "running", "exit_code": None,
                                             "started_at": "2026-01-01T00:00:00+00:00", "ended_at": None, "line_count": 0}}
    await database_sync_to_async(live.publish_status)(job.address, {"status": "completed", "node": "N", "exit_code": 0})
    status = json.loads(await comm.receive_from(timeout=5))
    assert status["type"] == "status" and status["job"]["status"] == "completed" and status["job"]["address"] == job.address
    await comm.disconnect()


async def test_anonymous_and_other_users_are_refused(layer: str, owner: User) -> None:
    job = await database_sync_to_async(make_job)(owner)
    await write(job, 3)
    other = await database_sync_to_async(make_user)("stranger")
    staff = await database_sync_to_async(make_user)("staffer", staff=True)
    for user in (None, other):
        comm = await communicator(user, f"/ws/jobs/{job.address}/?after=0")
        connected, code = await comm.connect()
        assert not connected and code == 4403
    comm = await communicator(None, "/ws/jobs/")
    assert (await comm.connect()) == (False, 4403)
    comm = await communicator(staff, f"/ws/jobs/{job.address}/?after=0")
    assert (await comm.connect())[0]
    seqs, _ = await receive_lines_until(comm, 3)
    assert seqs == [1, 2, 3]
    await comm.disconnect()


async def test_foreign_origin_is_refused_by_the_real_application(layer: str, owner: User) -> None:
    from nosana_dash.asgi import application

    job = await database_sync_to_async(make_job)(owner)
    comm = await communicator(owner, f"/ws/jobs/{job.address}/?after=0", app=application, origin=b"https://evil.example")
    connected, _ = await comm.connect()
    assert not connected
    comm = await communicator(owner, f"/ws/jobs/{job.address}/?after=0", app=application, origin=b"http://127.0.0.1:8000")
    assert (await comm.connect())[0]
    await comm.disconnect()


async def test_job_list_forwards_only_own_jobs(layer: str, owner: User) -> None:
    mine = await database_sync_to_async(make_job)(owner)
    other = await database_sync_to_async(make_user)("neighbour")
    theirs = await database_sync_to_async(make_job)(other)
    comm = await communicator(owner, "/ws/jobs/")
    assert (await comm.connect())[0]
    await database_sync_to_async(live.publish_status)(theirs.address, {"status": JobStatus.COMPLETED})
    await database_sync_to_async(live.publish_status)(mine.address, {"status": JobStatus.COMPLETED})
    message = json.loads(await comm.receive_from(timeout=5))
    assert message["job"]["address"] == mine.address
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


def test_log_writer_sql_names_the_log_line_table() -> None:
    from jobs import logwriter
    from jobs.models import LogLine

    assert f"INTO {LogLine._meta.db_table} " in logwriter._INSERT_ARRAYS
    assert f"INTO {LogLine._meta.db_table} " in logwriter._INSERT_ROW


async def test_deflated_frames_hold_the_same_lines_and_events_stay_text(layer: str, owner: User) -> None:
    """`?z=1`: line frames arrive as zlib-deflated binary messages, in order, across a resume."""
    import zlib

    job = await database_sync_to_async(make_job)(owner)
    await write(job, 20)
    comm = await communicator(owner, f"/ws/jobs/{job.address}/?after=0&z=1")
    assert (await comm.connect())[0]
    seqs: list[int] = []
    while not seqs or seqs[-1] < 45:
        output = await comm.receive_output(timeout=5)
        assert "bytes" in output and output.get("text") is None, output
        message = json.loads(zlib.decompress(output["bytes"]))
        assert message["type"] == "lines"
        seqs.extend(line[0] for line in message["lines"])
        assert all(line[4] == f"line {line[0] - 1}" for line in message["lines"])
        await comm.send_to(text_data=json.dumps({"type": "ack", "seq": seqs[-1]}))
        if seqs[-1] == 20:
            await write(job, 25, start=20, per_batch=5)  # live batches after the backlog
    assert seqs == list(range(1, 46))
    await live.send_in_loop(live.job_group(job.address), {
        "type": "job.status", "job": {"address": job.address, "status": "completed"}})
    event = await comm.receive_output(timeout=5)
    assert json.loads(event["text"])["type"] == "status"
    await comm.disconnect()


async def test_a_lost_last_batch_arrives_before_the_final_status(
    layer: str, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pub/sub delivers at most once: the job's end makes each socket check the database once."""
    job = await database_sync_to_async(make_job)(owner)
    comm = await communicator(owner, f"/ws/jobs/{job.address}/?after=0")
    assert (await comm.connect())[0]
    await write(job, 10)
    seqs, _ = await receive_lines_until(comm, 10)
    monkeypatch.setattr(live, "publish_lines", lambda address, rows: None)  # this push is lost
    await write(job, 5, start=10)
    monkeypatch.undo()
    assert await comm.receive_nothing(timeout=0.3)
    await live.send_in_loop(live.job_group(job.address), {
        "type": "job.status", "job": {"address": job.address, "status": JobStatus.COMPLETED}})
    more, _ = await receive_lines_until(comm, 15)
    assert seqs + more == list(range(1, 16))
    assert json.loads(await comm.receive_from(timeout=5))["type"] == "status"
    await comm.disconnect()


async def test_sockets_that_are_behind_share_one_deflated_frame_per_pass(
    layer: str, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy server must not deflate a frame per socket: that cost grows just when sockets fall behind."""
    import zlib

    from jobs import consumers

    job = await database_sync_to_async(make_job)(owner)
    comms = [await communicator(owner, f"/ws/jobs/{job.address}/?after=0&z=1") for _ in range(4)]
    for comm in comms:
        assert (await comm.connect())[0]
        assert await comm.receive_nothing(timeout=0.2)  # the (empty) backlog has been read
    deflated: list[int] = []
    real_compress = zlib.compress
    monkeypatch.setattr(consumers.zlib, "compress", lambda data, level: deflated.append(1) or real_compress(data, level))
    monkeypatch.setattr(JobLogConsumer, "takes", lambda self, first, last: False)  # every socket is behind
    await write(job, 30, per_batch=10)
    for comm in comms:
        seqs: list[int] = []
        while not seqs or seqs[-1] < 30:
            message = json.loads(zlib.decompress((await comm.receive_output(timeout=5))["bytes"]))
            seqs.extend(line[0] for line in message["lines"])
        assert seqs == list(range(1, 31))
    assert 1 <= len(deflated) <= 3, deflated  # one per batch the hub passed on, not one per socket
    for comm in comms:
        await comm.disconnect()
