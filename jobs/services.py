"""The only code that changes job state from the web and CLI side: post, stop, extend.

Posting is exactly-once: the job keypair, CID and market are recorded in a
`Job` row (status `posting`) before anything is sent, and a retry after a
timeout first looks the job account up. A job account can be created only
once (its address is the recorded keypair), so a resend can never list the
job twice.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from solders.keypair import Keypair

from jobs import live
from jobs.models import DailySpend, Job, JobStatus, Step
from nosana_dash import network as networks
from nosana_dash.network.base import (
    LAMPORTS_PER_SOL,
    NOS_DECIMALS,
    MarketInfo,
    Network,
    NetworkError,
    PostRequest,
)
from nosana_dash.network.codec.cid import cid_v0

log = logging.getLogger(__name__)

REMOTE_NETWORKS = ("devnet", "mainnet")
REMOTE_PERMISSION = "jobs.post_remote"
MIN_SOL_LAMPORTS = 5_000_000  # the CLI refuses to post below 0.005 SOL (rent + fees)
MAX_TIMEOUT_SECONDS = 30 * 24 * 3600

User = AuthUser | AnonymousUser


class PostError(Exception):
    """A refusal or failure the user must see; never holds a secret."""

    def __init__(self, message: str, *, issues: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.issues = issues or []


class DefinitionInvalid(PostError):
    pass


class PermissionRequired(PostError):
    pass


class SpendingCapExceeded(PostError):
    pass


class FundsTooLow(PostError):
    pass


@dataclass(frozen=True)
class Quote:
    """What a post will commit, computed on the server before anything is signed."""

    network: str
    market: MarketInfo
    timeout: int  # seconds
    price: int  # NOS base units per second
    total: int  # price x timeout, NOS base units
    spent_today: int
    cap_job: int
    cap_day: int


def nos_units(amount: Decimal) -> int:
    return int(amount * NOS_DECIMALS)


def status_payload(job: Job) -> dict[str, Any]:
    """What live pages need to redraw a job's status (never the secret)."""
    return {
        "address": job.address,
        "network": job.network,
        "status": job.status,
        "status_label": JobStatus(job.status).label,
        "node": job.node,
        "error": job.error,
        "timeout": job.timeout,
        "stop_requested": job.stop_requested,
        "exit_code": job.exit_code,
        "time_start": job.time_start.isoformat() if job.time_start else None,
        "time_end": job.time_end.isoformat() if job.time_end else None,
    }


def publish(job: Job) -> None:
    payload = status_payload(job)
    transaction.on_commit(lambda: live.publish_status(job.address, payload))


# --- checks ---------------------------------------------------------------------


def check_permission(user: User, network: str) -> None:
    if not user.is_authenticated:
        raise PermissionRequired("Sign in to post or manage jobs.")
    if network in REMOTE_NETWORKS and not user.has_perm(REMOTE_PERMISSION):
        raise PermissionRequired(
            f"Posting to {network} spends real SOL and NOS and needs the permission "
            f"“Can post jobs to devnet or mainnet”; ask an administrator to grant it. "
            f"The local network needs no permission."
        )


def parse_definition(definition: object) -> object:
    """Text (a form field or a file) becomes a JSON value as JSON.parse reads it; anything else passes through."""
    from jobs.definition import DefinitionParseError, parse_json_text

    if isinstance(definition, bytearray):
        definition = bytes(definition)
    if isinstance(definition, str | bytes):
        try:
            return parse_json_text(definition)
        except DefinitionParseError as exc:
            where = f"line {exc.line}, column {exc.column}"
            raise DefinitionInvalid(
                f"The job definition is not valid JSON: {exc.message} ({where}).", issues=[("", f"{exc.message} ({where})")]
            ) from exc
    return definition


def validated_bytes(definition: object) -> tuple[bytes, list[tuple[str, str]]]:
    """Canonical bytes of a valid definition and its ops as (id, type), in order; refuses invalid ones."""
    from jobs.definition import canonical_bytes, format_path, validate

    obj = parse_definition(definition)
    verdict = validate(obj)
    if not verdict.valid:
        issues = [(issue.path, issue.message) for issue in verdict.errors]
        listing = "; ".join(f"{format_path(path)}: {message}" for path, message in issues[:10])
        more = f" (and {len(issues) - 10} more)" if len(issues) > 10 else ""
        raise DefinitionInvalid(f"The job definition is invalid — {listing}{more}", issues=issues)
    data = canonical_bytes(obj)
    ops = json.loads(data).get("ops", [])
    return data, [(str(op.get("id", "")), str(op.get("type", ""))) for op in ops]


def get_market(net: Network, address: str) -> MarketInfo:
    address = (address or "").strip()
    if not address:
        raise PostError("Choose a market.")
    market = net.get_market(address)
    if market is None:
        raise PostError(f"Market {address} was not found on {net.name}.")
    return market


def quote(*, user: User, network: str, market: str, timeout: int | None = None,
          net: Network | None = None) -> Quote:
    """Price, total and caps for a post, without changing anything."""
    net = net or networks.get_network(network)
    info = get_market(net, market)
    seconds = info.timeout if timeout is None else int(timeout)
    if seconds < 1 or seconds > MAX_TIMEOUT_SECONDS:
        raise PostError(f"The timeout must be between 1 second and {MAX_TIMEOUT_SECONDS // 86400} days.")
    spent = 0
    if user.is_authenticated:
        row = DailySpend.objects.filter(owner_id=user.pk, day=_today(), network=network).first()
        spent = row.amount if row else 0
    return Quote(
        network=network, market=info, timeout=seconds, price=info.price, total=info.price * seconds,
        spent_today=spent, cap_job=nos_units(settings.NOSANA_CAP_PER_JOB_NOS),
        cap_day=nos_units(settings.NOSANA_CAP_PER_DAY_NOS),
    )


def _today() -> date:
    return timezone.localdate()


def _fmt_nos(units: int) -> str:
    return f"{Decimal(units) / NOS_DECIMALS:f} NOS"


def _reserve_spend(*, user: User, network: str, amount: int, per_job_total: int) -> None:
    """Enforce both caps and book the amount, atomically (the row lock serializes posts)."""
    cap_job = nos_units(settings.NOSANA_CAP_PER_JOB_NOS)
    cap_day = nos_units(settings.NOSANA_CAP_PER_DAY_NOS)
    if per_job_total > cap_job:
        raise SpendingCapExceeded(
            f"This job would commit up to {_fmt_nos(per_job_total)}, above the per-job cap of "
            f"{_fmt_nos(cap_job)} (NOSANA_CAP_PER_JOB_NOS). Choose a shorter timeout or a cheaper market."
        )
    DailySpend.objects.get_or_create(owner_id=user.pk, day=_today(), network=network)
    row = DailySpend.objects.select_for_update().get(owner_id=user.pk, day=_today(), network=network)
    if row.amount + amount > cap_day:
        raise SpendingCapExceeded(
            f"This would bring today's committed NOS on {network} to {_fmt_nos(row.amount + amount)}, above the "
            f"per-day cap of {_fmt_nos(cap_day)} (NOSANA_CAP_PER_DAY_NOS); {_fmt_nos(row.amount)} already committed."
        )
    row.amount += amount
    row.save(update_fields=["amount"])


def _release_spend(job: Job, amount: int) -> None:
    """A post that never reached the ledger committed nothing: give the amount back."""
    if job.owner_id is None or amount <= 0:
        return
    day = timezone.localdate(job.created_at)
    with transaction.atomic():
        row = DailySpend.objects.select_for_update().filter(owner_id=job.owner_id, day=day, network=job.network).first()
        if row is not None:
            row.amount = max(0, row.amount - amount)
            row.save(update_fields=["amount"])


def _check_funds(net: Network, total: int) -> None:
    """Remote only: the wallet must hold the deposit and enough SOL for rent and fees."""
    wallet = net.wallet_address()
    if wallet is None:
        raise PostError(f"No wallet is configured for {net.name}: set NOSANA_KEYPAIR_PATH to your keypair file.")
    funds = net.balances(wallet)
    if funds.sol < MIN_SOL_LAMPORTS:
        raise FundsTooLow(
            f"Minimum of {MIN_SOL_LAMPORTS / LAMPORTS_PER_SOL} SOL needed: SOL available "
            f"{funds.sol / LAMPORTS_PER_SOL} in {wallet}."
        )
    if funds.nos < total:
        raise FundsTooLow(f"Not enough NOS: NOS available {_fmt_nos(funds.nos)}, NOS needed: {_fmt_nos(total)}.")


# --- posting -------------------------------------------------------------------


def post_job(*, user: User, network: str, market: str, definition: object, timeout: int | None = None,
             idempotency_key: str | None = None) -> Job:
    """Validate, pin, record, list. Returns the Job (queued, or post_failed with the cause in `error`).

    Raises PostError (and subclasses) for refusals made before anything is recorded:
    an invalid definition, a missing permission, a cap, an unknown market, missing funds.
    """
    check_permission(user, network)
    key = (idempotency_key or "").strip()[:64]
    if key:
        existing = Job.objects.filter(owner_id=user.pk, idempotency_key=key).first()
        if existing is not None:
            return resume_post(existing) if existing.status == JobStatus.POSTING else existing
    data, ops = validated_bytes(definition)
    try:
        net = networks.get_network(network)
        offer = quote(user=user, network=network, market=market, timeout=timeout, net=net)
        if network in REMOTE_NETWORKS:
            _check_funds(net, offer.total)
        wallet = net.wallet_address() or ""
    except NetworkError as exc:  # pre-flight reads: nothing recorded yet, the user sees why
        raise PostError(exc.message) from exc

    keypair = Keypair()
    try:
        with transaction.atomic():
            _reserve_spend(user=user, network=network, amount=offer.total, per_job_total=offer.total)
            job = Job.objects.create(
                address=str(keypair.pubkey()),
                network=network,
                owner_id=user.pk,
                status=JobStatus.POSTING,
                market=offer.market.address,
                market_name=offer.market.name,
                definition_json=data.decode("utf-8"),
                ipfs_job=cid_v0(data),
                price=offer.price,
                timeout=offer.timeout,
                payer=wallet,
                project=wallet,
                job_secret=bytes(keypair),
                idempotency_key=key,
                service_url=_first_service_url(network, data, str(keypair.pubkey())),
            )
            Step.objects.bulk_create(
                [Step(job=job, index=i, op_id=op_id, op_type=op_type) for i, (op_id, op_type) in enumerate(ops)]
            )
            publish(job)
    except IntegrityError:
        # The same form submitted twice at once: the other request recorded it.
        existing = Job.objects.filter(owner_id=user.pk, idempotency_key=key).first() if key else None
        if existing is None:
            raise
        return existing

    try:
        cid = net.upload(data)
    except NetworkError as exc:
        return _fail(job, f"Upload of the job definition failed: {exc.message}")
    if cid != job.ipfs_job:
        return _fail(job, f"The content store returned CID {cid}, but the definition's CID is {job.ipfs_job}.")
    return _send(job, net)


def resume_post(job: Job) -> Job:
    """Finish a post left in `posting` (a crash or timeout): look the job up before any resend."""
    if job.status != JobStatus.POSTING:
        return job
    net = networks.get_network(job.network)
    try:
        found = net.get_job(job.address)
    except NetworkError as exc:
        log.warning("lookup of %s failed: %s", job.address, exc.message)
        return job  # still unknown: leave it posting; the next retry looks again
    if found is not None:
        return _mark_listed(job, job.tx_signature)
    try:
        net.upload(job.definition_json.encode("utf-8"))
    except NetworkError as exc:
        return _fail(job, f"Upload of the job definition failed: {exc.message}")
    return _send(job, net)


def _send(job: Job, net: Network) -> Job:
    request = PostRequest(market=job.market, ipfs_job=job.ipfs_job, timeout=job.timeout,
                          job_secret=bytes(job.job_secret))
    try:
        receipt = net.post_job(request)
    except NetworkError as exc:
        if not exc.retryable:
            # Refused — unless an earlier attempt landed (a resend then fails with "already in use").
            return _fail_unless_listed(job, net, exc.message)
        # Timed out: it may have landed. Look the account up before anything else.
        return _after_timeout(job, net, request, exc)
    if receipt.job_address != job.address:
        return _fail(job, f"The network listed {receipt.job_address}, not the recorded job {job.address}.")
    return _mark_listed(job, receipt.tx_signature)


def _after_timeout(job: Job, net: Network, request: PostRequest, first: NetworkError) -> Job:
    try:
        if net.get_job(job.address) is not None:
            return _mark_listed(job, "")
    except NetworkError as exc:
        log.warning("lookup of %s after a timeout failed: %s", job.address, exc.message)
        return job  # unknown outcome: stay `posting`; resume_post looks again
    # Not there: resend once with the same job keypair; the chain creates that account at most once.
    try:
        receipt = net.post_job(request)
        return _mark_listed(job, receipt.tx_signature)
    except NetworkError as exc:
        return _fail_unless_listed(job, net, f"{first.message} — resent once, which failed too: {exc.message}")


def _fail_unless_listed(job: Job, net: Network, cause: str) -> Job:
    try:
        if net.get_job(job.address) is not None:
            return _mark_listed(job, "")
    except NetworkError:
        return job  # unknown outcome: stay `posting`; resume_post looks again
    return _fail(job, cause)


def _mark_listed(job: Job, tx_signature: str) -> Job:
    with transaction.atomic():
        job.status = JobStatus.QUEUED
        if tx_signature:
            job.tx_signature = tx_signature
        job.error = ""
        job.save(update_fields=["status", "tx_signature", "error", "updated_at"])
        publish(job)
    return job


def _fail(job: Job, cause: str) -> Job:
    with transaction.atomic():
        job.status = JobStatus.POST_FAILED
        job.error = cause
        job.save(update_fields=["status", "error", "updated_at"])
        publish(job)
    _release_spend(job, job.price * job.timeout)
    return job


def _first_service_url(network: str, data: bytes, address: str) -> str:
    """Remote jobs: the URL a node will expose for the first exposed port (§10.5).

    Local jobs get theirs from the runner when it publishes the port.
    """
    if network not in REMOTE_NETWORKS:
        return ""
    from jobs.cli.output import service_urls

    urls = service_urls(json.loads(data), address, network)
    return urls[0] if urls else ""


# --- managing ------------------------------------------------------------------


def _check_owner(user: User, job: Job) -> None:
    if not user.is_authenticated or (job.owner_id != user.pk and not getattr(user, "is_superuser", False)):
        raise PermissionRequired("Only the user who posted this job can stop or extend it.")
    check_permission(user, job.network)


def stop_job(*, user: User, job: Job) -> Job:
    """Delist while queued, end while running. Local running jobs: the worker stops the containers."""
    _check_owner(user, job)
    if job.is_final:
        raise PostError(f"The job is already {JobStatus(job.status).label.lower()}.")
    if job.status == JobStatus.POSTING:
        raise PostError("The job is still being posted; stop it once it is queued.")
    try:
        net = networks.get_network(job.network)
        info = net.get_job(job.address)
    except NetworkError as exc:
        raise PostError(f"Stopping failed: {exc.message}") from exc
    if info is None:
        raise PostError("The job account no longer exists on the network.")
    if info.state == "QUEUED":
        try:
            net.delist_job(job.address)
        except NetworkError as exc:
            # A node may have picked it up in the meantime: fall through to ending it.
            log.info("delist of %s refused (%s), ending instead", job.address, exc.message)
        else:
            with transaction.atomic():
                job.status = JobStatus.STOPPED
                job.stop_requested = True
                job.time_end = timezone.now()
                job.save(update_fields=["status", "stop_requested", "time_end", "updated_at"])
                publish(job)
            _release_spend(job, job.price * job.timeout)  # the whole deposit came back
            return job
    elif info.state in ("COMPLETED", "STOPPED"):
        raise PostError(f"The job is already {info.state.lower()} on the network.")
    if job.network in REMOTE_NETWORKS:
        try:
            net.end_job(job.address)
        except NetworkError as exc:
            raise PostError(f"Stopping failed: {exc.message}") from exc
    # Local: the worker holding the job sees the flag, stops the containers and ends the ledger job.
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(stop_requested=True, updated_at=timezone.now())
        job.stop_requested = True
        publish(job)
    return job


def extend_job(*, user: User, job: Job, new_timeout: int) -> Job:
    """Raise the job's total timeout to `new_timeout` seconds; the extra deposit is checked against the caps."""
    _check_owner(user, job)
    if job.is_final or job.status == JobStatus.POSTING:
        raise PostError("Only a queued or running job can be extended.")
    try:
        new_timeout = int(new_timeout)
    except (TypeError, ValueError) as exc:
        raise PostError("The new timeout must be a whole number of seconds.") from exc
    if new_timeout <= job.timeout:
        raise PostError(f"The new total timeout must be greater than the current {job.timeout} seconds.")
    if new_timeout > MAX_TIMEOUT_SECONDS:
        raise PostError(f"The timeout can be at most {MAX_TIMEOUT_SECONDS // 86400} days.")
    extra = job.price * (new_timeout - job.timeout)
    try:
        net = networks.get_network(job.network)
        if job.network in REMOTE_NETWORKS:
            _check_funds(net, extra)
    except NetworkError as exc:
        raise PostError(exc.message) from exc
    with transaction.atomic():
        _reserve_spend(user=user, network=job.network, amount=extra, per_job_total=job.price * new_timeout)
    try:
        net.extend_job(job.address, new_timeout)
    except NetworkError as exc:
        _release_spend(job, extra)
        raise PostError(f"Extending failed: {exc.message}") from exc
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(timeout=new_timeout, updated_at=timezone.now())
        job.timeout = new_timeout
        publish(job)
    return job
