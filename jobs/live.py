"""Channel-layer messages for live pages: one group per job, one for job lists.

Writers publish only after their rows are committed, so a consumer that reads
the database first and then drops live lines it already sent never loses or
doubles a line.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

JOBS_GROUP = "jobs.all"


def job_group(address: str) -> str:
    # Group names allow ASCII letters, digits, hyphens, underscores and periods; base58 is safe.
    return f"job.{address}"


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception as exc:  # a down channel layer must never break a worker: pages read the database
        log.warning("live push to %s failed: %s", group, exc)


def publish_lines(address: str, lines: list[dict[str, Any]]) -> None:
    """lines: [{seq, step (op id or None), stream, text, ts (ISO 8601)}], ascending seq."""
    if lines:
        _send(job_group(address), {"type": "job.lines", "lines": lines})


def publish_step(address: str, step: dict[str, Any]) -> None:
    _send(job_group(address), {"type": "job.step", "step": step})


def publish_status(address: str, job: dict[str, Any]) -> None:
    message = {"type": "job.status", "job": job}
    _send(job_group(address), message)
    _send(JOBS_GROUP, message)
