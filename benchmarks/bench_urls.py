"""The project's URLs plus the peers every page is measured against (same server, same middleware).

`/bench/bare` answers without touching the session; `/bench/signed-in` only reads the signed-in
user (the session and the user: two queries), the floor of every signed-in page.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def signed_in(request: HttpRequest) -> HttpResponse:
    return HttpResponse("yes" if request.user.is_authenticated else "no", content_type="text/plain")


urlpatterns = [path("bench/bare", bare), path("bench/signed-in", signed_in), path("", include("nosana_dash.urls"))]
