"""Load: three pages under `wrk` while 200 websocket viewers watch a running job that emits lines.

    .venv/bin/python benchmarks/load.py [--seconds 10] [--connections 50] [--viewers 200] [--rate 20] [--record]

Everything runs on loopback and stops by itself:

1. A throwaway PostgreSQL database (`<DATABASE_URL db>_bench_load`, dropped at the end) and a
   unique Redis channel prefix (its keys deleted at the end).
2. The cache is filled from the local network: extra markets, nodes and thousands of finished jobs
   are written to the local ledger, then the market sync reads them into the cache
   (markets, nodes, network jobs); the bench user also gets thousands of dashboard jobs.
3. One job is posted whose op prints `--rate` lines per second for as long as the page loads last.
4. One daphne process serves; `--viewers` websocket clients (in two client processes, with the
   bench user's session cookie and an allowed Origin) subscribe to the job before a
   `manage.py worker` process starts running it, acknowledge at most once a second (as the page does) and check `seq` order.
5. `wrk` (50 connections) loads the jobs list, the job's page and the markets page in turn,
   each for `--seconds` after a 2 s warm-up, while the job emits and the viewers watch. The peer:
   the same loads on the same server first, before any viewer connects or the job runs.
6. Once the job has ended the viewers drain; lines received, lost, doubled and out of order are
   counted against the job's stored lines, with the store→browser latency of each frame's oldest line.

Needs `wrk` (Debian package), PostgreSQL and Redis on loopback, and bubblewrap (or `DOCKER_HOST`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from support import (  # benchmarks/support.py (scripts run from this folder)
    ACK_EVERY,
    drop_database,
    free_port,
    make_database,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
CLIENT_PROCESSES = 2
HANDSHAKES_AT_ONCE = 10  # per client process: the viewers arrive as a crowd, not all in one instant
DRAIN_SECONDS = 60
WARMUP_SECONDS = 2


# --- setup ---------------------------------------------------------------------------------------


def emitter_definition(lines: int, rate: int) -> dict[str, Any]:
    """One op printing `lines` numbered lines, `rate` per second in ten bursts a second."""
    burst = max(1, rate // 10)
    script = (f'i=1; while [ "$i" -le {lines} ]; do j=0; while [ "$j" -lt {burst} ] && [ "$i" -le {lines} ]; '
              f'do echo "load line $i"; i=$((i+1)); j=$((j+1)); done; sleep 0.1; done')
    return {"version": "0.1", "type": "container", "meta": {"trigger": "cli"},
            "ops": [{"type": "container/run", "id": "emit", "args": {"image": "ubuntu", "cmd": ["/bin/sh", "-c", script]}}]}


def fill(args: argparse.Namespace, emit_lines: int) -> tuple[str, str, dict[str, int]]:
    """Fill the local ledger and the cache; returns (session key, emitter job address, counts)."""
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connections
    from solders.keypair import Keypair

    from jobs.models import Job, JobStatus
    from jobs.services import post_job
    from markets.models import Market, NetworkJob, Node
    from markets.services import sync_network
    from nosana_dash.network.local import ledger
    from nosana_dash.network.local.models import LedgerJob, LedgerJobState, LedgerMarket, LedgerNode

    ledger.ensure_local_markets()
    markets = LedgerMarket.objects.bulk_create(
        LedgerMarket(address=str(Keypair().pubkey()), name=f"Load GPU {i}", gpu=f"NVIDIA GPU {i % 7}",
                     vram_gb=8 * (1 + i % 10), price=30 + 5 * i, timeout=3600)
        for i in range(args.markets)
    )
    nodes = LedgerNode.objects.bulk_create(
        (LedgerNode(address=str(Keypair().pubkey()), market=markets[j % len(markets)],
                    specs={"note": "load benchmark node"}) for j in range(args.nodes)),
        batch_size=1000,
    )
    now = int(time.time())
    LedgerJob.objects.bulk_create(
        (LedgerJob(address=str(Keypair().pubkey()), ipfs_job="QmLoadBenchJob", ipfs_result="QmLoadBenchResult",
                   market=markets[k % len(markets)], node=nodes[k % len(nodes)].address, payer=ledger.wallet_address(),
                   project=ledger.wallet_address(), price=markets[k % len(markets)].price, timeout=3600,
                   state=LedgerJobState.DONE if k % 9 else LedgerJobState.STOPPED, time_start=now - 90 * k - 60,
                   time_end=now - 90 * k, tx_signature=str(Keypair().sign_message(b"load")))
         for k in range(args.jobs)),
        batch_size=1000,
    )
    sync = sync_network(network="local", include_specs=False)
    if not sync.ok:
        raise SystemExit(f"market sync failed: {sync.message}")

    user = get_user_model().objects.create_user("bench-load", password=secrets.token_urlsafe(16))
    finals = [JobStatus.COMPLETED, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED]
    Job.objects.bulk_create(
        (Job(address=str(Keypair().pubkey()), network="local", owner=user, status=finals[k % len(finals)],
             market=markets[k % len(markets)].address, market_name=markets[k % len(markets)].name,
             definition_json="{}", ipfs_job="QmLoadBenchJob", price=markets[k % len(markets)].price, timeout=3600)
         for k in range(args.jobs)),
        batch_size=1000,
    )
    job = post_job(user=user, network="local", market=ledger.default_market_address(),
                   definition=emitter_definition(emit_lines, args.rate))
    if job.status != JobStatus.QUEUED:
        raise SystemExit(f"posting the emitter job failed: {job.error}")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None
    counts = {"markets": Market.objects.filter(network="local").count(),
              "nodes": Node.objects.filter(network="local").count(),
              "network jobs": NetworkJob.objects.filter(network="local").count(),
              "dashboard jobs": Job.objects.count()}
    connections.close_all()
    return session.session_key, job.address, counts


def job_state(address: str) -> tuple[str, int]:
    from django.db import connection

    from jobs.models import Job

    try:
        row = Job.objects.filter(address=address).values_list("status", "last_seq").get()
        return str(row[0]), int(row[1])
    finally:
        connection.close()


# --- websocket viewers (client processes) -----------------------------------------------------


@dataclass
class ViewerStats:
    connected: int = 0
    failed: int = 0
    handshake_retries: int = 0
    closed_mid_stream: int = 0
    received: int = 0
    doubled: int = 0
    out_of_order: int = 0
    resyncs: int = 0
    frames: int = 0
    latencies_ms: list[float] = field(default_factory=list)


HEAD = re.compile(rb'^\{"type":"lines","first":(\d+),"last":(\d+),')
SETTLE_SECONDS = 3


async def _viewer(base: str, address: str, cookie: str, target: Any, stop_at: Any, gate: asyncio.Semaphore,
                  stats: ViewerStats, ready: asyncio.Event) -> None:
    """One viewer, speaking as the page does: deflated line frames (`?z=1`), acks at most once a second.
    Each frame's rows are checked against its bounds; the first row's timestamp gives the latency."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, WebSocketException

    last = 0
    attempts = 0

    def finished() -> bool:
        # stop_at: monotonic time (the clock is system-wide) after which undelivered lines count as lost
        return (target.value >= 0 and last >= target.value) or time.monotonic() > stop_at.value

    while not finished():
        try:
            async with gate:
                ws = await connect(f"{base}/ws/jobs/{address}/?after={last}&z=1", origin=base.replace("ws://", "http://"),  # type: ignore[arg-type]
                                   additional_headers={"Cookie": f"sessionid={cookie}"}, open_timeout=30,
                                   close_timeout=2, max_size=None)
        except (OSError, TimeoutError, WebSocketException):
            attempts += 1
            stats.handshake_retries += 1
            if attempts >= 8:
                stats.failed += 1
                ready.set()
                return
            await asyncio.sleep(0.25 * attempts)
            continue
        if not ready.is_set():
            stats.connected += 1
            ready.set()
        try:
            async with ws:
                acked, acked_at = last, 0.0
                while not finished():
                    try:
                        message = await asyncio.wait_for(ws.recv(), timeout=ACK_EVERY)
                    except TimeoutError:
                        if acked < last:  # the ack owed since the last frame
                            acked, acked_at = last, time.time()
                            await ws.send(f'{{"type":"ack","seq":{last}}}')
                        continue
                    arrived = time.time()
                    raw = zlib.decompress(message) if isinstance(message, bytes) else message.encode()
                    head = HEAD.match(raw)
                    if head is None:
                        if json.loads(raw).get("type") == "resync":
                            stats.resyncs += 1
                            await ws.send(f'{{"type":"resume","after":{last}}}')
                        continue  # step and status events
                    first, final = int(head.group(1)), int(head.group(2))
                    stats.frames += 1
                    rows = json.loads(raw)["lines"]
                    if [row[0] for row in rows] != list(range(first, final + 1)):
                        stats.out_of_order += 1  # a frame whose lines do not match its bounds
                    if first <= last:
                        stats.doubled += min(final, last) - first + 1
                    elif first > last + 1:
                        stats.out_of_order += 1  # a gap: the missing lines count as lost
                    stats.received += max(0, final - max(first - 1, last))
                    last = max(last, final)
                    if rows:  # row: [seq, step, stream, ts (ms since the epoch), text]
                        stats.latencies_ms.append(arrived * 1000 - rows[0][3])
                    if arrived - acked_at >= ACK_EVERY:
                        acked, acked_at = last, arrived
                        await ws.send(f'{{"type":"ack","seq":{last}}}')
            return
        except ConnectionClosed:
            stats.closed_mid_stream += 1  # reconnect after the last line, as the page does


def client_process(base: str, address: str, cookie: str, count: int, target: Any, stop_at: Any,
                   out: Any) -> None:
    """A process of `count` viewers; reports 'connected' once all have tried, then its stats."""

    async def main() -> ViewerStats:
        stats = ViewerStats()
        gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
        readies = [asyncio.Event() for _ in range(count)]
        tasks = [asyncio.create_task(_viewer(base, address, cookie, target, stop_at, gate, stats, ready))
                 for ready in readies]
        await asyncio.gather(*(ready.wait() for ready in readies))
        out.put(("connected", stats.connected))
        await asyncio.gather(*tasks)
        return stats

    out.put(("stats", asdict(asyncio.run(main()))))


# --- wrk -----------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class PageLoad:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers + socket errors (connect, read, write, timeout)

    @property
    def error_rate(self) -> float:
        return self.errors / max(1, self.requests)


def run_wrk(url: str, cookie: str, seconds: int, connections: int) -> PageLoad:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency",
         "-H", f"Cookie: sessionid={cookie}", url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout

    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if match is None:
            raise SystemExit(f"wrk gave no {percent}% latency for {url}:\n{out}")
        return float(match.group(1)) * _UNITS[match.group(2)]

    requests = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if requests is None or rps is None:
        raise SystemExit(f"could not read wrk's output for {url}:\n{out}")
    errors = 0
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    return PageLoad(int(requests.group(1)), float(rps.group(1)), latency("50"), latency("99"), errors)


# --- the run -------------------------------------------------------------------------------------


def wait_http(url: str, server: subprocess.Popen[bytes], log_path: Path, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise SystemExit(f"daphne exited:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise SystemExit("daphne did not answer") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per page")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--rate", type=int, default=20, help="lines per second the watched job prints")
    parser.add_argument("--jobs", type=int, default=5000, help="finished jobs on the ledger, and dashboard jobs")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--markets", type=int, default=40)
    parser.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian package `wrk`)")
    sandbox = "engine" if os.environ.get("DOCKER_HOST") else "bubblewrap"
    if sandbox == "bubblewrap" and not shutil.which("bwrap"):
        raise SystemExit("neither DOCKER_HOST nor bubblewrap: the watched job has nowhere to run")

    pages = {"jobs list": "/jobs/", "job page": "/jobs/{address}", "markets": "/markets/?network=local"}
    # The job prints for as long as the page loads take, plus time to start and connect.
    emit_seconds = len(pages) * (args.seconds + WARMUP_SECONDS + 1) + 15
    emit_lines = emit_seconds * args.rate

    folder = Path(tempfile.mkdtemp(prefix="nosana-load-"))
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS)
    prefix = f"benchload{os.getpid()}"
    db_url, admin = make_database(os.environ.get("DATABASE_URL", DEFAULT_DATABASE), "_bench_load")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSANA_", "DJANGO_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "nosana_dash.settings", "PYTHONPATH": str(ROOT), "DATABASE_URL": db_url,
        "DATABASE_CONN_MAX_AGE": "0", "REDIS_URL": redis_url, "NOSANA_DASH_CHANNEL_PREFIX": prefix,
        "NOSANA_DASH_SECRET_KEY": secrets.token_urlsafe(40), "NOSANA_DASH_VAR_DIR": str(folder / "var"),
        "NOSANA_DASH_LOG_LEVEL": "WARNING", "NOSANA_EMBEDDED_WORKER": "0", "NOSANA_LOCAL_SANDBOX": sandbox,
        "NOSANA_WORKER_POLL_SECONDS": "0.2",
    })
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    clients: list[Any] = []
    results: dict[str, PageLoad] = {}
    baseline: dict[str, PageLoad] = {}
    cpu_share: dict[str, float] = {}
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True,
                       timeout=300)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        started = time.monotonic()
        cookie, address, counts = fill(args, emit_lines)
        print(f"filled in {time.monotonic() - started:.1f} s: {counts}", flush=True)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_log = folder / "daphne.log"
        server = subprocess.Popen(
            [str(Path(PYTHON).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "nosana_dash.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=server_log.open("wb"), start_new_session=True,
        )
        wait_http(base + "/accounts/login/", server, server_log)
        import httpx

        for name, path in pages.items():
            answer = httpx.get(base + path.format(address=address), cookies={"sessionid": cookie}, timeout=30)
            if answer.status_code != 200:
                raise SystemExit(f"{name}: HTTP {answer.status_code}\n{server_log.read_text(errors='replace')[-3000:]}")
        # The peer: the same pages on the same server with no viewer connected and no job running.
        cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
        for name, path in pages.items():
            url = base + path.format(address=address)
            run_wrk(url, cookie, WARMUP_SECONDS, args.connections)
            time.sleep(SETTLE_SECONDS)  # daphne finishes what wrk abandoned: not billed to the run
            baseline[name] = run_wrk(url, cookie, args.seconds, args.connections)
            print(f"{name}, no viewers: {baseline[name]}", flush=True)
        cpu_share["baseline"] = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - wall_before)

        # Viewers subscribe before the job starts: every line must reach each of them.
        ctx = mp.get_context("spawn")
        target = ctx.Value("q", -1)
        out = ctx.Queue()
        stop_at = ctx.Value("d", time.monotonic() + emit_seconds + 3 * 60 + DRAIN_SECONDS)
        shares = [args.viewers // CLIENT_PROCESSES + (1 if i < args.viewers % CLIENT_PROCESSES else 0)
                  for i in range(CLIENT_PROCESSES)]
        for share in shares:
            process = ctx.Process(target=client_process, args=(base.replace("http://", "ws://"), address, cookie,
                                                                share, target, stop_at, out), daemon=True)
            process.start()
            clients.append(process)
        connected = sum(out.get(timeout=180)[1] for _ in shares)
        print(f"{connected} of {args.viewers} viewers connected", flush=True)

        worker = subprocess.Popen([PYTHON, "manage.py", "worker", "--name", "load-worker"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=(folder / "worker.log").open("wb"),
                                  start_new_session=True)
        wait_until = time.monotonic() + 60
        while job_state(address)[1] == 0:
            if time.monotonic() > wait_until:
                raise SystemExit(f"the job printed nothing:\n{(folder / 'worker.log').read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        load_started, cpu_before = time.monotonic(), cpu_seconds(server.pid)
        for name, path in pages.items():
            url = base + path.format(address=address)
            run_wrk(url, cookie, WARMUP_SECONDS, args.connections)
            time.sleep(SETTLE_SECONDS)  # daphne finishes what wrk abandoned: not billed to the run
            results[name] = run_wrk(url, cookie, args.seconds, args.connections)
            print(f"{name}: {results[name]}", flush=True)
        load_seconds = time.monotonic() - load_started
        cpu_share["viewers"] = (cpu_seconds(server.pid) - cpu_before) / load_seconds
        status_after_load, lines_after_load = job_state(address)

        end_by = time.monotonic() + emit_seconds + 60
        while True:
            status, last_seq = job_state(address)
            if status in ("completed", "failed", "stopped") or time.monotonic() > end_by:
                break
            time.sleep(0.5)
        target.value = last_seq  # viewers drain up to the job's last stored line
        stop_at.value = time.monotonic() + DRAIN_SECONDS
        stats = [ViewerStats(**out.get(timeout=DRAIN_SECONDS + 30)[1]) for _ in shares]
    finally:
        for process in clients:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        stop(worker)
        stop(server)
        from django.db import connections

        connections.close_all()
        try:
            drop_database(db_url, admin)
        finally:
            import redis

            client = redis.Redis.from_url(redis_url, socket_timeout=5)
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
            shutil.rmtree(folder, ignore_errors=True)

    total = ViewerStats()
    for s in stats:
        for key in ("connected", "failed", "handshake_retries", "closed_mid_stream", "received", "doubled",
                    "out_of_order", "resyncs", "frames"):
            setattr(total, key, getattr(total, key) + getattr(s, key))
        total.latencies_ms += s.latencies_ms
    expected = last_seq * args.viewers
    lost = expected - total.received  # `received` counts each viewer's distinct lines only
    rows = ["| page | viewers | requests | requests/s | p50 | p99 | errors | error rate |",
            "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for label, load in (("none (peer)", baseline[name]), (str(args.viewers), r)):
            rows.append(f"| {name} | {label} | {load.requests:,} | {load.rps:,.1f} | {load.p50_ms:.0f} ms | "
                        f"{load.p99_ms:.0f} ms | {load.errors} | {100 * load.error_rate:.2f} % |")
    for name, r in results.items():
        print(f"{name}: p99 with viewers / without: {r.p99_ms / max(baseline[name].p99_ms, 0.001):.2f}x, "
              f"requests/s {r.rps / max(baseline[name].rps, 0.001):.2f}x")
    table = "\n".join(rows)
    ws_line = (
        f"websocket viewers: {total.connected} of {args.viewers} connected ({total.failed} failed, "
        f"{total.handshake_retries} handshake retries, {total.closed_mid_stream} closed mid-stream); job {status} "
        f"with {last_seq:,} lines ({lines_after_load:,} printed by the end of the page loads, job still "
        f"{status_after_load} then); lines received {total.received:,} of {expected:,} expected, "
        f"not delivered {lost:,} (gaps or still undelivered {DRAIN_SECONDS} s after the job ended), doubled {total.doubled}, out of order {total.out_of_order}, resyncs {total.resyncs}; "
        f"{total.frames:,} frames; store→viewer latency of each frame's oldest line p50 "
        f"{percentile(total.latencies_ms, 0.5):.0f} ms, p99 {percentile(total.latencies_ms, 0.99):.0f} ms, "
        f"max {max(total.latencies_ms, default=float('nan')):.0f} ms"
    )
    cpu_line = (f"daphne CPU while loaded: {100 * cpu_share['baseline']:.0f} % of one core without viewers, "
                f"{100 * cpu_share['viewers']:.0f} % with them")
    print(table)
    print(ws_line)
    print(cpu_line)
    if args.record:
        given = urlparse(os.environ.get("DATABASE_URL", DEFAULT_DATABASE))
        if given.password:  # never write a password into the results
            given = given._replace(netloc=given.netloc.replace(f":{given.password}@", ":***@"))
        command = (f"DATABASE_URL={urlunparse(given)} REDIS_URL={redis_url} "
                   f".venv/bin/python benchmarks/load.py --record")
        extra = " ".join(f"--{k} {getattr(args, k)}" for k in ("seconds", "connections", "viewers", "rate", "jobs",
                                                                "nodes", "markets")
                         if getattr(args, k) != parser.get_default(k))
        with open(ROOT / "benchmarks" / "RESULTS.md", "a", encoding="utf-8") as handle:
            handle.write(
                f"\n## Load: pages under wrk while {args.viewers} viewers watch a job printing {args.rate} lines/s "
                f"(`benchmarks/load.py`)\n\n"
                f"`{command}{(' ' + extra) if extra else ''}` — PostgreSQL and the Redis channel layer; cache filled "
                f"from the local network ({counts['markets']} markets, {counts['nodes']:,} nodes, "
                f"{counts['network jobs']:,} network jobs) plus {counts['dashboard jobs']:,} dashboard jobs; one daphne "
                f"process and one `manage.py worker` ({sandbox}) on loopback; the watched job prints {args.rate} lines/s "
                f"through the whole run; `wrk -t2 -c{args.connections} --timeout 5s` for {args.seconds} s per page after a "
                f"{WARMUP_SECONDS} s warm-up ({load_seconds:.0f} s of load in all); {args.viewers} websocket viewers in "
                f"{CLIENT_PROCESSES} client processes, subscribed before the job started, asking for deflated frames and acknowledging at most once a second as the page does. "
                f"{os.cpu_count()}-CPU machine shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end); "
                f"server, worker, database, Redis, wrk and the viewers all share those CPUs. Error rate: "
                f"(non-2xx/3xx answers + socket errors) / requests. The peer rows load the same pages on the same "
                f"server first, before any viewer connects and before the job runs.\n\n{table}\n\n- {ws_line}.\n"
                f"- {cpu_line}.\n"
            )


if __name__ == "__main__":
    main()
