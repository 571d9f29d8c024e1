"""The live job page in Debian's chromium: the seed job runs on the local network while we watch.

Daphne serves the ASGI app in a subprocess on a free loopback port (websockets
need a real server); this process runs the worker. Lines travel through the
Redis channel layer between the two processes, as in production.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client

from jobs import services, worker
from jobs.models import Job, JobStatus, LogLine
from nosana_dash.network.local import ledger
from tests.conftest import ROOT
from tests.engine import engine_host  # noqa: F401 - session fixture
from tests.layers import redis_channel_layers

pytestmark = [pytest.mark.browser, pytest.mark.engine, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_daphne(settings: Any) -> Iterator[str]:
    """A daphne subprocess on the test database, sharing a Redis channel layer with this process."""
    prefix = f"{os.environ.get('NOSANA_DASH_CHANNEL_PREFIX', 'test')}-b{uuid.uuid4().hex[:6]}"
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings.CHANNEL_LAYERS = redis_channel_layers(redis_url, prefix)
    db = django_settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("the browser test shares the database with a server process: needs PostgreSQL")
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
               REDIS_URL=redis_url, NOSANA_DASH_CHANNEL_PREFIX=prefix, DJANGO_SETTINGS_MODULE="nosana_dash.settings",
               NOSANA_DASH_LOG_LEVEL="WARNING")
    env.pop("NOSANA_DASH_TEST_DB", None)
    server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                               "nosana_dash.asgi:application"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def test_watch_the_seed_job_live(page: Any, live_daphne: str, settings: Any, engine_host: str,  # noqa: F811
                                 django_user_model: Any, seed_job: dict[str, Any]) -> None:
    settings.DOCKER_HOST = engine_host
    settings.NOSANA_LOCAL_SANDBOX = "engine"
    user = django_user_model.objects.create_user("watcher", password="pw-watch-123456")
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(), definition=seed_job)
    assert job.status == JobStatus.QUEUED, job.error
    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                               "domain": "127.0.0.1", "path": "/"}])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto(f"{live_daphne}/jobs/{job.address}")
    page.wait_for_selector("#live-state.live")
    assert page.locator("#steps .log-line").count() == 0  # nothing yet: every line below arrives live

    def run_worker() -> None:
        try:
            worker.run_once("w-browser")
        finally:
            connections.close_all()  # this thread's connection must not outlive the test database

    runner = threading.Thread(target=run_worker, daemon=True)
    runner.start()
    # Lines appear under the right step, with per-step numbers and anchors.
    page.wait_for_selector('#log-run-from-cli .log-line .tx:text-is("test.txt")', timeout=120_000)
    page.wait_for_selector('#log-run-from-cli-2 .log-line .tx:text-is("Hello World")', timeout=120_000)
    assert page.locator("#log-run-from-cli-2 .tx", has_text="test.txt").count() == 0
    runner.join(120)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    page.wait_for_selector("#job-status-badge.status-completed")  # the header followed the status live
    assert page.locator("#step-run-from-cli-2.step-success").count() == 1

    # A step collapses.
    page.click("#step-create-volume > summary")
    assert page.eval_on_selector("#step-create-volume", "d => d.open") is False

    # Search finds a line, in a collapsed step too.
    page.click("#step-run-from-cli > summary")
    page.fill("#log-search", "/home/podman")
    page.wait_for_selector('#match-count:text-is("1 of 1")')
    assert page.eval_on_selector("#step-run-from-cli", "d => d.open") is True
    assert page.locator(".log-line.current .tx").inner_text() == "/home/podman"

    # The download holds every line.
    with page.expect_download() as download_info:
        page.click("text=Download all")
    body = Path(download_info.value.path()).read_text()
    texts = list(LogLine.objects.filter(job=job).order_by("seq").values_list("text", flat=True))
    assert texts and all(text + "\n" in body for text in texts)

    shots = os.environ.get("NOSANA_DASH_SCREENSHOTS")
    if shots:
        page.fill("#log-search", "")
        page.click("#expand-all")
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.screenshot(path=str(Path(shots) / f"job-page-{scheme}.png"), full_page=True)
        page.goto(f"{live_daphne}/jobs/")
        page.screenshot(path=str(Path(shots) / "jobs-list-dark.png"), full_page=True)
    assert not errors, errors
    assert Job.objects.filter(pk=job.pk, status=JobStatus.COMPLETED).exists()
