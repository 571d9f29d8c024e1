"""Channel-layer messages for live pages: one group per job, one for job lists.

Writers publish only after their rows are committed, so a consumer that reads
the database first and then drops live lines it already sent never loses or
doubles a line.

Messages (the `type` picks the consumer handler):

- ``{"type": "job.lines", "first": int, "last": int, "json": str}`` to
  ``job_group(address)``. ``json`` is the JSON array of the batch's lines,
  ``[{"seq", "step" (op id or None), "stream", "text", "ts" (ISO 8601)}]`` in
  ascending, contiguous ``seq`` from ``first`` to ``last``. It is encoded once
  here so that fanning out to hundreds of sockets copies one string per socket
  instead of re-encoding (and deep-copying) every line per socket.
- ``{"type": "job.step", "address": str, "step": {...}}`` to the job group.
  ``step`` keys: ``op_id, index, status, exit_code (int|None), started_at,
  ended_at (ISO 8601|None), line_count``.
- ``{"type": "job.status", "job": {...}}`` to the job group and to ``jobs.all``.
  ``job`` keys: ``address, status, node, time_start, time_end (ISO 8601|None),
  exit_code (int|None), ipfs_result, service_url``.
"""

from __future__ import annotations

import asyncio
import json
import logging
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
        if isinstance(layer, InMemoryChannelLayer) and loop is not None and loop.is_running():
            # A worker thread in the server process: asyncio queues are not thread-safe, so the
            # send must run on the loop that owns them (else a waiting consumer may not wake up).
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(timeout=5)
                return
        async_to_sync(layer.group_send)(group, message)
    except Exception as exc:  # a down channel layer must never break a worker: pages read the database
        log.warning("live push to %s failed: %s", group, exc)


def _plain(value: Any) -> Any:
    """Datetimes become ISO strings so every layer (msgpack on Redis) can carry them."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def encode_lines(lines: list[dict[str, Any]]) -> str:
    return json.dumps(lines, separators=(",", ":"), ensure_ascii=False)


def lines_message(lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "job.lines", "first": lines[0]["seq"], "last": lines[-1]["seq"], "json": encode_lines(lines)}


def publish_lines(address: str, lines: list[dict[str, Any]]) -> None:
    """lines: [{seq, step (op id or None), stream, text, ts (ISO 8601)}], ascending contiguous seq."""
    if lines:
        _send(job_group(address), lines_message(lines))


def publish_step(address: str, step: dict[str, Any]) -> None:
    payload = {key: _plain(step.get(key)) for key in STEP_KEYS}
    _send(job_group(address), {"type": "job.step", "address": address, "step": payload})


def publish_status(address: str, job: dict[str, Any]) -> None:
    payload = {key: _plain(job.get(key)) for key in STATUS_KEYS}
    payload["address"] = address
    message = {"type": "job.status", "job": payload}
    _send(job_group(address), message)
    _send(JOBS_GROUP, message)
