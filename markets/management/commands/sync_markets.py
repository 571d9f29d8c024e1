"""The market sync worker: `--once`, or a loop every NOSANA_MARKET_SYNC_SECONDS."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from markets import services
from nosana_dash.network import NETWORK_NAMES

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Sync markets, queues, running jobs and nodes from the network into the cache."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--network", action="append", choices=NETWORK_NAMES,
            help="network to sync (repeatable); default: the default network",
        )
        parser.add_argument("--once", action="store_true", help="sync once and exit")
        parser.add_argument("--no-specs", action="store_true", help="do not ask nodes for their specs")
        parser.add_argument("--max-rounds", type=int, default=0, help="stop after this many rounds (0: never)")

    def handle(self, *args: Any, **options: Any) -> None:
        networks = options["network"] or [settings.NOSANA_DEFAULT_NETWORK]
        interval = max(10, settings.NOSANA_MARKET_SYNC_SECONDS)
        rounds = 0
        while True:
            for network in networks:
                run = services.sync_network(network=network, include_specs=not options["no_specs"])
                status = "ok" if run.ok else "failed"
                self.stdout.write(f"{network}: {status}: {run.message}")
            rounds += 1
            if options["once"] or (options["max_rounds"] and rounds >= options["max_rounds"]):
                return
            time.sleep(interval)
            close_old_connections()  # a long-lived worker must not keep a dead connection
