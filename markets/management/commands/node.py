"""`python manage.py node get ADDR`: a node's market, job, history and self-reported specs."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from markets import selectors, services
from nosana_dash.network import NETWORK_NAMES
from nosana_dash.network.base import NetworkError


class Command(BaseCommand):
    help = "Show a node: market, current job, jobs done, success rate, specs."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=ArgumentParser)
        p = sub.add_parser("get", help="show one node", description="show one node")
        p.add_argument("address", help="node address")
        p.add_argument("--network", choices=NETWORK_NAMES, default=settings.NOSANA_DEFAULT_NETWORK)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--cached", action="store_true", help="do not ask the network, print the cache")

    def handle(self, *args: Any, **options: Any) -> None:
        network, address = options["network"], options["address"]
        try:
            if not options["cached"]:
                services.refresh_node(network=network, address=address)
        except (NetworkError, services.SyncError) as exc:
            self.stderr.write(f"error: {exc}")
            sys.exit(1)
        node = selectors.get_node(network, address)
        if node is None:
            self.stderr.write(f"error: no node {address} known on {network}")
            sys.exit(1)
        specs = selectors.node_specs(node.specs)
        data: dict[str, Any] = {
            "network": network,
            "address": node.address,
            "market": node.market or None,
            "current_job": node.current_job or None,
            "jobs_done": node.jobs_done,
            "jobs_with_result": node.jobs_succeeded,
            "success_rate": getattr(node, "success_rate", None),
            "average_duration_seconds": getattr(node, "avg_duration", None),
            "last_seen": node.last_seen.isoformat() if node.last_seen else None,
            "specs": specs,
        }
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        for key, value in data.items():
            if key == "specs":
                continue
            self.stdout.write(f"{key.replace('_', ' ').capitalize() + ':':<26}{'unknown' if value is None else value}")
        if specs is None:
            self.stdout.write(f"{'Specs:':<26}unknown (the node's info endpoint has not answered)")
        else:
            for key, value in specs.items():
                self.stdout.write(f"  {key + ':':<24}{'unknown' if value is None else value}")
