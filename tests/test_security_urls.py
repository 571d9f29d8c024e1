"""Every URL pattern: state changes need a signed-in user and a CSRF token.

The test walks the whole URL configuration, so a view added later is checked
without anyone remembering to add it here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# POST endpoints that change nothing: signing in, and the composer's pure transformations.
READ_ONLY_POSTS = {"home", "login", "markets:picker", "jobs:validate", "jobs:sync_json", "jobs:download", "jobs:new"}
SKIP_PREFIXES = ("admin:",)  # Django's admin has its own, tested, protection


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name or ''}", prefix + str(entry.pattern)


def _concrete(route: str, address: str) -> str:
    route = route.lstrip("^").rstrip("$")
    route = re.sub(r"<int:[^>]+>", "1", route)
    route = re.sub(r"<(str|slug):(address|cid)>", address, route)
    route = re.sub(r"<(str|slug|path):[^>]+>", "x", route)
    return "/" + route


def _patterns() -> list[tuple[str, str]]:
    return [(name, route) for name, route in _walk(get_resolver()) if not name.startswith(SKIP_PREFIXES)]


def _row_counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label not in ("sessions",)}


def _job_address() -> str:
    from jobs.models import Job

    owner = get_user_model().objects.create_user("owner", password="pw-owner-123")
    job = Job.objects.create(
        address="9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj", owner=owner, market="m", status="running",
        definition_json="{}", ipfs_job="QmNLei78zWmzUdbeRB3CiUfAizWUrbeeZh5K1rhAQKCh51",
    )
    return job.address


def test_url_walk_finds_the_views() -> None:
    names = {name for name, _ in _patterns()}
    assert {"jobs:list", "jobs:new", "jobs:post", "jobs:stop", "markets:list", "wallet:show"} <= names


def test_anonymous_posts_change_nothing() -> None:
    address = _job_address()
    client = Client()
    before = _row_counts()
    for name, route in _patterns():
        url = _concrete(route, address)
        response = client.post(url, {"definition": "{}", "market": "x", "timeout": "60"})
        if name in READ_ONLY_POSTS:
            assert response.status_code < 500, (name, url, response.status_code)
            continue
        assert response.status_code in (302, 401, 403, 404, 405), (name, url, response.status_code)
        if response.status_code == 302:
            assert "/accounts/login/" in response["Location"], (name, url, response["Location"])
    assert _row_counts() == before


def test_signed_in_posts_need_csrf() -> None:
    address = _job_address()
    client = Client(enforce_csrf_checks=True)
    client.login(username="owner", password="pw-owner-123")
    before = _row_counts()
    for name, route in _patterns():
        if name == "logout":
            continue
        url = _concrete(route, address)
        response = client.post(url, {"definition": "{}", "market": "x", "timeout": "60"})
        assert response.status_code == 403, (name, url, response.status_code)
    after = _row_counts()
    after.pop("auth.User", None), before.pop("auth.User", None)
    assert after == before
