"""Placeholder views: replaced by the feature that owns this module."""

from django.http import HttpRequest, HttpResponse


def market_detail(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def market_list(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def node_detail(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def node_list(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def refresh(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def refresh_progress(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)
