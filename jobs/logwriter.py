"""Numbered, batched log lines: the one way runners and relays record output.

Only the worker holding a job's lease writes its lines. Sequence numbers are
allocated from `Job.last_seq` inside the same transaction as the rows, so they
are gap-free and unique per job; the batch is pushed live after commit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jobs import live
from jobs.dbretry import retry_db
from jobs.models import Job, LogLine, LogStream, Step


@dataclass
class PendingLine:
    step: Step | None
    stream: str
    text: str
    ts: datetime


class LogWriter:
    """Collects lines and writes them in batches (every `interval` s or `max_batch` lines)."""

    def __init__(self, job: Job, *, interval: float = 0.05, max_batch: int = 500) -> None:
        self.job = job
        self.interval = interval
        self.max_batch = max_batch
        self._pending: list[PendingLine] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def line(self, text: str, *, step: Step | None = None, stream: str = LogStream.STDOUT,
             ts: datetime | None = None) -> None:
        with self._lock:
            self._pending.append(PendingLine(step, stream, text, ts or timezone.now()))
            due = len(self._pending) >= self.max_batch or time.monotonic() - self._last_flush >= self.interval
        if due:
            self.flush()

    def discard(self) -> int:
        """Forget the lines not yet written (a cancelled relay); returns how many."""
        with self._lock:
            dropped, self._pending = len(self._pending), []
        return dropped

    def flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        if not batch:
            return 0
        attempted: list[int] = []  # the first seq each attempt used, to recognise one that committed

        def write() -> tuple[list[LogLine], int]:
            with transaction.atomic():
                job = Job.objects.select_for_update().only("id", "last_seq").get(pk=self.job.pk)
                if attempted and self._committed(attempted, batch, job.last_seq):
                    # The connection broke after COMMIT: the rows are there; write nothing twice.
                    first = attempted[-1]
                    return list(LogLine.objects.filter(job_id=job.pk, seq__gte=first,
                                                       seq__lt=first + len(batch)).order_by("seq")), first
                first = job.last_seq + 1
                attempted.append(first)
                rows = [
                    LogLine(job_id=job.pk, seq=first + i, step=p.step, stream=p.stream, text=p.text, ts=p.ts)
                    for i, p in enumerate(batch)
                ]
                LogLine.objects.bulk_create(rows)
                Job.objects.filter(pk=job.pk).update(last_seq=first + len(rows) - 1)
                counts: dict[int, int] = {}
                for p in batch:
                    if p.step is not None:
                        counts[p.step.pk] = counts.get(p.step.pk, 0) + 1
                for step_pk, n in counts.items():
                    Step.objects.filter(pk=step_pk).update(line_count=F("line_count") + n)
                return rows, first

        rows, first = retry_db(write, what=f"writing log lines of {self.job.address}")
        last = first + len(rows) - 1
        self.job.last_seq = last
        payload = [
            {
                "seq": row.seq,
                "step": p.step.op_id if p.step is not None else None,
                "stream": p.stream,
                "text": p.text,
                "ts": p.ts.isoformat(),
            }
            for row, p in zip(rows, batch, strict=True)
        ]
        transaction.on_commit(lambda: live.publish_lines(self.job.address, payload))
        return len(rows)

    def _committed(self, attempted: list[int], batch: list[PendingLine], last_seq: int) -> bool:
        first = attempted[-1]
        if last_seq < first + len(batch) - 1:
            return False
        row = LogLine.objects.filter(job_id=self.job.pk, seq=first).values("text", "ts").first()
        return row is not None and row["text"] == batch[0].text and row["ts"] == batch[0].ts
