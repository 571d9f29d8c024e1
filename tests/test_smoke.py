"""Smoke run: the project boots and serves its pages on whatever settings are active.

The test command runs this file a second time without DATABASE_URL and
REDIS_URL, so the embedded defaults (SQLite, in-memory channel layer) are
exercised too.
"""

import pytest
from django.conf import settings
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def test_login_page_renders(client: Client) -> None:
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Sign in" in response.content


def test_healthz(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def test_settings_follow_environment() -> None:
    import os

    engine = settings.DATABASES["default"]["ENGINE"]
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if os.environ.get("DATABASE_URL"):
        assert "postgresql" in engine
    else:
        assert "sqlite3" in engine
    if os.environ.get("REDIS_URL"):
        assert "RedisChannelLayer" in layer
    else:
        assert "InMemoryChannelLayer" in layer
