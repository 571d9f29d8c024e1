"""SolanaRpc: timeouts, retries on reads only, error mapping; also over a loopback HTTP server."""

from __future__ import annotations

import httpx
import pytest
from solders.keypair import Keypair

from nosana_dash.network.base import InsufficientFunds, NetworkError, NotConfigured
from nosana_dash.network.codec import accounts as acc
from nosana_dash.network.networks import DEVNET
from nosana_dash.network.solana import Filter, RateLimited, RpcCallDisabled, SolanaRpc, explain_failure
from tests.conftest import load_vectors
from tests.fakes import FakeChain, serve

ACCOUNTS = load_vectors("accounts.json")
MARKET = ACCOUNTS["keys_used"]["market_mainnet_default"]


@pytest.fixture
def chain() -> FakeChain:
    chain = FakeChain(DEVNET)
    chain.open_market(MARKET, price=115)
    return chain


def _rpc(chain: FakeChain, retries: int = 3) -> SolanaRpc:
    return SolanaRpc("https://user:secret@rpc.example.test/?api-key=SECRET", timeout=2, retries=retries,
                     backoff=0.001, transport=httpx.MockTransport(chain.handle))


def test_reads_retry_on_timeout_5xx_and_429(chain) -> None:
    rpc = _rpc(chain)
    chain.fail("getAccountInfo", "timeout")
    chain.fail("getAccountInfo", "5xx")
    chain.fail("getAccountInfo", "429")
    data = rpc.get_account_data(MARKET)
    assert data is not None and acc.decode_market(data).job_price == 115
    assert chain.calls.count("getAccountInfo") == 4


def test_read_gives_up_with_clear_message_without_secrets(chain) -> None:
    rpc = _rpc(chain, retries=1)
    chain.fail("getBalance", "429", times=2)
    with pytest.raises(RateLimited) as info:
        rpc.get_balance(MARKET)
    assert "rpc.example.test" in info.value.message and "SECRET" not in info.value.message
    chain.fail("getBalance", "timeout", times=2)
    with pytest.raises(NetworkError, match="did not answer getBalance within 2s"):
        rpc.get_balance(MARKET)


def test_send_is_never_retried(chain) -> None:
    rpc = _rpc(chain)
    chain.fail("sendTransaction", "5xx")
    tx_keypair = Keypair()
    from nosana_dash.network.codec.instructions import set_compute_unit_price
    from nosana_dash.network.codec.transactions import build_transaction

    tx = build_transaction(tx_keypair, [set_compute_unit_price(1)], rpc.get_latest_blockhash().blockhash, [])
    with pytest.raises(NetworkError, match="HTTP 503"):
        rpc.send(tx)
    assert chain.calls.count("sendTransaction") == 1


def test_program_accounts_filters_and_disabled(chain) -> None:
    rpc = _rpc(chain)
    import base58

    markets = rpc.get_program_accounts(DEVNET.jobs_program, [Filter(0, base58.b58encode(acc.MARKET_DISCRIMINATOR).decode())])
    assert [address for address, _ in markets] == [MARKET]
    assert rpc.get_program_accounts(DEVNET.jobs_program, [Filter(0, base58.b58encode(acc.JOB_DISCRIMINATOR).decode())]) == []
    chain.fail("getProgramAccounts", "disabled")
    with pytest.raises(RpcCallDisabled, match="does not allow getProgramAccounts"):
        rpc.get_program_accounts(DEVNET.jobs_program, [])


def test_balances(chain) -> None:
    rpc = _rpc(chain)
    owner = str(Keypair().pubkey())
    assert rpc.get_token_balance(owner, DEVNET.nos_mint) == 0
    chain.fund(owner, sol=7, nos=1_500_000)
    assert rpc.get_balance(owner) == 7 and rpc.get_token_balance(owner, DEVNET.nos_mint) == 1_500_000


def test_error_explanations() -> None:
    assert isinstance(explain_failure("Attempt to debit an account but found no record of a prior credit.", []), InsufficientFunds)
    assert "NOS" in explain_failure({"InstructionError": [0, {"Custom": 1}]}, ["Program log: Error: insufficient funds"]).message
    anchor = explain_failure({}, ["Program log: AnchorError occurred. Error Code: JobInWrongState. Error Number: 6002. Error Message: wrong status."])
    assert "JobInWrongState (6002)" in anchor.message


def test_unreachable_and_unconfigured() -> None:
    with pytest.raises(NotConfigured):
        SolanaRpc("", timeout=1)
    with serve(lambda request: httpx.Response(200)) as url:
        port = int(url.rsplit(":", 1)[1])
    rpc = SolanaRpc(f"http://127.0.0.1:{port}", timeout=1, retries=1, backoff=0.001)
    with pytest.raises(NetworkError, match="unreachable"):
        rpc.get_balance("11111111111111111111111111111111")


def test_over_loopback_http(chain) -> None:
    with serve(chain.handle) as url:
        rpc = SolanaRpc(url, timeout=5, backoff=0.001)
        chain.fail("getAccountInfo", "5xx")
        data = rpc.get_account_data(MARKET)
        assert data is not None and acc.decode_market(data).vault == chain.market(MARKET).vault  # type: ignore[union-attr]
        assert rpc.get_account_data(str(Keypair().pubkey())) is None
        rpc.close()
