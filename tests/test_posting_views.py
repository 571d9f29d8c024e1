"""The post step, confirm, stop and extend pages: GET/POST with and without htmx, CSRF, sign-in."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.test import Client

from jobs import services
from jobs.models import Job, JobStatus
from nosana_dash import network as networks
from nosana_dash.network.local import ledger
from nosana_dash.network.local.models import LedgerJob
from tests.conftest import load_vectors
from tests.posting_fakes import FakeRemote

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def user() -> User:
    return User.objects.create_user("poster", password="pw-123456789")


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def _review(client: Client, definition: str, **extra: str) -> object:
    data = {"definition": definition, "network": "local", "market": ledger.default_market_address(),
            "action": "review", **extra}
    return client.post("/jobs/post", data)


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"hidden field {name} missing"
    return match.group(1)


def test_sign_in_required(client: Client) -> None:
    for url in ("/jobs/post", "/wallet/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.post("/jobs/post/confirm", {}).status_code == 302
    assert not Job.objects.exists()


def test_post_step_lists_local_markets_with_prices(signed_in: Client) -> None:
    response = signed_in.get("/jobs/post?network=local")
    html = response.content.decode()
    assert response.status_code == 200
    assert "csrfmiddlewaretoken" in html
    local = networks.get_network("local")
    for market in local.list_markets():
        assert market.address in html and market.name in html
    assert "No wallet is needed on the local network" in html


def test_htmx_network_change_returns_the_markets_partial(signed_in: Client) -> None:
    response = signed_in.post("/jobs/post", {"network": "local", "definition": ""},
                              HTTP_HX_TARGET="post-markets", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="post-markets"') and "<html" not in html


def test_review_shows_plain_words_and_confirm_posts_once(signed_in: Client, seed_job_text: str) -> None:
    response = _review(signed_in, seed_job_text)
    html = response.content.decode()
    assert response.status_code == 200
    market = networks.get_network("local").get_market(ledger.default_market_address())
    assert market is not None
    assert "unused time is refunded" in html and "escrow" in html
    assert f"{market.timeout // 60} minutes" in html
    key = _hidden(html, "idempotency_key")
    assert not Job.objects.exists()  # nothing is posted before the confirm step
    form = {"definition": seed_job_text, "network": "local", "market": market.address,
            "timeout_seconds": _hidden(html, "timeout_seconds"), "idempotency_key": key}
    first = signed_in.post("/jobs/post/confirm", form)
    job = Job.objects.get()
    assert first.status_code == 302 and first["Location"] == f"/jobs/{job.address}"
    again = signed_in.post("/jobs/post/confirm", form, **HTMX)  # a double submit
    assert again.status_code == 200 and again["HX-Redirect"] == f"/jobs/{job.address}"
    assert Job.objects.count() == 1 and LedgerJob.objects.count() == 1
    assert job.status == JobStatus.QUEUED


def test_invalid_definition_shows_paths_not_a_500(signed_in: Client) -> None:
    case = next(c for c in load_vectors("job-definition-cases.json")["cases"] if not c["valid"] and c["errors"]
                and isinstance(c["definition"], dict))
    import json

    response = _review(signed_in, json.dumps(case["definition"]))
    html = response.content.decode()
    assert response.status_code == 400
    assert "invalid" in html
    assert any(f"<code>{e['path'] or '(root)'}</code>" in html for e in case["errors"] if "path" in e) or "<code>" in html
    assert not Job.objects.exists()


def test_broken_json_and_bad_timeout_are_explained(signed_in: Client, seed_job_text: str) -> None:
    assert b"not valid JSON" in _review(signed_in, "{").content
    response = _review(signed_in, seed_job_text, timeout_minutes="soon")
    assert response.status_code == 400 and b"whole number of minutes" in response.content


def test_csrf_is_enforced(user: User, seed_job_text: str) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/jobs/post/confirm", {"definition": seed_job_text, "network": "local",
                                                  "market": ledger.default_market_address()})
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_remote_without_permission_is_refused_on_the_page(signed_in: Client, seed_job_text: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRemote("devnet")
    real = networks.get_network
    monkeypatch.setattr(networks, "get_network", lambda name: fake if name == "devnet" else real(name))
    response = signed_in.post("/jobs/post/confirm", {"definition": seed_job_text, "network": "devnet",
                                                     "market": fake.market.address, "idempotency_key": "x"})
    assert response.status_code == 400
    assert "permission" in response.content.decode()
    assert fake.listings == [] and not Job.objects.exists()


def test_stop_and_extend_are_confirmed_first(signed_in: Client, user: User, seed_job: dict) -> None:
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(), definition=seed_job,
                            timeout=600)
    page = signed_in.get(f"/jobs/{job.address}/extend")
    assert page.status_code == 200 and b"new total" in page.content
    bad = signed_in.post(f"/jobs/{job.address}/extend", {"new_timeout_minutes": "5"})
    assert bad.status_code == 400 and b"greater" in bad.content
    done = signed_in.post(f"/jobs/{job.address}/extend", {"new_timeout_minutes": "20"})
    assert done.status_code == 302
    job.refresh_from_db()
    assert job.timeout == 1200
    confirm = signed_in.get(f"/jobs/{job.address}/stop")
    assert confirm.status_code == 200 and b"delisted" in confirm.content
    assert LedgerJob.objects.filter(address=job.address).exists()  # GET changes nothing
    stopped = signed_in.post(f"/jobs/{job.address}/stop", **HTMX)
    assert stopped["HX-Redirect"] == f"/jobs/{job.address}"
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED and not LedgerJob.objects.filter(address=job.address).exists()


def test_someone_elses_job_cannot_be_stopped(client: Client, user: User, seed_job: dict) -> None:
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(), definition=seed_job)
    other = User.objects.create_user("other", password="pw-123456789")
    client.force_login(other)
    response = client.post(f"/jobs/{job.address}/stop")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and LedgerJob.objects.filter(address=job.address).exists()


def test_job_actions_partial_only_for_the_owner(user: User, seed_job: dict) -> None:
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(), definition=seed_job)
    mine = render_to_string("jobs/_job_actions.html", {"job": job, "user": user})
    assert f"/jobs/{job.address}/stop" in mine and f"/jobs/{job.address}/extend" in mine
    other = User.objects.create_user("other", password="pw-123456789")
    assert "/stop" not in render_to_string("jobs/_job_actions.html", {"job": job, "user": other})


def test_posting_is_rate_limited_per_user(signed_in: Client, seed_job_text: str, settings: Any) -> None:
    settings.NOSANA_POSTS_PER_MINUTE = 2  # counted per user id: a fresh user starts at zero
    market = ledger.default_market_address()
    for n in range(2):
        response = signed_in.post("/jobs/post/confirm", {"definition": seed_job_text, "network": "local",
                                                         "market": market, "idempotency_key": f"rate-{n}"})
        assert response.status_code == 302
    response = signed_in.post("/jobs/post/confirm", {"definition": seed_job_text, "network": "local",
                                                     "market": market, "idempotency_key": "rate-2"})
    assert response.status_code == 429
    assert b"the most allowed" in response.content
    assert Job.objects.count() == 2
