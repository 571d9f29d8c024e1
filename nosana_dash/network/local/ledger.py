"""The local ledger: the jobs program's state machine (spec §7.1), kept in database tables.

Stored states are the chain's (0 queued, 2 done, 3 stopped); RUNNING is never
stored, it is the existence of a `LedgerRun`, exactly as a run account on chain.
Markets are modelled on real Nosana markets; this machine is their one node.
Every write returns a real ed25519 signature (base58) as its transaction id.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import time
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from solders.keypair import Keypair

from nosana_dash.network.base import NetworkError
from nosana_dash.network.local.models import LedgerJob, LedgerJobState, LedgerMarket, LedgerNode, LedgerRun


@dataclass(frozen=True)
class LocalMarketSpec:
    slug: str
    name: str
    gpu: str
    vram_gb: int
    price: int  # NOS base units per second
    timeout: int  # seconds


# Names, GPUs and prices after public Nosana markets; the 4090 one matches the
# seed's market (0.000115 NOS/s, 120 minutes: "total: 0.8280 NOS").
LOCAL_MARKETS: tuple[LocalMarketSpec, ...] = (
    LocalMarketSpec("nvidia-3060", "NVIDIA 3060", "NVIDIA GeForce RTX 3060", 12, 48, 3600),
    LocalMarketSpec("nvidia-4090", "NVIDIA 4090", "NVIDIA GeForce RTX 4090", 24, 115, 7200),
    LocalMarketSpec("nvidia-a100-80gb", "NVIDIA A100 80GB", "NVIDIA A100 80GB PCIe", 80, 480, 7200),
)
DEFAULT_MARKET_SLUG = "nvidia-4090"

# A generous fixed balance for the local network; it is play money and pages say so.
PLAY_SOL_LAMPORTS = 1_000 * 1_000_000_000
PLAY_NOS_UNITS = 1_000_000 * 1_000_000
PLAY_BALANCE_NOTE = "Local network: a fixed play balance, not real SOL or NOS."


def _derived_keypair(label: str) -> Keypair:
    """A stable keypair for a local name, so addresses survive restarts and look like real ones."""
    return Keypair.from_seed(hashlib.sha256(f"nosana-dash/local/{label}".encode()).digest())


def market_address(slug: str) -> str:
    return str(_derived_keypair(f"market/{slug}").pubkey())


def node_address() -> str:
    """This machine, as a node: derived from its host name."""
    return str(_derived_keypair(f"node/{socket.gethostname()}").pubkey())


def wallet_address() -> str:
    """The local network's poster and payer."""
    return str(_derived_keypair("wallet").pubkey())


def default_market_address() -> str:
    return market_address(DEFAULT_MARKET_SLUG)


def _machine_specs() -> dict[str, object]:
    """What this machine really has (nothing guessed)."""
    cpu = platform.processor() or platform.machine()
    ram_mb: int | None = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    ram_mb = int(line.split()[1]) // 1024
                    break
    except OSError:
        pass
    gpus = sorted(name for name in os.listdir("/dev") if name.startswith("nvidia") and name[6:].isdigit())
    return {
        "cpu": {"model": cpu, "logical_cores": os.cpu_count()},
        "ram_mb": ram_mb,
        "gpus": {"devices": [{"index": int(name[6:]), "name": name} for name in gpus]},
        "system_environment": f"{platform.system()} {platform.release()}",
        "note": "this machine (local network node)",
    }


def ensure_local_markets() -> None:
    """Create the local markets and this machine's node once; safe to call any number of times."""
    wanted = {market_address(spec.slug): spec for spec in LOCAL_MARKETS}
    have = set(LedgerMarket.objects.filter(address__in=wanted).values_list("address", flat=True))
    for address, spec in wanted.items():
        if address in have:
            continue
        try:
            with transaction.atomic():
                LedgerMarket.objects.create(
                    address=address, name=spec.name, gpu=spec.gpu, vram_gb=spec.vram_gb,
                    price=spec.price, timeout=spec.timeout,
                )
        except IntegrityError:
            pass  # another process created it at the same moment
    node = node_address()
    if not LedgerNode.objects.filter(address=node).exists():
        try:
            with transaction.atomic():
                LedgerNode.objects.create(
                    address=node,
                    market=LedgerMarket.objects.get(address=default_market_address()),
                    specs=_machine_specs(),
                )
        except IntegrityError:
            pass


def _signature(keypair: Keypair, *parts: str) -> str:
    """A real ed25519 signature over what the instruction did: the transaction id of a local write."""
    message = "\n".join((*parts, str(time.time_ns()))).encode()
    return str(keypair.sign_message(message))


def _ledger_keypair() -> Keypair:
    return _derived_keypair("wallet")


# --- instructions (spec §6, §6.7) -------------------------------------------------------------


def list_job(*, job_keypair: Keypair, market: str, ipfs_job: str, timeout: int) -> tuple[LedgerJob, bool]:
    """`list`: create the job account, queued. Returns (job, created); listing twice returns the first."""
    address = str(job_keypair.pubkey())
    existing = LedgerJob.objects.filter(address=address).first()
    if existing is not None:
        return existing, False
    ensure_local_markets()
    row = LedgerMarket.objects.filter(address=market).first()
    if row is None:
        raise NetworkError(f"market {market} does not exist on the local network")
    if timeout < 1:
        raise NetworkError("the timeout must be at least one second")
    payer = wallet_address()
    try:
        with transaction.atomic():
            job = LedgerJob.objects.create(
                address=address, ipfs_job=ipfs_job, market=row, payer=payer, project=payer,
                price=row.price, timeout=timeout, state=LedgerJobState.QUEUED,
                tx_signature=_signature(job_keypair, "list", address, ipfs_job, str(timeout)),
            )
    except IntegrityError:
        return LedgerJob.objects.get(address=address), False
    return job, True


def work(job_address: str, node: str) -> LedgerRun:
    """`work`/`claim`: a node takes a queued (or stopped) job; the run account makes it RUNNING."""
    with transaction.atomic():
        job = LedgerJob.objects.select_for_update().filter(address=job_address).first()
        if job is None:
            raise NetworkError(f"job {job_address} does not exist on the local network (delisted?)")
        if job.state == LedgerJobState.DONE:
            raise NetworkError(f"job {job_address} is already done")
        run = LedgerRun.objects.filter(job=job).first()
        if run is not None:
            return run
        return LedgerRun.objects.create(
            address=str(Keypair().pubkey()), job=job, node=node, payer=node, time=int(time.time()),
        )


def _close_run(job: LedgerJob, *, state: int, ipfs_result: str = "") -> None:
    run = LedgerRun.objects.filter(job=job).first()
    now = int(time.time())
    if run is not None:
        job.node = run.node
        job.time_start = run.time
        run.delete()
    job.state = state
    job.time_end = now
    if ipfs_result:
        job.ipfs_result = ipfs_result
    job.save(update_fields=["node", "time_start", "time_end", "state", "ipfs_result"])


def finish(job_address: str, ipfs_result: str) -> str:
    """`finish`: the node posts the result; done (2). After a poster `end` it is `complete`."""
    with transaction.atomic():
        job = LedgerJob.objects.select_for_update().filter(address=job_address).first()
        if job is None:
            raise NetworkError(f"job {job_address} does not exist on the local network")
        if job.state == LedgerJobState.DONE and not job.run_exists():
            if not job.ipfs_result:  # `complete` after the poster ended it
                job.ipfs_result = ipfs_result
                job.save(update_fields=["ipfs_result"])
        else:
            _close_run(job, state=LedgerJobState.DONE, ipfs_result=ipfs_result)
    return _signature(_derived_keypair(f"node/{socket.gethostname()}"), "finish", job_address, ipfs_result)


def quit_job(job_address: str) -> str:
    """`quit`: the node gives the job up without a result; stopped (3)."""
    with transaction.atomic():
        job = LedgerJob.objects.select_for_update().filter(address=job_address).first()
        if job is None:
            raise NetworkError(f"job {job_address} does not exist on the local network")
        if job.state != LedgerJobState.DONE:
            _close_run(job, state=LedgerJobState.STOPPED)
    return _signature(_derived_keypair(f"node/{socket.gethostname()}"), "quit", job_address)


def delist(job_address: str) -> str:
    """`delist`: only a queued job still waiting (no run); the account is closed."""
    with transaction.atomic():
        job = LedgerJob.objects.select_for_update().filter(address=job_address).first()
        if job is None:
            raise NetworkError(f"job {job_address} does not exist on the local network")
        if job.state != LedgerJobState.QUEUED or job.run_exists():
            raise NetworkError("only a queued job that no node has picked up can be delisted")
        job.delete()
    return _signature(_ledger_keypair(), "delist", job_address)


def end(job_address: str) -> str:
    """`end`: the poster stops a running job; done (2) with no result until the node completes."""
    with transaction.atomic():
        job = LedgerJob.objects.select_for_update().filter(address=job_address).first()
        if job is None:
            raise NetworkError(f"job {job_address} does not exist on the local network")
        if not job.run_exists():
            raise NetworkError("only a running job can be ended")
        _close_run(job, state=LedgerJobState.DONE)
    return _signature(_ledger_keypair(), "end", job_address)


def extend(job_address: str, new_timeout: int) -> str:
    """`extend`: a new, larger total timeout, while queued or running."""
    with transaction.atomic():
        job = LedgerJob.objects.select_for_update().filter(address=job_address).first()
        if job is None:
            raise NetworkError(f"job {job_address} does not exist on the local network")
        if job.state != LedgerJobState.QUEUED:
            raise NetworkError("only a queued or running job can be extended")
        if new_timeout <= job.timeout:
            raise NetworkError(f"the new timeout must be greater than {job.timeout} seconds")
        job.timeout = new_timeout
        job.save(update_fields=["timeout"])
    return _signature(_ledger_keypair(), "extend", job_address, str(new_timeout))
