"""Sign-in with a rate limit on failed attempts per client address and user name."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from nosana_dash import ratelimit


def client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


class LoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ident = f"{client_ip(request)}|{request.POST.get('username', '')[:150].lower()}"
        limit, window = settings.NOSANA_LOGIN_ATTEMPTS, settings.NOSANA_LOGIN_WINDOW_SECONDS
        if ratelimit.blocked("login", ident, limit=limit, window=window):
            response = self.render_to_response(self.get_context_data(rate_limited=True, form=self.get_form()))
            response.status_code = 429
            response["Retry-After"] = str(window)
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form came back: a failed attempt
            ratelimit.hit("login", ident, limit=limit, window=window)
        return response
