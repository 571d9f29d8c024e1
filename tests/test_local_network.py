"""The embedded local network: content store, ledger state machine, markets, links (no engine needed)."""

from __future__ import annotations

import base58
import pytest
from django.test import Client
from solders.keypair import Keypair

from nosana_dash.network import get_network
from nosana_dash.network.base import NetworkError, PostRequest
from nosana_dash.network.local import ledger, store
from nosana_dash.network.local.models import LedgerJob, LedgerMarket, LedgerNode
from tests.conftest import load_vectors

pytestmark = pytest.mark.django_db


LAST_SECRET: list[bytes] = [b""]


def _post(net, market: str | None = None, timeout: int = 60) -> tuple[str, str]:
    cid = net.upload(b'{"version":"0.1","type":"container","ops":[]}')
    keypair = Keypair()
    LAST_SECRET[0] = bytes(keypair)
    receipt = net.post_job(PostRequest(market=market or ledger.default_market_address(), ipfs_job=cid,
                                       timeout=timeout, job_secret=bytes(keypair)))
    assert receipt.job_address == str(keypair.pubkey())
    return receipt.job_address, receipt.tx_signature


def test_markets_are_created_once_and_listed() -> None:
    ledger.ensure_local_markets()
    ledger.ensure_local_markets()
    assert LedgerMarket.objects.count() == len(ledger.LOCAL_MARKETS)
    assert LedgerNode.objects.filter(address=ledger.node_address()).count() == 1
    markets = get_network("local").list_markets()
    assert [m.name for m in markets] == [s.name for s in sorted(ledger.LOCAL_MARKETS, key=lambda s: s.price)]
    for market, spec in zip(markets, sorted(ledger.LOCAL_MARKETS, key=lambda s: s.price), strict=True):
        assert (market.price, market.timeout, market.gpu, market.vram_gb) == (spec.price, spec.timeout, spec.gpu, spec.vram_gb)
        assert len(base58.b58decode(market.address)) == 32
        assert market.queue_type == "nodes" or market.queue_type == "empty"
    assert get_network("local").get_market("NoSuchMarket111111111111111111111111111111") is None


def test_store_keeps_bytes_under_their_cid_and_serves_them(client: Client) -> None:
    net = get_network("local")
    for doc in load_vectors("result.json")["documents"]:
        data = doc["compact_json"].encode("utf-8")
        assert net.upload(data) == doc["cid"]
        assert net.fetch(doc["cid"]) == data
        assert net.content_url(doc["cid"]) == f"/ipfs/{doc['cid']}"
        response = client.get(net.content_url(doc["cid"]))
        assert response.status_code == 200
        assert response.content == data
        assert response["Content-Type"].startswith("application/json")
    with pytest.raises(NetworkError):
        net.fetch("QmNLei78zWmzUdbeRB3CiUfAizWUrbeeZh5K1rhAQKCh51")


def test_ledger_follows_the_chain_state_machine() -> None:
    net = get_network("local")
    address, signature = _post(net)
    assert len(base58.b58decode(signature)) == 64
    info = net.get_job(address)
    assert info is not None and info.state == "QUEUED" and info.node is None and info.ipfs_result is None
    market = net.get_market(info.market)
    assert market is not None and market.queue_type == "jobs" and address in market.queue
    # Posting the same job keypair again lists nothing new (the chain creates an account once).
    job = LedgerJob.objects.get(address=address)
    again = net.post_job(PostRequest(market=info.market, ipfs_job=info.ipfs_job, timeout=60,
                                     job_secret=LAST_SECRET[0]))
    assert again.job_address == address and again.tx_signature == signature
    assert LedgerJob.objects.filter(address=address).count() == 1

    run = ledger.work(address, ledger.node_address())
    info = net.get_job(address)
    assert info is not None and info.state == "RUNNING" and info.node == ledger.node_address()
    assert info.time_start == run.time
    assert net.get_run_for_job(address) is not None
    with pytest.raises(NetworkError):
        net.delist_job(address)  # a node has it

    net.extend_job(address, 120)
    assert net.get_job(address).timeout == 120  # type: ignore[union-attr]
    with pytest.raises(NetworkError):
        net.extend_job(address, 100)

    result_cid = store.put(b'{"status":"success"}')
    ledger.finish(address, result_cid)
    info = net.get_job(address)
    assert info is not None and info.state == "COMPLETED" and info.ipfs_result == result_cid
    assert info.time_end >= info.time_start > 0
    assert net.get_run_for_job(address) is None
    job.refresh_from_db()
    assert job.state == 2


def test_delist_end_and_quit() -> None:
    net = get_network("local")
    queued, _ = _post(net)
    net.delist_job(queued)
    assert net.get_job(queued) is None

    running, _ = _post(net)
    ledger.work(running, ledger.node_address())
    net.end_job(running)
    info = net.get_job(running)
    assert info is not None and info.state == "COMPLETED" and info.ipfs_result is None  # until the node completes
    cid = store.put(b"{}")
    ledger.finish(running, cid)  # `complete`
    assert net.get_job(running).ipfs_result == cid  # type: ignore[union-attr]

    quitted, _ = _post(net)
    ledger.work(quitted, ledger.node_address())
    ledger.quit_job(quitted)
    assert net.get_job(quitted).state == "STOPPED"  # type: ignore[union-attr]


def test_post_refuses_unknown_market_and_missing_content() -> None:
    net = get_network("local")
    cid = net.upload(b"{}")
    with pytest.raises(NetworkError):
        net.post_job(PostRequest(market="NoSuchMarket111111111111111111111111111111", ipfs_job=cid, timeout=60,
                                 job_secret=bytes(Keypair())))
    with pytest.raises(NetworkError):
        net.post_job(PostRequest(market=ledger.default_market_address(), ipfs_job="not-a-cid", timeout=60,
                                 job_secret=bytes(Keypair())))


def test_links_balances_and_node() -> None:
    net = get_network("local")
    address, signature = _post(net)
    assert net.job_url(address) == f"/jobs/{address}"
    assert net.market_url("M") == "/markets/M"
    assert net.node_url("N") == "/nodes/N"
    assert net.tx_url(signature) == f"/jobs/{address}"
    wallet = net.wallet_address()
    assert wallet is not None
    funds = net.balances(wallet)
    assert funds.sol == ledger.PLAY_SOL_LAMPORTS and funds.nos == ledger.PLAY_NOS_UNITS
    assert "play" in ledger.PLAY_BALANCE_NOTE
    node = net.get_node(ledger.node_address())
    assert node is not None and node.specs is not None and "cpu" in node.specs
