"""Live logs from a Nosana node's websocket (spec §10.3), as a small synchronous client.

One JSON text frame subscribes: `/flog` gives per-op TaskLogs (the per-step
source), `/log` the node's own log entries (fallback when a node has no task
log for the job). The header is the poster's signature (§10.2). Frames are JSON
whose `data` is itself a JSON string. The node replays its buffer on every
subscribe, so callers de-duplicate (see `Deduper`). Every wait has a timeout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from solders.keypair import Keypair
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from nosana_dash.network.base import NetworkError
from nosana_dash.network.codec.keys import sign_header
from nosana_dash.network.http import tls_context
from nosana_dash.network.networks import constants

log = logging.getLogger(__name__)

CLI_MESSAGE = "Hello Nosana Node!"  # what the CLI signs for /log (auth.json cli_sdk_flavour)
DASH_MESSAGE = "nosana-auth"  # what the dashboard signs (auth.json dashboard_kit_flavour)
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 3.0
MAX_FRAME = 4 * 1024 * 1024

# Close codes the node uses (§10.3).
UNKNOWN_JOB = 1007
NO_TASK = 1008
UNAUTHORIZED = 3000
INVALID_PATH = 3003


def _compact(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def node_ws_url(node: str, network: str, path: str = "") -> str:
    return f"wss://{node}.{constants(network).node_domain}/{path.lstrip('/')}"


def log_frame(job: str, poster: str, header: str) -> str:
    """CLI flavour: `{"path":"/log","body":{"jobAddress","address":<poster>},"header"}`."""
    return _compact({"path": "/log", "body": {"jobAddress": job, "address": poster}, "header": header})


def flog_frame(job: str, node: str, header: str, *, group: str | None = None, op_id: str | None = None,
               log_type: str | None = None) -> str:
    """Dashboard flavour: the header twice (`headers.Authorization` and `header`), body.address = node."""
    body: dict[str, Any] = {"jobAddress": job, "address": node}
    for key, value in (("group", group), ("opId", op_id), ("type", log_type)):
        if value is not None:
            body[key] = value
    return _compact({"path": "/flog", "headers": {"Authorization": header}, "header": header, "body": body})


@dataclass(frozen=True)
class NodeEvent:
    """One decoded entry: `op_id` None for node-level entries (`/log`, or opId "system")."""

    path: str  # "flog" | "log" | "state"
    op_id: str | None
    kind: str  # flog: container|info|error; log: the entry type
    text: str | None  # None for progress-bar objects
    timestamp: int  # ms
    fingerprint: str


def parse_frame(raw: str | bytes) -> NodeEvent | None:
    """Decode a node frame (twice: `data` is a JSON string). Unknown shapes give None."""
    try:
        outer = json.loads(raw)
        data = outer.get("data") if isinstance(outer, dict) else None
        inner = json.loads(data) if isinstance(data, str) else data
    except (ValueError, TypeError):
        return None
    if not isinstance(inner, dict):
        return None
    path = str(outer.get("path", ""))
    timestamp = inner.get("timestamp")
    ts = int(timestamp) if isinstance(timestamp, int | float) else 0
    if path == "flog":
        op = inner.get("opId")
        message = inner.get("message")
        text = message if isinstance(message, str) else None
        op_id = str(op) if op and op != "system" else None
        kind = str(inner.get("type", "info"))
    elif path == "log":
        log_text = inner.get("log")
        text = log_text if isinstance(log_text, str) else None
        op_id = None
        kind = str(inner.get("type", "log"))
    else:
        return None
    fingerprint = f"{op_id}|{kind}|{ts}|{text if text is not None else _compact(inner)}"
    return NodeEvent(path, op_id, kind, text, ts, fingerprint)


@dataclass
class Deduper:
    """Drops entries a reconnect replays: older than the newest seen, or seen at the same millisecond."""

    last_ts: int = 0
    seen_at_last: set[str] = field(default_factory=set)

    def fresh(self, event: NodeEvent) -> bool:
        if event.timestamp < self.last_ts:
            return False
        if event.timestamp == self.last_ts:
            if event.fingerprint in self.seen_at_last:
                return False
            self.seen_at_last.add(event.fingerprint)
            return True
        self.last_ts = event.timestamp
        self.seen_at_last = {event.fingerprint}
        return True


class NodeLogStream:
    """One subscription; iterate `events(timeout)` until the node closes or the caller stops."""

    def __init__(self, url: str, frame: str) -> None:
        self.url = url
        self.frame = frame
        self._conn: ClientConnection | None = None

    def __enter__(self) -> NodeLogStream:
        try:
            # wss: the process's one TLS context (websockets would build one per connection); ws: none allowed.
            tls = tls_context() if self.url.startswith("wss://") else None
            conn = connect(self.url, open_timeout=OPEN_TIMEOUT, close_timeout=CLOSE_TIMEOUT,
                           max_size=MAX_FRAME, user_agent_header=None, ssl=tls)
            self._conn = conn.__enter__()  # used as a context manager, as websockets asks
            self._conn.send(self.frame)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise NetworkError(f"could not reach the node's log socket: {type(exc).__name__}", retryable=True) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.__exit__(None, None, None)

    def events(self, timeout: float) -> Iterator[NodeEvent | None]:
        """Yields events; yields None when `timeout` passes quietly (so callers can check for the end).

        Raises ConnectionClosed when the node closes (its `.rcvd.code` says why).
        """
        if self._conn is None:  # not an assert: those vanish under python -O
            raise RuntimeError("events() called before the connection was opened")
        while True:
            try:
                raw = self._conn.recv(timeout=timeout)
            except TimeoutError:
                yield None
                continue
            event = parse_frame(raw)
            if event is not None:
                yield event


def close_code(exc: ConnectionClosed) -> int | None:
    return exc.rcvd.code if exc.rcvd is not None else None


def headers_for(keypair: Keypair) -> tuple[str, str]:
    """(CLI header for /log, dashboard header for /flog), both without time (as the clients send them)."""
    return sign_header(keypair, CLI_MESSAGE), sign_header(keypair, DASH_MESSAGE)
