"""Page throughput under load: markets, market, nodes and jobs pages vs a bare Django view.

    .venv/bin/python benchmarks/pages.py [--seconds 10] [--connections 50] [--record]

Fills a throwaway database (PostgreSQL `<DATABASE_URL db>_bench_pages` when DATABASE_URL
is set, else SQLite in a temporary folder) with 10,000 jobs and 1,000 nodes, serves it
with daphne on a free loopback port, and loads each page with `wrk` (50 connections).
Prints each page's throughput ratio to `/bench/bare` (same server, same middleware)
and its p99, with `/bench/signed-in` (reads only the signed-in user) as a reference
row. Goals: ratio >= 0.5x, p99 < 100 ms. `--record` appends to RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
from support import free_port, make_database  # benchmarks/support.py (scripts run from this folder)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
JOBS = 10_000
NODES = 1_000
MARKETS = 20


def _bench_database(env: dict[str, str], folder: Path) -> tuple[str, str | None]:
    """(DATABASE_URL for the benchmark, admin URL to drop it afterwards or None)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        env.pop("DATABASE_URL", None)
        env["NOSANA_DASH_SQLITE_PATH"] = str(folder / "bench.sqlite3")
        return "", None
    return make_database(url, "_bench_pages")


def _fill() -> tuple[str, str, str]:
    """Cache contents: MARKETS markets with snapshots, NODES nodes, JOBS network jobs and dashboard jobs."""
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from jobs.models import Job, JobStatus
    from markets.models import Market, MarketSnapshot, NetworkJob, Node
    from markets.services import draw_sparks

    now = timezone.now()
    stamp = int(now.timestamp())
    markets = Market.objects.bulk_create(
        Market(
            network="local", address=f"BenchMarket{i:033d}", name=f"Bench GPU {i}", gpu=f"GPU {i % 5}",
            vram_gb=8 * (1 + i % 4), price=40 + 10 * i, timeout=3600, queue_type="nodes",
            queue=[f"BenchNode{j:035d}" for j in range(i, NODES, MARKETS)][:10], idle_nodes=10,
            running_jobs=i % 7, synced_at=now,
        )
        for i in range(MARKETS)
    )
    MarketSnapshot.objects.bulk_create(
        MarketSnapshot(market=m, taken_at=now - timedelta(minutes=5 * k), price=m.price, idle_nodes=k % 9,
                       jobs_waiting=k % 4, running_jobs=k % 6)
        for m in markets for k in range(288)
    )
    draw_sparks(network="local")  # as each sync does after storing its snapshots
    Node.objects.bulk_create(
        Node(network="local", address=f"BenchNode{j:035d}", market=markets[j % MARKETS].address,
             jobs_done=10, jobs_succeeded=9, total_duration=600, last_seen=now, synced_at=now,
             specs={"info": {"gpus": {"devices": [{"name": "bench", "memory": 24000}]}}} if j % 2 else None)
        for j in range(NODES)
    )
    NetworkJob.objects.bulk_create(
        (
            NetworkJob(network="local", address=f"BenchJob{k:036d}", market=markets[k % MARKETS].address,
                       node=f"BenchNode{k % NODES:035d}", ipfs_job="QmBench", has_result=True, state="COMPLETED",
                       price=markets[k % MARKETS].price, timeout=3600, time_start=stamp - 60 * k,
                       time_end=stamp - 60 * k + 41, synced_at=now)
            for k in range(JOBS)
        ),
        batch_size=2000,
    )
    user = get_user_model().objects.create_user("bench", password="bench-pass-123456")
    Job.objects.bulk_create(
        (
            Job(address=f"BenchPosted{k:033d}", network="local", owner=user, status=JobStatus.COMPLETED,
                market=markets[k % MARKETS].address, definition_json="{}", ipfs_job="QmBench", price=50,
                timeout=3600)
            for k in range(JOBS)
        ),
        batch_size=2000,
    )
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None
    return session.session_key, markets[0].address, markets[-1].address


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(url: str, cookie: str, seconds: int, connections: int, pid: int) -> tuple[float, float, float]:
    """(requests per second, p99 in ms, server CPU ms per request). CPU per request does not
    depend on what else the machine runs, unlike throughput on a shared machine."""
    before = _cpu_seconds(pid)
    rps, p99, count = _wrk(url, cookie, seconds, connections)
    return rps, p99, (_cpu_seconds(pid) - before) * 1000 / max(count, 1)


def _wrk(url: str, cookie: str, seconds: int, connections: int) -> tuple[float, float, int]:
    """(requests per second, p99 in ms, requests) from wrk --latency."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Cookie: sessionid={cookie}", url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in out:
        print(out, file=sys.stderr)
        raise SystemExit(f"{url}: non-2xx responses under load:\n{out}")
    return rps, float(value) * _UNITS[unit], count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian package `wrk`)")

    folder = Path(tempfile.mkdtemp(prefix="nosana-bench-"))
    env = dict(os.environ)
    env.update({
        "NOSANA_DASH_VAR_DIR": str(folder), "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "PYTHONPATH": str(ROOT), "NOSANA_EMBEDDED_WORKER": "0", "NOSANA_DASH_LOG_LEVEL": "WARNING",
        # Persistent connections leak under ASGI (a thread per request); the settings' psycopg pool
        # (DATABASE_POOL, on by default) reuses connections instead, as deployed.
        "DATABASE_CONN_MAX_AGE": "0",
    })
    db_url, admin = _bench_database(env, folder)
    if db_url:
        env["DATABASE_URL"] = db_url
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        cookie, cheap, dear = _fill()
        if db_url:  # statistics and visibility maps, as autovacuum keeps them on a database in use
            import psycopg

            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
        port = free_port()
        server = subprocess.Popen(
            [str(Path(PYTHON).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "nosana_dash.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(folder / "daphne.log").open("wb"),
        )
        base = f"http://127.0.0.1:{port}"
        pages = {
            "bare view": "/bench/bare",
            "signed-in bare view": "/bench/signed-in",  # a reference row: the floor of signed-in pages
            "markets": "/markets/?network=local",
            "market": f"/markets/{cheap}?network=local",
            "nodes": "/nodes/?network=local",
            "jobs": "/jobs/",
        }
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("daphne did not start") from None
                time.sleep(0.2)
        for name, path in pages.items():
            response = httpx.get(base + path, cookies={"sessionid": cookie}, timeout=10)
            if response.status_code != 200:
                log = (folder / "daphne.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} {path}: HTTP {response.status_code}\n{log}")
            _wrk(base + path, cookie, 2, args.connections)  # warm-up
            print(f"warmed up {name}", flush=True)
        load_before = os.getloadavg()[0]
        results = {}
        for name, path in pages.items():
            # daphne keeps running the requests wrk abandoned when it stopped (up to 50 in flight, a
            # thread each): let them finish, or they are billed to the run that follows.
            time.sleep(3)
            results[name] = _measure(base + path, cookie, args.seconds, args.connections, server.pid)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        if admin:
            import psycopg
            from django.db import connections

            connections.close_all()
            for alias in connections:  # the pool keeps its own connections open
                close_pool = getattr(connections[alias], "close_pool", None)
                if close_pool is not None:
                    close_pool()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{urlparse(db_url).path.lstrip("/")}"')
        shutil.rmtree(folder, ignore_errors=True)

    bare_rps, _, bare_cpu = results["bare view"]
    lines = [
        "| page | requests/s | ratio to bare view | p99 | server CPU per request | CPU ratio (bare / page) "
        "| goals (≥ 0.5x, p99 < 100 ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (rps, p99, cpu) in results.items():
        ratio = rps / bare_rps
        ok = "—" if "bare view" in name else ("met" if ratio >= 0.5 and p99 < 100 else "NOT met")
        lines.append(
            f"| {name} | {rps:,.0f} | {ratio:.2f}x | {p99:.1f} ms | {cpu:.2f} ms | {bare_cpu / cpu:.2f}x | {ok} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.record:
        engine = "PostgreSQL" if db_url else "SQLite"
        with open(ROOT / "benchmarks" / "RESULTS.md", "a", encoding="utf-8") as handle:
            handle.write(
                f"\n## Pages under load (`benchmarks/pages.py`)\n\n`.venv/bin/python benchmarks/pages.py --record` — "
                f"{JOBS:,} jobs (network history and dashboard jobs each), {NODES:,} nodes, {MARKETS} markets "
                f"with 288 snapshots each, {engine}; one daphne process on loopback; `wrk` with "
                f"{args.connections} connections for {args.seconds} s per page after a 2 s warm-up; "
                f"{os.cpu_count()}-CPU machine shared with other jobs (load average {load_before:.1f} at the start, "
                f"{os.getloadavg()[0]:.1f} at the end; "
                f"wrk caps latency at its 2 s timeout).\n\n{table}\n"
            )


if __name__ == "__main__":
    main()
