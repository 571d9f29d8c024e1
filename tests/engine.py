"""The container engine for tests: DOCKER_HOST from the environment (bin/test starts one),
else `bin/local-engine start` in a temporary folder for this session, stopped at the end."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def engine_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    host = os.environ.get("DOCKER_HOST", "")
    if host:
        yield host
        return
    folder = tmp_path_factory.mktemp("engine")
    started = subprocess.run([str(ROOT / "bin" / "local-engine"), "start", str(folder), "--test-images"],
                             capture_output=True, text=True, timeout=120, check=False)
    if started.returncode != 0:
        pytest.fail(f"could not start the container engine: {started.stderr[-2000:]}")
    host = started.stdout.strip().split("=", 1)[1]
    try:
        yield host
    finally:
        subprocess.run([str(ROOT / "bin" / "local-engine"), "stop", str(folder)], capture_output=True,
                       timeout=60, check=False)
