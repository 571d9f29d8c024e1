"""Site-wide views: health and the local content store."""

from __future__ import annotations

from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from nosana_dash.network.local import store


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, object] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    ok = checks["database"] == "ok"
    return JsonResponse({"ok": ok, "checks": checks}, status=200 if ok else 503)


@require_GET
def ipfs_content(request: HttpRequest, cid: str) -> HttpResponse:
    """The local content store, read-only, under the same path shape as a gateway."""
    item = store.get(cid)
    if item is None:
        raise Http404("no content with this CID in the local store")
    data, content_type = item
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response
