"""Runner pieces that need neither a database nor an engine: cmd forms, frames, images, the result shape."""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field

from nosana_dash.network.local.engine import StreamDemuxer, normalize_image
from nosana_dash.network.local.result import FlowState, OpState, to_bytes
from nosana_dash.network.local.runner import (
    OpContext,
    OpRun,
    container_command,
    expose_id,
    extract_results,
    node_checks,
    prepare,
    run_job,
)
from tests.conftest import load_vectors


def test_seed_cmd_array_runs_as_the_2024_node_did(seed_job: dict) -> None:
    run_from_cli = next(op for op in seed_job["ops"] if op["id"] == "run-from-cli")
    argv, note = container_command(run_from_cli["args"]["cmd"])
    items = run_from_cli["args"]["cmd"]
    assert argv == ["/bin/bash", "-c", "".join(items[1:])]
    assert "2024" in note and "portable" in note


def test_cmd_string_and_plain_arrays() -> None:
    assert container_command("echo a; echo b") == (["/bin/sh", "-c", "echo a; echo b"], "")
    assert container_command(["python", "-c", "print(1)"]) == (["python", "-c", "print(1)"], "")
    assert container_command([]) == (None, "")
    argv, _ = container_command(["sh -c ", "echo 'quoted'"])
    assert argv == ["sh", "-c", "echo 'quoted'"]


def test_global_values_merge_into_ops_and_volumes_are_per_job(seed_job: dict) -> None:
    ops = prepare(seed_job, "JOB")
    assert [op.op_id for op in ops] == [op["id"] for op in seed_job["ops"]]
    volume, first, second = ops
    assert volume.op_type == "container/create-volume" and volume.volume_name == "JOB-random-id-volume"
    assert first.work_dir == "/home/podman"  # the op's own value wins
    assert second.work_dir == seed_job["global"]["work_dir"]
    assert first.env == {**seed_job["global"]["env"], "NOSANA_ID": "JOB"}
    assert first.volumes == [("JOB-random-id-volume", "/nosana/outputs")]
    assert [op.group for op in ops] == [op["id"] for op in seed_job["ops"]]


def test_node_checks_reject_what_a_node_rejects() -> None:
    definition = {"ops": [
        {"id": "a", "type": "container/run", "args": {"image": "x"}, "execution": {"group": "g", "depends_on": ["a"]}},
        {"id": "b", "type": "container/run", "args": {"image": "x"}, "execution": {"group": "h", "depends_on": ["a"]}},
        {"id": "c", "type": "container/run", "args": {"image": "x"}, "execution": {"depends_on": ["nope"]}},
    ]}
    errors = node_checks(prepare(definition, "J"))
    assert len(errors) == 3
    assert any("itself" in e for e in errors) and any("another execution group" in e for e in errors)
    assert any("unknown" in e for e in errors)


def test_demuxer_splits_frames_per_stream_and_reads_timestamps() -> None:
    def frame(kind: int, payload: bytes) -> bytes:
        return struct.pack(">BxxxL", kind, len(payload)) + payload

    data = frame(1, b"2026-01-01T00:00:07.100000001Z Hello") + frame(2, b"2026-01-01T00:00:07.2Z oops\n")
    data += frame(1, b" World\n2026-01-01T00:00:08Z next\n")
    demux = StreamDemuxer()
    chunks = []
    for i in range(0, len(data), 5):  # arbitrary cuts across frame headers
        chunks.extend(demux.feed(data[i : i + 5]))
    chunks.extend(demux.close())
    assert [(c.stream, c.text, c.timestamp) for c in chunks] == [
        ("stderr", "oops", "2026-01-01T00:00:07.2Z"),
        ("stdout", "Hello World", "2026-01-01T00:00:07.100000001Z"),
        ("stdout", "next", "2026-01-01T00:00:08Z"),
    ]


def test_short_image_names_resolve_like_docker() -> None:
    assert normalize_image("ubuntu") == "docker.io/library/ubuntu:latest"
    assert normalize_image("nosana/stats:v1") == "docker.io/nosana/stats:v1"
    assert normalize_image("localhost:5000/a/b") == "localhost:5000/a/b:latest"
    assert normalize_image("ghcr.io/x/y@sha256:abc") == "ghcr.io/x/y@sha256:abc"


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_result_document_has_the_vector_shape_and_bytes() -> None:
    vector = load_vectors("result.json")["documents"][0]
    doc = vector["document"]
    ops = []
    for op in doc["opStates"]:
        state = OpState(op["operationId"], op["group"], op["providerId"], op["status"], op["startTime"],
                        op["endTime"], op["exitCode"], list(op["logs"]), op.get("results"),
                        reason=op["diagnostics"]["reason"], state=op["diagnostics"].get("state"))
        ops.append(state)
    flow = FlowState(start_time=doc["startTime"], ops=ops, status=doc["status"], end_time=doc["endTime"])
    built = flow.as_dict()
    built.pop("errors")  # the node adds `errors: []`; this vector has none
    assert built == doc
    assert to_bytes(built) == vector["compact_json"].encode("utf-8")


def test_results_are_extracted_from_logs_and_expose_ids_match_vectors() -> None:
    logs = [{"type": "stdout", "log": "score=0.91\n", "timestamp": "1"}, {"type": "stderr", "log": "score=7\n",
                                                                          "timestamp": "2"}]
    out = extract_results({"s": {"regex": r"score=([\d.]+)", "logType": ["stdout"]}, "bad": "([x"}, logs)
    assert out["s"] == ["score=0.91", "0.91"] and isinstance(out["bad"], str)
    vectors = load_vectors("auth.json")["service_urls"]["vectors"]
    assert vectors
    for case in vectors:
        assert expose_id(case["op_index"], case["port"], case["job_address"]) == case["expose_id"]
    json.dumps(out)


# --- ending early: the deadline and a stop request, on a backend that runs until told to stop -------


@dataclass
class _Sink:
    ended: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def step_started(self, index: int, at_ms: int) -> None:
        pass

    def line(self, index: int | None, stream: str, text: str, timestamp: str) -> None:
        self.lines.append(text)

    def step_ended(self, index: int, status: str, exit_code: int | None, at_ms: int, error: str) -> None:
        self.ended[index] = (status, exit_code)

    def service_url(self, index: int, port: int, url: str) -> None:
        pass


@dataclass
class _Control:
    deadline_at: float
    stop_at: float = float("inf")

    def stop_requested(self) -> bool:
        return time.time() >= self.stop_at

    def deadline(self) -> float:
        return self.deadline_at


class _UntilAborted:
    """Runs each op until the runner says abort, then exits as a container stopped with SIGTERM does."""

    kind = "fake"

    def notes(self) -> list[str]:
        return []

    def create_volume(self, ctx: OpContext, name: str) -> None:
        pass

    def run(self, ctx: OpContext) -> OpRun:
        ctx.started("container-1")
        ctx.out("stdout", "working", "")
        while not ctx.abort_reason():
            time.sleep(0.01)
        ctx.system("stopping: the job reached its timeout" if ctx.abort_reason() == "expired" else "stopping")
        return OpRun(exit_code=143, provider_id="container-1")

    def cleanup(self) -> list[str]:
        return []


_TWO_OPS = {"ops": [
    {"id": "train", "type": "container/run", "args": {"image": "ubuntu", "cmd": "sleep 60"}},
    {"id": "upload", "type": "container/run", "args": {"image": "ubuntu", "cmd": "true"}},
]}


def _vector(name: str) -> dict:
    return next(d for d in load_vectors("result.json")["documents"] if d["name"] == name)["document"]


def test_past_the_deadline_the_job_finishes_normally_as_a_node_does() -> None:
    sink = _Sink()
    outcome = run_job(_TWO_OPS, job_address="JOB", backend=_UntilAborted(), sink=sink,
                      control=_Control(deadline_at=time.time() + 0.2))
    assert (outcome.status, outcome.exit_code, outcome.error) == ("completed", 143, "")
    flow = outcome.flow
    assert flow["status"] == "success"
    train, upload = flow["opStates"]
    expected = _vector("expired_timeout")["opStates"][0]
    assert (train["status"], train["exitCode"]) == ("success", 143) == (expected["status"], expected["exitCode"])
    assert train["diagnostics"]["reason"] == expected["diagnostics"]["reason"]
    # The op the deadline kept from starting: the flow's status, exit code 0, never started.
    assert (upload["status"], upload["exitCode"], upload["startTime"]) == ("success", 0, None)
    assert sink.ended == {0: ("success", 143), 1: ("stopped", None)}
    assert "stopping: the job reached its timeout" in sink.lines


def test_a_stop_request_still_stops_the_job() -> None:
    sink = _Sink()
    control = _Control(deadline_at=time.time() + 3600, stop_at=time.time() + 0.2)
    outcome = run_job(_TWO_OPS, job_address="JOB", backend=_UntilAborted(), sink=sink, control=control)
    assert (outcome.status, outcome.error) == ("stopped", "stopped on request")
    train, upload = outcome.flow["opStates"]
    assert outcome.flow["status"] == "stopped" and train["status"] == upload["status"] == "stopped"
    assert train["diagnostics"]["reason"]["jobStopped"] is True and train["exitCode"] == 143
    assert sink.ended == {0: ("stopped", 143), 1: ("stopped", None)}
