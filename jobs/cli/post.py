"""Placeholder for `job post`: replaced by the feature that owns it."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any, TextIO


def add_arguments(parser: ArgumentParser) -> None:
    pass


def run(options: dict[str, Any], out: TextIO, err: TextIO) -> int:
    err.write("not built yet\n")
    return 2
