"""Placeholder views: replaced by the feature that owns this module."""

from django.http import HttpRequest, HttpResponse


def composer(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def delete_draft(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def download(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def drafts(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def from_template(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def open_draft(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def py(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def sync_json(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)


def validate(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("not built yet", status=501)
