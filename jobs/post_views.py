"""Posting a job (choose network and market → confirm → job page), stop, extend, and the wallet page.

Views only parse, call a service or selector, and render; the spending guard
and every check live in `jobs.services`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from jobs import post_selectors, services
from jobs.models import Draft, Job, JobStatus
from markets import services as market_services
from nosana_dash import ratelimit
from nosana_dash.network.base import NetworkError


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails

MARKETS_TARGET = "post-markets"


def _redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else HttpResponseRedirect(url)


def _minutes(raw: str | None) -> int | None:
    """Form timeouts are in minutes, as the CLI's --timeout; blank means the market's."""
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError as exc:
        raise services.PostError("The timeout must be a whole number of minutes.") from exc
    if value < 1:
        raise services.PostError("The timeout must be at least 1 minute.")
    return value * 60


def _form(request: HtmxHttpRequest) -> dict[str, Any]:
    data = request.POST if request.method == "POST" else request.GET
    definition = data.get("definition", "")
    draft_id = request.GET.get("draft", "")
    if not definition and draft_id.isdigit():
        draft = Draft.objects.filter(pk=int(draft_id), owner_id=request.user.pk).first()
        definition = draft.definition_text if draft else ""
    network = post_selectors.check_network_name(data.get("network"))
    return {
        "definition": definition,
        "network": network,
        "market": data.get("market", "").strip(),
        "timeout_minutes": data.get("timeout_minutes", "").strip(),
        "networks": post_selectors.NETWORK_CHOICES,
    }


def _markets_context(form: dict[str, Any]) -> dict[str, Any]:
    """The markets app's picker (for the form's network, timeout and definition) and the wallet."""
    market_services.ensure_cached(network=form["network"])
    context = post_selectors.market_picker(network=form["network"], market=form["market"],
                                           timeout_minutes=form["timeout_minutes"], definition=form["definition"])
    context["wallet"] = post_selectors.wallet_status(form["network"])
    return context


@login_required
@require_http_methods(["GET", "POST"])
def post_step(request: HtmxHttpRequest) -> HttpResponse:
    """Choose network, market and timeout for a definition; "Review" leads to the confirm page."""
    context = _form(request)
    context.update(_markets_context(context))
    if request.htmx and request.htmx.target == MARKETS_TARGET:
        return render(request, "jobs/post_markets.html", context)
    if request.method == "POST" and request.POST.get("action") == "review":
        try:
            services.validated_bytes(context["definition"])
            offer = services.quote(user=request.user, network=context["network"], market=context["market"],
                                   timeout=_minutes(context["timeout_minutes"]))
        except services.PostError as exc:
            context.update(error=exc.message, issues=exc.issues)
        else:
            context.update(offer=offer, idempotency_key=uuid.uuid4().hex, **_offer_words(offer))
            return render(request, "jobs/post_confirm.html", context)
    return render(request, "jobs/post.html", context, status=400 if context.get("error") and not request.htmx else 200)


def _offer_words(offer: services.Quote) -> dict[str, Any]:
    """Amounts for the plain-words summary (NOS as decimals, never floats)."""
    from decimal import Decimal

    units = Decimal(1_000_000)
    return {
        "total_nos": Decimal(offer.total) / units,
        "price_nos": Decimal(offer.price) / units,
        "price_hour_nos": Decimal(offer.price * 3600) / units,
        "cap_job_nos": Decimal(offer.cap_job) / units,
        "cap_day_nos": Decimal(offer.cap_day) / units,
        "spent_today_nos": Decimal(offer.spent_today) / units,
        "timeout_minutes_value": offer.timeout // 60,
        "timeout_seconds": offer.timeout,
        "remote": offer.network in services.REMOTE_NETWORKS,
    }


@login_required
@require_POST
def post_confirm(request: HtmxHttpRequest) -> HttpResponse:
    """Sign and send: the only view that posts. The caps and the permission are checked in the service."""
    context = _form(request)
    try:
        seconds = int(request.POST.get("timeout_seconds", ""))
    except ValueError:
        seconds = 0
    limit = settings.NOSANA_POSTS_PER_MINUTE
    if not ratelimit.hit("post", str(request.user.pk), limit=limit, window=60):
        context.update(_markets_context(context))
        context.update(error=f"You have posted {limit} jobs in the last minute, the most allowed. "
                             "Wait a minute and confirm again: nothing was posted.", issues=[])
        return render(request, "jobs/post.html", context, status=429)
    try:
        job = services.post_job(
            user=request.user, network=context["network"], market=context["market"],
            definition=context["definition"], timeout=seconds or None,
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
    except services.PostError as exc:
        context.update(_markets_context(context))
        context.update(error=exc.message, issues=exc.issues)
        return render(request, "jobs/post.html", context, status=200 if request.htmx else 400)
    if job.status == JobStatus.POST_FAILED:
        messages.error(request, f"Posting failed: {job.error}")
    else:
        messages.success(request, f"Job {job.address} posted to {job.network}.")
    return _redirect(request, reverse("jobs:detail", args=[job.address]))


@login_required
@require_http_methods(["GET", "POST"])
def stop(request: HtmxHttpRequest, address: str) -> HttpResponse:
    """GET asks for confirmation; POST stops (delist while queued, end while running)."""
    job = get_object_or_404(Job, address=address)
    if request.method == "POST":
        try:
            services.stop_job(user=request.user, job=job)
        except services.PostError as exc:
            messages.error(request, exc.message)
        except NetworkError as exc:
            messages.error(request, f"Stopping failed: {exc.message}")
        else:
            messages.success(request, "Stop requested." if not job.is_final else "The job was delisted.")
        return _redirect(request, reverse("jobs:detail", args=[job.address]))
    return render(request, "jobs/post_stop.html", {"job": job, "refund": job.price * job.timeout / 1_000_000})


@login_required
@require_http_methods(["GET", "POST"])
def extend(request: HtmxHttpRequest, address: str) -> HttpResponse:
    """GET shows the form (new total timeout, in minutes); POST extends."""
    job = get_object_or_404(Job, address=address)
    context: dict[str, Any] = {"job": job, "current_minutes": job.timeout // 60,
                               "new_minutes": request.POST.get("new_timeout_minutes", "")}
    if request.method == "POST":
        try:
            seconds = _minutes(request.POST.get("new_timeout_minutes"))
            if seconds is None:
                raise services.PostError("Enter the new total timeout in minutes.")
            services.extend_job(user=request.user, job=job, new_timeout=seconds)
        except services.PostError as exc:
            context["error"] = exc.message
            return render(request, "jobs/post_extend.html", context, status=200 if request.htmx else 400)
        except NetworkError as exc:
            context["error"] = f"Extending failed: {exc.message}"
            return render(request, "jobs/post_extend.html", context, status=200 if request.htmx else 400)
        messages.success(request, f"The job's timeout is now {job.timeout // 60} minutes.")
        return _redirect(request, reverse("jobs:detail", args=[job.address]))
    return render(request, "jobs/post_extend.html", context)


@login_required
@require_http_methods(["GET"])
def wallet(request: HtmxHttpRequest) -> HttpResponse:
    network = post_selectors.check_network_name(request.GET.get("network"))
    return render(request, "jobs/wallet.html", {
        "wallet": post_selectors.wallet_status(network),
        "network": network,
        "networks": post_selectors.NETWORK_CHOICES,
    })
