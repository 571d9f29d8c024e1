"""Channel-layer messages for live pages: one group per job, one for job lists.

Writers publish only after their rows are committed, so a consumer that reads
the database first and then drops live lines it already sent never loses or
doubles a line.

Messages (the `type` picks the consumer handler):

- ``{"type": "job.lines", "first": int, "last": int, "json": str}`` to
  ``job_group(address)``. ``json`` is the JSON array of the batch's lines in
  ascending, contiguous ``seq`` from ``first`` to ``last``, each line a row
  ``[seq, step (op id or None), stream, ts (ms since the epoch), text]`` (see
  `line_row`). Rows, not objects: repeating five keys per line doubled the bytes
  every socket is sent, and sending bytes is most of the server's fan-out work.
  It is encoded once here so that fanning out to hundreds of sockets copies one
  string per socket instead of re-encoding every line per socket.
- ``{"type": "job.step", "address": str, "step": {...}}`` to the job group.
  ``step`` keys: ``op_id, index, status, exit_code (int|None), started_at,
  ended_at (ISO 8601|None), line_count``.
- ``{"type": "job.status", "job": {...}}`` to the job group and to ``jobs.all``.
  ``job`` keys: ``address, status, node, time_start, time_end (ISO 8601|None),
  exit_code (int|None), ipfs_result, service_url``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

log = logging.getLogger(__name__)

JOBS_GROUP = "jobs.all"

STEP_KEYS = ("op_id", "index", "status", "exit_code", "started_at", "ended_at", "line_count")
STATUS_KEYS = ("address", "status", "node", "time_start", "time_end", "exit_code", "ipfs_result", "service_url")


def job_group(address: str) -> str:
    # Group names allow ASCII letters, digits, hyphens, underscores and periods; base58 is safe.
    return f"job.{address}"


_server_loop: asyncio.AbstractEventLoop | None = None

# Sends handed from worker threads to the server's loop and not yet done. A publisher does not wait
# for each one: on a busy loop (and behind the GIL) a round trip per batch serialised the worker on the
# loop, and the lag grew to seconds. It waits only past this many, so a stuck loop still holds it back.
_INFLIGHT_MAX = 64
PUBLISH_TIMEOUT = 5.0  # seconds for one send to the layer
_inflight: dict[asyncio.AbstractEventLoop, deque[concurrent.futures.Future[None]]] = {}
_inflight_lock = threading.Lock()


def register_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Consumers call this: the in-memory layer's queues live on the server's event loop."""
    global _server_loop
    _server_loop = loop


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = _server_loop
        running = _running_loop()
        if isinstance(layer, InMemoryChannelLayer) and loop is not None and loop.is_running():
            # A worker thread in the server process: asyncio queues are not thread-safe, so the
            # send must run on the loop that owns them (else a waiting consumer may not wake up).
            if running is not loop:
                _call_over(loop, lambda: _deliver_local(layer, group, message))
                return
        elif not isinstance(layer, InMemoryChannelLayer) and running is None:
            # Redis: async_to_sync made a new event loop, hence a new Redis connection, per batch
            # (6 ms at the median, 20 ms at p99 under load). One loop of our own keeps the connection.
            _hand_over(_publisher_loop(), _in_order(layer.group_send(group, message)))
            return
        async_to_sync(layer.group_send)(group, message)
    except Exception as exc:  # a down channel layer must never break a worker: pages read the database
        log.warning("live push to %s failed: %s", group, exc)


# In-process listeners of a group on the in-memory layer (the job pages' hubs, `jobs.consumers`). A
# batch handed over from a worker thread reaches them in the first turn of the loop, where through the
# layer it took three (a task, a queue, a receive), each waiting behind hundreds of socket writes.
_taps: dict[str, list[Callable[[dict[str, Any]], None]]] = {}


def tap(group: str, listener: Callable[[dict[str, Any]], None]) -> None:
    _taps.setdefault(group, []).append(listener)


def untap(group: str, listener: Callable[[dict[str, Any]], None]) -> None:
    listeners = _taps.get(group, [])
    if listener in listeners:
        listeners.remove(listener)
    if not listeners:
        _taps.pop(group, None)


def _notify_taps(group: str, message: dict[str, Any]) -> None:
    for listener in list(_taps.get(group, ())):
        listener(message)


def _deliver_local(layer: InMemoryChannelLayer, group: str, message: dict[str, Any]) -> None:
    """On the server's loop: the group's taps (synchronously), then the layer's members if it has any."""
    _notify_taps(group, message)
    if group in layer.groups:
        asyncio.get_running_loop().create_task(layer.group_send(group, message))


async def send_in_loop(group: str, message: dict[str, Any]) -> None:
    """Publish from code already running on the server's loop (tests, async publishers)."""
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        _notify_taps(group, message)
    await layer.group_send(group, message)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None  # (pid, loop): a forked child starts its own
_publisher_lock = threading.Lock()
_send_order: asyncio.Lock | None = None  # only touched on the publisher's loop


def _publisher_loop() -> asyncio.AbstractEventLoop:
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher[0] != os.getpid() or _publisher[1].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="live-publisher", daemon=True).start()
            _publisher = (os.getpid(), loop)
        return _publisher[1]


async def _in_order(send: Any) -> None:
    """Sends that wait on Redis could overtake each other; one at a time keeps the batches in seq order."""
    global _send_order
    if _send_order is None:
        _send_order = asyncio.Lock()
    async with _send_order:  # asyncio locks are fair: tasks get it in the order they were scheduled
        # Bounded: a send stuck on a dead connection would otherwise hold every later one forever.
        await asyncio.wait_for(send, PUBLISH_TIMEOUT)


@atexit.register
def _drain() -> None:
    """A process ending right after a job's last batch still delivers it (bounded: 5 s)."""
    with _inflight_lock:  # a loop that has stopped will not run what is left on it: no use waiting
        pending = [future for loop, queue in _inflight.items() if loop.is_running() for future in queue]
        _inflight.clear()
    concurrent.futures.wait(pending, timeout=5)


def _call_over(loop: asyncio.AbstractEventLoop, call: Callable[[], None]) -> None:
    """Run `call` in the loop's next turn (callbacks run in FIFO order), without waiting for it."""
    future: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # reported to the publisher by `_track`
            future.set_exception(exc)
        else:
            future.set_result(None)

    loop.call_soon_threadsafe(run)
    _track(loop, future)


def _hand_over(loop: asyncio.AbstractEventLoop, send: Any) -> None:
    """Schedule a send on a loop of this process without waiting for it (tasks start in FIFO order)."""
    _track(loop, asyncio.run_coroutine_threadsafe(send, loop))


def _track(loop: asyncio.AbstractEventLoop, future: concurrent.futures.Future[None]) -> None:
    with _inflight_lock:
        for stopped in [other for other in _inflight if other is not loop and not other.is_running()]:
            del _inflight[stopped]  # a loop that has stopped never runs what was left on it: do not wait for it
        queue = _inflight.setdefault(loop, deque())
        queue.append(future)
        while queue and (queue[0].done() or len(queue) > _INFLIGHT_MAX):
            queue.popleft().result(timeout=5)  # raises what a failed send raised: logged by the caller


def _plain(value: Any) -> Any:
    """Datetimes become ISO strings so every layer (msgpack on Redis) can carry them."""
    return value.isoformat() if hasattr(value, "isoformat") else value


# Positions in a line row.
SEQ, STEP, STREAM, TS, TEXT = range(5)


def line_row(seq: int, step: str | None, stream: str, text: str, ts: datetime) -> list[Any]:
    """A line as the websocket sends it: `[seq, step, stream, ts in ms since the epoch, text]`."""
    return [seq, step, stream, round(ts.timestamp() * 1000), text]


def encode_lines(rows: list[list[Any]]) -> str:
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)


def lines_message(rows: list[list[Any]]) -> dict[str, Any]:
    return {"type": "job.lines", "first": rows[0][SEQ], "last": rows[-1][SEQ], "json": encode_lines(rows)}


def publish_lines(address: str, rows: list[list[Any]]) -> None:
    """rows: `line_row`s in ascending, contiguous seq."""
    if rows:
        _send(job_group(address), lines_message(rows))


def publish_step(address: str, step: dict[str, Any]) -> None:
    payload = {key: _plain(step.get(key)) for key in STEP_KEYS}
    _send(job_group(address), {"type": "job.step", "address": address, "step": payload})


def publish_status(address: str, job: dict[str, Any]) -> None:
    payload = {key: _plain(job.get(key)) for key in STATUS_KEYS}
    payload["address"] = address
    message = {"type": "job.status", "job": payload}
    _send(job_group(address), message)
    _send(JOBS_GROUP, message)
