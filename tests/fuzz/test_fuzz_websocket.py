"""Fuzzing the job log websocket with random text, JSON and binary frames.

Each example opens a socket on a job with stored lines, sends a batch of
random frames, then asks `{"type": "resume", "after": 0}`: the consumer must
still answer with every stored line exactly once, or have closed the socket
cleanly. It must never crash (the communicator would re-raise the error).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.helpers import log_socket, make_job, make_user, write_lines
from tests.fuzz.conftest import fuzz_count, record

pytestmark = pytest.mark.django_db(transaction=True)
STORED = 12
BATCH = 20
NUMBERS = st.one_of(st.integers(), st.integers(-5, 50), st.floats(allow_nan=True), st.text(max_size=12), st.none(),
                    st.booleans(), st.lists(st.integers(), max_size=3))
MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["hello", "ack", "resume", "HELLO", "", "lines", "resync"]) | st.text(max_size=10)},
    optional={"after": NUMBERS, "seq": NUMBERS, "lines": st.lists(st.integers(), max_size=3)},
)
FRAMES = st.one_of(
    MESSAGES.map(lambda m: ("text", json.dumps(m))),
    st.recursive(st.none() | st.integers() | st.text(max_size=20), lambda c: st.lists(c, max_size=3), max_leaves=8)
    .map(lambda v: ("text", json.dumps(v))),
    st.text(max_size=300).map(lambda t: ("text", t)),
    st.text(min_size=1001, max_size=1500).map(lambda t: ("text", t)),  # over the consumer's frame limit
    st.binary(max_size=300).map(lambda b: ("bytes", b)),
)


async def _exchange(user: Any, address: str, frames: list[tuple[str, Any]]) -> str:
    comm = await log_socket(user, address, after=0)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    try:
        for kind, payload in frames:  # raw ASGI events: empty frames included
            await comm.send_input({"type": "websocket.receive", kind: payload})
        await comm.send_to(text_data=json.dumps({"type": "resume", "after": 0}))
        seen: list[int] = []
        while True:
            output = await comm.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                return "closed"
            message = json.loads(output.get("text") or "{}")
            if message.get("type") != "lines":
                continue
            batch = [int(line[0]) for line in message["lines"]]
            seen = [s for s in seen if s < batch[0]] + batch  # a resume restarts the count
            if seen == list(range(1, STORED + 1)):
                return "answered"
            assert len(seen) <= STORED and seen == list(range(1, len(seen) + 1)), seen
    finally:
        await comm.disconnect()


def _campaign(full: bool) -> None:
    n = fuzz_count("websocket", full=full)
    user = make_user("fuzz-ws")
    job = make_job(user)
    write_lines(job, 1, STORED)
    outcomes: dict[str, int] = {}
    sent = {"frames": 0}

    @settings(max_examples=max(1, n // BATCH), deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(FRAMES, min_size=BATCH, max_size=BATCH))
    def exchange(frames: list[tuple[str, Any]]) -> None:
        outcome = async_to_sync(_exchange)(user, job.address, frames)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        sent["frames"] += len(frames)

    exchange()
    record("websocket/frames", sent["frames"])
    assert sent["frames"] >= n * 0.9 and outcomes.get("answered", 0) > 0, outcomes


@pytest.mark.timeout(180)
def test_websocket_frames_fuzz_quick(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    _campaign(full=False)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_websocket_frames_fuzz_full(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    _campaign(full=True)
