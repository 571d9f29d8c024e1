"""The remote log relay against a loopback fake node that speaks the live-log protocol (spec §10.3)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from solders.keypair import Keypair
from websockets.asyncio.server import ServerConnection, serve

from jobs.models import Job, LogLine, LogStream, Step
from jobs.relay import LogRelay, apply_result_logs, chunks_to_lines
from nosana_dash.network.codec.keys import verify_header
from nosana_dash.network.nodelogs import Deduper, flog_frame, headers_for, log_frame, parse_frame
from tests.conftest import load_vectors
from tests.test_job_pages import make_job, make_user

AUTH = load_vectors("auth.json")
RESULTS = load_vectors("result.json")
WALLET = Keypair.from_seed(bytes.fromhex(AUTH["keypairs"][0]["seed_hex"]))
T0 = AUTH["fixed_time_ms"]


# --- signing and frames, byte for byte ----------------------------------------------

def test_headers_and_frames_match_the_vectors() -> None:
    cli = AUTH["live_logs"]["cli_sdk_flavour"]
    kit = AUTH["live_logs"]["dashboard_kit_flavour"]
    cli_header, kit_header = headers_for(WALLET)
    assert cli_header == cli["header"]
    assert kit_header == kit["header"]
    job = json.loads(cli["frame_json"])["body"]["jobAddress"]
    node = json.loads(kit["frame_json"])["body"]["address"]
    assert log_frame(job, str(WALLET.pubkey()), cli_header) == cli["frame_json"]
    assert flog_frame(job, node, kit_header) == kit["frame_json"].replace('"path":"/log"', '"path":"/flog"')
    body = json.loads(kit["flog_frame_json"])["body"]
    assert flog_frame(job, node, kit_header, group=body["group"], op_id=body["opId"], log_type=body["type"]) \
        == kit["flog_frame_json"]


def test_frames_decode_twice_and_replays_are_dropped() -> None:
    entry = {"opId": "op", "group": "g", "type": "container", "timestamp": T0, "message": "hi\n"}
    event = parse_frame(json.dumps({"path": "flog", "data": json.dumps(entry)}))
    assert event is not None and event.op_id == "op" and event.text == "hi\n" and event.timestamp == T0
    assert parse_frame("not json") is None and parse_frame('{"path":"flog","data":"[]"}') is None
    dedupe = Deduper()
    assert dedupe.fresh(event) and not dedupe.fresh(event)
    assert chunks_to_lines(["hel", "lo\r\nwor", "ld\n", "tail"]) == ["hello", "world", "tail"]


# --- a fake node ------------------------------------------------------------------------

def flog(op: str, kind: str, message: Any, i: int) -> dict[str, Any]:
    return {"opId": op, "group": op, "type": kind, "timestamp": T0 + i, "message": message}


EVENTS = [
    flog("system", "info", "Node has claimed job", 0),
    flog("run-from-cli", "info", "Operation Started: run-from-cli", 1),
    flog("run-from-cli", "container", "hel", 2),
    flog("run-from-cli", "container", "lo\nwor", 3),
    flog("run-from-cli", "container", {"type": "process-bar-update", "payload": {}}, 4),
    flog("run-from-cli", "container", "ld\n\x1b[32mline 3\x1b[0m\n", 5),
    flog("run-from-cli", "error", "op warning from node", 6),
    flog("run-from-cli", "container", "line 4\n", 7),
    flog("run-from-cli", "info", "Operation Completed: run-from-cli", 8),
]


class FakeNode:
    """Replays everything on each subscribe, then streams; can drop the first connection mid-stream."""

    def __init__(self, poster: str, *, drop_after: int | None = None, no_task: bool = False) -> None:
        self.poster = poster
        self.drop_after = drop_after
        self.no_task = no_task
        self.frames: list[str] = []
        self.done = threading.Event()
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def handler(self, ws: ServerConnection) -> None:
        raw = await asyncio.wait_for(ws.recv(), timeout=5)
        self.frames.append(str(raw))
        frame = json.loads(raw)
        if not verify_header(frame["header"], self.poster):
            await ws.close(3000, "Unauthorized Request")
            return
        if frame["path"] == "/flog" and self.no_task:
            await ws.close(1008, "no task")
            return
        number = len(self.frames)
        for i, entry in enumerate(EVENTS):
            if number == 1 and i == self.drop_after:
                ws.transport.abort()  # the connection drops, no close frame
                return
            if frame["path"] == "/log":
                data = {"log": entry["message"], "type": "log" if entry["type"] == "container" else entry["type"],
                        "timestamp": entry["timestamp"], "job": "j", "method": "NodeRepository.displayLog"}
                await ws.send(json.dumps({"path": "log", "data": json.dumps(data)}))
            else:
                await ws.send(json.dumps({"path": "flog", "data": json.dumps(entry)}))
            await asyncio.sleep(0.002)
        self.done.set()
        await ws.wait_closed()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = self._loop.create_future()
            async with serve(self.handler, "127.0.0.1", 0) as server:
                self.port = list(server.sockets)[0].getsockname()[1]
                self._ready.set()
                await self._stop

        asyncio.run(main())

    def __enter__(self) -> FakeNode:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self.thread.join(5)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@pytest.fixture
def remote_job(db: None) -> Iterator[Job]:
    job = make_job(make_user("poster"), ops=("create-volume", "run-from-cli"), network="devnet",
                   node=AUTH["live_logs"]["dashboard_kit_flavour"]["url"].split("//")[1].split(".")[0])
    yield job


def stored(job: Job) -> list[tuple[str | None, str, str]]:
    return [(line.step.op_id if line.step else None, line.stream, line.text)
            for line in LogLine.objects.filter(job=job).select_related("step").order_by("seq")]


def test_relay_survives_a_dropped_connection_without_losing_or_doubling(remote_job: Job) -> None:
    sleeps: list[float] = []
    with FakeNode(str(WALLET.pubkey()), drop_after=4) as node:
        relay = LogRelay(remote_job, keypair=WALLET, url=node.url, is_finished=node.done.is_set,
                         poll=0.05, drain_seconds=0.2, backoff_initial=0.05, sleep=sleeps.append)
        relay.run()
    assert relay.connections == 2 and len(sleeps) == 1 and sleeps[0] > 0
    assert json.loads(node.frames[0])["header"] == AUTH["live_logs"]["dashboard_kit_flavour"]["header"]
    assert stored(remote_job) == [
        (None, LogStream.SYSTEM, "Node has claimed job"),
        ("run-from-cli", LogStream.SYSTEM, "Operation Started: run-from-cli"),
        ("run-from-cli", LogStream.STDOUT, "hello"),
        ("run-from-cli", LogStream.STDOUT, "world"),
        ("run-from-cli", LogStream.STDOUT, "\x1b[32mline 3\x1b[0m"),
        ("run-from-cli", LogStream.NODE_ERROR, "op warning from node"),
        ("run-from-cli", LogStream.STDOUT, "line 4"),
        ("run-from-cli", LogStream.SYSTEM, "Operation Completed: run-from-cli"),
    ]
    step = Step.objects.get(job=remote_job, op_id="run-from-cli")
    assert step.started_at is not None and step.ended_at is not None and step.line_count == 7
    seqs = list(LogLine.objects.filter(job=remote_job).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))

    # After completion the result is the record: only the lines the stream missed are added, once.
    result = {"status": "success", "opStates": [{
        "operationId": "run-from-cli", "status": "success", "exitCode": 0, "startTime": T0, "endTime": T0 + 9,
        "logs": [{"type": "stdout", "log": "hello\nworld\n", "timestamp": "2026-01-01T00:00:07.1Z"},
                 {"type": "stdout", "log": "\x1b[32mline 3\x1b[0m\nline 4\n", "timestamp": "2026-01-01T00:00:07.2Z"},
                 {"type": "stderr", "log": "missed by the stream\n", "timestamp": "2026-01-01T00:00:07.3Z"}]}]}
    before = len(stored(remote_job))
    assert apply_result_logs(remote_job, result) == 1
    after = stored(remote_job)
    assert after[-1] == ("run-from-cli", LogStream.STDERR, "missed by the stream")
    assert len(after) == before + 2  # the note and the missed line
    assert apply_result_logs(remote_job, result) == 0
    step.refresh_from_db()
    assert step.status == "success" and step.exit_code == 0


def test_result_vectors_reconcile_into_steps(remote_job: Job) -> None:
    document = next(d for d in RESULTS["documents"] if d["name"] == "success_two_ops")["document"]
    added = apply_result_logs(remote_job, document)
    op = next(o for o in document["opStates"] if o["operationId"] == "run-from-cli")
    expected = chunks_to_lines([entry["log"] for entry in op["logs"]])
    lines = [text for op_id, stream, text in stored(remote_job) if stream != LogStream.SYSTEM]
    assert added == len(expected) and lines == expected
    assert apply_result_logs(remote_job, document) == 0


def test_relay_stops_when_the_node_refuses_the_signature(remote_job: Job) -> None:
    stranger = Keypair.from_seed(bytes(range(0x41, 0x61)))
    with FakeNode(str(WALLET.pubkey())) as node:
        relay = LogRelay(remote_job, keypair=stranger, url=node.url, is_finished=lambda: False,
                         poll=0.05, sleep=lambda s: None)
        relay.run()
    assert relay.connections == 1
    assert stored(remote_job)[-1][1] == LogStream.NODE_ERROR


def test_relay_falls_back_to_the_node_log_when_there_is_no_task_log(remote_job: Job) -> None:
    with FakeNode(str(WALLET.pubkey()), no_task=True) as node:
        relay = LogRelay(remote_job, keypair=WALLET, url=node.url, is_finished=node.done.is_set,
                         poll=0.05, drain_seconds=0.2, sleep=lambda s: None)
        relay.run()
    assert json.loads(node.frames[1])["path"] == "/log"
    assert node.frames[1] == log_frame(remote_job.address, str(WALLET.pubkey()), headers_for(WALLET)[0])
    texts = [text for _, _, text in stored(remote_job)]
    assert "hello" in texts and "line 4" in texts and texts.count("hello") == 1
