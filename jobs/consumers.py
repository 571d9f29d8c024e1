"""Websockets of the job pages: read-only, one channel-layer group per job.

`JobLogConsumer` guarantees every line exactly once, in `seq` order, across
reconnects: it joins the job's group *before* reading the database, buffers
live batches meanwhile, then sends the stored lines after the client's last
seq, then the live ones, dropping what it already sent and filling any gap
from the database. Lines go out in frames at most every `frame_interval`.

Fan-out is per process, not per socket: the first viewer of a job in a server
process subscribes one channel (a `_Hub`) to the job's group; every batch then
crosses the channel layer once per process. The hub gathers the batches that
arrive within `frame_interval` into one frame, built once, and writes it to every
socket that is caught up, all in one pass of the event loop. Only a socket that is
behind (reading its backlog, waiting for an ack, or mid-send) gets the batches in
its own buffer, which its own task drains. With 200 viewers that is one Redis
message instead of 200, and no per-socket task, timer or copy on the hot path:
per-socket tasks woke in step on every batch, so every message waited behind
hundreds of them for several turns of the loop.

Flow control is explicit because an ASGI server buffers outgoing frames
without limit: the client acknowledges the last seq it rendered, the server
keeps at most `ack_window` lines unacknowledged and at most
`max_buffer_lines` buffered; past that it drops its buffer and tells the
client `{"type": "resync", "after": N}`. The client catches up from the
database and sends `{"type": "resume", "after": M}`.

With `?z=1` in the URL the `lines` frames come as binary messages holding the
same JSON deflated with zlib (the browser inflates them with
DecompressionStream): a frame is compressed once, however many sockets get it,
and the bytes each socket is sent, most of the server's cost, shrink about
sevenfold. Every other message stays text.

Client → server: `{"type": "hello", "after": N}` (or `?after=N` in the URL),
`{"type": "ack", "seq": N}`, `{"type": "resume", "after": N}`.
Server → client: `{"type": "lines", "first", "last", "lines": [row, ...]}` (rows as `live.line_row`),
`{"type": "step", "step": {...}}`, `{"type": "status", "job": {...}}`,
`{"type": "resync", "after": N}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer

from jobs import live, selectors
from jobs.models import FINAL_STATUSES
from nosana_dash.metrics import WS_CLIENTS

log = logging.getLogger(__name__)

CLOSE_REFUSED = 4403


class _Frame:
    """A `lines` frame as text, and deflated (zlib) for sockets that asked for it, made once however many get it."""

    __slots__ = ("text", "_deflated", "_messages")

    def __init__(self, text: str) -> None:
        self.text = text
        self._deflated: bytes | None = None
        self._messages: dict[bool, dict[str, Any]] = {}

    @property
    def deflated(self) -> bytes:
        if self._deflated is None:
            self._deflated = zlib.compress(self.text.encode(), 1)
        return self._deflated

    def message(self, deflated: bool) -> dict[str, Any]:
        """The ASGI `websocket.send` event, one for every socket (the server only reads it)."""
        if deflated not in self._messages:
            self._messages[deflated] = ({"type": "websocket.send", "bytes": self.deflated} if deflated
                                        else {"type": "websocket.send", "text": self.text})
        return self._messages[deflated]


@dataclass
class _Batch:
    first: int
    last: int
    body: str  # a JSON array of lines
    _frame: _Frame | None = None
    _inner: str | None = None

    @property
    def inner(self) -> str:
        """The lines without the array's brackets, for joining batches into one frame (sliced once)."""
        if self._inner is None:
            self._inner = self.body[1:-1]
        return self._inner

    @property
    def frame(self) -> _Frame:
        """The whole `lines` frame; one batch object is shared by every local socket, so this is built once."""
        if self._frame is None:
            self._frame = _Frame(_lines_frame(self.first, self.last, self.body))
        return self._frame


def _lines_frame(first: int, last: int, body: str) -> str:
    return f'{{"type":"lines","first":{first},"last":{last},"lines":{body}}}'


class _Hub:
    """One channel-layer subscription to a job's group for this process; fans messages out in memory."""

    # Re-join the group now and then: the list-based Redis layer expires group membership after a day
    # (pub/sub keeps it while subscribed; joining again is then a no-op).
    REFRESH_SECONDS = 3600.0

    def __init__(self, layer: BaseChannelLayer, group: str, interval: float) -> None:
        self.layer = layer
        self.group = group
        self.interval = interval
        self.members: set[JobLogConsumer] = set()
        self.channel = ""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self.pump: asyncio.Task[None] | None = None
        self.pending: list[_Batch] = []  # arrived since the last broadcast
        self.due = asyncio.Event()
        self.last_broadcast = 0.0
        self.broadcasting = asyncio.Lock()  # one broadcast at a time keeps each socket's frames in order
        self.events: list[asyncio.Task[None]] = []  # steps and statuses waiting for the lines before them

    async def start(self) -> None:
        if isinstance(self.layer, InMemoryChannelLayer):
            # Publishers are in this process: take their messages straight from `live`, in the turn of
            # the loop they arrive in, rather than through the layer's task, queue and receive.
            live.tap(self.group, self.on_message)
        else:
            try:
                self.channel = await self.layer.new_channel()
                await self.layer.group_add(self.group, self.channel)
            except Exception as exc:
                self.ready.set_exception(exc)
                raise
            self.task = asyncio.create_task(self._run())
        self.ready.set_result(None)
        self.pump = asyncio.create_task(self._pump())

    async def _run(self) -> None:
        joined = asyncio.get_running_loop().time()
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception as exc:  # e.g. Redis restarting: viewers fill any gap from the database
                log.warning("job group %s: receive failed: %s", self.group, exc)
                await asyncio.sleep(1)
                try:  # a restarted Redis has forgotten the group: join again before waiting on it
                    await self.layer.group_add(self.group, self.channel)
                except Exception as again:
                    log.info("job group %s: rejoin failed: %s", self.group, again)
                continue
            self.on_message(message)
            if asyncio.get_running_loop().time() - joined > self.REFRESH_SECONDS:
                joined = asyncio.get_running_loop().time()
                await self.layer.group_add(self.group, self.channel)

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        try:
            if kind == "job.lines":
                self.pending.append(_Batch(int(message["first"]), int(message["last"]), str(message["json"])))
                self.due.set()
            elif kind in ("job.step", "job.status"):
                event = (json.dumps({"type": "step", "step": message["step"]}) if kind == "job.step"
                         else json.dumps({"type": "status", "job": message["job"]}))
                final = kind == "job.status" and message["job"].get("status") in FINAL_STATUSES
                self.events.append(asyncio.create_task(self._event(event, final=final)))
        except Exception:  # one bad message must not end the job's live stream for everyone
            log.exception("job group %s: bad message", self.group)

    async def _event(self, event: str, *, final: bool) -> None:
        try:
            await self.broadcast()  # the lines published before the event go out before it
            for member in list(self.members):
                member.on_event(event, final=final)
        finally:
            self.events = [task for task in self.events if not task.done()]

    async def _pump(self) -> None:
        """Broadcasts what arrived, at most once per `interval`: 5,000 lines/s make 20 frames, not 5,000."""
        loop = asyncio.get_running_loop()
        while True:
            await self.due.wait()
            wait = self.last_broadcast + self.interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self.due.clear()
            try:
                await self.broadcast()
            except Exception:  # one failed pass must not end the job's live stream for everyone
                log.exception("job group %s: broadcast failed", self.group)

    async def broadcast(self) -> None:
        async with self.broadcasting:
            if not self.pending:
                return
            batches, self.pending = self.pending, []
            self.last_broadcast = asyncio.get_running_loop().time()
            first, last = batches[0].first, batches[-1].last
            contiguous = all(b.first == a.last + 1 for a, b in zip(batches, batches[1:], strict=False))
            # One batch for the whole pass, shared by every socket: those that are behind buffer this same
            # object and later send its frame, deflated once. Joining and deflating a frame per socket made
            # an overloaded server slower the further its sockets fell behind.
            whole: _Batch | None = None
            if len(batches) == 1:
                whole = batches[0]
            elif contiguous:
                whole = _Batch(first, last, "[" + ",".join(b.inner for b in batches) + "]")
            for member in list(self.members):
                if whole is None:  # an odd sequence: the socket's own task sorts it out (from the database if need be)
                    for batch in batches:
                        member.on_lines(batch)
                elif member.takes(first, last):
                    await member.send_live(whole.frame, last)
                else:  # behind: its own task sends it after what it still owes
                    member.on_lines(whole)

    async def stop(self) -> None:
        live.untap(self.group, self.on_message)
        for task in [self.pump, self.task, *self.events]:
            if task is not None:
                task.cancel()
        if self.channel:
            await self.layer.group_discard(self.group, self.channel)


# (layer, group) → hub of this process.
_hubs: dict[tuple[int, str], _Hub] = {}


def _usable(hub: _Hub) -> bool:
    """Tests run many event loops in one process: a hub of another (closed) loop is not reused."""
    running = hub.pump is None or not hub.pump.done()
    return running and hub.ready.get_loop() is asyncio.get_running_loop()


async def _join(consumer: JobLogConsumer, group: str) -> _Hub:
    """Add a socket to its job's hub; returns once the hub receives everything published from now on."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("live job logs need a channel layer (CHANNEL_LAYERS)")
    key = (id(layer), group)
    hub = _hubs.get(key)
    if hub is None or not _usable(hub):
        if hub is not None:  # a hub of a finished loop (tests): it must not stay subscribed
            live.untap(hub.group, hub.on_message)
        hub = _hubs[key] = _Hub(layer, group, consumer.frame_interval)
        hub.members.add(consumer)
        try:
            await hub.start()
        except Exception:
            _hubs.pop(key, None)
            raise
    else:
        hub.members.add(consumer)
        await asyncio.shield(hub.ready)
    return hub


async def _leave(consumer: JobLogConsumer, hub: _Hub) -> None:
    hub.members.discard(consumer)
    if not hub.members:
        for key, value in list(_hubs.items()):
            if value is hub:
                del _hubs[key]  # a viewer arriving from now on starts a new hub
        await hub.stop()


def _parse_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


class CountedConsumer(AsyncWebsocketConsumer):
    """Keeps `WS_CLIENTS` right: +1 once a socket is accepted, -1 once when it goes (never twice).

    It also skips channels' `close_old_connections` thread hop before every message (acks, pushes):
    these consumers touch the database only through `database_sync_to_async`, which does that itself.
    Under 200 sockets that hop was a quarter of the server's time.
    """

    counted = False

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol, headers)
        if not self.counted:
            self.counted = True
            WS_CLIENTS.inc()

    def uncount(self) -> None:
        if self.counted:
            self.counted = False
            WS_CLIENTS.dec()

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        try:
            await super().websocket_disconnect(message)
        finally:
            self.uncount()  # also when disconnect() fails or the socket was never accepted


class JobLogConsumer(CountedConsumer):
    frame_interval = 0.05
    backlog_chunk = 1000
    # Lines a client may leave unacknowledged: the page acks once a second, so 20,000 lets it follow
    # a job printing up to ~20,000 lines a second without waiting on its own acks.
    ack_window = 20_000
    # Buffered batches are shared by every socket of the process (the hub hands out one object), so a
    # deep buffer costs list entries, not copies: ~10 s of a 5,000 lines/s job before a resync.
    max_buffer_lines = 50_000

    # No channel of its own: lines arrive through the process's hub, so no idle receive per socket
    # (on Redis 200 of them queued on the layer's one shared receive loop).
    channel_layer_alias = None  # type: ignore[assignment]
    job_id: int | None = None
    hub: _Hub | None = None
    deflate = False

    async def connect(self) -> None:
        address = str(self.scope["url_route"]["kwargs"].get("address", ""))
        job = await database_sync_to_async(selectors.job_for_viewer)(self.scope.get("user"), address)
        if job is None:
            await self.close(code=CLOSE_REFUSED)
            return
        self.job_id = job.pk
        live.register_loop(asyncio.get_running_loop())
        self.group = live.job_group(job.address)
        self.buffer: deque[_Batch] = deque()
        self.buffered_lines = 0
        self.events: list[str] = []
        self.last_sent: int | None = None  # unknown until the client says where it is
        self.acked = 0
        self.need_db = True
        self.paused = False
        self.resync_due = False
        self.sending = False  # its own task is writing a frame: the hub must not write one in between
        self.wake = asyncio.Event()
        # Subscribe first: anything committed from now on is either read below or arrives live.
        self.hub = await _join(self, self.group)
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.deflate = query.get("z", [""])[0] == "1"
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
        if self.hub is not None:
            hub, self.hub = self.hub, None
            await _leave(self, hub)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        try:
            await super().websocket_disconnect(message)
        finally:
            if self.hub is not None:  # disconnect() failed half-way: never leave a dead member in the hub
                hub, self.hub = self.hub, None
                await _leave(self, hub)

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
                if self.buffer or self.need_db:  # only a socket that is behind has anything to resume
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

    # --- from the hub (synchronous: no await between a batch's arrival and its buffering) ----------
    def takes(self, first: int, last: int) -> bool:
        """Caught up: the hub may write lines `first..last` to this socket directly."""
        return (self.last_sent == first - 1 and not self.buffer and not self.need_db and not self.paused
                and not self.resync_due and not self.sending and last - self.acked <= self.ack_window)

    async def send_live(self, frame: _Frame, last: int) -> None:
        self.last_sent = last
        try:
            await self.base_send(frame.message(self.deflate))  # as _send_lines: one call less per socket per pass
        except Exception as exc:  # this socket is gone; the others still get the frame
            log.debug("job log socket: live send failed: %s", exc)

    async def _send_lines(self, frame: _Frame) -> None:
        # What AsyncWebsocketConsumer.send does, minus building the same event once per socket.
        await self.base_send(frame.message(self.deflate))

    def on_lines(self, batch: _Batch) -> None:
        if self.paused:
            return
        self.buffer.append(batch)
        self.buffered_lines += batch.last - batch.first + 1
        if self.buffered_lines > self.max_buffer_lines:
            # The client is not keeping up: forget the buffer, let it catch up from the database.
            self.buffer.clear()
            self.buffered_lines = 0
            self.paused = True
            self.resync_due = True
        self.wake.set()

    def on_event(self, event: str, *, final: bool = False) -> None:
        if final and self.last_sent is not None and not self.paused:
            # The job has ended and all its lines are stored: check the database once, so a last batch
            # whose push was lost (Redis pub/sub delivers at most once) still arrives before the status.
            self.need_db = True
        self.events.append(event)
        self.wake.set()

    # --- sending ---------------------------------------------------------------------
    async def _send_loop(self) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                self.sending = True
                try:
                    await self._flush()
                finally:
                    self.sending = False
                await asyncio.sleep(self.frame_interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken loop must close the socket, not leave a silent page
            if type(exc).__name__ == "Disconnected":  # the client went away mid-send: nothing to tell it
                return
            log.exception("job log sender failed")
            await self.close(code=1011)

    async def _flush(self) -> None:
        if self.resync_due:
            self.resync_due = False
            await self.send(text_data=json.dumps({"type": "resync", "after": self.last_sent or 0}))
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
                await self._send_frame(rows[0][live.SEQ], rows[-1][live.SEQ], live.encode_lines(rows))
            self.need_db = len(rows) == limit
            if not rows and gap:  # never committed yet published: cannot happen; do not spin on it
                log.warning("job %s: lines %s..%s missing", self.job_id, self.last_sent + 1, self.buffer[0].first)
                self.last_sent = self.buffer[0].first - 1
            self.wake.set()
            return
        # Each buffered batch goes out as its own frame: the shared one, built and deflated once for every
        # socket of the process. A frame per socket would cost a deflate per socket, when the server is busiest.
        while self.buffer and budget > 0 and self.buffer[0].first <= self.last_sent + 1:
            batch = self.buffer.popleft()
            self.buffered_lines -= batch.last - batch.first + 1
            start, end = self.last_sent + 1, min(batch.last, self.last_sent + budget)
            if batch.first == start and batch.last == end:
                frame = batch.frame
            else:  # overlaps what the database already gave, or holds more than the client may leave unacked
                rows = [row for row in json.loads(batch.body) if row[live.SEQ] >= start]
                now, rest = rows[: end - start + 1], rows[end - start + 1 :]
                frame = _Frame(_lines_frame(start, end, live.encode_lines(now)))
                if rest:
                    self.buffer.appendleft(_Batch(end + 1, batch.last, live.encode_lines(rest)))
                    self.buffered_lines += len(rest)
            budget -= end - self.last_sent
            self.last_sent = end
            await self._send_lines(frame)
        if self.buffer:
            self.wake.set()

    def _drop_sent(self) -> None:
        if self.last_sent is None:
            return
        while self.buffer and self.buffer[0].last <= self.last_sent:
            batch = self.buffer.popleft()
            self.buffered_lines -= batch.last - batch.first + 1

    async def _send_frame(self, first: int, last: int, body: str) -> None:
        await self._send_lines(_Frame(_lines_frame(first, last, body)))
        self.last_sent = last


class JobListConsumer(CountedConsumer):
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
