"""The websocket-clients gauge: +1 per accepted socket, -1 when it goes, once each."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from prometheus_client import REGISTRY

from jobs.consumers import JobLogConsumer
from tests.test_consumers import communicator
from tests.test_job_pages import make_job, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def clients() -> float:
    value = REGISTRY.get_sample_value("nosana_dash_websocket_clients")
    assert value is not None, "the gauge is registered"
    return value


@pytest.fixture
def owner() -> User:
    return make_user("gauge")


@pytest.mark.asyncio
async def test_gauge_counts_accepted_sockets_once_each(owner: User) -> None:
    from channels.db import database_sync_to_async

    job = await database_sync_to_async(make_job)(owner)
    before = clients()
    log_socket = await communicator(owner, f"/ws/jobs/{job.address}/")
    list_socket = await communicator(owner, "/ws/jobs/")
    assert (await log_socket.connect())[0] and (await list_socket.connect())[0]
    assert clients() == before + 2

    await log_socket.disconnect()
    assert clients() == before + 1
    await list_socket.disconnect()
    assert clients() == before


@pytest.mark.asyncio
async def test_refused_sockets_are_not_counted(owner: User) -> None:
    from channels.db import database_sync_to_async

    job = await database_sync_to_async(make_job)(owner)
    before = clients()
    anonymous = await communicator(None, f"/ws/jobs/{job.address}/")
    connected, _ = await anonymous.connect()
    assert not connected
    stranger = await database_sync_to_async(make_user)("stranger")
    other = await communicator(stranger, f"/ws/jobs/{job.address}/")
    connected, _ = await other.connect()
    assert not connected
    assert clients() == before


@pytest.mark.asyncio
async def test_each_socket_counts_once_however_often_it_is_accepted_or_closed() -> None:
    sent: list[dict[str, object]] = []

    async def base_send(message: dict[str, object]) -> None:
        sent.append(message)

    before = clients()
    consumer = JobLogConsumer()
    consumer.base_send = base_send
    await consumer.accept()
    await consumer.accept()
    assert clients() == before + 1 and len(sent) == 2
    consumer.uncount()
    consumer.uncount()
    assert clients() == before
