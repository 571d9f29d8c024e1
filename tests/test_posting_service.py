"""jobs.services: posting, caps, permission, exactly-once, failures, stop and extend."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import override_settings

from jobs import services
from jobs.models import DailySpend, Job, JobStatus, Step
from nosana_dash import network as networks
from nosana_dash.network.base import NOS_DECIMALS, NetworkError
from nosana_dash.network.codec.cid import cid_v0
from nosana_dash.network.local import ledger
from nosana_dash.network.local.models import LedgerJob
from tests.conftest import load_vectors
from tests.posting_fakes import FakeRemote

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> User:
    return User.objects.create_user("poster", password="pw-123456789")


@pytest.fixture
def remote_user(user: User) -> User:
    user.user_permissions.add(Permission.objects.get(codename="post_remote", content_type__app_label="jobs"))
    return User.objects.get(pk=user.pk)  # fresh object: permissions are cached per instance


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRemote:
    remote = FakeRemote("devnet")
    real = networks.get_network
    monkeypatch.setattr(networks, "get_network", lambda name: remote if name == "devnet" else real(name))
    return remote


def _invalid_case() -> dict[str, Any]:
    cases = load_vectors("job-definition-cases.json")["cases"]
    return next(c for c in cases if not c["valid"] and c["errors"] and isinstance(c["definition"], dict))


# --- local network ---------------------------------------------------------------


def test_post_on_local_network_records_job_steps_and_ledger(user: User, seed_job_text: str, seed_job: dict) -> None:
    market = ledger.default_market_address()
    job = services.post_job(user=user, network="local", market=market, definition=seed_job_text)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED, job.error
    assert job.tx_signature
    assert job.ipfs_job == cid_v0(job.definition_json.encode())
    row = LedgerJob.objects.get(address=job.address)
    assert row.ipfs_job == job.ipfs_job and row.timeout == job.timeout
    assert job.price == row.price and job.timeout == row.market.timeout  # the market's defaults
    steps = list(Step.objects.filter(job=job).order_by("index"))
    assert [(s.op_id, s.op_type) for s in steps] == [(op["id"], op["type"]) for op in seed_job["ops"]]
    assert all(s.status == "pending" for s in steps)
    assert len(bytes(job.job_secret)) == 64
    spend = DailySpend.objects.get(owner=user, network="local")
    assert spend.amount == job.price * job.timeout


def test_seed_definition_pins_the_seed_cid(user: User, seed_job_text: str) -> None:
    expected = next(v["cid"] for v in load_vectors("cid.json")["vectors"] if v.get("name") == "seed_multi_job_compact")
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(), definition=seed_job_text)
    assert job.ipfs_job == expected


def test_explicit_timeout_is_used(user: User, seed_job: dict) -> None:
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(),
                            definition=seed_job, timeout=90)
    assert job.timeout == 90 and LedgerJob.objects.get(address=job.address).timeout == 90


def test_invalid_definition_is_refused_with_paths(user: User) -> None:
    case = _invalid_case()
    with pytest.raises(services.DefinitionInvalid) as info:
        services.post_job(user=user, network="local", market=ledger.default_market_address(),
                          definition=case["definition"])
    paths = [path for path, _ in info.value.issues]
    assert paths, "issues must name JSON paths"
    assert any(path.split(".")[0].split("[")[0] in info.value.message for path in paths if path)
    assert not Job.objects.exists() and not LedgerJob.objects.exists()


def test_broken_json_text_is_refused_with_position(user: User) -> None:
    with pytest.raises(services.DefinitionInvalid) as info:
        services.post_job(user=user, network="local", market=ledger.default_market_address(), definition='{"ops": [')
    assert "line 1" in info.value.message
    assert not Job.objects.exists()


def test_unknown_market_is_refused(user: User, seed_job: dict) -> None:
    with pytest.raises(services.PostError, match="not found"):
        services.post_job(user=user, network="local", market="1" * 44, definition=seed_job)


def test_per_job_cap_is_enforced_before_anything_is_recorded(user: User, seed_job: dict) -> None:
    market = ledger.default_market_address()
    price = networks.get_network("local").get_market(market).price  # type: ignore[union-attr]
    cap = Decimal(price * 100) / NOS_DECIMALS  # room for 100 seconds
    with override_settings(NOSANA_CAP_PER_JOB_NOS=cap):
        with pytest.raises(services.SpendingCapExceeded, match="per-job cap"):
            services.post_job(user=user, network="local", market=market, definition=seed_job, timeout=101)
        assert not Job.objects.exists() and not LedgerJob.objects.exists()
        job = services.post_job(user=user, network="local", market=market, definition=seed_job, timeout=100)
    assert job.status == JobStatus.QUEUED


def test_per_day_cap_counts_earlier_posts(user: User, seed_job: dict) -> None:
    market = ledger.default_market_address()
    price = networks.get_network("local").get_market(market).price  # type: ignore[union-attr]
    with override_settings(NOSANA_CAP_PER_DAY_NOS=Decimal(price * 150) / NOS_DECIMALS):
        services.post_job(user=user, network="local", market=market, definition=seed_job, timeout=100)
        with pytest.raises(services.SpendingCapExceeded, match="per-day cap"):
            services.post_job(user=user, network="local", market=market, definition=seed_job, timeout=100)
    assert Job.objects.count() == 1
    assert DailySpend.objects.get(owner=user).amount == price * 100


def test_same_idempotency_key_posts_once(user: User, seed_job: dict) -> None:
    market = ledger.default_market_address()
    first = services.post_job(user=user, network="local", market=market, definition=seed_job, idempotency_key="k1")
    again = services.post_job(user=user, network="local", market=market, definition=seed_job, idempotency_key="k1")
    assert first.pk == again.pk
    assert LedgerJob.objects.count() == 1 and Job.objects.count() == 1


def test_anonymous_user_cannot_post(seed_job: dict) -> None:
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(services.PermissionRequired):
        services.post_job(user=AnonymousUser(), network="local", market=ledger.default_market_address(),
                          definition=seed_job)


# --- remote networks (fake) --------------------------------------------------------


def test_remote_needs_permission(user: User, fake: FakeRemote, seed_job: dict) -> None:
    with pytest.raises(services.PermissionRequired, match="devnet"):
        services.post_job(user=user, network="devnet", market=fake.market.address, definition=seed_job)
    assert fake.listings == [] and fake.uploads == []


def test_remote_post_with_permission(remote_user: User, fake: FakeRemote, seed_job: dict) -> None:
    job = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job)
    assert job.status == JobStatus.QUEUED and job.tx_signature == fake.signature_for(job.address)
    assert fake.listings == [job.address]
    assert job.payer == fake.wallet and job.timeout == fake.market.timeout
    assert fake.uploads == [job.definition_json.encode()]


def test_timeout_after_landing_looks_up_and_never_lists_twice(remote_user: User, fake: FakeRemote,
                                                              seed_job: dict) -> None:
    fake.timeout_after_landing = 1
    job = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job)
    assert job.status == JobStatus.QUEUED
    assert fake.listings == [job.address]  # listed once; the timeout did not cause a second listing
    assert fake.lookups >= 1


def test_timeout_before_landing_resends_the_same_job_once(remote_user: User, fake: FakeRemote,
                                                          seed_job: dict) -> None:
    fake.timeout_before_landing = 1
    job = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job)
    assert job.status == JobStatus.QUEUED
    assert fake.listings == [job.address]
    assert fake.send_attempts == 2  # the same job keypair both times


def test_unknown_outcome_stays_posting_and_resumes_exactly_once(remote_user: User, fake: FakeRemote,
                                                                seed_job: dict) -> None:
    fake.timeout_after_landing = 1
    fake.lookup_failures = 1
    job = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job,
                            idempotency_key="abc")
    assert job.status == JobStatus.POSTING  # neither listed nor failed: unknown, looked up again later
    again = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job,
                              idempotency_key="abc")
    assert again.pk == job.pk and again.status == JobStatus.QUEUED
    assert fake.listings == [job.address] and fake.send_attempts == 1


def test_upload_failure_ends_in_post_failed_with_cause(remote_user: User, fake: FakeRemote, seed_job: dict) -> None:
    fake.upload_error = NetworkError("pinning service answered 503 Service Unavailable")
    job = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job)
    assert job.status == JobStatus.POST_FAILED
    assert "503" in job.error
    assert fake.listings == []
    assert DailySpend.objects.get(owner=remote_user, network="devnet").amount == 0  # nothing was committed


def test_cid_mismatch_is_refused(remote_user: User, fake: FakeRemote, seed_job: dict) -> None:
    fake.wrong_cid = True
    job = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job)
    assert job.status == JobStatus.POST_FAILED and "CID" in job.error
    assert fake.listings == []


def test_send_failure_is_shown(remote_user: User, fake: FakeRemote, seed_job: dict) -> None:
    fake.send_error = NetworkError("Error Code: InvalidMarketAccount")
    job = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job)
    assert job.status == JobStatus.POST_FAILED and "InvalidMarketAccount" in job.error


def test_insufficient_nos_is_refused_before_recording(remote_user: User, fake: FakeRemote, seed_job: dict) -> None:
    fake.nos_balance = fake.market.price * fake.market.timeout - 1
    with pytest.raises(services.PostError, match="Not enough NOS"):
        services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job)
    assert not Job.objects.exists() and fake.uploads == []


def test_service_url_uses_the_expose_hash(remote_user: User, fake: FakeRemote) -> None:
    vectors = load_vectors("auth.json")["service_urls"]
    definition = vectors["job_exposed_services"]["job_definition"]
    from jobs.cli.output import expose_id, service_urls

    address = vectors["job_exposed_services"]["job_address"]
    expected = [s["hash"] for s in vectors["job_exposed_services"]["sdk_getJobExposedServices"]]
    assert [u.split("//")[1].split(".")[0] for u in service_urls(definition, address, "mainnet")] == expected
    for v in vectors["vectors"]:
        assert expose_id(v["op_index"], v["port"], v["job_address"]) == v["expose_id"]
    # Today's validator refuses string port ranges; post the definition without them.
    for op in definition["ops"]:
        if isinstance(op["args"].get("expose"), list):
            op["args"]["expose"] = [p for p in op["args"]["expose"] if not isinstance(p, str)]
    job = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=definition)
    assert job.service_url == service_urls(json.loads(job.definition_json), job.address, "devnet")[0]
    assert job.service_url.endswith(".node.k8s.dev.nos.ci")


# --- stop and extend ---------------------------------------------------------------


def test_stop_queued_local_job_delists_it(user: User, seed_job: dict) -> None:
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(), definition=seed_job)
    services.stop_job(user=user, job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED
    assert not LedgerJob.objects.filter(address=job.address).exists()  # delisted: the account is closed
    assert DailySpend.objects.get(owner=user).amount == 0  # the whole deposit came back


def test_stop_running_local_job_asks_the_worker(user: User, seed_job: dict) -> None:
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(), definition=seed_job)
    ledger.work(job.address, ledger.node_address())
    services.stop_job(user=user, job=job)
    job.refresh_from_db()
    assert job.stop_requested and job.status == JobStatus.QUEUED  # the worker ends it and records the state


def test_stop_remote_running_job_ends_it(remote_user: User, fake: FakeRemote, seed_job: dict) -> None:
    job = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job)
    fake.start_run(job.address)
    services.stop_job(user=remote_user, job=job)
    assert fake.ended == [job.address] and fake.delisted == []
    job.refresh_from_db()
    assert job.stop_requested


def test_only_the_owner_can_stop(user: User, seed_job: dict) -> None:
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(), definition=seed_job)
    other = User.objects.create_user("other", password="pw-123456789")
    with pytest.raises(services.PermissionRequired):
        services.stop_job(user=other, job=job)
    assert LedgerJob.objects.filter(address=job.address).exists()


def test_extend_raises_the_total_timeout(user: User, seed_job: dict) -> None:
    job = services.post_job(user=user, network="local", market=ledger.default_market_address(), definition=seed_job,
                            timeout=600)
    services.extend_job(user=user, job=job, new_timeout=1200)
    job.refresh_from_db()
    assert job.timeout == 1200 and LedgerJob.objects.get(address=job.address).timeout == 1200
    assert DailySpend.objects.get(owner=user).amount == job.price * 1200
    with pytest.raises(services.PostError, match="greater"):
        services.extend_job(user=user, job=job, new_timeout=1200)


def test_extend_respects_the_per_job_cap(user: User, seed_job: dict) -> None:
    market = ledger.default_market_address()
    job = services.post_job(user=user, network="local", market=market, definition=seed_job, timeout=100)
    with override_settings(NOSANA_CAP_PER_JOB_NOS=Decimal(job.price * 150) / NOS_DECIMALS):
        with pytest.raises(services.SpendingCapExceeded):
            services.extend_job(user=user, job=job, new_timeout=151)
    assert LedgerJob.objects.get(address=job.address).timeout == 100


def test_resend_refused_because_the_first_landed_counts_as_listed(remote_user: User, fake: FakeRemote,
                                                                  seed_job: dict) -> None:
    """A crash left the job `posting`; the first send had landed after all: the resume never fails it."""
    job = services.post_job(user=remote_user, network="devnet", market=fake.market.address, definition=seed_job)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.POSTING)
    job.refresh_from_db()
    fake.lookup_failures = 0
    original_get_job = fake.get_job
    calls = {"n": 0}

    def get_job_misses_once(address: str) -> Any:
        calls["n"] += 1
        return None if calls["n"] == 1 else original_get_job(address)  # a lagging RPC node, then the truth

    fake.get_job = get_job_misses_once  # type: ignore[method-assign]
    resumed = services.resume_post(job)
    assert resumed.status == JobStatus.QUEUED
    assert fake.listings == [job.address]
