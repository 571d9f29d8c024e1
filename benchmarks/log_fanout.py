"""Log fan-out: one job emitting N lines/s through LogWriter, watched by many websocket clients.

    .venv/bin/python benchmarks/log_fanout.py [--rate 5000] [--seconds 20] [--clients 200] [--layers memory,redis]

Daphne serves the ASGI app in a separate process on a free loopback port. The
emitter is always a process of its own (LogWriter's database work never competes
with the server for its GIL). With Redis it publishes through the layer like any
worker; the in-memory layer exists only inside the server process, so there the
emitter hands each committed batch's channel-layer message to the server over a
loopback socket and a thread of the server publishes it (what the embedded
worker's `live.publish_lines` does). Clients are split over several processes,
each with its own event loop; they connect with a real session cookie,
acknowledge what they received at most every 250 ms (as the page does), and time the emit→receive latency of
the first line of every frame (the oldest, so the worst case of its frame). A
client counts *gaps* (sequence numbers skipped: lost lines) apart from lines
*not yet received* when it gives up, and reports its CPU time, so a client side
that cannot keep up is visible. `--profile` records the server with py-spy.
Needs PostgreSQL (`DATABASE_URL`, default a `nosana_dash_bench` database on
loopback) and, for the Redis layer, `REDIS_URL`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from support import ACK_EVERY, free_port  # benchmarks/support.py (scripts run from this folder)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/nosana_dash_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
HEAD = re.compile(rb'^\{"type":"lines","first":(\d+),"last":(\d+),')
FIRST_TEXT = re.compile(rb'"bench \d+ (\d+\.\d+)"')  # the first row's text


def django_env(layer: str, args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "nosana_dash.settings"
    env["DATABASE_URL"] = args.database_url
    env["NOSANA_DASH_LOG_LEVEL"] = "WARNING"
    env.pop("REDIS_URL", None)
    if layer == "redis":
        env["REDIS_URL"] = args.redis_url
        env["NOSANA_DASH_CHANNEL_PREFIX"] = f"bench{os.getpid()}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- preparation: database, user, session, job ---------------------------------------

def prepare(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    base, name = args.database_url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = django_env("memory", args)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    code = """
import json
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from jobs.models import Job, Step
User = get_user_model()
user, _ = User.objects.get_or_create(username="bench")
s = SessionStore(); s["_auth_user_id"] = str(user.pk); s["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
s["_auth_user_hash"] = user.get_session_auth_hash(); s.create()
Job.objects.filter(address__startswith="Bench").delete()
print(json.dumps({"session": s.session_key}))
"""
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def new_job(env: dict[str, str], address: str) -> None:
    code = f"""
from django.contrib.auth import get_user_model
from jobs.models import Job, Step
user = get_user_model().objects.get(username="bench")
job = Job.objects.create(address="{address}", owner=user, status="running", market="bench", definition_json="{{}}", ipfs_job="")
Step.objects.create(job=job, index=0, op_id="emit", op_type="container/run", status="running")
"""
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True)


# --- the emitter (LogWriter at a fixed rate, in a process of its own) -----------------------

def forward_to_server(port: int) -> None:
    """In-memory layer: send each channel-layer message to the server process, which publishes it."""
    from jobs import live

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    lock = threading.Lock()

    def send(group: str, message: dict[str, Any]) -> None:
        data = json.dumps({"group": group, "message": message}).encode() + b"\n"
        with lock:
            sock.sendall(data)

    live._send = send  # type: ignore[assignment]  # the benchmark's bridge; the rest of live is unchanged


def ingest(port_file: str) -> None:
    """Server side of `forward_to_server`: publish every received message on this process's layer."""
    from jobs import live

    server = socket.create_server(("127.0.0.1", 0))
    Path(port_file).write_text(str(server.getsockname()[1]))
    conn, _ = server.accept()
    with conn, conn.makefile("rb", buffering=1 << 20) as stream:
        for raw in stream:
            item = json.loads(raw)
            live._send(item["group"], item["message"])


def emit(address: str, rate: int, seconds: float) -> int:
    from django.db import close_old_connections

    from jobs import live
    from jobs.logwriter import LogWriter
    from jobs.models import Job, Step

    job = Job.objects.get(address=address)
    step = Step.objects.get(job=job, op_id="emit")
    writer = LogWriter(job)
    # Where the emitter's own time goes: writing a batch (database) and handing it to the layer.
    flushes: list[float] = []
    publishes: list[float] = []
    write_batch, publish = writer.flush, live._send

    def timed_flush() -> int:
        t = time.perf_counter()
        n = write_batch()
        flushes.append(time.perf_counter() - t)
        return n

    def timed_publish(group: str, message: dict[str, Any]) -> None:
        t = time.perf_counter()
        publish(group, message)
        publishes.append(time.perf_counter() - t)

    writer.flush = timed_flush  # type: ignore[method-assign]
    live._send = timed_publish  # type: ignore[assignment]
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        writer.line(f"bench {i} {time.time():.6f}", step=step)
    writer.flush()
    close_old_connections()
    flushes.sort()
    publishes.sort()
    print(f"emitter: CPU {100 * time.process_time() / (time.perf_counter() - start):.0f} %, "
          f"{len(flushes)} batches; write+publish p50 {1000 * flushes[len(flushes) // 2]:.1f} ms, "
          f"p99 {1000 * flushes[int(0.99 * len(flushes))]:.1f} ms; publish alone p50 "
          f"{1000 * publishes[len(publishes) // 2]:.1f} ms, p99 {1000 * publishes[int(0.99 * len(publishes))]:.1f} ms",
          flush=True)
    return total


def serve(args: argparse.Namespace) -> None:
    """Server process: daphne, plus (in-memory layer) the thread that publishes what the emitter sends."""
    setup_django(dict(os.environ))
    if args.ingest_file:
        threading.Thread(target=ingest, args=(args.ingest_file,), daemon=True).start()
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(["-v", "0", "-b", "127.0.0.1", "-p", str(args.port), "--websocket_timeout", "-1",
                                "--websocket_connect_timeout", "60",
                                "nosana_dash.asgi:application"])


def emitter_process(args: argparse.Namespace) -> None:
    setup_django(dict(os.environ))
    if args.ingest_port:
        forward_to_server(args.ingest_port)
    emit(args.job, args.rate, args.seconds)


# --- clients ----------------------------------------------------------------------------

async def one_client(port: int, address: str, session: str, after: int, expect_last: int,
                     deadline: float, out: dict[str, Any], full: bool, gate: asyncio.Semaphore) -> None:
    import websockets

    url = f"ws://127.0.0.1:{port}/ws/jobs/{address}/?after={after}&z=1"  # deflated line frames, as the page asks
    headers = {"Cookie": f"sessionid={session}", "Origin": f"http://127.0.0.1:{port}"}
    last = after
    gaps = 0
    latencies: list[float] = []
    all_latencies: list[float] = []
    frames = 0
    async with gate:  # ramp up: a few handshakes at a time, as real users arrive
        ws = await websockets.connect(url, additional_headers=headers, compression=None, max_size=None,
                                      open_timeout=60, ping_interval=None)
    async with ws:
        out["connected"] += 1
        acked, acked_at = last, 0.0
        while last < expect_last:
            remaining = deadline - time.time()
            if remaining <= 0:
                break
            try:
                # With an ack owed, wake up in time to send it even if no frame comes.
                wait = min(remaining, max(0.0, acked_at + ACK_EVERY - time.time())) if acked < last else remaining
                message = await asyncio.wait_for(ws.recv(), timeout=wait)
            except TimeoutError:
                if acked < last:
                    acked, acked_at = last, time.time()
                    await ws.send(json.dumps({"type": "ack", "seq": last}))
                    continue
                break
            now = time.time()
            if isinstance(message, bytes):  # a deflated frame: its head and first line are enough, except for `full`
                raw = zlib.decompress(message) if full else zlib.decompressobj().decompress(message, 512)
            else:
                raw = message.encode()
            head = HEAD.match(raw)
            if head is None:
                if b'"resync"' in raw:  # the server dropped its buffer for us: resume from what we have
                    out["resyncs"] += 1
                    await ws.send(json.dumps({"type": "resume", "after": last}))
                continue
            first, frame_last = int(head.group(1)), int(head.group(2))
            if first > last + 1:
                gaps += first - last - 1
            elif first <= last:
                out["duplicates"] += last - first + 1
            last = max(last, frame_last)
            frames += 1
            match = FIRST_TEXT.search(raw, 0, 400)
            if match:
                latencies.append(now - float(match.group(1)))
            if full:
                for line in json.loads(raw)["lines"]:
                    all_latencies.append(now - float(line[4].split()[2]))
            if now - acked_at >= ACK_EVERY:  # coalesced like the page's acks
                acked, acked_at = last, now
                await ws.send(json.dumps({"type": "ack", "seq": last}))
    out["gaps"] += gaps
    out["not_received"] += max(0, expect_last - last)
    out["frames"] += frames
    out["latencies"].extend(latencies)
    out["all_latencies"].extend(all_latencies)


def client_process(port: int, address: str, session: str, after: int, expect_last: int, count: int,
                   deadline: float, full_first: bool, queue: Any, ready: Any) -> None:
    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {"connected": 0, "gaps": 0, "duplicates": 0, "not_received": 0, "frames": 0,
                               "resyncs": 0, "latencies": [], "all_latencies": []}
        gate = asyncio.Semaphore(5)
        tasks = [asyncio.create_task(one_client(port, address, session, after, expect_last, deadline, out,
                                                full_first and i == 0, gate)) for i in range(count)]
        while out["connected"] < count and time.time() < deadline:
            await asyncio.sleep(0.05)
        ready.put(out["connected"])
        cpu, wall = time.process_time(), time.monotonic()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        out["cpu_s"], out["wall_s"] = time.process_time() - cpu, time.monotonic() - wall
        out["errors"] = [repr(r) for r in results if isinstance(r, BaseException)]
        return out

    queue.put(asyncio.run(main()))


# --- one run ------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def run_layer(layer: str, args: argparse.Namespace, session: str) -> dict[str, Any]:
    env = django_env(layer, args)
    address = f"Bench{layer}{int(time.time())}"
    new_job(env, address)
    port = free_port()
    ingest_file = str(Path(tempfile.gettempdir()) / f"log_fanout_{os.getpid()}_{layer}")  # a throwaway port file
    Path(ingest_file).unlink(missing_ok=True)
    server_cmd = [sys.executable, __file__, "serve", "--port", str(port), "--job", address,
                  "--rate", str(args.rate), "--seconds", str(args.seconds)]
    if layer == "memory":
        server_cmd += ["--ingest-file", ingest_file]
    server = subprocess.Popen(server_cmd, cwd=ROOT, env=env)
    profiler: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        total = int(args.rate * args.seconds)
        queue: Any = mp.Queue()
        ready: Any = mp.Queue()
        per = [args.clients // args.client_procs + (1 if i < args.clients % args.client_procs else 0)
               for i in range(args.client_procs)]
        end_by = time.time() + args.seconds + args.grace
        procs = [mp.Process(target=client_process, args=(port, address, session, 0, total, n, end_by, i == 0,
                                                         queue, ready)) for i, n in enumerate(per)]
        for p in procs:
            p.start()
        connected = sum(ready.get(timeout=180) for _ in procs)
        idle_rss, _ = rss_kib(server.pid)
        load_start = os.getloadavg()[0]
        server_cpu = cpu_seconds(server.pid)
        started = time.time()
        emit_cmd = [sys.executable, __file__, "emit", "--job", address, "--rate", str(args.rate),
                    "--seconds", str(args.seconds)]
        if layer == "memory":
            emit_cmd += ["--ingest-port", Path(ingest_file).read_text()]
        if args.profile:
            profiler = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                                         str(server.pid), "--duration", str(int(args.seconds)), "--rate", "200",
                                         "--format", "raw", "--output", f"{args.profile}-{layer}.txt",
                                         "--nonblocking"], stdout=subprocess.DEVNULL)
        emitter = subprocess.Popen(emit_cmd, cwd=ROOT, env=env)
        peak = idle_rss
        while any(p.is_alive() for p in procs) and queue.qsize() < len(procs):
            peak = max(peak, rss_kib(server.pid)[0])
            time.sleep(0.25)
            if time.time() > end_by + 5:
                break
        results = [queue.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(10)
        emitter.wait(30)
        elapsed = time.time() - started
        server_cpu = cpu_seconds(server.pid) - server_cpu
        load_end = os.getloadavg()[0]
        rss, hwm = rss_kib(server.pid)
        if profiler is not None:
            profiler.wait(60)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:  # daphne may linger closing hundreds of sockets
            server.kill()
            server.wait(10)
        Path(ingest_file).unlink(missing_ok=True)
    latencies = sorted(x for r in results for x in r["latencies"])
    full = sorted(x for r in results for x in r["all_latencies"])

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")

    return {
        "layer": layer, "clients": connected, "lines": total, "elapsed_s": elapsed,
        "frames": sum(r["frames"] for r in results), "lost": sum(r["gaps"] for r in results),
        "duplicates": sum(r["duplicates"] for r in results),
        "not_received": sum(r["not_received"] for r in results),
        "server_cpu_pct": 100 * server_cpu / elapsed,
        # CPU the server spent per 1,000 lines delivered to a socket: what the fan-out costs, whatever the load.
        "cpu_ms_per_1k": 1000 * server_cpu / max(1, (total * connected - sum(r["not_received"] for r in results)) / 1000),
        "client_cpu_pct": [round(100 * r["cpu_s"] / max(r["wall_s"], 1e-9)) for r in results],
        "load": f"{load_start:.1f}→{load_end:.1f}",
        "resyncs": sum(r["resyncs"] for r in results), "errors": [e for r in results for e in r["errors"]][:3],
        "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99), "max_ms": pct(latencies, 1.0),
        "full_p50_ms": pct(full, 0.5), "full_p99_ms": pct(full, 0.99),
        "rss_idle_mib": idle_rss / 1024, "rss_peak_mib": peak / 1024, "rss_end_mib": rss / 1024,
        "hwm_mib": hwm / 1024, "mean_frame_lines": total * connected / max(1, sum(r["frames"] for r in results)),
        "samples": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve", "emit"])
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument("--grace", type=float, default=30, help="seconds clients wait after the last emit")
    parser.add_argument("--layers", default="memory,redis")
    parser.add_argument("--database-url", default=os.environ.get("NOSANA_BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--port", type=int)
    parser.add_argument("--job")
    parser.add_argument("--ingest-file")
    parser.add_argument("--ingest-port", type=int)
    parser.add_argument("--profile", help="py-spy raw output prefix (one file per layer)")
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args)
        return
    if args.mode == "emit":
        emitter_process(args)
        return
    info = prepare(args)
    print(f"log fan-out: {args.rate} lines/s for {args.seconds:g} s, {args.clients} clients, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    rows = []
    for layer in args.layers.split(","):
        rows.append(run_layer(layer, args, info["session"]))
        print(json.dumps(rows[-1]), flush=True)
    print("| layer | load | clients | lines | lost (gaps) | dup | not received | resyncs | frames | lines/frame "
          "| p50 ms | p99 ms | max ms | all-lines p50/p99 ms (1 client) | server CPU % | server CPU ms / 1k lines "
          "| client CPU % "
          "| server RSS idle → peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['layer']} | {r['load']} | {r['clients']} | {r['lines']} | {r['lost']} | {r['duplicates']} "
              f"| {r['not_received']} | {r['resyncs']} | {r['frames']} "
              f"| {r['mean_frame_lines']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} "
              f"| {r['full_p50_ms']:.1f} / {r['full_p99_ms']:.1f} | {r['server_cpu_pct']:.0f} | {r['cpu_ms_per_1k']:.2f} "
              f"| {'/'.join(map(str, r['client_cpu_pct']))} | {r['rss_idle_mib']:.0f} → {r['rss_peak_mib']:.0f} |")
        if r["errors"]:
            print("  errors:", r["errors"])
    goals = {"memory": 150.0, "redis": 300.0}
    for r in rows:
        ok = r["p99_ms"] < goals[r["layer"]] and r["lost"] == 0 and r["duplicates"] == 0 and r["not_received"] == 0
        print(f"{r['layer']}: p99 {r['p99_ms']:.1f} ms vs goal {goals[r['layer']]:.0f} ms, lost {r['lost']}, "
              f"not received {r['not_received']} → {'meets' if ok else 'MISSES'}")


if __name__ == "__main__":
    main()
