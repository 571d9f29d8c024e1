"""The production profile: deploy checks, CSP without inline code, health and metrics."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from jobs.models import Job, WorkerHeartbeat

ROOT = Path(__file__).resolve().parent.parent


def test_check_deploy_is_clean_in_production(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},  # set by browser fixtures
        "NOSANA_DASH_PROFILE": "production",
        "NOSANA_DASH_SECRET_KEY": "x" * 20 + "-production-secret-key-for-the-check-0123456789",
        "NOSANA_DASH_VAR_DIR": str(tmp_path),
        "NOSANA_DASH_ALLOWED_HOSTS": "dash.example.org",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


@pytest.mark.parametrize("template", sorted((ROOT / "templates").rglob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_inline_code(template: Path) -> None:
    # The CSP has no 'unsafe-inline': inline scripts, styles and handlers would be blocked.
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text), "inline <script>"
    assert not INLINE_STYLE.search(text), "inline style"
    assert not INLINE_HANDLER.search(text), "inline event handler"


@pytest.mark.django_db
def test_pages_carry_a_csp_without_unsafe_inline(client: Client) -> None:
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.django_db
def test_healthz_reports_database_redis_and_workers(client: Client) -> None:
    WorkerHeartbeat.objects.create(name="w1", seen_at=timezone.now(), jobs_running=1)
    body = client.get("/healthz").json()
    assert body["checks"]["database"] == "ok"
    if os.environ.get("REDIS_URL"):
        assert body["checks"]["redis"] == "ok"
    assert body["checks"]["workers"][0]["name"] == "w1" and body["checks"]["workers"][0]["alive"]


@pytest.mark.django_db
def test_metrics_count_jobs_and_lines(client: Client) -> None:
    Job.objects.create(address="A1", market="m", status="running", definition_json="{}", ipfs_job="Qm", last_seq=7)
    text = client.get("/metrics").content.decode()
    assert 'nosana_dash_jobs{network="local",status="running"} 1.0' in text
    assert "nosana_dash_log_lines 7.0" in text
    assert "nosana_dash_websocket_clients" in text
    with override_settings(NOSANA_DASH_METRICS_TOKEN="metrics-token-1"):
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-1").status_code == 200
