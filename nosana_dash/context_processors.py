from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

# URL names of the jobs app that belong to composing and posting, not to the job list.
COMPOSE_VIEWS = {"new", "validate", "sync_json", "template", "download", "drafts", "draft", "post", "post_confirm"}


def _nav_section(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    if match.namespace == "jobs":
        return "compose" if match.url_name in COMPOSE_VIEWS else "jobs"
    if match.namespace == "markets":
        return "nodes" if (match.url_name or "").startswith("node") else "markets"
    return match.namespace or ""


def dashboard(request: HttpRequest) -> dict[str, object]:
    return {
        "default_network": settings.NOSANA_DEFAULT_NETWORK,
        "profile": settings.PROFILE,
        "nav_section": _nav_section(request),
    }
