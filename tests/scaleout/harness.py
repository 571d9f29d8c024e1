"""Process harness for the scale-out test: daphne and worker processes on loopback, always stopped.

Every process is started in its own session (process group) so that stopping
it also stops what it started (bubblewrap sandboxes, container clients), and
`ProcessGroup.stop_all()` runs in a `finally`, whatever happened in the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent
STOP_GRACE_SECONDS = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(db: Mapping[str, Any]) -> str:
    """A postgres:// URL for Django's database settings (the test database, once created)."""
    user = quote(str(db.get("USER") or ""), safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = str(db.get("HOST") or "127.0.0.1")
    port = str(db.get("PORT") or "5432")
    return f"postgres://{auth}{host}:{port}/{db['NAME']}"


def child_env(*, database: str, redis: str, prefix: str, secret_key: str, var_dir: Path,
              extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every web and worker process of one deployment shares."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSANA_", "DJANGO_", "PYTEST"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "nosana_dash.settings",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database,
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": redis,
        "NOSANA_DASH_CHANNEL_PREFIX": prefix,
        # Sessions are signed with the key: every process must share it to accept one sign-in.
        "NOSANA_DASH_SECRET_KEY": secret_key,
        "NOSANA_DASH_VAR_DIR": str(var_dir),
        "NOSANA_DASH_LOG_LEVEL": "WARNING",
        "NOSANA_EMBEDDED_WORKER": "0",
    })
    env.update(extra or {})
    return env


@dataclass
class Managed:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


@dataclass
class ProcessGroup:
    """The processes of one deployment, in start order."""

    folder: Path
    env: dict[str, str]
    processes: list[Managed] = field(default_factory=list)

    def start(self, name: str, argv: list[str]) -> Managed:
        log_path = self.folder / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        managed = Managed(name, process, log_path)
        self.processes.append(managed)
        return managed

    def daphne(self, name: str) -> tuple[Managed, int]:
        port = free_port()
        managed = self.start(name, [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                                    "nosana_dash.asgi:application"])
        return managed, port

    def worker(self, name: str) -> Managed:
        return self.start(name, [sys.executable, "manage.py", "worker", "--name", name])

    def check_alive(self) -> None:
        for managed in self.processes:
            code = managed.process.poll()
            if code is not None:
                raise AssertionError(f"{managed.name} exited with {code}:\n{managed.log_tail()}")

    def log_tails(self, size: int = 2000) -> str:
        return "\n".join(f"--- {m.name} (exit {m.process.poll()}) ---\n{m.log_tail(size)}" for m in self.processes)

    def stop_all(self) -> None:
        """SIGTERM to each group (workers end their job honestly), SIGKILL after the grace period."""
        for managed in reversed(self.processes):
            _signal_group(managed.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for managed in reversed(self.processes):
            try:
                managed.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(managed.process, signal.SIGKILL)
                managed.process.wait(timeout=10)
            _signal_group(managed.process, signal.SIGKILL)  # leftovers of the group, if any


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def wait_for_http(base: str, managed: Managed, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if managed.process.poll() is not None:
            raise AssertionError(f"{managed.name} exited with {managed.process.returncode}:\n{managed.log_tail()}")
        try:
            httpx.get(base + "/accounts/login/", timeout=1.0)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{managed.name} did not answer at {base}:\n{managed.log_tail()}") from None
            time.sleep(0.1)


def sign_in(base: str, username: str, password: str) -> str:
    """Sign in through the login form like a browser; returns the session cookie's value."""
    with httpx.Client(base_url=base, timeout=10.0, follow_redirects=False) as client:
        page = client.get("/accounts/login/")
        page.raise_for_status()
        token = client.cookies.get("csrftoken")
        assert token, "the login page set no CSRF cookie"
        answer = client.post("/accounts/login/", data={"username": username, "password": password,
                                                       "csrfmiddlewaretoken": token})
        assert answer.status_code == 302, f"sign-in failed: HTTP {answer.status_code}"
        session = client.cookies.get("sessionid")
        assert session, "sign-in set no session cookie"
        return session
