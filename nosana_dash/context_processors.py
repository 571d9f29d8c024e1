from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def dashboard(request: HttpRequest) -> dict[str, object]:
    return {"default_network": settings.NOSANA_DEFAULT_NETWORK, "profile": settings.PROFILE}
