"""Redis killed mid-stream and started again: pages keep rendering, live clients resume without a gap.

The channel layer and the cache point at a redis-server of our own; it is
killed (SIGKILL) while a job streams lines to a websocket client. Writers keep
committing lines (their live push fails and is logged), the job page and the
lines endpoint keep answering from the database, and a client that reconnects
with its last seq once Redis is back gets every line exactly once.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.test import Client
from redis import exceptions as redis_errors

from tests.faults.conftest import PrivateRedis
from tests.faults.helpers import (
    line_text,
    log_socket,
    make_job,
    make_user,
    receive_until,
    seqs_of,
    write_lines,
)
from tests.layers import redis_channel_layers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def layer_on_private_redis(private_redis: PrivateRedis, settings: Any) -> PrivateRedis:
    prefix = f"h8-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = redis_channel_layers(private_redis.url, prefix)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": private_redis.url, "KEY_PREFIX": prefix}}
    return private_redis


def _pages(user: Any, address: str, after: int, last: int) -> None:
    """The job page, its lines endpoint and the raw log answer from the database alone."""
    client = Client()
    client.force_login(user)
    page = client.get(f"/jobs/{address}")
    assert page.status_code == 200
    lines = client.get(f"/jobs/{address}/lines?after={after}&format=json")
    assert lines.status_code == 200
    body = json.loads(lines.content)
    rows = body["lines"] if isinstance(body, dict) else body
    assert seqs_of(rows) == list(range(after + 1, last + 1))
    assert line_text(last) in _read_stream(client.get(f"/jobs/{address}/logs.txt"))
    assert client.get("/jobs/").status_code == 200


def _read_stream(response: Any) -> str:
    """A streamed download, sync or async iterator, as the ASGI server would send it."""
    content = response.streaming_content
    if hasattr(content, "__aiter__"):
        async def collect() -> bytes:
            return b"".join([chunk async for chunk in content])

        return async_to_sync(collect)().decode()
    return b"".join(content).decode()


async def _drain(comm: Any) -> list[int]:
    """Whatever the socket still delivers while Redis is down (line seqs, or nothing), until it ends.

    The consumer may end with the lost Redis connection (the server closes the
    socket, 1011 under Daphne): the browser then reconnects with its last seq.
    """
    seqs: list[int] = []
    try:
        while not await comm.receive_nothing(timeout=0.5):
            output = await comm.receive_output(timeout=1)
            if output.get("type") == "websocket.close":
                break
            message = json.loads(output.get("text") or "{}")
            if message.get("type") == "lines":
                seqs.extend(seqs_of(message["lines"]))
        await comm.disconnect()
    except redis_errors.ConnectionError:
        pass  # the socket ended with the lost connection; the client resumes below
    return seqs


@pytest.mark.timeout(120)
async def test_redis_restart_mid_stream_loses_and_doubles_nothing(layer_on_private_redis: PrivateRedis) -> None:
    redis = layer_on_private_redis
    user = await database_sync_to_async(make_user)("redis-watcher")
    job = await database_sync_to_async(make_job)(user)

    comm = await log_socket(user, job.address, after=0)
    assert (await comm.connect(timeout=5))[0]
    stays = await log_socket(user, job.address, after=0)  # a second viewer, on the same hub
    assert (await stays.connect(timeout=5))[0]
    await database_sync_to_async(write_lines)(job, 1, 60)
    received = await receive_until(comm, 60)
    stayed = await receive_until(stays, 60)

    redis.kill()
    assert not redis.is_up()
    await database_sync_to_async(write_lines)(job, 61, 90)  # the runner goes on; only the live push fails
    await database_sync_to_async(_pages)(user, job.address, 60, 150)
    received += await _drain(comm)
    stayed += await _drain(stays)

    redis.start()  # same port, empty: groups and channels are gone
    comm = await log_socket(user, job.address, after=received[-1])
    assert (await comm.connect(timeout=5))[0]
    received += await receive_until(comm, 150)
    stays = await log_socket(user, job.address, after=stayed[-1])
    assert (await stays.connect(timeout=5))[0]
    stayed += await receive_until(stays, 150)
    await asyncio.sleep(2.5)  # the job's hub retries its subscription every second while Redis is away
    await database_sync_to_async(write_lines)(job, 151, 50)  # live again, pushed through the new Redis
    received += await receive_until(comm, 200)
    stayed += await receive_until(stays, 200)
    for socket in (comm, stays):
        assert await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()

    assert received == list(range(1, 201)), "a line was lost or doubled across the reconnect"
    assert stayed == list(range(1, 201)), "a line was lost or doubled for the second viewer"
    await database_sync_to_async(_pages)(user, job.address, 0, 200)
