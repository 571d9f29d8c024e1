"""The worker relays a remote job's live logs, then takes the result's logs without doubling a line.

End to end with the fakes: the job is listed on the fake chain (RemoteNetwork over a mock transport),
a node starts it, the node's live-log socket is the loopback fake node of `tests/test_relay.py`, and
the result document is pinned on the fake pinning service.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair

from jobs import watch, worker
from jobs.models import Job, JobStatus, LogLine, LogStream
from jobs.relay import chunks_to_lines
from nosana_dash import network as networks
from nosana_dash.network.base import PostRequest
from nosana_dash.network.codec.cid import cid_to_digest, cid_v0
from nosana_dash.network.networks import DEVNET
from nosana_dash.network.remote import RemoteNetwork
from tests.conftest import load_vectors
from tests.fakes import FakeChain, FakeNosana, FakePinning, wallet_from_vectors
from tests.test_job_pages import make_job, make_user
from tests.test_relay import EVENTS, FakeNode

pytestmark = pytest.mark.django_db(transaction=True)

AUTH = load_vectors("auth.json")
RESULTS = load_vectors("result.json")
ACCOUNTS = load_vectors("accounts.json")
MARKET = ACCOUNTS["keys_used"]["market_mainnet_default"]
NODE = ACCOUNTS["keys_used"]["node"]
OUTPUT = (LogStream.STDOUT, LogStream.STDERR)


@pytest.fixture
def world(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    settings.NOSANA_PINNING_JWT = "test-token"
    settings.NOSANA_PINNING_URL = "http://127.0.0.1:9/pin"
    settings.NOSANA_IPFS_GATEWAY = "http://127.0.0.1:9/ipfs/"
    settings.NOSANA_WORKER_POLL_SECONDS = 0.05
    wallet = wallet_from_vectors(AUTH)
    keyfile = tmp_path / "poster.json"
    keyfile.write_text(json.dumps(list(bytes(wallet.keypair))))
    settings.NOSANA_KEYPAIR_PATH = str(keyfile)
    chain = FakeChain(DEVNET)
    pinning = FakePinning(jwt="test-token")
    chain.fund(wallet.address, sol=1_000_000_000, nos=100_000_000)
    chain.open_market(MARKET, price=115, timeout=3600)
    net = RemoteNetwork("devnet", rpc_url="http://127.0.0.1:9/rpc", wallet=wallet,
                        transport=httpx.MockTransport(FakeNosana(chain, pinning).handle),
                        poll_interval=0.001, retry_backoff=0.001)
    monkeypatch.setattr(networks, "get_network", lambda name: net)
    monkeypatch.setattr(watch, "FIRST_INTERVAL", 0.05)
    monkeypatch.setattr(watch, "MAX_INTERVAL", 0.1)
    yield {"net": net, "chain": chain, "pinning": pinning, "wallet": wallet}


def _post(net: RemoteNetwork) -> Job:
    """A job listed on the fake chain, recorded as queued (what `services.post_job` leaves)."""
    definition = json.dumps({"version": "0.1", "type": "container", "ops": [
        {"type": "container/run", "id": op, "args": {"image": "ubuntu", "cmd": "true"}}
        for op in ("create-volume", "run-from-cli")]}, separators=(",", ":")).encode()
    cid = net.upload(definition)
    receipt = net.post_job(PostRequest(market=MARKET, ipfs_job=cid, timeout=600, job_secret=bytes(Keypair())))
    return make_job(make_user("poster"), status=JobStatus.QUEUED, network="devnet", address=receipt.job_address,
                    market=MARKET, ipfs_job=cid, definition_json=definition.decode())


def _result_document() -> dict[str, Any]:
    """The vectors' two-op result, with logs that overlap the live stream.

    run-from-cli: everything the fake node streamed as output, then the vector's lines (which the
    stream missed); create-volume: only the vector's lines (the stream had none for it).
    """
    document = json.loads(json.dumps(next(d for d in RESULTS["documents"] if d["name"] == "success_two_ops")["document"]))
    states = {state["operationId"]: state for state in document["opStates"]}
    vector_logs = states["run-from-cli"]["logs"]
    streamed = [{"type": "stdout", "log": e["message"], "timestamp": str(e["timestamp"])} for e in EVENTS
                if e["opId"] == "run-from-cli" and e["type"] == "container" and isinstance(e["message"], str)]
    states["run-from-cli"]["logs"] = streamed + vector_logs
    states["create-volume"]["logs"] = vector_logs
    return dict(document)


def _output(job: Job, op_id: str) -> list[tuple[str, str]]:
    rows = LogLine.objects.filter(job=job, step__op_id=op_id, stream__in=OUTPUT).order_by("seq")
    return list(rows.values_list("stream", "text"))


def stored_texts(job: Job) -> list[str]:
    return list(LogLine.objects.filter(job=job).order_by("seq").values_list("text", flat=True))


def _expected(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(stream, text) of an op's result logs, line by line, per stream in order."""
    out: list[tuple[str, str]] = []
    for stream in OUTPUT:
        out.extend((stream, text) for text in chunks_to_lines([e["log"] for e in state["logs"] if e["type"] == stream]))
    return out


def _wait(condition: Callable[[], bool], what: Callable[[], str], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what()}"
        time.sleep(0.05)


def test_worker_relays_live_then_result_adds_only_what_was_missed(world: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    net, chain, pinning, wallet = world["net"], world["chain"], world["pinning"], world["wallet"]
    job = _post(net)
    stop = threading.Event()
    with FakeNode(wallet.address, drop_after=4) as node:  # the first connection drops mid-stream
        monkeypatch.setattr(worker, "RELAY_URL", node.url)
        thread = threading.Thread(target=worker.run_forever, args=("w-relay", stop), daemon=True)
        thread.start()
        try:
            chain.start_job(job.address, NODE)
            _wait(lambda: LogLine.objects.filter(job=job, text="line 4").exists(),
                  lambda: f"the relayed lines ({Job.objects.get(pk=job.pk).status}, {len(node.frames)} subscriptions, "
                          f"{[t.name for t in threading.enumerate()]}, {stored_texts(job)})")
            job.refresh_from_db()
            assert job.status == JobStatus.RUNNING and job.node == NODE  # live: before the result exists
            assert len(node.frames) == 2  # reconnected once after the drop
            header = json.loads(node.frames[0])["header"]
            assert header == AUTH["live_logs"]["dashboard_kit_flavour"]["header"]  # signed by the poster
            live_lines = _output(job, "run-from-cli")
            assert [text for _, text in live_lines] == ["hello", "world", "\x1b[32mline 3\x1b[0m", "line 4"]

            document = _result_document()
            data = json.dumps(document, separators=(",", ":")).encode()
            cid = pinning.put(data)
            assert cid == cid_v0(data)
            chain.finish_job(job.address, cid_to_digest(cid))
            _wait(lambda: Job.objects.get(pk=job.pk).is_final and Job.objects.get(pk=job.pk).lease_owner == "",
                  lambda: "the job to complete and be released")
        finally:
            stop.set()
            thread.join(timeout=30)
    assert not thread.is_alive()
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.ipfs_result == cid

    states = {state["operationId"]: state for state in document["opStates"]}
    # Relayed step: exactly the union, each line once (live lines first, then the ones the stream missed).
    relayed = _output(job, "run-from-cli")
    assert relayed == _expected(states["run-from-cli"])
    assert len(set(relayed)) == len(relayed)
    assert relayed[: len(live_lines)] == live_lines
    # A step the stream never wrote gets the result's lines, once.
    assert _output(job, "create-volume") == _expected(states["create-volume"])
    # The node's own error line from the stream stays, once; numbering stays gap-free.
    assert LogLine.objects.filter(job=job, stream=LogStream.NODE_ERROR, text="op warning from node").count() == 1
    seqs = list(LogLine.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    job.refresh_from_db()
    assert job.last_seq == len(seqs)
