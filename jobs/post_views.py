"""Placeholder views: replaced by the feature that owns this module."""

from django.http import HttpRequest, HttpResponse


def extend(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def post_confirm(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def post_step(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def py(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def stop(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def wallet(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)
