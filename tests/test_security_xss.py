"""Hostile text in op ids, env values, market names and log output renders as text everywhere."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from jobs.logwriter import LogWriter
from jobs.models import Job, JobStatus, Step
from markets.models import Market

pytestmark = pytest.mark.django_db

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
DEFINITION = {
    "version": "0.1",
    "type": "container",
    "global": {"env": {"HOSTILE": PAYLOAD}},
    "ops": [{"type": "container/run", "id": PAYLOAD, "args": {"image": "ubuntu", "cmd": PAYLOAD}}],
}


def _assert_escaped(html: str) -> None:
    assert "<script>alert" not in html
    assert "<img src=x onerror" not in html


def _client() -> tuple[Client, object]:
    user = get_user_model().objects.create_user("victim", password="pw-victim-123")
    client = Client()
    client.force_login(user)
    return client, user


def test_job_page_and_list_escape_op_ids_output_and_market_names() -> None:
    client, user = _client()
    Market.objects.create(network="local", address="MarketHostile1", name=PAYLOAD, gpu=PAYLOAD, price=1, timeout=60,
                          synced_at=timezone.now())
    job = Job.objects.create(address="JobHostile1" + "x" * 30, owner=user, market="MarketHostile1",
                             market_name=PAYLOAD, status=JobStatus.RUNNING, definition_json=json.dumps(DEFINITION),
                             ipfs_job="QmRSLxBU9iemsmjmHMmmqkwEkqujuYSrtPeNYqoNRGmmxT", error=PAYLOAD)
    step = Step.objects.create(job=job, index=0, op_id=PAYLOAD, op_type="container/run")
    writer = LogWriter(job)
    writer.line(PAYLOAD, step=step)
    writer.line("\x1b[31m" + PAYLOAD + "\x1b[0m", step=step, stream="stderr")
    writer.flush()
    for url in (f"/jobs/{job.address}", "/jobs/", f"/jobs/{job.address}/lines?after=0", "/markets/",
                "/markets/MarketHostile1", "/nodes/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        _assert_escaped(html)
        if url.startswith("/jobs/JobHostile") or url.startswith("/markets/"):
            assert "&lt;script&gt;alert" in html, f"{url} did not show the hostile text at all"


def test_composer_escapes_env_values_and_op_ids() -> None:
    client, _ = _client()
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client.post("/jobs/new/sync-json", {"definition": json.dumps(DEFINITION)}, **headers)
        assert response.status_code < 500
        html = response.content.decode()
        _assert_escaped(html)
        assert "&lt;script&gt;alert" in html, "the definition was not rendered at all"
