"""`python manage.py job post --file F --market ADDR …`: like `nosana job post`, through jobs.services."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth.models import User

from jobs import services
from jobs.cli.get import report_for_job, wait_until_final
from jobs.cli.output import (
    absolute,
    field_line,
    job_block,
    nos_amount,
    nos_fixed4,
    nos_per_second,
    report_json,
    sol_amount,
)
from jobs.models import JobStatus
from nosana_dash import network as networks
from nosana_dash.network.base import Balances, Network, NetworkError


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--file", "-f", required=True, help="job definition JSON file")
    parser.add_argument("--market", "-m", required=True, help="market address")
    parser.add_argument("--network", choices=["local", "devnet", "mainnet"], default=None,
                        help="network to post to (default: NOSANA_NETWORK)")
    parser.add_argument("--timeout", "-t", type=int, default=None, help="timeout in minutes (default: the market's)")
    parser.add_argument("--wait", action="store_true", help="wait until the job is finished and show its result")
    parser.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    parser.add_argument("--user", default=None, help="dashboard user who posts (default: the first superuser)")


def resolve_user(name: str | None) -> User | None:
    if name:
        return User.objects.filter(username=name).first()
    return User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()


def _preamble(net: Network) -> tuple[list[str], str | None, Balances | None]:
    lines: list[str] = []
    if net.name != "local":
        lines.append(f"Reading keypair from {settings.NOSANA_KEYPAIR_PATH}")
        lines.append("")
    wallet = net.wallet_address()
    balances = net.balances(wallet) if wallet else None
    lines.append(field_line("Network:", net.name))
    lines.append(field_line("Wallet:", wallet or "(none)"))
    if balances is not None:
        lines.append(field_line("SOL balance:", f"{sol_amount(balances.sol)} SOL"))
        lines.append(field_line("NOS balance:", f"{nos_amount(balances.nos)} NOS"))
    note = getattr(net, "balance_note", "")
    if note:
        lines.append(f"({note})")
    return lines, wallet, balances


def run(options: dict[str, Any], out: TextIO, err: TextIO) -> int:
    as_json = bool(options.get("json"))
    name = options.get("network") or settings.NOSANA_DEFAULT_NETWORK
    user = resolve_user(options.get("user"))
    if user is None:
        who = f"user {options['user']!r}" if options.get("user") else "superuser"
        err.write(f"No {who} to post as: create one with `python manage.py createsuperuser` or pass --user NAME.\n")
        return 2
    path = Path(options["file"])
    try:
        text = path.read_bytes()
    except OSError as exc:
        err.write(f"Cannot read {path}: {exc.strerror}\n")
        return 2
    timeout = options["timeout"] * 60 if options.get("timeout") is not None else None
    try:
        net = networks.get_network(name)
        preamble, wallet, balances = _preamble(net)
        if not as_json:
            out.write("\n".join(preamble) + "\n")
        job = services.post_job(user=user, network=name, market=options["market"], definition=text, timeout=timeout)
    except services.DefinitionInvalid as exc:
        return _fail(out, err, as_json, "Job Definition validation failed", exc.issues or [("", exc.message)])
    except (services.PostError, NetworkError) as exc:
        return _fail(out, err, as_json, exc.message, [])
    if job.status == JobStatus.POST_FAILED:
        return _fail(out, err, as_json, f"Couldn't post job: {job.error}", [])

    total = job.price * job.timeout
    ipfs_url = absolute(net.content_url(job.ipfs_job))
    if options.get("wait"):
        job = wait_until_final(job, err)
    report = report_for_job(job, net)
    if as_json:
        data = {
            "keypair_path": settings.NOSANA_KEYPAIR_PATH if name != "local" else None,
            "network": name,
            "wallet": wallet,
            "balances": {"SOL": balances.sol / 1e9, "NOS": balances.nos / 1e6} if balances else None,
            "ipfs_uploaded": ipfs_url,
            "job_posting": {"market": job.market, "price": f"{nos_per_second(job.price)} NOS/s",
                            "total": f"{nos_fixed4(total)} NOS", "timeout": job.timeout},
            "transaction_id": job.tx_signature,
            **report_json(report),
            "job_address": job.address,
            "isError": False,
            "msg": "",
            "errors": [],
        }
        out.write(json.dumps(data, indent=2) + "\n")
        return 0
    lines = [
        field_line("ipfs uploaded:", ipfs_url),
        f"posting job to market {job.market} for price {nos_per_second(job.price)} NOS/s "
        f"(total: {nos_fixed4(total)} NOS)",
        f"job posted with tx {job.tx_signature or '(signature unknown: found on the ledger after a timeout)'}!",
        *[f"Service will be exposed at {url}" for url in report.service_urls],
        *job_block(report),
    ]
    if not options.get("wait"):
        lines += ["", f"run python manage.py job get {job.address} --network {name} to retrieve job and result"]
    out.write("\n".join(lines) + "\n")
    if options.get("wait") and job.status in (JobStatus.FAILED, JobStatus.STOPPED):
        return 1  # scripts that wait learn that the job did not succeed
    return 0


def _fail(out: TextIO, err: TextIO, as_json: bool, message: str, issues: list[tuple[str, str]]) -> int:
    if as_json:
        errors = [{"path": path, "message": text} for path, text in issues]
        out.write(json.dumps({"isError": True, "msg": message, "errors": errors}, indent=2) + "\n")
    else:
        err.write(message + "\n")
        for path, text in issues:
            err.write(f"  {path or '(root)'}: {text}\n")
    return 1
