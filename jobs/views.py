"""The jobs list, the live job page, raw logs and line windows. Short views: parse, select, render."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from jobs import ansi, diagnosis, selectors
from jobs.models import Job, JobStatus, Network, Step
from jobs.selectors import JOB_SECTION, LineView

ACTIONS_TEMPLATE = "jobs/_job_actions.html"
MAX_LINES_PER_REQUEST = 5000
_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def _job_or_404(request: HttpRequest, address: str) -> Job:
    job = selectors.job_for_viewer(request.user, address)
    if job is None:
        raise Http404("No such job, or it is not yours.")
    return job


def _int_param(request: HttpRequest, name: str, default: int | None = None) -> int | None:
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or len(raw) > 18:
        raise ValueError(f"{name} must be a whole number ≥ 0")
    return int(raw)


def render_lines(lines: Iterable[LineView]) -> SafeString:
    """Log lines as HTML; built in Python because templates are too slow for thousands of lines."""
    out = []
    for line in lines:
        anchor = escape(f"{line.section}-L{line.n}")
        out.append(
            f'<div class="log-line {escape(line.stream)}" id="{anchor}" data-seq="{line.seq}" data-n="{line.n}">'
            f'<a class="ln" href="#{anchor}">{line.n}</a>'
            f'<span class="ts">{line.ts.strftime("%H:%M:%S.%f")[:-3]}</span>'
            f'<span class="tx">{ansi.to_html(line.text)}</span></div>'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped or numeric  # nosec B308, B703 - escaped above


def _truncate(text: str, limit: int) -> str:
    """As the `truncatechars` filter: at most `limit` characters, the last one an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_job_rows(rows: Iterable[selectors.JobRow]) -> SafeString:
    """The jobs table's rows; built in Python because the template loop was most of the page's cost."""
    detail = reverse("jobs:detail", args=["ADDRESS"])
    statuses = dict(JobStatus.choices)
    networks = dict(Network.choices)
    out = []
    for row in rows:
        job = row.job
        address = html.escape(job.address)
        duration = f"{row.duration} s" if row.duration is not None else "—"
        cost = f"{row.cost} NOS" if row.cost is not None else "—"
        created = timezone.localtime(job.created_at)
        out.append(
            f'<tr id="job-row-{address}" data-address="{address}">'
            f'<td><a class="mono" href="{html.escape(detail.replace("ADDRESS", quote(job.address, safe="")))}">'
            f"{html.escape(_truncate(job.address, 18))}</a></td>"
            f'<td><span class="badge status-{html.escape(job.status)}">{html.escape(statuses.get(job.status, job.status))}</span></td>'
            f"<td>{html.escape(networks.get(job.network, job.network))}</td>"
            f"<td>{html.escape(_truncate(job.market_name or job.market, 24))}</td>"
            f'<td class="num">{duration}</td><td class="num">{cost}</td>'
            f'<td class="nowrap"><time datetime="{created.isoformat()}">{created:%Y-%m-%d %H:%M}</time></td></tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped or numeric  # nosec B308, B703 - escaped above


def _has_actions() -> bool:
    try:
        get_template(ACTIONS_TEMPLATE)
    except TemplateDoesNotExist:
        return False
    return True


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    network = request.GET.get("network", "")
    q = request.GET.get("q", "")[:100]
    page_obj, rows = selectors.job_list_page(
        request.user, status=status, network=network, q=q, page=request.GET.get("page", 1)  # type: ignore[arg-type]
    )
    context = {
        "page_obj": page_obj,
        "rows": rows,
        "rows_html": render_job_rows(rows),
        "status": status,
        "network": network,
        "q": q,
        "statuses": JobStatus.choices,
        "networks": Network.choices,
        "filtered": bool(status or network or q),
    }
    if getattr(request, "htmx", False) and request.GET.get("fragment") == "table":
        return render(request, "jobs/_list_table.html", context)
    return render(request, "jobs/list.html", context)


@login_required
@require_GET
def job_detail(request: HttpRequest, address: str) -> HttpResponse:
    job = _job_or_404(request, address)
    header = selectors.job_header(job)
    if request.GET.get("fragment") == "header":
        steps = list(Step.objects.filter(job=job).order_by("index"))
        context = {"h": header, "job": job, "findings": diagnosis.diagnose(job, steps),
                   "has_actions": _has_actions()}
        return render(request, "jobs/_job_header.html", context)
    snapshot, sections = selectors.page_sections(job, tail=selectors.PAGE_TAIL)
    for section in sections:
        section.html = render_lines(section.lines)  # type: ignore[attr-defined]
    steps = [s.step for s in sections if s.step is not None]
    context = {
        "h": header,
        "job": job,
        "sections": sections,
        "snapshot": snapshot,
        "findings": diagnosis.diagnose(job, steps),
        "has_actions": _has_actions(),
        "job_section": JOB_SECTION,
    }
    return render(request, "jobs/detail.html", context)


def _attachment(stream: object, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/plain; charset=utf-8")  # type: ignore[arg-type]
    response["Content-Disposition"] = f'attachment; filename="{_SAFE_FILENAME.sub("_", filename)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def job_logs_raw(request: HttpRequest, address: str) -> StreamingHttpResponse:
    job = _job_or_404(request, address)
    timestamps = request.GET.get("timestamps") == "1"
    return _attachment(selectors.raw_text(job, timestamps=timestamps), f"{job.address}.log")


@login_required
@require_GET
def step_logs_raw(request: HttpRequest, address: str, op_id: str) -> StreamingHttpResponse:
    job = _job_or_404(request, address)
    step = selectors.step_by_op(job, op_id)
    if step is None:
        raise Http404("This job has no step with that id.")
    timestamps = request.GET.get("timestamps") == "1"
    return _attachment(selectors.raw_text(job, step, timestamps=timestamps), f"{job.address}-{step.op_id}.log")


@login_required
@require_GET
def job_lines(request: HttpRequest, address: str) -> HttpResponse:
    """Lines after a seq (resync, JSON or HTML) or a section's lines before one (no-JS paging)."""
    job = _job_or_404(request, address)
    try:
        after = _int_param(request, "after")
        before = _int_param(request, "before")
        limit = min(_int_param(request, "limit", MAX_LINES_PER_REQUEST) or 1, MAX_LINES_PER_REQUEST)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    section = request.GET.get("section", "")[:200]
    wants_json = request.GET.get("format") == "json" or "application/json" in request.headers.get("Accept", "")
    earlier = 0
    if before is not None:
        if not section:
            return HttpResponseBadRequest("before= needs section=", content_type="text/plain; charset=utf-8")
        lines, earlier = selectors.lines_before(job, section, before, limit=limit)
    else:
        lines = selectors.lines_after(job, after or 0, limit=limit)
    if wants_json:
        return JsonResponse({
            "lines": [selectors.line_dict(line) for line in lines],
            "last_seq": Job.objects.filter(pk=job.pk).values_list("last_seq", flat=True).first(),
            "more": len(lines) == limit,
            "earlier": earlier,
        })
    context = {"job": job, "html": render_lines(lines), "lines": lines, "section": section,
               "earlier": earlier, "after": after, "limit": limit, "more": len(lines) == limit,
               "job_section": JOB_SECTION}
    if getattr(request, "htmx", False):
        return render(request, "jobs/_lines_fragment.html", context)
    return render(request, "jobs/lines.html", context)


@login_required
@require_GET
def job_definition(request: HttpRequest, address: str) -> HttpResponse:
    job = _job_or_404(request, address)
    response = HttpResponse(job.definition_json, content_type="application/json; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def job_result(request: HttpRequest, address: str) -> HttpResponse:
    job = _job_or_404(request, address)
    if job.result_json:
        response = HttpResponse(job.result_json, content_type="application/json; charset=utf-8")
        response["X-Content-Type-Options"] = "nosniff"
        return response
    if job.ipfs_result:
        return HttpResponseRedirect(selectors.job_links(job).result)
    raise Http404("This job has no result yet.")
