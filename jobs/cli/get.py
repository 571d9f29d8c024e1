"""`python manage.py job get ADDR [--network …] [--wait] [--json]`: like `nosana job get`.

A job this dashboard knows is read from the database (the worker keeps it up
to date); any other devnet/mainnet job is read from the network directly.
"""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from typing import Any, TextIO

from django.conf import settings

from jobs.cli.output import (
    Execution,
    JobReport,
    absolute,
    executions_from_result,
    field_line,
    job_block,
    report_json,
    service_urls,
    timeout_note,
)
from jobs.models import Job, LogLine
from jobs.selectors import job_status_note
from nosana_dash import network as networks
from nosana_dash.network.base import JobInfo, Network, NetworkError

POLL_SECONDS = 1.0
WAIT_MARGIN_SECONDS = 600  # beyond the job's own timeout, --wait gives up


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("address", help="job address")
    parser.add_argument("--network", choices=["local", "devnet", "mainnet"],
                        help="network of the job (default: the job's own, else NOSANA_NETWORK)")
    parser.add_argument("--wait", action="store_true", help="wait until the job is finished")
    parser.add_argument("--json", action="store_true", help="print one JSON object for scripts")


def _parse_result(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _db_executions(job: Job) -> list[Execution] | None:
    """Steps and their stored lines, when no result document is available."""
    steps = list(job.steps.order_by("index"))
    if not steps:
        return None
    lines: dict[int, list[str]] = {}
    for step_id, text in LogLine.objects.filter(job=job, step__isnull=False).order_by("seq").values_list("step_id", "text"):
        lines.setdefault(step_id, []).append(text + "\n")
    return [
        Execution(
            operation_id=step.op_id,
            duration_ms=int((step.ended_at - step.started_at).total_seconds() * 1000)
            if step.started_at and step.ended_at else None,
            logs=lines.get(step.pk, []),
            exit_code=step.exit_code,
            status=step.status,
        )
        for step in steps
    ]


def report_for_job(job: Job, net: Network) -> JobReport:
    report = JobReport(
        network=job.network,
        address=job.address,
        job_url=absolute(net.job_url(job.address)),
        json_flow_url=absolute(net.content_url(job.ipfs_job)),
        market_url=absolute(net.market_url(job.market)),
        price=job.price,
        status=job.status.upper(),
        status_note=job_status_note(job),
        node_url=absolute(net.node_url(job.node)) if job.node else "",
        time_start=int(job.time_start.timestamp()) if job.time_start else 0,
        time_end=int(job.time_end.timestamp()) if job.time_end else 0,
        result_url=absolute(net.content_url(job.ipfs_result)) if job.ipfs_result else "",
        service_urls=[job.service_url] if job.service_url else [],
    )
    if job.is_final:
        result = _parse_result(job.result_json) if job.result_json else None
        executions = executions_from_result(result) if result is not None else None
        report.executions = executions if executions is not None else _db_executions(job)
    return report


def report_for_info(info: JobInfo, net: Network) -> JobReport:
    """A job read from the network (not posted from here)."""
    definition: dict[str, Any] = {}
    try:
        definition = _parse_result(net.fetch(info.ipfs_job).decode("utf-8", "replace")) or {}
    except NetworkError:
        pass  # the links still work; the service URL needs the definition
    report = JobReport(
        network=net.name,
        address=info.address,
        job_url=absolute(net.job_url(info.address)),
        json_flow_url=absolute(net.content_url(info.ipfs_job)),
        market_url=absolute(net.market_url(info.market)),
        price=info.price,
        status=info.state,
        node_url=absolute(net.node_url(info.node)) if info.node else "",
        time_start=info.time_start,
        time_end=info.time_end,
        result_url=absolute(net.content_url(info.ipfs_result)) if info.ipfs_result else "",
        service_urls=service_urls(definition, info.address, net.name),
    )
    if info.ipfs_result:
        try:
            text = net.fetch(info.ipfs_result).decode("utf-8", "replace")
        except NetworkError:
            text = ""
        result = _parse_result(text) if text else None
        report.executions = executions_from_result(result) if result is not None else None
        report.status_note = timeout_note(completed=info.state == "COMPLETED", timeout=info.timeout, result_text=text)
    return report


def wait_until_final(job: Job, err: TextIO) -> Job:
    """Poll the database (the worker runs or follows the job); remote jobs are followed from here too."""
    from jobs.watch import follow

    deadline = time.monotonic() + job.timeout + WAIT_MARGIN_SECONDS
    while not job.is_final and time.monotonic() < deadline:
        if job.network != "local":
            follow(job)
        time.sleep(POLL_SECONDS)
        job.refresh_from_db()
    if not job.is_final:
        err.write(f"Gave up waiting: the job is still {job.status}.\n")
    return job


def run(options: dict[str, Any], out: TextIO, err: TextIO) -> int:
    address = options["address"].strip()
    job = Job.objects.filter(address=address).first()
    name = options.get("network") or (job.network if job else settings.NOSANA_DEFAULT_NETWORK)
    if job is not None and job.network != name:
        job = None  # the same address on another network is another job
    try:
        net = networks.get_network(name)
        if job is not None:
            if options.get("wait"):
                job = wait_until_final(job, err)
            report = report_for_job(job, net)
        else:
            info = _wait_info(net, address) if options.get("wait") else net.get_job(address)
            if info is None:
                err.write(f"Job {address} was not found on {name}.\n")
                return 1
            report = report_for_info(info, net)
    except NetworkError as exc:
        err.write(f"{exc.message}\n")
        return 1
    if options.get("json"):
        out.write(json.dumps(report_json(report), indent=2) + "\n")
        return 0
    out.write("\n".join([field_line("Network:", name), *job_block(report)]) + "\n")
    return 0


def _wait_info(net: Network, address: str) -> JobInfo | None:
    deadline = time.monotonic() + 24 * 3600
    delay = 2.0
    while True:
        info = net.get_job(address)
        if info is None or info.state in ("COMPLETED", "STOPPED") or time.monotonic() > deadline:
            return info
        time.sleep(delay)
        delay = min(delay * 1.5, 30.0)
