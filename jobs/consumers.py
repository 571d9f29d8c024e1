"""Websockets of the job pages: read-only, one channel-layer group per job.

`JobLogConsumer` guarantees every line exactly once, in `seq` order, across
reconnects: it joins the job's group *before* reading the database, buffers
live batches meanwhile, then sends the stored lines after the client's last
seq, then the live ones, dropping what it already sent and filling any gap
from the database. Lines go out in frames at most every `frame_interval`.

Flow control is explicit because an ASGI server buffers outgoing frames
without limit: the client acknowledges the last seq it rendered, the server
keeps at most `ack_window` lines unacknowledged and at most
`max_buffer_lines` buffered; past that it drops its buffer and tells the
client `{"type": "resync", "after": N}`. The client catches up from the
database and sends `{"type": "resume", "after": M}`.

Client → server: `{"type": "hello", "after": N}` (or `?after=N` in the URL),
`{"type": "ack", "seq": N}`, `{"type": "resume", "after": N}`.
Server → client: `{"type": "lines", "first", "last", "lines": [...]}`,
`{"type": "step", "step": {...}}`, `{"type": "status", "job": {...}}`,
`{"type": "resync", "after": N}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from jobs import live, selectors

log = logging.getLogger(__name__)

CLOSE_REFUSED = 4403


@dataclass
class _Batch:
    first: int
    last: int
    body: str  # a JSON array of lines


def _parse_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


class JobLogConsumer(AsyncWebsocketConsumer):
    frame_interval = 0.05
    backlog_chunk = 1000
    ack_window = 10_000
    max_buffer_lines = 5_000

    job_id: int | None = None

    async def connect(self) -> None:
        address = str(self.scope["url_route"]["kwargs"].get("address", ""))
        job = await database_sync_to_async(selectors.job_for_viewer)(self.scope.get("user"), address)
        if job is None:
            await self.close(code=CLOSE_REFUSED)
            return
        self.job_id = job.pk
        live.register_loop(asyncio.get_running_loop())
        self.group = live.job_group(job.address)
        self.buffer: list[_Batch] = []
        self.buffered_lines = 0
        self.events: list[str] = []
        self.last_sent: int | None = None  # unknown until the client says where it is
        self.acked = 0
        self.need_db = True
        self.paused = False
        self.wake = asyncio.Event()
        # Subscribe first: anything committed from now on is either read below or arrives live.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        after = _parse_int(query.get("after", [None])[0])
        if after is not None:
            self._start_at(after)
        self.sender = asyncio.create_task(self._send_loop())

    async def disconnect(self, code: int) -> None:
        if self.job_id is None:
            return
        task = getattr(self, "sender", None)
        if task is not None:
            task.cancel()
        await self.channel_layer.group_discard(self.group, self.channel_name)

    # --- client messages ---------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.job_id is None or not text_data or len(text_data) > 1000:
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "hello" and self.last_sent is None:
            after = _parse_int(message.get("after"))
            self._start_at(after or 0)
        elif kind == "ack" and self.last_sent is not None:
            seq = _parse_int(message.get("seq"))
            if seq is not None:
                self.acked = max(self.acked, min(seq, self.last_sent))
                self.wake.set()
        elif kind == "resume":
            after = _parse_int(message.get("after"))
            if after is not None:
                self.paused = False
                self._start_at(after)

    def _start_at(self, after: int) -> None:
        self.last_sent = after
        self.acked = after
        self.need_db = True
        self.wake.set()

    # --- channel-layer messages ------------------------------------------------------
    async def job_lines(self, message: dict[str, Any]) -> None:
        if self.paused:
            return
        self.buffer.append(_Batch(int(message["first"]), int(message["last"]), str(message["json"])))
        self.buffered_lines += message["last"] - message["first"] + 1
        if self.buffered_lines > self.max_buffer_lines:
            # The client is not keeping up: forget the buffer, let it catch up from the database.
            self.buffer.clear()
            self.buffered_lines = 0
            self.paused = True
            await self.send(text_data=json.dumps({"type": "resync", "after": self.last_sent or 0}))
            return
        self.wake.set()

    async def job_step(self, message: dict[str, Any]) -> None:
        self.events.append(json.dumps({"type": "step", "step": message["step"]}))
        self.wake.set()

    async def job_status(self, message: dict[str, Any]) -> None:
        self.events.append(json.dumps({"type": "status", "job": message["job"]}))
        self.wake.set()

    # --- sending ---------------------------------------------------------------------
    async def _send_loop(self) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                await self._flush()
                await asyncio.sleep(self.frame_interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken loop must close the socket, not leave a silent page
            if type(exc).__name__ == "Disconnected":  # the client went away mid-send: nothing to tell it
                return
            log.exception("job log sender failed")
            await self.close(code=1011)

    async def _flush(self) -> None:
        if self.last_sent is not None and not self.paused:
            await self._flush_lines()
        events, self.events = self.events, []
        for event in events:
            await self.send(text_data=event)

    async def _flush_lines(self) -> None:
        if self.last_sent is None:  # not an assert: those vanish under python -O
            return
        budget = self.ack_window - (self.last_sent - self.acked)
        if budget <= 0:
            return  # wait for the client's ack
        self._drop_sent()
        gap = bool(self.buffer) and self.buffer[0].first > self.last_sent + 1
        if self.need_db or gap:
            limit = min(self.backlog_chunk, budget)
            rows = await database_sync_to_async(selectors.stored_lines_json)(self.job_id, self.last_sent, limit)
            if rows:
                await self._send_frame(rows[0]["seq"], rows[-1]["seq"], live.encode_lines(rows))
            self.need_db = len(rows) == limit
            if not rows and gap:  # never committed yet published: cannot happen; do not spin on it
                log.warning("job %s: lines %s..%s missing", self.job_id, self.last_sent + 1, self.buffer[0].first)
                self.last_sent = self.buffer[0].first - 1
            self.wake.set()
            return
        parts: list[str] = []
        first = self.last_sent + 1
        while self.buffer and budget > 0 and self.buffer[0].first <= self.last_sent + 1:
            batch = self.buffer.pop(0)
            self.buffered_lines -= batch.last - batch.first + 1
            body = batch.body
            if batch.first <= self.last_sent:  # overlaps what the database already gave
                lines = [line for line in json.loads(body) if line["seq"] > self.last_sent]
                body = live.encode_lines(lines)
            parts.append(body[1:-1])
            budget -= batch.last - self.last_sent
            self.last_sent = batch.last
        if parts:
            await self._send_frame(first, self.last_sent, "[" + ",".join(parts) + "]", update=False)
        if self.buffer:
            self.wake.set()

    def _drop_sent(self) -> None:
        if self.last_sent is None:
            return
        while self.buffer and self.buffer[0].last <= self.last_sent:
            batch = self.buffer.pop(0)
            self.buffered_lines -= batch.last - batch.first + 1

    async def _send_frame(self, first: int, last: int, body: str, *, update: bool = True) -> None:
        await self.send(text_data=f'{{"type":"lines","first":{first},"last":{last},"lines":{body}}}')
        if update:
            self.last_sent = last


class JobListConsumer(AsyncWebsocketConsumer):
    """Status changes of the signed-in user's own jobs, for the jobs list."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_REFUSED)
            return
        self.user_id = user.pk
        live.register_loop(asyncio.get_running_loop())
        self.owned: dict[str, bool] = {}
        await self.channel_layer.group_add(live.JOBS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "user_id"):
            await self.channel_layer.group_discard(live.JOBS_GROUP, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return  # read-only

    async def job_status(self, message: dict[str, Any]) -> None:
        job = message.get("job") or {}
        address = str(job.get("address", ""))
        if address not in self.owned:
            if len(self.owned) > 10_000:  # bound the cache on long-lived sockets
                self.owned.clear()
            self.owned[address] = await database_sync_to_async(selectors.owns_job)(self.user_id, address)
        if self.owned[address]:
            await self.send(text_data=json.dumps({"type": "status", "job": job}))
