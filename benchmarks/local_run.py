"""Local network latency: post → first log line and post → completed, vs `podman run` of the same command.

    .venv/bin/python benchmarks/local_run.py [--runs N] [--record]

Uses DOCKER_HOST when set (a `bin/local-engine` socket), else starts the engine
in a temporary folder. Runs against a throwaway SQLite database with one
worker in this process (poll 20 ms). `--record` appends the table to
benchmarks/RESULTS.md. Goal: post → completed ≤ 1.3x `podman run`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "localhost/nosana-dash/toolbox:latest"
COMMAND = "echo hello"


def _engine(folder: Path) -> tuple[str, Path | None]:
    host = os.environ.get("DOCKER_HOST", "")
    if host:
        engine_dir = Path(host.removeprefix("unix://")).parent
        return host, engine_dir if (engine_dir / "storage").is_dir() else None
    out = subprocess.run([str(ROOT / "bin" / "local-engine"), "start", str(folder)], capture_output=True, text=True,
                         check=True, timeout=120)
    return out.stdout.strip().split("=", 1)[1], folder


def _podman_run(engine_dir: Path | None) -> float:
    env = dict(os.environ)
    argv = ["podman"]
    if engine_dir is not None:  # the same storage the engine service uses
        env["CONTAINERS_CONF"] = str(engine_dir / "containers.conf")
        argv += ["--root", str(engine_dir / "storage"), "--runroot", str(engine_dir / "run")]
    started = time.perf_counter()
    out = subprocess.run([*argv, "run", "--rm", IMAGE, "/bin/sh", "-c", COMMAND], capture_output=True, text=True,
                         env=env, check=True, timeout=120)
    elapsed = time.perf_counter() - started
    assert out.stdout.strip() == "hello", out.stdout  # noqa: S101 - the peer must really run it
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nosana-dash-bench-"))
    host, engine_dir = _engine(work / "engine")
    os.environ.update({"DOCKER_HOST": host, "NOSANA_DASH_VAR_DIR": str(work / "var"),
                       "NOSANA_WORKER_POLL_SECONDS": "0.02", "NOSANA_LOCAL_SANDBOX": "engine"})
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)  # the embedded defaults: SQLite and the in-memory layer
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nosana_dash.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from jobs import services, worker
    from jobs.models import Job, JobStatus, LogLine
    from nosana_dash.network.local import ledger

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    stop = threading.Event()
    loop = threading.Thread(target=worker.run_forever, args=("bench", stop), daemon=True)
    loop.start()
    definition = {"version": "0.1", "type": "container",
                  "ops": [{"type": "container/run", "id": "hello", "args": {"image": IMAGE, "cmd": COMMAND}}]}

    first_line: list[float] = []
    completed: list[float] = []
    peer: list[float] = []
    try:
        for round_no in range(args.runs + 1):  # round 0 warms both paths up and is not counted
            started = time.perf_counter()
            job = services.post_job(user=user, network="local", market=ledger.default_market_address(),
                                    definition=definition)
            seen_line = 0.0
            while True:
                if not seen_line and LogLine.objects.filter(job=job, stream="stdout").exists():
                    seen_line = time.perf_counter() - started
                status = Job.objects.filter(pk=job.pk).values_list("status", flat=True).first()
                if status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED):
                    break
                if time.perf_counter() - started > 120:
                    raise SystemExit("a job did not finish in 120 s")
                time.sleep(0.005)
            done = time.perf_counter() - started
            if status != JobStatus.COMPLETED:
                raise SystemExit(f"the job ended {status}")
            podman = _podman_run(engine_dir)
            if round_no > 0:
                first_line.append(seen_line or done)
                completed.append(done)
                peer.append(podman)
    finally:
        stop.set()
        loop.join(timeout=30)
        if not os.environ.get("KEEP_ENGINE") and engine_dir == work / "engine":
            subprocess.run([str(ROOT / "bin" / "local-engine"), "stop", str(engine_dir)], capture_output=True,
                           check=False, timeout=60)

    med = statistics.median
    ratio = med(completed) / med(peer)
    rows = [
        ("post → first log line (local network)", med(first_line)),
        ("post → completed (local network)", med(completed)),
        ("`podman run --rm` of the same command", med(peer)),
    ]
    table = "\n".join(f"| {name} | {value:.3f} s |" for name, value in rows)
    report = (
        f"\n## Local network run vs `podman run` (`benchmarks/local_run.py`)\n\n"
        f"`.venv/bin/python benchmarks/local_run.py --runs {args.runs}` — one op `{COMMAND}` in `{IMAGE}`, "
        f"Podman's API service, one in-process worker (poll 20 ms), SQLite; medians of {args.runs} runs "
        f"after one warm-up, both measured in the same run.\n\n| path | median |\n|---|---|\n{table}\n\n"
        f"- post → completed / `podman run`: **{ratio:.2f}x** (goal ≤ 1.3x).\n"
    )
    print(report)
    if args.record:
        with open(ROOT / "benchmarks" / "RESULTS.md", "a", encoding="utf-8") as handle:
            handle.write(report)


if __name__ == "__main__":
    main()
