"""Site-wide views: health, metrics and the local content store."""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views import defaults
from django.views.decorators.http import require_GET

from nosana_dash import metrics
from nosana_dash.network.local import store


def too_large_text() -> str:
    """What a request over Django's body limits is told, wherever it is caught."""
    return (
        f"That was more than the dashboard accepts in one go (limit {settings.NOSANA_MAX_UPLOAD_BYTES:,} bytes). "
        "Nothing was changed."
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400. A body over DATA_UPLOAD_MAX_MEMORY_SIZE or _NUMBER_FIELDS raises while the CSRF
    check reads the form, before any view runs: answer 413 with words instead of a bare 400 page.
    Plain text: htmx pages show it in their alert banner; a browser shows it as a page."""
    if isinstance(exception, (RequestDataTooBig, TooManyFieldsSent)):
        text = too_large_text()
        if request.headers.get("HX-Request") != "true":
            text += " Go back to return to your form as you left it."
        return HttpResponse(text, status=413, content_type="text/plain; charset=utf-8")
    return defaults.bad_request(request, exception)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_redis() -> str:
    if not settings.REDIS_URL:
        return "not configured (in-memory channel layer)"
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _workers() -> list[dict[str, object]]:
    from jobs.models import WorkerHeartbeat

    now = timezone.now()
    stale_after = timedelta(seconds=settings.NOSANA_WORKER_LEASE_SECONDS * 2)
    return [
        {
            "name": hb.name,
            "seen_seconds_ago": round((now - hb.seen_at).total_seconds(), 1),
            "alive": now - hb.seen_at < stale_after,
            "jobs_running": hb.jobs_running,
        }
        for hb in WorkerHeartbeat.objects.filter(seen_at__gte=now - timedelta(hours=1)).order_by("name")
    ]


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    database = _check_database()
    redis_state = _check_redis()
    workers = _workers() if database == "ok" else []
    ok = database == "ok" and not redis_state.startswith("error")
    body = {"ok": ok, "checks": {"database": database, "redis": redis_state, "workers": workers}}
    return JsonResponse(body, status=200 if ok else 503)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.NOSANA_DASH_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse("metrics need the bearer token\n", status=401, content_type="text/plain")
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")


@require_GET
def ipfs_content(request: HttpRequest, cid: str) -> HttpResponse:
    """The local content store, read-only, under the same path shape as a gateway."""
    item = store.get(cid)
    if item is None:
        raise Http404("no content with this CID in the local store")
    data, content_type = item
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["Content-Disposition"] = f'inline; filename="{cid}.json"'
    return response
