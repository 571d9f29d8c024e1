"""Runner pieces that need neither a database nor an engine: cmd forms, frames, images, the result shape."""

from __future__ import annotations

import json
import struct

from nosana_dash.network.local.engine import StreamDemuxer, normalize_image
from nosana_dash.network.local.result import FlowState, OpState, to_bytes
from nosana_dash.network.local.runner import (
    container_command,
    expose_id,
    extract_results,
    node_checks,
    prepare,
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
