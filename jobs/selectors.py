"""Reads for the job pages and consumers: visibility, lists, headers, log windows.

Line numbers shown on the page are per section (a step, or the job itself for
lines that belong to no step), counted in `seq` order from 1. A section's count
at a given `seq` is taken in one SQL statement (`line_count` minus the lines
written after it), so it agrees with the lines that statement would see.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from jobs.cli.output import timeout_note
from jobs.models import FINAL_STATUSES, Job, JobStatus, LogLine, Network, Step, StepStatus

log = logging.getLogger(__name__)

JOB_SECTION = "_job"  # section key (and anchor prefix) of lines that belong to no step
PAGE_TAIL = 5000  # lines per section rendered into the page; earlier ones behind a link
LIST_PAGE_SIZE = 25
RAW_PAGE = 2000  # lines per database read while streaming a download
NOS = Decimal(1_000_000)
_LIST_FIELDS = (
    "id", "address", "network", "owner_id", "status", "market", "market_name", "ipfs_job", "ipfs_result",
    "price", "timeout", "node", "time_start", "time_end", "created_at", "exit_code",
)


# --- visibility ---------------------------------------------------------------------

def can_view(user: AbstractBaseUser | AnonymousUser, job: Job) -> bool:
    if not user.is_authenticated:
        return False
    return bool(getattr(user, "is_staff", False)) or job.owner_id == user.pk


def job_for_viewer(user: AbstractBaseUser | AnonymousUser, address: str) -> Job | None:
    """The job if this user may see it (owner or staff); None otherwise, so callers answer 404."""
    if not user.is_authenticated or len(address) > 64:
        return None
    job = Job.objects.filter(address=address).defer("job_secret").first()
    return job if job is not None and can_view(user, job) else None


# --- money and time -----------------------------------------------------------------

def elapsed_seconds(job: Job, now: datetime | None = None) -> int | None:
    if job.time_start is None:
        return None
    end = job.time_end or (None if job.is_final else (now or timezone.now()))
    if end is None:
        return None
    return max(0, int((end - job.time_start).total_seconds()))


def cost_so_far(job: Job, now: datetime | None = None) -> Decimal | None:
    """price × elapsed, capped at the timeout as the real charge is (NOS, 6 decimals)."""
    seconds = elapsed_seconds(job, now)
    if seconds is None:
        return None
    if job.timeout > 0:
        seconds = min(seconds, job.timeout)
    return (Decimal(job.price) * seconds / NOS).quantize(Decimal("0.000001"))


def price_per_second(job: Job) -> Decimal:
    return (Decimal(job.price) / NOS).quantize(Decimal("0.000001"))


# --- the jobs list ------------------------------------------------------------------

@dataclass
class JobRow:
    job: Job
    duration: int | None
    cost: Decimal | None


def job_list_page(
    user: AbstractBaseUser, *, status: str = "", network: str = "", q: str = "", page: str | int = 1
) -> tuple[Page[Job], list[JobRow]]:
    """The user's own jobs, filtered and paginated: two queries (count + page)."""
    qs: QuerySet[Job] = Job.objects.filter(owner_id=user.pk).only(*_LIST_FIELDS)
    if status in JobStatus.values:
        qs = qs.filter(status=status)
    if network in Network.values:
        qs = qs.filter(network=network)
    q = q.strip()
    if q:
        op_match = Exists(Step.objects.filter(job=OuterRef("pk"), op_id__icontains=q))
        qs = qs.filter(
            Q(address__icontains=q) | Q(ipfs_job__icontains=q) | Q(ipfs_result__icontains=q)
            | Q(market__icontains=q) | Q(market_name__icontains=q) | op_match
        )
    paginator = Paginator(qs.order_by("-created_at", "-id"), LIST_PAGE_SIZE)
    page_obj = paginator.get_page(page)
    now = timezone.now()
    rows = [JobRow(job, elapsed_seconds(job, now), cost_so_far(job, now)) for job in page_obj.object_list]
    return page_obj, rows


def owns_job(user_id: int, address: str) -> bool:
    return Job.objects.filter(address=address, owner_id=user_id).exists()


# --- the job page header ------------------------------------------------------------

@dataclass
class Links:
    job: str = ""
    market: str = ""
    node: str = ""
    tx: str = ""
    flow: str = ""
    result: str = ""


def _content_url(job: Job, cid: str) -> str:
    from nosana_dash.network import NetworkError, get_network

    try:
        return get_network(job.network).content_url(cid)
    except (ImportError, NetworkError) as exc:  # the network module may be unavailable: links still work
        log.info("content_url via settings for %s: %s", job.network, exc)
        if job.network == Network.LOCAL:
            return reverse("ipfs", args=[cid])
        return settings.NOSANA_IPFS_GATEWAY + cid


def job_links(job: Job) -> Links:
    from nosana_dash.network import NetworkError, get_network

    links = Links()
    if job.ipfs_job:
        links.flow = _content_url(job, job.ipfs_job)
    if job.ipfs_result:
        links.result = _content_url(job, job.ipfs_result)
    try:
        network = get_network(job.network)
        links.job = network.job_url(job.address)
        links.market = network.market_url(job.market) if job.market else ""
        links.node = network.node_url(job.node) if job.node else ""
        links.tx = network.tx_url(job.tx_signature) if job.tx_signature else ""
    except (ImportError, NetworkError) as exc:
        log.info("explorer links unavailable for %s: %s", job.network, exc)
    return links


@dataclass
class Header:
    job: Job
    links: Links
    duration: int | None
    cost: Decimal | None
    price: Decimal
    running: bool
    sandbox_notice: str
    status_note: str  # e.g. "reached its timeout after 60 s": shown after the status


def job_status_note(job: Job) -> str:
    """What the status alone does not say (a job that ran into its timeout), or ""."""
    return timeout_note(completed=job.status == JobStatus.COMPLETED, timeout=job.timeout, result_text=job.result_json)


def job_header(job: Job) -> Header:
    notice = ""
    if job.sandbox == "bubblewrap":
        notice = (
            "This job ran in a bubblewrap sandbox on this machine, not in a container: "
            "the image each op names was ignored and its commands ran with the host's own programs."
        )
    return Header(
        job=job,
        links=job_links(job),
        duration=elapsed_seconds(job),
        cost=cost_so_far(job),
        price=price_per_second(job),
        running=job.status == JobStatus.RUNNING,
        sandbox_notice=notice,
        status_note=job_status_note(job),
    )


# --- log windows --------------------------------------------------------------------

@dataclass
class LineView:
    seq: int
    n: int
    section: str
    stream: str
    text: str
    ts: datetime


@dataclass
class Section:
    key: str  # op id, or JOB_SECTION
    step: Step | None
    count: int  # lines of this section up to the page's snapshot
    lines: list[LineView] = field(default_factory=list)

    @property
    def hidden(self) -> int:
        return self.count - len(self.lines)

    @property
    def first_seq(self) -> int | None:
        return self.lines[0].seq if self.lines else None

    @property
    def last_ts(self) -> datetime | None:
        return self.lines[-1].ts if self.lines else None


def section_counts(job: Job, at_seq: int) -> tuple[list[Step], dict[str, int]]:
    """Steps in order, and each section's number of lines with seq <= at_seq (one statement)."""
    steps: list[Step] = list(
        Step.objects.filter(job=job)
        .annotate(newer=Count("lines", filter=Q(lines__seq__gt=at_seq)))
        .order_by("index")
    )
    counts = {step.op_id: step.line_count - getattr(step, "newer", 0) for step in steps}
    counts[JOB_SECTION] = max(0, at_seq - sum(counts.values()))
    return steps, counts


def _views(rows: Iterable[LogLine], section: str, first_n: int) -> list[LineView]:
    return [
        LineView(seq=row.seq, n=first_n + i, section=section, stream=row.stream, text=row.text, ts=row.ts)
        for i, row in enumerate(rows)
    ]


def page_sections(job: Job, *, tail: int = PAGE_TAIL) -> tuple[int, list[Section]]:
    """The snapshot seq and every section with its last `tail` lines up to it."""
    snapshot = Job.objects.filter(pk=job.pk).values_list("last_seq", flat=True).first() or 0
    steps, counts = section_counts(job, snapshot)
    sections: list[Section] = []
    if counts[JOB_SECTION]:
        sections.append(Section(JOB_SECTION, None, counts[JOB_SECTION]))
    sections.extend(Section(step.op_id, step, counts[step.op_id]) for step in steps)
    for section in sections:
        if not section.count:
            continue
        base = LogLine.objects.filter(job=job, seq__lte=snapshot)
        base = base.filter(step=section.step) if section.step else base.filter(step__isnull=True)
        rows = list(base.only("seq", "stream", "text", "ts").order_by("-seq")[:tail])
        rows.reverse()
        section.lines = _views(rows, section.key, section.count - len(rows) + 1)
    return snapshot, sections


def lines_after(job: Job, after: int, *, limit: int = 2000) -> list[LineView]:
    """Lines with seq > after in seq order, numbered within their sections."""
    after = max(0, after)
    steps, counts = section_counts(job, after)
    by_pk = {step.pk: step.op_id for step in steps}
    rows = list(
        LogLine.objects.filter(job=job, seq__gt=after)
        .only("seq", "stream", "text", "ts", "step_id")
        .order_by("seq")[:limit]
    )
    out: list[LineView] = []
    for row in rows:
        key = by_pk.get(row.step_id, JOB_SECTION) if row.step_id else JOB_SECTION
        counts[key] = counts.get(key, 0) + 1
        out.append(LineView(row.seq, counts[key], key, row.stream, row.text, row.ts))
    return out


def lines_before(job: Job, section: str, before: int, *, limit: int = PAGE_TAIL) -> tuple[list[LineView], int]:
    """Up to `limit` lines of one section just before seq `before`, and how many remain before them."""
    base = LogLine.objects.filter(job=job)
    if section == JOB_SECTION:
        base = base.filter(step__isnull=True)
    else:
        step = Step.objects.filter(job=job, op_id=section).first()
        if step is None:
            return [], 0
        base = base.filter(step=step)
    rows = list(base.filter(seq__lt=before).only("seq", "stream", "text", "ts").order_by("-seq")[:limit])
    rows.reverse()
    if not rows:
        return [], 0
    earlier = base.filter(seq__lt=rows[0].seq).count()
    return _views(rows, section, earlier + 1), earlier


def line_dict(line: LineView) -> dict[str, Any]:
    return {"seq": line.seq, "n": line.n, "step": None if line.section == JOB_SECTION else line.section,
            "stream": line.stream, "text": line.text, "ts": line.ts.isoformat()}


def stored_lines_json(job_id: int, after: int, limit: int) -> list[list[Any]]:
    """Lines after a seq as the consumer sends them: `live.line_row`s, the shape of the live push."""
    from jobs.live import line_row

    rows = (
        LogLine.objects.filter(job_id=job_id, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "step__op_id", "stream", "text", "ts")[:limit]
    )
    return [line_row(s, op, st, t, ts) for s, op, st, t, ts in rows]


async def raw_text(job: Job, step: Step | None = None, *, timestamps: bool = False) -> AsyncIterator[str]:
    """The raw log, streamed in seq-keyed pages: a whole job with a header per section, or one step's lines."""
    from asgiref.sync import sync_to_async

    qs = LogLine.objects.filter(step=step) if step is not None else LogLine.objects.filter(job=job)

    def page(after: int) -> list[tuple[int, str | None, str, str, datetime]]:
        try:
            return list(
                qs.filter(seq__gt=after).order_by("seq").values_list("seq", "step__op_id", "stream", "text", "ts")[:RAW_PAGE]
            )
        finally:
            # A slow client may take minutes over a big log: between pages, hand the connection back
            # (to the pool) rather than hold it until the request ends.
            if not connection.in_atomic_block:
                connection.close()

    current: object = object()
    after = 0
    while True:
        rows = await sync_to_async(page)(after)
        out = []
        for seq, op_id, _stream, text, ts in rows:
            if step is None and op_id != current:
                current = op_id
                out.append(f"##[{op_id or 'job'}]\n")
            out.append(f"{ts.isoformat()} {text}\n" if timestamps else f"{text}\n")
            after = seq
        if out:
            yield "".join(out)
        if len(rows) < RAW_PAGE:
            return


def step_by_op(job: Job, op_id: str) -> Step | None:
    return Step.objects.filter(job=job, op_id=op_id).first()


def is_running_step(step: Step | None) -> bool:
    return step is not None and step.status == StepStatus.RUNNING


def final_statuses() -> set[str]:
    return {str(s) for s in FINAL_STATUSES}
