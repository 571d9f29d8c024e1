"""Market sync against the RPC fake fed with accounts.json bytes, and against the local ledger."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from solders.keypair import Keypair

from markets import selectors, services
from markets.models import Market, MarketSnapshot, NetworkJob, Node, SyncRun
from nosana_dash.network.networks import MAINNET
from nosana_dash.network.remote import RemoteNetwork
from tests.conftest import load_vectors
from tests.fakes import FakeChain, FakeNosana, FakePinning

ACCOUNTS = load_vectors("accounts.json")
PDA = load_vectors("pda.json")
VECTORS = {v["name"]: v for v in ACCOUNTS["vectors"]}
KEYS = ACCOUNTS["keys_used"]
SYSTEM = "11111111111111111111111111111111"


def _market_address(label: str) -> str:
    return next(v["market"] for v in PDA["vaults"] if v["network"] == "mainnet" and v["market_name"].startswith(label))


# Where each market vector lives: the job-queue market is the one the job vectors name.
MARKET_AT = {
    "market_job_queue": VECTORS["job_queued"]["decoded"]["market"],
    "market_node_queue": _market_address("seed_doc_market"),
    "market_empty": _market_address("made_up_market"),
}


def _derived(label: str) -> str:
    return str(Keypair.from_seed(hashlib.sha256(label.encode()).digest()).pubkey())


JOB_AT = {
    "job_queued": KEYS["job"],
    "job_done": _derived("job_done"),
    "job_ended_by_poster_no_result_yet": _derived("job_ended_by_poster_no_result_yet"),
    "job_stopped": _derived("job_stopped"),
}
NODE_INFO = {
    "node": KEYS["node"],
    "uptime": 1000,
    "state": "QUEUED",
    "info": {
        "version": "1.0.0",
        "country": "NL",
        "network": {"ping_ms": 12, "download_mbps": 900, "upload_mbps": 400},
        "cpu": {"model": "AMD Ryzen 9", "physical_cores": 8, "logical_cores": 16},
        "disk_gb": 512,
        "ram_mb": 65536,
        "gpus": {"devices": [{"index": 0, "name": "NVIDIA GeForce RTX 4090", "memory": 24564}]},
    },
}


def _raw(name: str) -> bytes:
    return base64.b64decode(VECTORS[name]["data_base64"])


@pytest.fixture
def chain() -> FakeChain:
    chain = FakeChain(MAINNET)
    for name, address in MARKET_AT.items():
        chain.put(address, _raw(name))
    for name, address in JOB_AT.items():
        chain.put(address, _raw(name))
    chain.put(KEYS["run"], _raw("run_active"))
    return chain


@pytest.fixture
def remote(chain: FakeChain) -> RemoteNetwork:
    fake = FakeNosana(chain, FakePinning(), node_info={KEYS["node"]: NODE_INFO})
    return RemoteNetwork("mainnet", rpc_url="http://rpc.test", transport=httpx.MockTransport(fake.handle), retry_backoff=0)


def _sync(net: Any, network: str = "mainnet") -> SyncRun:
    run = SyncRun.objects.create(network=network)
    services.run_sync(sync_run_id=run.pk, net=net)
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_sync_stores_decoded_market_fields(remote: RemoteNetwork) -> None:
    run = _sync(remote)
    assert run.ok is True, run.message
    assert run.progress == 100 and run.finished_at is not None
    assert Market.objects.filter(network="mainnet").count() == len(MARKET_AT)
    for name, address in MARKET_AT.items():
        decoded = VECTORS[name]["decoded"]
        m = Market.objects.get(network="mainnet", address=address)
        assert m.price == int(decoded["jobPrice"])
        assert m.timeout == int(decoded["jobTimeout"])
        assert m.job_expiration == int(decoded["jobExpiration"])
        assert m.job_type == int(decoded["jobType"])
        assert m.queue == decoded["queue"]
        assert m.node_xnos_minimum == Decimal(decoded["nodeXnosMinimum"])
        expected_access = "" if decoded["nodeAccessKey"] == SYSTEM else decoded["nodeAccessKey"]
        assert m.node_access_key == expected_access
        queue_type = {"0": "jobs", "1": "nodes", "255": "empty"}[decoded["queueType"]]
        assert m.queue_type == queue_type
        assert m.idle_nodes == (len(decoded["queue"]) if queue_type == "nodes" else 0)
        assert m.jobs_waiting == (len(decoded["queue"]) if queue_type == "jobs" else 0)
    # One snapshot per market per sync.
    assert MarketSnapshot.objects.count() == len(MARKET_AT)
    _sync(remote)
    assert MarketSnapshot.objects.count() == 2 * len(MARKET_AT)


@pytest.mark.django_db
def test_sync_names_curated_markets_and_leaves_others_unknown(remote: RemoteNetwork) -> None:
    _sync(remote)
    for address in MARKET_AT.values():
        m = Market.objects.get(network="mainnet", address=address)
        known = services.known_market("mainnet", address)
        assert m.name == (known.name if known else "")
        assert m.gpu == (known.gpu if known else "")
    seed_market = Market.objects.get(address=MARKET_AT["market_node_queue"])
    assert seed_market.name  # the seed document's market is curated
    assert Market.objects.get(address=MARKET_AT["market_empty"]).name == ""


@pytest.mark.django_db
def test_sync_running_jobs_nodes_and_history(remote: RemoteNetwork) -> None:
    _sync(remote)
    run = VECTORS["run_active"]["decoded"]
    job_market = VECTORS["job_queued"]["decoded"]["market"]
    assert Market.objects.get(address=job_market).running_jobs == 1
    running = NetworkJob.objects.get(address=run["job"])
    assert running.state == "RUNNING"
    assert running.node == run["node"] and running.time_start == int(run["time"])
    assert NetworkJob.objects.get(address=JOB_AT["job_stopped"]).state == "STOPPED"
    done = NetworkJob.objects.get(address=JOB_AT["job_done"])
    decoded = VECTORS["job_done"]["decoded"]
    assert done.state == "COMPLETED" and done.has_result
    assert done.duration == int(decoded["timeEnd"]) - int(decoded["timeStart"])
    assert done.cost == done.duration * int(decoded["price"])

    node = Node.objects.get(network="mainnet", address=run["node"])
    assert node.current_job == run["job"]
    finished = [
        VECTORS[name]["decoded"]
        for name in JOB_AT
        if VECTORS[name]["decoded"]["state"] == "2" and VECTORS[name]["decoded"]["node"] == run["node"]
    ]
    assert node.jobs_done == len(finished)
    with_result = [d for d in finished if set(d["ipfsResult"]["hex"]) != {"0"}]
    assert node.jobs_succeeded == len(with_result)
    assert node.total_duration == sum(int(d["timeEnd"]) - int(d["timeStart"]) for d in finished)
    # Every node in the node queue is known, idle, and in that market.
    for address in VECTORS["market_node_queue"]["decoded"]["queue"]:
        assert Node.objects.get(network="mainnet", address=address).market == MARKET_AT["market_node_queue"]


@pytest.mark.django_db
def test_specs_only_from_nodes_that_answer(remote: RemoteNetwork) -> None:
    _sync(remote)
    answered = Node.objects.get(address=KEYS["node"])
    assert answered.specs == NODE_INFO and answered.specs_checked_at is not None
    specs = selectors.node_specs(answered.specs)
    assert specs is not None
    assert specs["gpu"] == NODE_INFO["info"]["gpus"]["devices"][0]["name"]
    assert specs["ram_mb"] == NODE_INFO["info"]["ram_mb"]
    silent = Node.objects.exclude(address=KEYS["node"]).filter(network="mainnet")
    assert silent.exists()
    assert all(n.specs is None for n in silent)
    assert all(selectors.node_specs(n.specs) is None for n in silent)


@pytest.mark.django_db
def test_sync_failure_is_recorded_not_raised(chain: FakeChain, remote: RemoteNetwork) -> None:
    chain.fail("getProgramAccounts", "disabled", times=10)
    run = _sync(remote)
    assert run.ok is False
    assert run.finished_at is not None and run.message
    assert not Market.objects.exists()


@pytest.mark.django_db
def test_unconfigured_rpc_is_a_clear_message(settings: Any) -> None:
    settings.NOSANA_RPC_URL_DEVNET = ""
    run = services.sync_network(network="devnet", include_specs=False)
    assert run.ok is False
    assert "NOSANA_RPC_URL_DEVNET" in run.message


@pytest.mark.django_db
def test_markets_closed_on_chain_leave_the_cache(chain: FakeChain, remote: RemoteNetwork) -> None:
    _sync(remote)
    del chain.state.accounts[MARKET_AT["market_empty"]]
    _sync(remote)
    assert not Market.objects.filter(address=MARKET_AT["market_empty"]).exists()
    assert Market.objects.filter(network="mainnet").count() == len(MARKET_AT) - 1


@pytest.mark.django_db
def test_local_network_sync_shows_local_markets_and_node() -> None:
    from nosana_dash.network.local import ledger
    from nosana_dash.network.local.models import LedgerMarket

    ledger.ensure_local_markets()
    run = services.sync_network(network="local")
    assert run.ok is True, run.message
    ledger_markets = {m.address: m for m in LedgerMarket.objects.all()}
    cached = {m.address: m for m in Market.objects.filter(network="local")}
    assert set(cached) == set(ledger_markets)
    for address, lm in ledger_markets.items():
        assert cached[address].name == lm.name
        assert cached[address].gpu == lm.gpu
        assert cached[address].price == lm.price
        assert cached[address].timeout == lm.timeout
    # This machine is the local markets' node and it reports its own specs.
    node = Node.objects.get(network="local", address=ledger.node_address())
    assert node.specs is not None


@pytest.mark.django_db
def test_request_sync_joins_a_running_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    monkeypatch.setattr(services, "start_background", started.append)
    first = services.request_sync(network="local")
    second = services.request_sync(network="local")
    assert first.pk == second.pk
    with pytest.raises(services.SyncError):
        services.request_sync(network="nowhere")


@pytest.mark.django_db(transaction=True)
def test_migration_0004_draws_the_sparks_of_markets_synced_before_them() -> None:
    """Markets stored before `sparks` existed get their lines at once, not at their next sync."""
    before = [("markets", "0003_market_sparks")]
    after = [("markets", "0004_draw_existing_sparks")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        old_market, old_snapshot = old.get_model("markets", "Market"), old.get_model("markets", "MarketSnapshot")
        now = timezone.now()
        drawn = old_market.objects.create(network="mainnet", address="A" * 32, price=100, timeout=3600, synced_at=now)
        bare = old_market.objects.create(network="devnet", address="B" * 32, price=5, timeout=60, synced_at=now)
        for i, price in enumerate([100, 120, 90]):
            old_snapshot.objects.create(market=drawn, taken_at=now - timedelta(hours=3 - i), price=price,
                                        idle_nodes=i, jobs_waiting=2 * i, running_jobs=0)
        assert old_market.objects.get(pk=drawn.pk).sparks == {}  # what such a market looks like today
        executor = MigrationExecutor(connection)  # a fresh loader sees 0003 as the applied state
        executor.migrate(after)
    finally:
        MigrationExecutor(connection).migrate(latest)

    sparks = Market.objects.get(pk=drawn.pk).sparks
    assert (sparks["price"]["low"], sparks["price"]["high"], sparks["price"]["last"]) == (90, 120, 90)
    assert sparks["waiting"]["last"] == 4 and sparks["idle"]["last"] == 2
    assert Market.objects.get(pk=bare.pk).sparks == {"price": None, "idle": None, "waiting": None}
    # exactly what a sync draws from the same snapshots
    Market.objects.update(sparks={})
    services.draw_sparks(network="mainnet")
    assert Market.objects.get(pk=drawn.pk).sparks == sparks
