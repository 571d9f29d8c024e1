"""Small builders shared by the fault suites: users, jobs, numbered lines, websocket clients."""

from __future__ import annotations

import itertools
import json
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import Client

from jobs.logwriter import LogWriter
from jobs.models import Job, JobStatus, LogStream, Step, StepStatus
from jobs.routing import websocket_urlpatterns

_counter = itertools.count(1)
OP = "stream"


def make_user(name: str) -> User:
    return get_user_model().objects.create_user(username=name, password="pw-" + name + "-123456")


def make_job(owner: User | None) -> Job:
    n = next(_counter)
    job = Job.objects.create(
        owner=owner, address=f"Fault{n:04d}" + "f" * 30, market="Market" + "m" * 30,
        definition_json='{"version":"0.1","type":"container","ops":[]}',
        ipfs_job="QmRSLxBU9iemsmjmHMmmqkwEkqujuYSrtPeNYqoNRGmmxT", price=1, timeout=3600, status=JobStatus.RUNNING,
    )
    Step.objects.create(job=job, index=0, op_id=OP, op_type="container/run", status=StepStatus.RUNNING)
    return job


def line_text(n: int) -> str:
    return f"fault line {n}"


def write_lines(job: Job, start: int, count: int, *, per_batch: int = 10) -> None:
    """Lines `start`..`start+count-1`, written through LogWriter in batches as a runner does."""
    step = Step.objects.get(job=job, op_id=OP)
    writer = LogWriter(job, interval=3600, max_batch=per_batch)
    for n in range(start, start + count):
        writer.line(line_text(n), step=step, stream=LogStream.STDOUT)
    writer.flush()


def session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def log_socket(user: User, address: str, after: int) -> WebsocketCommunicator:
    cookie = await database_sync_to_async(session_cookie)(user)
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", cookie)]
    app = AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
    return WebsocketCommunicator(app, f"/ws/jobs/{address}/?after={after}", headers=headers)


async def receive_until(comm: WebsocketCommunicator, last: int, *, timeout: float = 10) -> list[int]:
    """The seqs of line frames until `last` arrives, acknowledging each frame as the page does."""
    seqs: list[int] = []
    while not seqs or seqs[-1] < last:
        message = json.loads(await comm.receive_from(timeout=timeout))
        if message.get("type") != "lines":
            continue
        batch = [int(line[0]) for line in message["lines"]]
        assert batch == list(range(message["first"], message["last"] + 1)), "a frame with a gap"
        assert all(line[4] == line_text(line[0]) for line in message["lines"])
        seqs.extend(batch)
        await comm.send_to(text_data=json.dumps({"type": "ack", "seq": batch[-1]}))
    return seqs


def seqs_of(lines: list[Any]) -> list[int]:
    """Seqs of websocket rows (`[seq, …]`) or of the lines endpoint's objects."""
    return [int(line["seq"] if isinstance(line, dict) else line[0]) for line in lines]
