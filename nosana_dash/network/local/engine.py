"""A small Docker Engine API client (httpx over a unix socket) that works with Docker and Podman.

Only what the local runner needs: ping, images (inspect, pull with progress),
volumes, containers (create, start, logs, wait, stop, remove). Every call has an
explicit timeout; only reads are retried. The socket comes from
`settings.DOCKER_HOST` / env `DOCKER_HOST`, else the usual Docker and Podman paths.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

API = "/v1.41"  # understood by Docker >= 20.10 and by Podman's compatible API
CONNECT_TIMEOUT = 3.0
CALL_TIMEOUT = 30.0
PULL_TIMEOUT = 900.0
READ_RETRIES = 2

INSTALL_HINT = (
    "No container engine is reachable. Start one with `bin/local-engine start` (Podman; "
    "`bin/setup --system` installs podman and runc), or point DOCKER_HOST at a Docker or Podman "
    "socket (e.g. DOCKER_HOST=unix:///run/podman/podman.sock after `systemctl start podman.socket`)."
)


class EngineError(Exception):
    """A container engine call failed; `message` is fit for a job's log."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class EngineUnavailable(EngineError):
    pass


def socket_candidates() -> list[str]:
    """Where Docker and Podman usually listen, most specific first."""
    from django.conf import settings

    uid = os.getuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{uid}"
    paths = [
        str(Path(settings.VAR_DIR) / "engine" / "podman.sock"),  # what `bin/local-engine start` creates
        f"{runtime}/podman/podman.sock",
        "/run/podman/podman.sock",
        "/var/run/docker.sock",
        "/run/docker.sock",
        str(Path.home() / ".docker" / "run" / "docker.sock"),
    ]
    return list(dict.fromkeys(paths))


def configured_host() -> str | None:
    """DOCKER_HOST from settings or the environment, else the first existing usual socket."""
    from django.conf import settings

    host = getattr(settings, "DOCKER_HOST", "") or os.environ.get("DOCKER_HOST", "")
    if host:
        return host
    for path in socket_candidates():
        if os.path.exists(path):
            return f"unix://{path}"
    return None


@dataclass(frozen=True)
class LogChunk:
    stream: str  # stdout | stderr
    text: str  # one line, without its newline
    timestamp: str  # as the engine wrote it (RFC 3339), or "" when it gave none


_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ")


class StreamDemuxer:
    """Splits Docker's multiplexed stream (8-byte frame headers) into timestamped lines per stream."""

    def __init__(self, timestamps: bool = True) -> None:
        self._buffer = b""
        self._partial: dict[int, bytes] = {1: b"", 2: b""}
        self._timestamps = timestamps

    def feed(self, data: bytes) -> list[LogChunk]:
        self._buffer += data
        out: list[LogChunk] = []
        while len(self._buffer) >= 8:
            kind = self._buffer[0]
            size = int.from_bytes(self._buffer[4:8], "big")
            if len(self._buffer) < 8 + size:
                break
            payload, self._buffer = self._buffer[8 : 8 + size], self._buffer[8 + size :]
            stream = 2 if kind == 2 else 1
            text = self._partial[stream] + payload
            *lines, self._partial[stream] = text.split(b"\n")
            out.extend(self._chunk(stream, line) for line in lines)
        return out

    def close(self) -> list[LogChunk]:
        out = [self._chunk(s, rest) for s, rest in sorted(self._partial.items()) if rest]
        self._partial = {1: b"", 2: b""}
        return out

    def _chunk(self, stream: int, line: bytes) -> LogChunk:
        text = line.decode("utf-8", errors="replace").removesuffix("\r")
        timestamp = ""
        if self._timestamps:
            match = _TS.match(text)
            if match:
                timestamp, text = match.group(1), text[match.end() :]
        return LogChunk("stderr" if stream == 2 else "stdout", text, timestamp)


def normalize_image(ref: str) -> str:
    """`ubuntu` → `docker.io/library/ubuntu:latest`, as Docker resolves short names."""
    ref = ref.strip()
    name, _, digest = ref.partition("@")
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + ("library/" if "/" not in name else "") + name
    if not digest and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


class Engine:
    """One connection to a Docker-compatible engine."""

    def __init__(self, host: str) -> None:
        self.host = host
        if host.startswith("unix://"):
            transport = httpx.HTTPTransport(uds=host[len("unix://") :])
            base = "http://engine"
        elif host.startswith("tcp://") or host.startswith("http://"):
            transport = httpx.HTTPTransport()
            base = "http://" + host.split("://", 1)[1]
        else:
            raise EngineUnavailable(f"DOCKER_HOST {host!r} is not unix://… or tcp://…")
        self._client = httpx.Client(
            transport=transport, base_url=base + API,
            timeout=httpx.Timeout(CALL_TIMEOUT, connect=CONNECT_TIMEOUT),
        )
        self.kind = "docker"
        self.version = ""

    @classmethod
    def connect(cls, host: str | None = None) -> Engine:
        host = host or configured_host()
        if not host:
            raise EngineUnavailable(INSTALL_HINT)
        engine = cls(host)
        try:
            # `/_ping` answers at once (`/version` can take a second on Podman); its headers name the engine.
            response = engine._request("GET", "/_ping")
        except EngineError as exc:
            engine.close()
            raise EngineUnavailable(f"The container engine at {host} does not answer ({exc.message}). {INSTALL_HINT}") from exc
        if response.status_code != 200:
            engine.close()
            raise EngineUnavailable(f"The container engine at {host} answered HTTP {response.status_code}. {INSTALL_HINT}")
        libpod = response.headers.get("Libpod-Api-Version", "")
        engine.kind = "podman" if libpod else "docker"
        engine.version = libpod or response.headers.get("Api-Version", "")
        return engine

    def close(self) -> None:
        self._client.close()

    # --- plumbing ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        attempts = READ_RETRIES + 1 if method == "GET" else 1  # reads only
        for attempt in range(attempts):
            try:
                response = self._client.request(
                    method, path, timeout=httpx.Timeout(timeout or CALL_TIMEOUT, connect=CONNECT_TIMEOUT), **kwargs
                )
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise EngineError(f"{type(exc).__name__}: {exc}") from exc
            return response
        raise AssertionError("unreachable")

    @staticmethod
    def _error(response: httpx.Response, what: str) -> EngineError:
        try:
            detail = response.json().get("message") or response.text
        except (ValueError, AttributeError):
            detail = response.text
        return EngineError(f"{what}: (HTTP code {response.status_code}) {str(detail).strip()}", status=response.status_code)

    def _get_json(self, path: str, **params: Any) -> dict[str, Any]:
        response = self._request("GET", path, params=params or None)
        if response.status_code != 200:
            raise self._error(response, f"GET {path}")
        body = response.json()
        return body if isinstance(body, dict) else {"items": body}

    # --- images -----------------------------------------------------------------------------

    def image_exists(self, ref: str) -> bool:
        response = self._request("GET", f"/images/{quote(ref, safe='/:@')}/json")
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._error(response, f"inspect image {ref}")
        return True

    def pull(self, ref: str, on_progress: Callable[[str], None]) -> None:
        """Pull an image, reporting progress lines; raises EngineError with the registry's reason."""
        name, tag = ref, ""
        if "@" not in ref and ":" in ref.rsplit("/", 1)[-1]:
            name, tag = ref.rsplit(":", 1)
        params = {"fromImage": name, **({"tag": tag} if tag else {})}
        seen: dict[str, str] = {}
        error = ""
        try:
            with self._client.stream(
                "POST", "/images/create", params=params,
                timeout=httpx.Timeout(PULL_TIMEOUT, connect=CONNECT_TIMEOUT),
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise self._error(response, f"pull {ref}")
                for raw in response.iter_lines():
                    if not raw.strip():
                        continue
                    try:
                        event = json.loads(raw)
                    except ValueError:
                        continue
                    if event.get("error"):
                        error = str(event.get("error"))
                        continue
                    line = _progress_line(event, seen)
                    if line:
                        on_progress(line)
        except httpx.TransportError as exc:
            raise EngineError(f"pull {ref}: {type(exc).__name__}: {exc}") from exc
        if error:
            raise EngineError(f"pull {ref}: {error.strip()}", status=404 if "not found" in error.lower() else 500)
        if not self.image_exists(ref):
            raise EngineError(f"pull {ref}: the engine reported no error, but the image is not there", status=404)

    # --- volumes ----------------------------------------------------------------------------

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        response = self._request("POST", "/volumes/create", json={"Name": name, "Labels": labels})
        if response.status_code not in (200, 201):
            raise self._error(response, f"create volume {name}")

    def remove_volume(self, name: str) -> None:
        response = self._request("DELETE", f"/volumes/{quote(name, safe='')}", params={"force": "true"})
        if response.status_code not in (204, 404):
            raise self._error(response, f"remove volume {name}")

    def volumes(self, label: str) -> list[str]:
        body = self._get_json("/volumes", filters=json.dumps({"label": [label]}))
        return [str(v["Name"]) for v in body.get("Volumes") or []]

    # --- containers -------------------------------------------------------------------------

    def create_container(self, name: str, config: dict[str, Any]) -> str:
        response = self._request("POST", "/containers/create", params={"name": name}, json=config)
        if response.status_code != 201:
            raise self._error(response, "create container")
        return str(response.json()["Id"])

    def start(self, container: str) -> None:
        response = self._request("POST", f"/containers/{container}/start")
        if response.status_code not in (204, 304):
            raise self._error(response, "start container")

    def logs(self, container: str, *, read_timeout: float) -> Iterator[LogChunk]:
        """Follow a container's stdout and stderr until it exits (or `read_timeout` of silence)."""
        demux = StreamDemuxer(timestamps=True)
        params = {"follow": "true", "stdout": "true", "stderr": "true", "timestamps": "true"}
        with self._client.stream(
            "GET", f"/containers/{container}/logs", params=params,
            timeout=httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT),
        ) as response:
            if response.status_code != 200:
                response.read()
                raise self._error(response, "container logs")
            for data in response.iter_raw():
                yield from demux.feed(data)
        yield from demux.close()

    def run_attached(self, container: str, *, read_timeout: float, on_start: Callable[[], None]) -> Iterator[LogChunk]:
        """Attach to stdout/stderr, start the container, yield its lines as they come until it exits.

        Attaching before the start loses no output, and the stream ends the moment the
        container does (following logs can lag by half a second on Podman).
        """
        demux = StreamDemuxer(timestamps=False)
        params = {"stream": "true", "stdout": "true", "stderr": "true"}
        with self._client.stream(
            "POST", f"/containers/{container}/attach", params=params,
            timeout=httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT),
        ) as response:
            if response.status_code != 200:
                response.read()
                raise self._error(response, "attach to container")
            self.start(container)
            on_start()
            for data in response.iter_raw():
                stamp = _rfc3339_now()  # attach carries no timestamps: the moment the bytes arrived
                for chunk in demux.feed(data):
                    yield LogChunk(chunk.stream, chunk.text, stamp)
        stamp = _rfc3339_now()
        for chunk in demux.close():
            yield LogChunk(chunk.stream, chunk.text, stamp)

    def exit_state(self, container: str, timeout: float = CALL_TIMEOUT) -> dict[str, Any]:
        """The inspect `State` once the container has stopped (polling: Podman's wait endpoint lags)."""
        end = time.monotonic() + timeout
        while True:
            state = self.inspect(container).get("State") or {}
            if not state.get("Running") or time.monotonic() > end:
                return dict(state)
            time.sleep(0.01)

    def wait(self, container: str, timeout: float = CALL_TIMEOUT) -> int:
        response = self._request("POST", f"/containers/{container}/wait", timeout=timeout)
        if response.status_code != 200:
            raise self._error(response, "wait for container")
        return int(response.json().get("StatusCode", -1))

    def inspect(self, container: str) -> dict[str, Any]:
        return self._get_json(f"/containers/{container}/json")

    def stop(self, container: str, grace: int = 2) -> None:
        response = self._request("POST", f"/containers/{container}/stop", params={"t": grace}, timeout=grace + CALL_TIMEOUT)
        if response.status_code not in (204, 304, 404):
            raise self._error(response, "stop container")

    def remove(self, container: str) -> None:
        response = self._request("DELETE", f"/containers/{container}", params={"force": "true", "v": "true"})
        if response.status_code not in (204, 404):
            raise self._error(response, "remove container")

    def containers(self, label: str) -> list[str]:
        body = self._get_json("/containers/json", all="true", filters=json.dumps({"label": [label]}))
        return [str(c["Id"]) for c in body.get("items") or []]


def _rfc3339_now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


def _progress_line(event: dict[str, Any], seen: dict[str, str]) -> str:
    """One line per layer and status change (and every quarter of a download), not per byte."""
    status = str(event.get("status") or event.get("stream") or "").strip()
    if not status:
        return ""
    layer = str(event.get("id") or "")
    detail = event.get("progressDetail") or {}
    key = status
    if isinstance(detail, dict) and detail.get("total"):
        quarter = int(4 * int(detail.get("current") or 0) / max(int(detail["total"]), 1))
        key = f"{status}:{quarter}"
        status = f"{status} {min(quarter * 25, 100)}% of {int(detail['total']) / 1e6:.1f} MB"
    if seen.get(layer) == key:
        return ""
    seen[layer] = key
    return f"{layer}: {status}" if layer else status
