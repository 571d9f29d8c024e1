"""RemoteNetwork against the fakes: posting, idempotency, faults, reading jobs and results."""

from __future__ import annotations

import json

import httpx
import pytest
from solders.keypair import Keypair

from nosana_dash.network.base import InsufficientFunds, NetworkError, PostRequest
from nosana_dash.network.codec import accounts as acc
from nosana_dash.network.codec.cid import cid_to_digest, cid_v0
from nosana_dash.network.ipfs import CidMismatch
from nosana_dash.network.networks import DEVNET
from nosana_dash.network.remote import RemoteNetwork, derive_run_keypair
from tests.conftest import load_vectors
from tests.fakes import FakeChain, FakeNosana, FakePinning, wallet_from_vectors

AUTH = load_vectors("auth.json")
RESULTS = load_vectors("result.json")
ACCOUNTS = load_vectors("accounts.json")
MARKET = ACCOUNTS["keys_used"]["market_mainnet_default"]
NODE = ACCOUNTS["keys_used"]["node"]
DEFINITION = json.dumps({"version": "0.1", "type": "container", "ops": [
    {"type": "container/run", "id": "hello", "args": {"image": "ubuntu", "cmd": ["echo", "hi"]}}]},
    separators=(",", ":")).encode()


@pytest.fixture
def world(settings):
    settings.NOSANA_PINNING_JWT = "test-token"
    settings.NOSANA_PINNING_URL = "http://127.0.0.1:9/pin"
    settings.NOSANA_IPFS_GATEWAY = "http://127.0.0.1:9/ipfs/"
    settings.NOSANA_PRIORITY_FEE_MICROLAMPORTS = 10_000
    chain = FakeChain(DEVNET)
    pinning = FakePinning(jwt="test-token")
    fake = FakeNosana(chain, pinning, node_info={NODE: {"node": NODE, "state": "RUNNING_JOB", "info": {"version": "1.0"}}})
    wallet = wallet_from_vectors(AUTH)
    chain.fund(wallet.address, sol=1_000_000_000, nos=100_000_000)
    chain.open_market(MARKET, price=115, timeout=3600)
    net = RemoteNetwork("devnet", rpc_url="http://127.0.0.1:9/rpc", wallet=wallet,
                        transport=httpx.MockTransport(fake.handle), poll_interval=0.001, retry_backoff=0.001)
    return net, chain, pinning, wallet


def _request(timeout: int = 600) -> PostRequest:
    return PostRequest(market=MARKET, ipfs_job=cid_v0(DEFINITION), timeout=timeout, job_secret=bytes(Keypair()))


def test_successful_post(world) -> None:
    net, chain, pinning, wallet = world
    cid = net.upload(DEFINITION)
    assert cid == cid_v0(DEFINITION) and pinning.options[-1] == {"cidVersion": 0}
    request = _request()
    receipt = net.post_job(request)
    assert receipt.job_address == str(Keypair.from_bytes(request.job_secret).pubkey())
    assert chain.listed == 1 and chain.calls.count("sendTransaction") == 1
    tx = chain.sent[0]
    assert str(tx.signatures[0]) == receipt.tx_signature
    assert str(derive_run_keypair(request.job_secret).pubkey()) in [str(k) for k in tx.message.account_keys]
    assert chain.nos(wallet.address) == 100_000_000 - 115 * 600
    info = net.get_job(receipt.job_address)
    assert info is not None and info.state == "QUEUED" and info.ipfs_job == cid
    assert info.project == wallet.address and info.price == 115 and info.timeout == 600
    market = net.get_market(MARKET)
    assert market is not None and market.queue == (receipt.job_address,) and market.queue_type == "jobs"
    assert net.fetch(cid) == DEFINITION
    assert net.tx_url(receipt.tx_signature).endswith("?cluster=devnet")


def test_rpc_timeout_after_sending_lists_once(world) -> None:
    net, chain, _pinning, _wallet = world
    chain.fail("sendTransaction", "timeout_after_apply")
    chain.fail("getSignatureStatuses", "timeout", times=2)  # confirmation reads retry
    request = _request()
    receipt = net.post_job(request)
    assert chain.listed == 1 and chain.calls.count("sendTransaction") == 1
    again = net.post_job(request)  # a caller retrying after the timeout
    assert again.job_address == receipt.job_address and again.tx_signature == receipt.tx_signature
    assert chain.listed == 1 and chain.calls.count("sendTransaction") == 1


def test_lost_send_that_never_landed_is_reported_not_resent(world) -> None:
    net, chain, _pinning, _wallet = world
    chain.fail("sendTransaction", "timeout")
    with pytest.raises(NetworkError, match="not confirmed") as info:
        net.post_job(_request())
    assert info.value.retryable and chain.listed == 0 and chain.calls.count("sendTransaction") == 1


def test_pinning_5xx_then_success(world) -> None:
    net, _chain, pinning, _wallet = world
    pinning.fail("upload", "5xx", times=2)
    assert net.upload(DEFINITION) == cid_v0(DEFINITION)
    assert pinning.uploads == 1


def test_cid_mismatch_refused(world) -> None:
    net, _chain, pinning, _wallet = world
    pinning.fail("upload", "wrong_cid")
    with pytest.raises(CidMismatch, match="refusing"):
        net.upload(DEFINITION)


@pytest.mark.parametrize(("sol", "nos", "message"), [
    (1_000, 100_000_000, "Minimum of 0.005 SOL needed"),
    (1_000_000_000, 5, "Not enough NOS: NOS available"),
])
def test_insufficient_funds(world, sol: int, nos: int, message: str) -> None:
    net, chain, _pinning, wallet = world
    chain.state.sol[wallet.address] = sol
    chain.state.tokens[(wallet.address, DEVNET.nos_mint)] = nos
    with pytest.raises(InsufficientFunds, match=message):
        net.post_job(_request())
    assert chain.listed == 0 and "sendTransaction" not in chain.calls


def test_simulation_failure_is_explained(world) -> None:
    net, chain, _pinning, wallet = world
    # Enough NOS by the balance query, but the token account the program debits is short.
    chain.state.tokens[(wallet.address, DEVNET.nos_mint)] = 115 * 600 - 1
    net.rpc.get_token_balance = lambda owner, mint: 10**12  # type: ignore[method-assign]
    with pytest.raises(InsufficientFunds, match="Not enough NOS"):
        net.post_job(_request())
    assert "sendTransaction" not in chain.calls


def test_unknown_market(world) -> None:
    net, _chain, _pinning, _wallet = world
    request = PostRequest(market=str(Keypair().pubkey()), ipfs_job=cid_v0(DEFINITION), timeout=60, job_secret=bytes(Keypair()))
    with pytest.raises(NetworkError, match="Unknown market"):
        net.post_job(request)


def test_running_completed_and_result_parsed(world) -> None:
    net, chain, pinning, _wallet = world
    receipt = net.post_job(_request())
    chain.start_job(receipt.job_address, NODE)
    running = net.get_job(receipt.job_address)
    assert running is not None and running.state == "RUNNING" and running.node == NODE
    assert net.get_run_for_job(receipt.job_address) is not None
    document = next(d for d in RESULTS["documents"] if d["name"] == "success_two_ops")
    result_cid = pinning.put(document["compact_json"].encode())
    assert result_cid == document["cid"]
    chain.finish_job(receipt.job_address, cid_to_digest(result_cid))
    done = net.get_job(receipt.job_address)
    assert done is not None and done.state == "COMPLETED" and done.ipfs_result == document["cid"]
    flow = json.loads(net.fetch(done.ipfs_result))
    assert flow == document["document"]
    assert [op["operationId"] for op in flow["opStates"]] == [op["operationId"] for op in document["document"]["opStates"]]
    assert net.list_jobs(market=MARKET)[0].state == "COMPLETED"
    assert net.list_jobs(node=NODE)[0].address == receipt.job_address


def test_stopped_job(world) -> None:
    net, chain, _pinning, _wallet = world
    receipt = net.post_job(_request())
    chain.start_job(receipt.job_address, NODE)
    chain.quit_job(receipt.job_address)
    info = net.get_job(receipt.job_address)
    assert info is not None and info.state == "STOPPED" and info.ipfs_result is None


def test_end_running_job_and_extend_and_delist(world) -> None:
    net, chain, _pinning, wallet = world
    first = net.post_job(_request(600))
    net.extend_job(first.job_address, 1200)
    assert chain.job(first.job_address).timeout == 1200  # type: ignore[union-attr]
    with pytest.raises(NetworkError, match="greater"):
        net.extend_job(first.job_address, 100)
    before = chain.nos(wallet.address)
    net.delist_job(first.job_address)
    assert chain.job(first.job_address) is None and chain.nos(wallet.address) == before + 115 * 1200
    second = net.post_job(_request(600))
    with pytest.raises(NetworkError, match="RUNNING"):
        net.end_job(second.job_address)
    chain.start_job(second.job_address, NODE)
    net.end_job(second.job_address)
    ended = net.get_job(second.job_address)
    assert ended is not None and ended.state == "COMPLETED" and ended.node == NODE and ended.ipfs_result is None
    assert chain.nos(NODE) == 115 * 20  # the fake's end pays 20 s; the node ATA was created first


def test_node_queue_market_runs_immediately(world) -> None:
    net, chain, _pinning, _wallet = world
    other = str(Keypair().pubkey())
    chain.open_market(other, price=0, queue_type=acc.QUEUE_NODES, queue=(NODE,))
    request = PostRequest(market=other, ipfs_job=cid_v0(DEFINITION), timeout=60, job_secret=bytes(Keypair()))
    receipt = net.post_job(request)
    info = net.get_job(receipt.job_address)
    assert info is not None and info.state == "RUNNING" and info.node == NODE
    markets = {m.address: m for m in net.list_markets()}
    assert markets[other].queue_type == "empty" and markets[MARKET].price == 115


def test_malformed_account(world) -> None:
    net, chain, _pinning, _wallet = world
    address = str(Keypair().pubkey())
    chain.put(address, acc.JOB_DISCRIMINATOR + b"\x00" * 10)
    with pytest.raises(NetworkError, match="could not be read"):
        net.get_job(address)
    chain.put(address, acc.RUN_DISCRIMINATOR + b"\x00" * 300)
    with pytest.raises(NetworkError, match="not a job account"):
        net.get_job(address)


def test_program_accounts_disabled_is_a_clear_error(world) -> None:
    net, chain, _pinning, _wallet = world
    receipt = net.post_job(_request())
    chain.fail("getProgramAccounts", "disabled")
    with pytest.raises(NetworkError, match="does not allow getProgramAccounts"):
        net.get_job(receipt.job_address)


def test_balances_node_and_links(world) -> None:
    net, _chain, _pinning, wallet = world
    assert net.wallet_address() == wallet.address
    assert net.balances(wallet.address).sol == 1_000_000_000
    node = net.get_node(NODE)
    assert node is not None and node.specs is not None and node.specs["state"] == "RUNNING_JOB"
    missing = net.get_node(str(Keypair().pubkey()))
    assert missing is not None and missing.specs is None
    assert net.job_url("J") == "https://devnet.nosana.io/jobs/J"
    assert net.market_url("M") == "https://devnet.nosana.io/markets/M"
    assert net.node_url("N") == "https://devnet.nosana.io/host/N"


def test_unconfigured_network_gives_clear_messages(settings, tmp_path) -> None:
    settings.NOSANA_RPC_URL_DEVNET = ""
    settings.NOSANA_KEYPAIR_PATH = str(tmp_path / "missing.json")
    settings.NOSANA_PINNING_JWT = ""
    net = RemoteNetwork("devnet")
    assert net.wallet_address() is None
    assert net.job_url("J").startswith("https://devnet.nosana.io/")
    with pytest.raises(NetworkError, match="NOSANA_RPC_URL_DEVNET"):
        net.get_job("J")
    with pytest.raises(NetworkError, match="NOSANA_PINNING_JWT"):
        net.upload(b"{}")
