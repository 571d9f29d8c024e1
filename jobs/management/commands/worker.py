"""`python manage.py worker`: run local jobs and follow remote ones until stopped (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import gc
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.worker import default_name, run_forever, run_once


class Command(BaseCommand):
    help = "Claim and run local jobs (and follow remote ones); start as many as you like."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default="", help="worker name shown in leases (default: host-pid)")
        parser.add_argument("--once", action="store_true", help="run at most one local job, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"] or default_name()
        if options["once"]:
            job = run_once(name)
            self.stdout.write(f"{job.address} {job.status}" if job is not None else "no job waiting")
            return
        stop = threading.Event()

        def on_signal(signum: int, frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        gc.freeze()  # what is loaded lives as long as the process; full collections over it stalled log writes
        self.stderr.write(f"worker {name}: running (Ctrl-C to stop)")
        run_forever(name, stop)
