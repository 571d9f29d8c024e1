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
        assert layer.startswith("channels_redis.")
    else:
        assert "InMemoryChannelLayer" in layer


@pytest.mark.django_db(transaction=True)
def test_a_local_job_runs_end_to_end(django_user_model, settings) -> None:  # type: ignore[no-untyped-def]
    """Post, run in the bubblewrap sandbox (no engine needed), read the result: on the active settings."""
    from jobs import services, worker
    from jobs.models import JobStatus, LogLine
    from nosana_dash.network.local import ledger

    settings.NOSANA_LOCAL_SANDBOX = "bubblewrap"
    user = django_user_model.objects.create_user("smoke", password="pw-smoke-123")
    definition = {"version": "0.1", "type": "container",
                  "ops": [{"type": "container/run", "id": "hello", "args": {"image": "ubuntu", "cmd": "echo smoke-ok"}}]}
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(), definition=definition)
    worker.run_once("smoke-worker")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert list(LogLine.objects.filter(job=job, stream="stdout").values_list("text", flat=True)) == ["smoke-ok"]
    client = Client()
    client.force_login(user)
    assert client.get(f"/ipfs/{job.ipfs_result}").status_code == 200
