"""The project's URLs plus `/bench/bare`: the peer every page is measured against (same middleware)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/bare", bare), path("", include("nosana_dash.urls"))]
