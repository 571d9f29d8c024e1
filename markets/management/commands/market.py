"""`python manage.py market list|get`: the Nosana CLI's market commands, from the same sync."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from markets import selectors, services
from markets.models import Market
from nosana_dash.network import NETWORK_NAMES
from nosana_dash.network.base import NOS_DECIMALS, NetworkError


def market_dict(m: Market) -> dict[str, Any]:
    return {
        "network": m.network,
        "address": m.address,
        "name": m.name or None,
        "gpu": m.gpu or None,
        "vram_gb": m.vram_gb,
        "price_units_per_second": m.price,
        "price_nos_per_second": str(Decimal(m.price) / NOS_DECIMALS),
        "price_nos_per_hour": str(selectors.nos_per_hour(m.price)),
        "timeout_seconds": m.timeout,
        "job_expiration_seconds": m.job_expiration,
        "job_type": m.job_type,
        "queue_type": m.queue_type,
        "queue_length": len(m.queue),
        "idle_nodes": m.idle_nodes,
        "jobs_waiting": m.jobs_waiting,
        "running_jobs": m.running_jobs,
        "access": "access key" if m.node_access_key else "open",
        "node_access_key": m.node_access_key or None,
        "node_xnos_minimum": str(m.node_xnos_minimum),
        "synced_at": m.synced_at.isoformat(),
    }


class Command(BaseCommand):
    help = "List markets or show one: prices, timeouts, queues, running jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=ArgumentParser)
        for name, summary in (("list", "list all markets"), ("get", "show one market")):
            p = sub.add_parser(name, help=summary, description=summary)
            if name == "get":
                p.add_argument("address", help="market address")
            p.add_argument("--network", choices=NETWORK_NAMES, default=settings.NOSANA_DEFAULT_NETWORK)
            p.add_argument("--json", action="store_true", help="print JSON")
            p.add_argument("--cached", action="store_true", help="print what the last sync stored, without asking the network")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["subcommand"] == "list":
                self._list(options)
            else:
                self._get(options)
        except (NetworkError, services.SyncError) as exc:
            self.stderr.write(f"error: {exc}")
            sys.exit(1)

    def _list(self, options: dict[str, Any]) -> None:
        network = options["network"]
        if not options["cached"]:
            run = services.sync_network(network=network, include_specs=False)
            if run.ok is False and not Market.objects.filter(network=network).exists():
                raise NetworkError(run.message)
            if run.ok is False:
                self.stderr.write(f"warning: {run.message}")
        markets = list(selectors.filter_markets(selectors.MarketFilters(network=network)))
        if options["json"]:
            self.stdout.write(json.dumps([market_dict(m) for m in markets], indent=2))
            return
        if not markets:
            self.stdout.write(f"No markets on {network}.")
            return
        header = f"{'MARKET':<44}  {'NAME':<16} {'NOS/s':>10} {'NOS/h':>9} {'TIMEOUT':>8} {'IDLE':>5} {'QUEUED':>6} {'RUN':>4}  ACCESS"
        self.stdout.write(header)
        for m in markets:
            self.stdout.write(
                f"{m.address:<44}  {(m.name or '-')[:16]:<16} {Decimal(m.price) / NOS_DECIMALS:>10} "
                f"{selectors.nos_per_hour(m.price):>9} {m.timeout // 60:>6}m {m.idle_nodes:>5} {m.jobs_waiting:>6} "
                f"{m.running_jobs:>4}  {'key' if m.node_access_key else 'open'}"
            )

    def _get(self, options: dict[str, Any]) -> None:
        network, address = options["network"], options["address"]
        market = (
            selectors.get_market(network, address)
            if options["cached"]
            else services.refresh_market(network=network, address=address)
        )
        if market is None:
            raise NetworkError(f"no market {address} on {network}")
        if options["json"]:
            data = market_dict(market)
            data["queue"] = market.queue
            self.stdout.write(json.dumps(data, indent=2))
            return
        queue_name = {"nodes": "Node Queue", "jobs": "Job Queue"}.get(market.queue_type, "Empty Queue")
        lines = [
            ("Market", market.address),
            ("Name", market.name or "unknown"),
            ("GPU", f"{market.gpu} ({market.vram_gb} GB)" if market.gpu and market.vram_gb else market.gpu or "unknown"),
            ("Price", f"{Decimal(market.price) / NOS_DECIMALS} NOS/s ({selectors.nos_per_hour(market.price)} NOS/h)"),
            ("Job timeout", f"{market.timeout / 60:g} minutes"),
            ("Job expiration", f"{market.job_expiration / 3600:g} hours"),
            ("Access", f"access key {market.node_access_key}" if market.node_access_key else "open"),
            ("Min. stake", f"{market.node_xnos_minimum} xNOS units"),
            ("Queue", f"{queue_name}: {len(market.queue)}"),
        ]
        for label, value in lines:
            self.stdout.write(f"{label + ':':<16}{value}")
        for index, entry in enumerate(market.queue):
            self.stdout.write(f"  {index + 1:>3}. {entry}")
