"""The bubblewrap fallback: ops run over this machine's read-only root filesystem, image ignored.

Used only when no container engine is reachable, and said plainly in the job's
logs. Each op gets a private /tmp, /dev and /proc, no network (unless it
exposes ports), no capabilities; volumes are temporary directories bound at
their destination; a missing work_dir is created inside the sandbox (the
directories on its path are rebuilt with the host's entries bound read-only).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess  # nosec B404  # runs bwrap with a fixed argument list, never a shell
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from nosana_dash.network.local.runner import OpContext, OpRun

BWRAP = "bwrap"
KILL_GRACE_SECONDS = 2.0
PROBE_TIMEOUT = 10.0


def has_nvidia_gpu() -> bool:
    return any(name.startswith("nvidia") and name[6:].isdigit() for name in os.listdir("/dev"))


def unavailable_reason() -> str | None:
    """None when bubblewrap can make a sandbox here; else why not, and how to fix it."""
    path = shutil.which(BWRAP)
    if path is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)."
    try:
        probe = subprocess.run(  # nosec B603  # fixed argv, no shell
            [path, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--cap-drop", "ALL", "true"],
            capture_output=True, timeout=PROBE_TIMEOUT, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not be started: {exc}"
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces here: {probe.stderr.decode(errors='replace').strip()[:300]}"
    return None


def _root_binds(create: list[str]) -> list[str]:
    """bwrap arguments for a read-only view of `/` in which the directories in `create` can exist.

    The host's root is bound entry by entry; a directory on the path of a
    wanted one is rebuilt (a fresh dir with the host's children bound inside)
    so the missing part can be made without ever writing to the host.
    """
    wanted = [Path(p) for p in create if p and Path(p).is_absolute()]
    rebuild = {Path("/")}
    for path in wanted:
        rebuild.update(path.parents)
        rebuild.add(path)
    args: list[str] = []

    def bind_children(directory: Path) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            child = Path(entry.path)
            if child in rebuild and entry.is_dir(follow_symlinks=False):
                args.extend(["--dir", str(child)])
                bind_children(child)
            elif entry.is_symlink():
                args.extend(["--symlink", os.readlink(child), str(child)])
            elif child not in (Path("/proc"), Path("/dev"), Path("/tmp")):  # noqa: S108 - sandbox mounts its own  # nosec B108  # paths inside the sandbox
                args.extend(["--ro-bind", str(child), str(child)])

    bind_children(Path("/"))
    return args


class SandboxBackend:
    kind = "bubblewrap"

    def __init__(self, job_address: str, *, engine_error: str = "", image_error: str = "") -> None:
        self.job_address = job_address
        self.engine_error = engine_error
        self.image_error = image_error
        self._dir = Path(tempfile.mkdtemp(prefix="nosana-dash-job-"))
        self._volumes: dict[str, Path] = {}

    def notes(self) -> list[str]:
        if self.image_error:
            return [
                f"The container engine is reachable, but {self.image_error}. As NOSANA_LOCAL_IMAGE_FALLBACK is "
                "on, ops run in a bubblewrap sandbox over this machine's read-only root filesystem instead: "
                "the images named in the job are NOT used, so programs and output may differ from a Nosana node."
            ]
        why = f" ({self.engine_error})" if self.engine_error else ""
        return [
            f"No container engine is reachable{why}. Ops run in a bubblewrap sandbox over this machine's "
            "read-only root filesystem instead: the images named in the job are NOT used, so programs and "
            "output may differ from a Nosana node."
        ]

    def create_volume(self, ctx: OpContext, name: str) -> None:
        path = self._dir / "volumes" / name
        path.mkdir(parents=True, exist_ok=True)
        self._volumes[name] = path
        ctx.system(f"created volume {name} (a temporary directory)")

    def _argv(self, ctx: OpContext) -> list[str]:
        op = ctx.op
        command = (op.entrypoint or []) + (op.cmd or [])
        if not command:
            command = ["/bin/sh"]
        dests = [dest for _, dest in op.volumes]
        argv = [BWRAP, *(_root_binds([*(os.path.dirname(d) for d in dests), op.work_dir])), "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",  # noqa: S108 - private  # nosec B108  # a private tmpfs inside the sandbox
                "--unshare-all", "--unshare-user", "--uid", "0", "--gid", "0", "--cap-drop", "ALL",
                "--die-with-parent", "--new-session", "--clearenv",
                "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--setenv", "HOME", "/root"]
        if op.ports:
            argv.append("--share-net")  # an exposed port needs the host's network
        for name, dest in op.volumes:
            source = self._volumes.get(name)
            if source is None:  # like an engine, mounting an unknown volume makes an empty one
                source = self._dir / "volumes" / name
                source.mkdir(parents=True, exist_ok=True)
                self._volumes[name] = source
            argv.extend(["--bind", str(source), dest])
        if op.work_dir:
            argv.extend(["--dir", op.work_dir, "--chdir", op.work_dir])
        for key, value in op.env.items():
            argv.extend(["--setenv", key, value])
        return [*argv, "--", *command]

    def run(self, ctx: OpContext) -> OpRun:
        op = ctx.op
        if op.image:
            ctx.system(f"image {op.image} ignored: running on this machine's root filesystem in a bubblewrap sandbox")
        if op.gpu:
            ctx.system("this op asks for a GPU; the sandbox gives none")
        if op.ports:
            for port in op.ports:
                ctx.publish_port(port, f"http://127.0.0.1:{port}")
        lines: queue.Queue[tuple[str, str, str] | None] = queue.Queue()
        process = subprocess.Popen(self._argv(ctx), stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # nosec B603  # argv list, no shell
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        ctx.started(f"bwrap-{process.pid}")
        if process.stdout is None or process.stderr is None:  # pipes were requested; never None
            raise RuntimeError("bwrap started without its output pipes")
        readers = [threading.Thread(target=_read, args=(pipe, name, lines), daemon=True)
                   for pipe, name in ((process.stdout, "stdout"), (process.stderr, "stderr"))]
        for reader in readers:
            reader.start()
        open_streams, killed_at = 2, 0.0
        while open_streams:
            try:
                item = lines.get(timeout=0.1)
            except queue.Empty:
                item = ()  # type: ignore[assignment]
            if item is None:
                open_streams -= 1
            elif item:
                ctx.out(*item)
            if not killed_at and ctx.abort_reason():
                why = ctx.abort_reason()
                ctx.system("stopping: stop requested" if why == "stopped" else "stopping: the job reached its timeout")
                _signal(process, signal.SIGTERM)
                killed_at = time.monotonic()
            elif killed_at and time.monotonic() - killed_at > KILL_GRACE_SECONDS:
                _signal(process, signal.SIGKILL)
        code = process.wait(timeout=KILL_GRACE_SECONDS + 10)
        return OpRun(exit_code=128 - code if code < 0 else code, provider_id=f"bwrap-{process.pid}")

    def cleanup(self) -> list[str]:
        shutil.rmtree(self._dir, ignore_errors=True)
        return [f"removed {len(self._volumes)} temporary volume(s)"] if self._volumes else []


def _signal(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _read(pipe: IO[bytes], stream: str, out: queue.Queue[tuple[str, str, str] | None]) -> None:
    """One line at a time, timestamped on arrival (RFC 3339 with nanoseconds, like an engine)."""
    try:
        for raw in iter(pipe.readline, b""):
            ns = time.time_ns()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"
            out.put((stream, raw.decode("utf-8", errors="replace").rstrip("\n"), stamp))
    finally:
        pipe.close()
        out.put(None)
