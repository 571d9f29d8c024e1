"""`python manage.py job <subcommand>`: the Nosana CLI's job commands, mirrored."""

from __future__ import annotations

import importlib
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.cli import SUBCOMMANDS


class Command(BaseCommand):
    help = "Validate, hash, post and get Nosana jobs: " + ", ".join(SUBCOMMANDS)

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=ArgumentParser)
        for name, summary in SUBCOMMANDS.items():
            module = importlib.import_module(f"jobs.cli.{name}")
            module.add_arguments(sub.add_parser(name, help=summary, description=summary))

    def handle(self, *args: Any, **options: Any) -> None:
        module = importlib.import_module(f"jobs.cli.{options['subcommand']}")
        status = module.run(options, self.stdout, self.stderr)
        if status:
            sys.exit(status)
