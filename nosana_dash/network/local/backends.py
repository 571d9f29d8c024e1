"""Where a local job's ops run: a container engine (Docker or Podman), else a bubblewrap sandbox.

`select_backend()` follows `NOSANA_LOCAL_SANDBOX` (auto | engine | bubblewrap).
Ops never run unsandboxed: with neither available it raises `NoBackend`
with a message that says how to install or start an engine.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.db import connection

from nosana_dash.network.local import sandbox
from nosana_dash.network.local.engine import (
    INSTALL_HINT,
    Engine,
    EngineError,
    EngineUnavailable,
    normalize_image,
)
from nosana_dash.network.local.runner import Backend, OpContext, OpRun

LABEL = "nosana-dash.job"
STOP_GRACE_SECONDS = 2
WATCH_INTERVAL = 0.1


class NoBackend(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EngineBackend:
    """Each container/run op is a container `<job>-<index>`; volumes are `<job>-<name>`."""

    def __init__(self, engine: Engine, job_address: str) -> None:
        self.engine = engine
        self.kind = engine.kind
        self.job_address = job_address
        self.label = f"{LABEL}={job_address}"
        self._volumes: list[str] = []

    def notes(self) -> list[str]:
        # A takeover after a dead worker may find its containers: start clean.
        self._sweep()
        return [f"running on this machine's container engine: {self.kind} {self.engine.version}".rstrip()]

    def create_volume(self, ctx: OpContext, name: str) -> None:
        self.engine.create_volume(name, {LABEL: self.job_address})
        self._volumes.append(name)
        ctx.system(f"created volume {name}")

    def _ensure_image(self, ctx: OpContext, image: str) -> None:
        if self.engine.image_exists(image):
            return
        ctx.system(f"pulling image {image}")
        self.engine.pull(image, ctx.system)
        ctx.system(f"pulled image {image}")

    def _config(self, ctx: OpContext, image: str) -> dict[str, Any]:
        op = ctx.op
        host: dict[str, Any] = {"Binds": [f"{name}:{dest}" for name, dest in op.volumes]}
        config: dict[str, Any] = {
            "Image": image,
            "Env": [f"{k}={v}" for k, v in op.env.items()],
            "Labels": {LABEL: self.job_address, "nosana-dash.op": op.op_id},
            "Tty": False,
            "AttachStdout": True,
            "AttachStderr": True,
            "HostConfig": host,
        }
        if op.cmd is not None:
            config["Cmd"] = op.cmd
        if op.entrypoint is not None:
            config["Entrypoint"] = op.entrypoint
        if op.work_dir:
            config["WorkingDir"] = op.work_dir  # both engines create it when the image lacks it
        if op.ports:
            config["ExposedPorts"] = {f"{p}/tcp": {} for p in op.ports}
            host["PortBindings"] = {f"{p}/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}] for p in op.ports}
        if op.gpu:
            if sandbox.has_nvidia_gpu():
                host["DeviceRequests"] = [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]
            else:
                ctx.system("this op asks for a GPU; this machine has none, so it runs without one")
        return config

    def run(self, ctx: OpContext) -> OpRun:
        op = ctx.op
        if not op.image:
            return OpRun(exit_code=None, error="this container/run op has no image", error_code=400)
        image = normalize_image(op.image)
        try:
            self._ensure_image(ctx, image)
        except EngineError as exc:
            return OpRun(exit_code=None, error=f"image {image} is not on this machine and could not be pulled: "
                         f"{exc.message}", error_code=exc.status or 404)
        if ctx.abort_reason():
            return OpRun(exit_code=None)
        name = f"{self.job_address}-{op.index}"
        container = self.engine.create_container(name, self._config(ctx, image))
        done = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(ctx, container, done), daemon=True)
        def on_start() -> None:
            ctx.started(container)
            if op.ports:
                self._publish(ctx, container)
            watchdog.start()

        try:
            for chunk in self.engine.run_attached(container, read_timeout=ctx.remaining() + 60, on_start=on_start):
                ctx.out(chunk.stream, chunk.text, chunk.timestamp)
            state = self.engine.exit_state(container, timeout=STOP_GRACE_SECONDS + 30)
            exit_code = state.get("ExitCode")
            return OpRun(exit_code=int(exit_code) if exit_code is not None else None, provider_id=container,
                         inspect_state=state)
        finally:
            done.set()
            if watchdog.is_alive():
                watchdog.join(timeout=STOP_GRACE_SECONDS + 35)
            try:
                self.engine.remove(container)
            except EngineError as exc:
                ctx.system(f"could not remove container {container[:12]}: {exc.message}")

    def _publish(self, ctx: OpContext, container: str) -> None:
        ports = ((self.engine.inspect(container).get("NetworkSettings") or {}).get("Ports")) or {}
        for port in ctx.op.ports:
            bindings = ports.get(f"{port}/tcp") or []
            if bindings:
                url = f"http://127.0.0.1:{bindings[0].get('HostPort')}"
                ctx.system(f"port {port} is published at {url}")
                ctx.publish_port(port, url)

    def _watch(self, ctx: OpContext, container: str, done: threading.Event) -> None:
        """Stops the container on a stop request or at the deadline; the log stream then ends."""
        watcher = Engine(self.engine.host)  # its own connection: the main one is busy streaming logs
        try:
            while not done.wait(WATCH_INTERVAL):
                why = ctx.abort_reason()
                if why:
                    ctx.system("stopping: stop requested" if why == "stopped" else "stopping: the job reached its timeout")
                    try:
                        watcher.stop(container, grace=STOP_GRACE_SECONDS)
                    except EngineError as exc:
                        ctx.system(f"stop failed: {exc.message}")
                    return
        finally:
            watcher.close()
            connection.close()  # this thread's database connection (abort checks read the job)

    def _sweep(self) -> list[str]:
        notes = []
        for container in self.engine.containers(self.label):
            self.engine.remove(container)
            notes.append(f"removed container {container[:12]}")
        for volume in self.engine.volumes(self.label):
            self.engine.remove_volume(volume)
            notes.append(f"removed volume {volume}")
        return notes

    def cleanup(self) -> list[str]:
        try:
            notes = self._sweep()
            for name in self._volumes:
                self.engine.remove_volume(name)
            return notes
        finally:
            self.engine.close()


def _unavailable_image(engine: Engine, images: list[str]) -> str | None:
    """The first image that is neither on this machine nor pullable, with the reason."""
    for image in dict.fromkeys(normalize_image(i) for i in images if i):
        try:
            if engine.image_exists(image):
                continue
            engine.pull(image, lambda _line: None)
        except EngineError as exc:
            return f"image {image} is not on this machine and could not be pulled ({exc.message})"
    return None


def select_backend(job_address: str, mode: str | None = None, *, images: list[str] | None = None) -> Backend:
    """The engine when reachable, else bubblewrap (mode `auto`); raises NoBackend with a how-to.

    With `NOSANA_LOCAL_IMAGE_FALLBACK` (the run command sets it, for machines without a
    registry), a job whose images can't be had runs in bubblewrap instead, and says so.
    """
    mode = (mode or settings.NOSANA_LOCAL_SANDBOX or "auto").lower()
    if mode not in ("auto", "engine", "bubblewrap"):
        raise NoBackend(f"NOSANA_LOCAL_SANDBOX={mode!r}: choose auto, engine or bubblewrap")
    engine_error = ""
    if mode in ("auto", "engine"):
        try:
            engine = Engine.connect()
        except EngineUnavailable as exc:
            engine_error = exc.message
        else:
            fallback = mode == "auto" and settings.NOSANA_LOCAL_IMAGE_FALLBACK
            missing = _unavailable_image(engine, images or []) if fallback else None
            if missing is None or sandbox.unavailable_reason() is not None:
                return EngineBackend(engine, job_address)
            engine.close()
            return sandbox.SandboxBackend(job_address, image_error=missing)
        if mode == "engine":
            raise NoBackend(engine_error)
    problem = sandbox.unavailable_reason()
    if problem is None:
        return sandbox.SandboxBackend(job_address, engine_error=engine_error)
    raise NoBackend(f"{engine_error or INSTALL_HINT} The bubblewrap fallback is not available either: {problem}")


def wait_for_engine(timeout: float) -> bool:
    """True once an engine answers (used by the benchmark and tests)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            Engine.connect().close()
            return True
        except EngineUnavailable:
            time.sleep(0.1)
    return False
