"""Posting under injected RPC timeouts, 5xx/429 answers and pinning failures, through the confirm page.

Devnet is the fake chain and pinning service behind one loopback HTTP server;
the settings point at it (RPC URL with an API key, pinning URL, gateway). Each
post gets random faults from a seeded RNG: dropped connections, answers slower
than the client's timeout, 5xx and 429 answers, a send whose answer is lost
before or after it landed, pinning errors and a wrong CID. Afterwards the
worker's resume path settles posts whose outcome was unknown, and the run is
audited: no job account listed twice, none silently lost, every failure shown
to the user with its cause.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import Permission, User
from django.db.models import Sum
from django.test import Client
from django.utils.html import escape
from solders.keypair import Keypair

from jobs import watch
from jobs.models import DailySpend, Job, JobStatus
from nosana_dash import network as networks
from nosana_dash.network.codec import accounts as acc
from nosana_dash.network.codec import instructions as ixs
from nosana_dash.network.codec.cid import cid_to_digest
from nosana_dash.network.codec.keys import load_keypair
from nosana_dash.network.networks import DEVNET
from nosana_dash.network.remote import RemoteNetwork
from tests.conftest import TEST_RPC_KEY, load_vectors
from tests.fakes import FakeChain, FakeNosana, FakePinning, serve

pytestmark = pytest.mark.django_db

ACCOUNTS = load_vectors("accounts.json")
MARKET = ACCOUNTS["keys_used"]["market_mainnet_default"]
MARKET_VECTOR = next(v for v in ACCOUNTS["vectors"] if v["name"] == "market_job_queue")["decoded"]
SEED = int(os.environ.get("NOSANA_DASH_FAULT_SEED", "8"))
CLIENT_TIMEOUT = 0.25  # seconds: NOSANA_NETWORK_TIMEOUT_SECONDS for this run; "slow" answers take longer

READS = ("getAccountInfo", "getBalance", "getTokenAccountsByOwner", "getLatestBlockhash", "simulateTransaction",
         "getSignatureStatuses", "getBlockHeight", "getProgramAccounts", "getSignaturesForAddress")
READ_FAULTS = ("timeout", "5xx", "429", "slow")
SEND_FAULTS = ("timeout", "timeout_after_apply", "5xx", "slow", "slow_after_apply")
UPLOAD_FAULTS = ("timeout", "5xx", "429", "wrong_cid", "slow")
# The causes a failed post may name: each is a message of the network layer, never a bare exception.
CAUSE_WORDS = ("RPC", "pinning service", "CID", "transaction", "Transaction", "not confirmed", "Upload")


@dataclass
class FaultyNosana:
    """The fakes behind a fault schedule: faults are queued per RPC method (or `upload`) and taken in order.

    Native kinds are handed to the fakes for the very request that takes them;
    `slow` answers after the client gave up (`slow_after_apply`: the send
    lands first). The lock keeps the fakes single-threaded: the loopback
    server answers each connection in its own thread.
    """

    chain: FakeChain
    pinning: FakePinning
    fake: FakeNosana
    faults: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    injected: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def schedule(self, what: str, kind: str, times: int) -> None:
        with self.lock:
            self.faults[what].extend([kind] * times)

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/pinning/" in path:
            what = "upload"
        elif "/ipfs/" in path:
            what = "fetch"
        else:
            what = str(json.loads(request.content).get("method", ""))
        with self.lock:
            kind = self.faults[what].pop(0) if self.faults[what] else None
            if kind is not None:
                self.injected[f"{what}:{kind}"] += 1
            if kind is None or kind not in ("slow", "slow_after_apply"):
                if kind is not None and what in ("upload", "fetch"):
                    self.pinning.fail(what, kind)
                elif kind is not None:
                    self.chain.fail(what, kind)
                return self.fake.handle(request)
            response = self.fake.handle(request) if kind == "slow_after_apply" else None
        time.sleep(CLIENT_TIMEOUT * 1.6)  # outside the lock: other requests go on meanwhile
        if response is not None and what != "sendTransaction":
            return response  # a slow read answers (too late for the client)
        raise httpx.ReadTimeout("no answer in time", request=request)  # the bridge closes the connection


@pytest.fixture
def devnet(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyNosana]:
    chain = FakeChain(DEVNET)
    pinning = FakePinning(jwt=settings.NOSANA_PINNING_JWT)
    faulty = FaultyNosana(chain, pinning, FakeNosana(chain, pinning))
    wallet = load_keypair()  # the keypair file the settings name
    chain.fund(wallet.address, sol=10**15, nos=10**15)
    chain.open_market(MARKET, price=int(MARKET_VECTOR["jobPrice"]), timeout=int(MARKET_VECTOR["jobTimeout"]))
    with serve(faulty.handle) as url:
        settings.NOSANA_RPC_URL_DEVNET = f"{url}/rpc?api-key={TEST_RPC_KEY}"
        settings.NOSANA_PINNING_URL = url
        settings.NOSANA_IPFS_GATEWAY = f"{url}/ipfs/"
        settings.NOSANA_NETWORK_TIMEOUT_SECONDS = CLIENT_TIMEOUT
        settings.NOSANA_CAP_PER_JOB_NOS = 10**9
        settings.NOSANA_CAP_PER_DAY_NOS = 10**12
        settings.NOSANA_POSTS_PER_MINUTE = 10**9
        real = networks.get_network
        # The real client on the settings above; only its pauses are shortened for a thousand posts,
        # and one instance is kept (each new one loads the TLS trust store, 50 ms).
        remote = RemoteNetwork("devnet", poll_interval=0.001, retry_backoff=0.001)

        def get_network(name: str) -> Any:
            return remote if name == "devnet" else real(name)

        monkeypatch.setattr(networks, "get_network", get_network)
        yield faulty


@pytest.fixture
def poster(client: Client) -> Client:
    user = User.objects.create_user("fault-poster", password="pw-123456789")
    user.user_permissions.add(Permission.objects.get(codename="post_remote", content_type__app_label="jobs"))
    client.force_login(user)
    return client


VALID_CASES = [c["definition"] for c in load_vectors("job-definition-cases.json")["cases"]
               if c["valid"] and isinstance(c["definition"], dict) and c["definition"].get("ops")]


def _definition(i: int) -> str:
    """The vectors' valid definitions in turn (the same content may be pinned again: that is allowed)."""
    return json.dumps(VALID_CASES[i % len(VALID_CASES)])


def _inject(rng: random.Random, devnet: FaultyNosana) -> None:
    for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
        target = rng.random()
        if target < 0.25:
            devnet.schedule("upload", rng.choice(UPLOAD_FAULTS), rng.randint(1, 4))
        elif target < 0.5:
            devnet.schedule("sendTransaction", rng.choice(SEND_FAULTS), 1)
        else:
            devnet.schedule(rng.choice(READS), rng.choice(READ_FAULTS), rng.randint(1, 4))


def _listed_addresses(chain: FakeChain) -> list[str]:
    """The job account of every `list` instruction that landed (from the sent transactions)."""
    out = []
    for tx in chain.sent:
        keys = [str(k) for k in tx.message.account_keys]
        for ix in tx.message.instructions:
            if bytes(ix.data)[:8] == ixs.LIST:
                out.append(keys[ix.accounts[0]])
    return out


def _run(posts: int, devnet: FaultyNosana, poster: Client) -> None:
    rng = random.Random(SEED * 1_000_003 + posts)
    refused: list[tuple[int, str]] = []
    for i in range(posts):
        _inject(rng, devnet)
        listed_before = devnet.chain.listed
        response = poster.post("/jobs/post/confirm", {
            "network": "devnet", "market": MARKET, "definition": _definition(i),
            "idempotency_key": uuid.uuid4().hex,
        }, follow=True)
        devnet.clear()  # a post's faults are its own
        html = response.content.decode()
        assert response.status_code in (200, 400), (i, response.status_code)
        if response.redirect_chain:
            address = response.redirect_chain[-1][0].rstrip("/").rsplit("/", 1)[1]
            job = Job.objects.get(address=address)
            if job.status == JobStatus.POST_FAILED:
                assert job.error and escape(f"Posting failed: {job.error}") in html, (i, job.error)
        else:  # refused before anything was recorded: the page says why, nothing was listed
            assert response.status_code == 400 and devnet.chain.listed == listed_before, i
            error = response.context["error"]
            assert error and escape(error) in html and any(w in error for w in CAUSE_WORDS), (i, error)
            refused.append((i, error))

    # The worker settles posts whose outcome was unknown (the network is healthy again).
    unknown = Job.objects.filter(status=JobStatus.POSTING).count()
    for _round in range(5):
        pending = list(Job.objects.filter(status=JobStatus.POSTING))
        if not pending:
            break
        for job in pending:
            watch.follow(job, force=True)
    _audit(posts, refused, devnet, poster)
    statuses = Counter(Job.objects.filter(network="devnet").values_list("status", flat=True))
    print(f"\n{posts} posts (seed {SEED}): {dict(statuses)}, refused before recording {len(refused)}, "
          f"settled later {unknown}, faults taken {sum(devnet.injected.values())}: {dict(devnet.injected)}")


def _audit(posts: int, refused: list[tuple[int, str]], devnet: FaultyNosana, poster: Client) -> None:
    chain = devnet.chain
    jobs = list(Job.objects.filter(network="devnet"))
    assert len(jobs) + len(refused) == posts, "a post vanished: neither recorded nor refused on the page"
    statuses = Counter(job.status for job in jobs)
    assert set(statuses) <= {JobStatus.QUEUED, JobStatus.POST_FAILED}, statuses

    # None listed twice: one landed `list` per job account, and the chain holds exactly those.
    landed = _listed_addresses(chain)
    assert len(landed) == len(set(landed)) == chain.listed
    on_chain = {address for address, a in chain.state.accounts.items() if a.data[:8] == acc.JOB_DISCRIMINATOR}
    assert on_chain == set(landed)
    queued = {job.address for job in jobs if job.status == JobStatus.QUEUED}
    assert queued == on_chain, "a job on the chain is not queued here, or a queued job is not on the chain"
    market = chain.market(MARKET)
    assert market is not None and sorted(market.queue) == sorted(queued) and len(set(market.queue)) == len(queued)

    for job in jobs:
        assert Keypair.from_bytes(bytes(job.job_secret)).pubkey().__str__() == job.address
        if job.status == JobStatus.QUEUED:
            record = chain.job(job.address)
            assert record is not None and record.ipfs_job == cid_to_digest(job.ipfs_job)
            assert job.ipfs_job in devnet.pinning.store and not job.error
        else:
            assert chain.job(job.address) is None
            assert job.error and any(w in job.error for w in CAUSE_WORDS), job.error
            page = poster.get(f"/jobs/{job.address}").content.decode()
            assert escape(job.error) in page  # the job page keeps saying why

    # Nothing committed twice and nothing held for failed posts: the spend is the queued jobs' deposits.
    spent = DailySpend.objects.filter(network="devnet").aggregate(total=Sum("amount"))["total"] or 0
    assert spent == sum(job.price * job.timeout for job in jobs if job.status == JobStatus.QUEUED)
    # The run really was faulty: most kinds of fault were taken, and both outcomes happened.
    assert len(devnet.injected) >= 8, devnet.injected
    assert statuses[JobStatus.QUEUED] > 0 and statuses[JobStatus.POST_FAILED] + len(refused) > 0, statuses


@pytest.mark.timeout(300)
def test_50_posts_under_random_faults_lose_and_double_nothing(devnet: FaultyNosana, poster: Client) -> None:
    _run(50, devnet, poster)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_1000_posts_under_random_faults_lose_and_double_nothing(devnet: FaultyNosana, poster: Client) -> None:
    _run(1000, devnet, poster)
