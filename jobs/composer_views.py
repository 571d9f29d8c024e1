"""The composer at /jobs/new, its live checks, templates, download and drafts.

Every view works as a plain form POST (full page) and, with htmx, returns only the parts
that changed. Viewing, checking and downloading are open; saving drafts and posting need
a signed-in user.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.composer import drafts as draft_service
from jobs.composer.forms import ActionError, apply_action, apply_fix
from jobs.composer.page import NETWORKS, Source, build_context, from_json_text, resolve
from jobs.composer.state import ComposerState
from jobs.definition import canonical_bytes
from jobs.definition.templates import TEMPLATES
from jobs.models import Draft
from nosana_dash.views import too_large_text

PAGE = "jobs/composer.html"
FORM_PANE = "jobs/composer/_form.html"
LIVE = "jobs/composer/_live.html"
_MARKET = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _options(request: HttpRequest) -> dict[str, str]:
    """Market, network and timeout travel with the form (and a ?market= link preselects one)."""
    data = request.POST if request.method == "POST" else request.GET
    market = data.get("market", "").strip()
    network = data.get("network", "")
    return {
        "market": market if not market or _MARKET.fullmatch(market) else market[:64],
        "network": network if network in NETWORKS else settings.NOSANA_DEFAULT_NETWORK,
        "timeout_minutes": data.get("timeout_minutes", "").strip()[:12],
        "draft_id": data.get("draft", "") if data.get("draft", "").isdigit() else "",
        "draft_name": data.get("draft_name", "").strip()[:200],
    }


def _page(
    request: HttpRequest, source: Source, *, status: int = 200, focus: str | None = None, **extra: Any
) -> HttpResponse:
    options = _options(request)
    for key in list(extra):
        if key in options:
            options[key] = extra.pop(key)
    context = build_context(source, **options)
    context.update(extra)
    context["templates"] = TEMPLATES.values()
    context["focus"] = focus or ""
    if _is_htmx(request):
        # The form pane is swapped in place; everything else follows out of band.
        return render(request, FORM_PANE, {**context, "with_live": True, "with_json": True}, status=status)
    return render(request, PAGE, context, status=status)


def _refused(request: HttpRequest, source: Source, message: str, *, status: int) -> HttpResponse:
    """An action the server does not carry out (400, 403, 413), with its message.

    With htmx the answer is the message alone, as plain text: htmx swaps nothing for an error
    status, so the form stays exactly as typed, and composer.js shows the text in the page's
    alert banner. (A message stored for the next full page would show up later, out of place.)
    Without htmx: the full page, the form rebuilt from what was posted, the message on top.
    """
    if _is_htmx(request):
        return _plain(message, status=status)
    messages.error(request, message)
    return _page(request, source, status=status)


def _plain(message: str, *, status: int) -> HttpResponse:
    # text/plain tells composer.js this is a message meant for the user (not an error page).
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _safe_post(request: HttpRequest) -> tuple[Any, str | None]:
    """request.POST, or a message when the body is over Django's limits (never a 500).

    Only where no CSRF check read the body first (the CSRF middleware hits the limits before any
    view, and nosana_dash.views.bad_request answers those)."""
    try:
        return request.POST, None
    except (RequestDataTooBig, TooManyFieldsSent):
        return None, too_large_text()


@require_http_methods(["GET", "POST"])
def composer(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, Source(ComposerState(), None))
    post, problem = _safe_post(request)
    if problem:
        # The body was not read, so without htmx the page can only come back empty.
        return _refused(request, Source(ComposerState(), None), problem, status=413)
    action = post.get("action", "refresh")
    if action == "import":
        return _import(request)
    source = resolve(post, prefer_json=action == "apply-json")
    if action == "reset-json":
        source = Source(source.state, source.state.to_definition())
    focus: str | None = None
    problem = None
    try:
        if action.startswith("fix:"):
            focus = apply_fix(source.state, action[4:])
        else:
            focus = apply_action(source.state, action, settings.NOSANA_MAX_OPS)
    except ActionError as exc:
        problem = f"That button did not apply: {exc}."
    if action == "save-draft":
        return _save_draft(request, source)
    if action == "post":
        return _to_post(request, source)
    if source.json_error is None:
        source = Source(source.state, None, notice=source.notice)
    if problem:
        return _refused(request, source, problem, status=400)
    return _page(request, source, focus=focus)


def _import(request: HttpRequest) -> HttpResponse:
    """A .json file from the picker or a drop. Too big, not UTF-8, too deep: a message, the form kept."""
    current = resolve(request.POST)
    upload = request.FILES.get("file")
    if upload is None:
        return _refused(request, current, "Choose a .json file to import.", status=400)
    limit = settings.NOSANA_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        # 413, like every other "too large" answer of the composer.
        return _refused(
            request,
            current,
            f"{upload.name} is {upload.size:,} bytes; the limit is {limit:,} bytes. Nothing was imported.",
            status=413,
        )
    data = upload.read(limit + 1)
    source = from_json_text(data, current.state)
    if source.json_error is not None:
        error = source.json_error
        return _refused(
            request,
            Source(current.state, None, current.json_text, current.json_error),
            f"Could not import {upload.name}: {error.message} (line {error.line}, column {error.column}). "
            "The form is unchanged.",
            status=400,
        )
    messages.success(request, f"Imported {upload.name}.")
    return _page(request, Source(source.state, None))


@require_POST
def validate(request: HttpRequest) -> HttpResponse:
    """Live check while typing in the form: messages, summary, graph and JSON, swapped out of band."""
    post, problem = _safe_post(request)
    if problem:
        return _plain(problem, status=413)
    context = build_context(Source(_state(post), None), **_options(request))
    return render(request, LIVE, {**context, "oob": True, "with_json": True, "field_parts": True})


def _state(post: Any) -> ComposerState:
    from jobs.composer.forms import state_from_post

    return state_from_post(post, settings.NOSANA_MAX_OPS)


@require_POST
def sync_json(request: HttpRequest) -> HttpResponse:
    """Live apply of the JSON tab: the form follows; bad JSON leaves the form as it was."""
    post, problem = _safe_post(request)
    if problem:
        return _plain(problem, status=413)
    source = resolve(post, prefer_json=True)
    if not _is_htmx(request):
        return _page(request, source)
    context = build_context(source, **_options(request))
    if source.json_error is not None:
        return render(request, "jobs/composer/_json_status.html", {**context, "oob": True})
    return render(request, FORM_PANE, {**context, "with_live": True, "oob_form": True, "with_json": False})


@require_GET
def from_template(request: HttpRequest, slug: str) -> HttpResponse:
    template = TEMPLATES.get(slug)
    if template is None:
        raise Http404("no such template")
    source = from_json_text(template.text, ComposerState())
    if source.json_error is not None:  # a broken template is a bug: say so instead of a blank form
        messages.error(request, f"The template {template.title} could not be read: {source.json_error.message}")
    return _page(request, Source(source.state, None), template_title=template.title)


@require_POST
def download(request: HttpRequest) -> HttpResponse:
    """The canonical bytes (what posting pins) as job.json."""
    post, problem = _safe_post(request)
    if problem:
        return _refused(request, Source(ComposerState(), None), problem, status=413)
    source = resolve(post)
    if source.json_error is not None:
        return _refused(
            request,
            source,
            "The JSON tab has an error; fix it (or discard the JSON edits) before downloading.",
            status=400,
        )
    definition = source.definition if source.definition is not None else source.state.to_definition()
    try:
        body = canonical_bytes(definition)
    except (TypeError, ValueError) as exc:
        return _refused(request, source, f"This definition cannot be written as JSON: {exc}", status=400)
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="job.json"'
    return response


def _definition_text(source: Source) -> str:
    """What a draft keeps: the JSON as typed when it is the source (even invalid), else the form's."""
    if source.json_text is not None:
        return source.json_text
    from jobs.composer.page import pretty

    return pretty(source.definition if source.definition is not None else source.state.to_definition())


def _save_draft(request: HttpRequest, source: Source) -> HttpResponse:
    if not request.user.is_authenticated:
        return _refused(request, source, "Sign in to save drafts; your form is kept below.", status=403)
    options = _options(request)
    draft = draft_service.save_draft(
        owner=request.user,
        draft_id=int(options["draft_id"]) if options["draft_id"] else None,
        name=options["draft_name"],
        definition_text=_definition_text(source),
        market=options["market"],
    )
    messages.success(request, f"Saved draft “{draft.name}”.")
    return _page(request, source, draft_id=str(draft.pk), draft_name=draft.name)


def _to_post(request: HttpRequest, source: Source) -> HttpResponse:
    """Hand the definition to the post step. The browser re-sends this POST there (307) when the
    JSON field already holds it; otherwise a one-button page carries it."""
    if not request.user.is_authenticated:
        return _refused(request, source, "Sign in to post a job; your form is kept below.", status=403)
    if source.json_error is not None:
        return _refused(request, source, "The JSON tab has an error; fix it before posting.", status=400)
    text = _definition_text(source)
    if request.POST.get("definition", "").strip() == text.strip() and not _is_htmx(request):
        return HttpResponseRedirect(reverse("jobs:post"), status=307)
    return render(request, "jobs/composer/handoff.html", {"definition": text, **_options(request)})


# ---- drafts ------------------------------------------------------------------------------


@login_required
@require_GET
def drafts(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/drafts.html", {"drafts": draft_service.drafts_of(request.user)})


@login_required
@require_GET
def open_draft(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft, pk=pk, owner=request.user)
    source = from_json_text(draft.definition_text, ComposerState())
    if source.json_error is not None:
        messages.warning(request, "This draft's JSON has an error; it is shown in the JSON tab as saved.")
    else:
        source = Source(source.state, None)
    extra: dict[str, Any] = {"draft_id": str(draft.pk), "draft_name": draft.name}
    if draft.market and not request.GET.get("market"):
        extra["market"] = draft.market
    return _page(request, source, **extra)


@login_required
@require_POST
def delete_draft(request: HttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(Draft, pk=pk, owner=request.user)
    name = draft.name
    draft_service.delete_draft(draft=draft)
    messages.success(request, f"Deleted draft “{name}”.")
    return redirect("jobs:drafts")
