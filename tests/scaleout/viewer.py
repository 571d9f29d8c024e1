"""A websocket viewer of one job's live log, as the job page's script is: `websockets`, a session cookie,
an allowed Origin, acknowledgements, and the resync/resume handshake of `jobs.consumers.JobLogConsumer`.

It records every line it is sent and every break of order it sees, and stops when
`done()` says it has all it should, or at its deadline. A refused or timed-out opening
handshake (a busy server drops sockets it could not accept in time) is retried with
`?after=<last seq>`, as the page's script reconnects; a socket closed mid-stream is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

RECEIVE_SLICE_SECONDS = 0.25
CONNECT_ATTEMPTS = 6


@dataclass
class Viewer:
    name: str  # for messages: which viewer on which web process
    base: str  # ws://127.0.0.1:<port>
    address: str  # the job's address
    cookie: str
    seqs: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    frames: int = 0
    resyncs: int = 0
    handshake_retries: int = 0
    statuses: list[str] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    async def run(self, *, done: Callable[[Viewer], bool], deadline: float,
                  gate: asyncio.Semaphore | None = None) -> None:
        """`gate` bounds how many opening handshakes run at once (a crowd arriving together)."""
        try:
            failures = 0
            while not done(self) and time.monotonic() < deadline:
                try:
                    async with gate or contextlib.nullcontext():
                        ws = await connect(f"{self.base}/ws/jobs/{self.address}/?after={self.last}",
                                           origin=self.base.replace("ws://", "http://"),  # type: ignore[arg-type]
                                           additional_headers={"Cookie": f"sessionid={self.cookie}"},
                                           open_timeout=20, close_timeout=2, max_size=None)
                except (OSError, TimeoutError, WebSocketException) as exc:
                    failures += 1
                    self.handshake_retries += 1
                    if failures >= CONNECT_ATTEMPTS:
                        self.problems.append(f"{self.name}: could not connect ({failures} attempts): {exc!r}")
                        return
                    await asyncio.sleep(0.25 * failures)
                    continue
                self.connected.set()
                async with ws:
                    await self._receive(ws, done, deadline)
                return
        except ConnectionClosed as exc:
            self.problems.append(f"{self.name}: the server closed the socket mid-stream: {exc}")
        finally:
            self.connected.set()  # never leave a waiter hanging on a viewer that failed to connect

    async def _receive(self, ws: ClientConnection, done: Callable[[Viewer], bool], deadline: float) -> None:
        while not done(self) and time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=RECEIVE_SLICE_SECONDS)
            except TimeoutError:
                continue
            reply = self._take(json.loads(raw))
            if reply is not None:
                await ws.send(json.dumps(reply))

    def _take(self, message: dict[str, object]) -> dict[str, object] | None:
        kind = message.get("type")
        if kind == "lines":
            return self._lines(message)
        if kind == "resync":  # the server dropped its buffer: catch up from where we are
            self.resyncs += 1
            return {"type": "resume", "after": self.last}
        if kind == "status":
            job = message.get("job")
            if isinstance(job, dict):
                self.statuses.append(str(job.get("status")))
        return None

    def _lines(self, message: dict[str, object]) -> dict[str, object]:
        self.frames += 1
        first, last, lines = message.get("first"), message.get("last"), message.get("lines")
        assert isinstance(lines, list)
        if first != self.last + 1:
            self.problems.append(f"{self.name}: frame starts at {first} after line {self.last}")
        got = [int(line[0]) for line in lines]
        if got != list(range(int(str(first)), int(str(last)) + 1)):
            self.problems.append(f"{self.name}: frame {first}..{last} holds seqs {got[:5]}…")
        for line in lines:
            seq = int(line[0])
            if seq <= self.last:
                self.problems.append(f"{self.name}: line {seq} again (already had up to {self.last})")
                continue
            self.seqs.append(seq)
            self.texts.append(str(line[4]))
        return {"type": "ack", "seq": self.last}
