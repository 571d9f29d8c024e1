"""CLI-style formatting shared by `job post`, `job get` and the pages that mirror them.

Numbers follow what the Nosana CLI prints (JavaScript number formatting),
labels are followed by tabs exactly as in the seed's output.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import base58
from django.conf import settings

from nosana_dash.network.base import LAMPORTS_PER_SOL, NOS_DECIMALS

NODE_DOMAINS = {"mainnet": "node.k8s.prd.nos.ci", "devnet": "node.k8s.dev.nos.ci"}

# Label → tabs after it, as the CLI aligns them (8-column tab stops).
LABELS = {
    "Network:": "\t",
    "Wallet:": "\t\t",
    "SOL balance:": "\t",
    "NOS balance:": "\t",
    "ipfs uploaded:": "\t",
    "Job:": "\t\t",
    "JSON flow:": "\t",
    "Market:": "\t\t",
    "Price:": "\t\t",
    "Status:": "\t\t",
    "Node:": "\t\t",
    "Start Time:": "\t",
    "Duration:": "\t",
    "Total Costs:": "\t",
    "Result:": "\t\t",
}


def field_line(label: str, value: object) -> str:
    return f"{label}{LABELS[label]}{value}"


def js_number(value: float | int | Decimal) -> str:
    """Render a number as JavaScript's Number#toString does (0.000115, 41, 1e-7)."""
    number = float(value)
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    text = repr(number)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{int(exponent.lstrip('+-'))}"
    return text


def nos_per_second(price_units: int) -> str:
    return js_number(price_units / NOS_DECIMALS)


def nos_fixed4(units: int) -> str:
    return f"{units / NOS_DECIMALS:.4f}"


def sol_amount(lamports: int) -> str:
    return js_number(lamports / LAMPORTS_PER_SOL)


def nos_amount(units: int) -> str:
    return js_number(units / NOS_DECIMALS)


def js_date(unix_seconds: int) -> str:
    """`new Date(t*1000).toString()` in the dashboard's time zone."""
    zone = ZoneInfo(settings.TIME_ZONE)
    moment = datetime.fromtimestamp(unix_seconds, tz=UTC).astimezone(zone)
    offset = moment.strftime("%z") or "+0000"
    name = "Coordinated Universal Time" if settings.TIME_ZONE == "UTC" else (moment.tzname() or settings.TIME_ZONE)
    return moment.strftime("%a %b %d %Y %H:%M:%S") + f" GMT{offset} ({name})"


def absolute(url: str) -> str:
    """Local links are paths on this dashboard; the CLI prints them as full URLs."""
    if url.startswith("/"):
        return settings.NOSANA_DASH_BASE_URL.rstrip("/") + url
    return url


# --- a job that ran into its timeout ---------------------------------------------

# A quote inside a JSON string is escaped, so log output cannot fake this key; searched, not parsed,
# because a result holds up to 25,000 log chunks per op and the page header is redrawn often.
_EXPIRED = re.compile(r'"jobExpired"\s*:\s*true')


def timeout_note(*, completed: bool, timeout: int, result_text: str) -> str:
    """Why a completed job ended, when its node stopped it at the deadline; "" otherwise.

    The node reports such a job as a plain `success` (protocol §7.3) and marks the ops it
    cut off with `diagnostics.reason.jobExpired`: said plainly, so nobody takes it for a full run.
    """
    if not completed or not _EXPIRED.search(result_text):
        return ""
    return f"reached its timeout after {timeout} s"


# --- exposed services (spec §10.5) --------------------------------------------


def expose_id(op_index: int, port: object, job_address: str) -> str:
    digest = hashlib.sha512(f"{op_index}:{port}:{job_address}".encode()).digest()
    return base58.b58encode(digest).decode()[:44]


def _ports(expose: object) -> list[object]:
    items = expose if isinstance(expose, list) else [expose]
    ports: list[object] = []
    for item in items:
        if isinstance(item, dict):
            if "__spread__" in item:
                continue  # resolved by the node at run time
            item = item.get("port")
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, str) and item.startswith("%%"):
            continue  # a literal placeholder, resolved by the node
        if isinstance(item, float) and item.is_integer():
            item = int(item)
        ports.append(item)
    return ports


def service_urls(definition: dict[str, Any], job_address: str, network: str) -> list[str]:
    """The public URLs nodes give exposed ports; none for private jobs (random ids, known later)."""
    domain = NODE_DOMAINS.get(network)
    ops = definition.get("ops") if isinstance(definition, dict) else None
    if domain is None or not isinstance(ops, list):
        return []
    runs = [op for op in ops if isinstance(op, dict) and op.get("type") == "container/run"]
    if any(isinstance(op.get("args"), dict) and op["args"].get("private") and op["args"].get("expose") for op in runs):
        return []
    urls = []
    for index, op in enumerate(ops):
        args = op.get("args") if isinstance(op, dict) else None
        if not isinstance(args, dict) or op.get("type") != "container/run" or "expose" not in args:
            continue
        urls += [f"https://{expose_id(index, port, job_address)}.{domain}" for port in _ports(args["expose"])]
    return urls


# --- the `job get` block ------------------------------------------------------


@dataclass
class Execution:
    operation_id: str
    duration_ms: int | None
    logs: list[str]  # chunks, each carrying its own newline
    exit_code: int | None
    status: str


@dataclass
class JobReport:
    """Everything `job post`/`job get` print, from the database or the network."""

    network: str
    address: str
    job_url: str
    json_flow_url: str
    market_url: str
    price: int
    status: str  # upper case, as the CLI shows it
    status_note: str = ""  # e.g. "reached its timeout after 60 s", printed after the status
    node_url: str = ""
    time_start: int = 0
    time_end: int = 0
    result_url: str = ""
    executions: list[Execution] | None = None
    service_urls: list[str] = field(default_factory=list)

    @property
    def duration(self) -> int:
        return self.time_end - self.time_start if self.time_end and self.time_start else 0

    @property
    def total_cost(self) -> float:
        return self.duration * self.price / NOS_DECIMALS


def executions_from_result(result: dict[str, Any]) -> list[Execution] | None:
    """opStates of a result document (Nosana's FlowState); None when the document has none."""
    states = result.get("opStates") if isinstance(result, dict) else None
    if not isinstance(states, list):
        return None
    executions = []
    for state in states:
        if not isinstance(state, dict):
            continue
        start, end = state.get("startTime"), state.get("endTime")
        duration = int(end - start) if isinstance(start, int | float) and isinstance(end, int | float) else None
        chunks = [str(entry.get("log", "")) for entry in state.get("logs") or [] if isinstance(entry, dict)]
        code = state.get("exitCode")
        executions.append(Execution(
            operation_id=str(state.get("operationId", "")),
            duration_ms=duration,
            logs=chunks,
            exit_code=code if isinstance(code, int) else None,
            status=str(state.get("status", "")),
        ))
    return executions


def job_block(report: JobReport) -> list[str]:
    """The lines the seed's `nosana job get` prints after the preamble."""
    status = report.status + (f" — {report.status_note}" if report.status_note else "")
    lines = [
        field_line("Job:", report.job_url),
        field_line("JSON flow:", report.json_flow_url),
        field_line("Market:", report.market_url),
        field_line("Price:", f"{nos_per_second(report.price)} NOS/s"),
        field_line("Status:", status),
    ]
    finished = report.status not in ("QUEUED", "RUNNING", "POSTING")
    if report.status == "RUNNING" and report.node_url:
        lines.append(field_line("Node:", report.node_url))
    if finished and report.node_url:
        lines.append(field_line("Node:", report.node_url))
    if report.time_start:
        lines.append(field_line("Start Time:", js_date(report.time_start)))
    if report.time_end and report.time_start:
        lines.append(field_line("Duration:", f"{report.duration} seconds"))
        lines.append(field_line("Total Costs:", f"{js_number(report.total_cost)} NOS"))
    if finished:
        lines.append(field_line("Status:", status))
    if report.result_url:
        lines.append(field_line("Result:", report.result_url))
    if finished and report.executions is not None:
        lines.append("Logs:")
        for execution in report.executions:
            seconds = f"{execution.duration_ms / 1000:.3f}" if execution.duration_ms is not None else "?"
            lines.append("")
            lines.append(f"- Executed step {execution.operation_id} in {seconds}s")
            text = "".join(execution.logs)
            if text:
                lines.append(text[:-1] if text.endswith("\n") else text)
            lines.append("")
            code = execution.exit_code if execution.exit_code is not None else "unknown"
            lines.append(f"Exited with status {execution.status} with code {code}")
    elif finished and report.result_url:
        lines.append("Cannot log results")
    return lines


def report_json(report: JobReport) -> dict[str, Any]:
    """The keys the CLI's `--format json` uses."""
    return {
        "network": report.network,
        "job_url": report.job_url,
        "json_flow_url": report.json_flow_url,
        "market_url": report.market_url,
        "price": f"{nos_per_second(report.price)} NOS/s",
        "status": report.status,
        "status_note": report.status_note or None,
        "node_url": report.node_url or None,
        "start_time": report.time_start or None,
        "duration": report.duration or None,
        "total_cost": report.total_cost if report.duration else None,
        "result_url": report.result_url or None,
        "service_url": report.service_urls,
        "executions": [
            {
                "operationId": e.operation_id,
                "duration": e.duration_ms / 1000 if e.duration_ms is not None else None,
                "logs": e.logs,
                "exitCode": e.exit_code,
                "status": e.status,
            }
            for e in report.executions or []
        ],
    }
