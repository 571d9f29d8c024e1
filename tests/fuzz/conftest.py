"""Sizes of the fuzz campaigns, and a record of how many inputs each one ran.

`NOSANA_DASH_FUZZ_SCALE` (default 1) multiplies every campaign. The unmarked
quick runs use the QUICK sizes (a few thousand inputs in all, well under a
minute); the `slow` runs use the FULL sizes, 100,000 inputs in all:

    definition JSON 40,000 · composer posts 3,000 · websocket frames 10,000 · account bytes 47,000

(Composer posts go through the whole Django stack at ~60 ms each, so CI's time is spent on them
sparingly; account bytes cost microseconds.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

QUICK = {"definition": 2_000, "composer": 300, "websocket": 600, "accounts": 2_000}
FULL = {"definition": 40_000, "composer": 3_000, "websocket": 10_000, "accounts": 47_000}
RAN: dict[str, int] = {}


def fuzz_count(campaign: str, *, full: bool) -> int:
    scale = float(os.environ.get("NOSANA_DASH_FUZZ_SCALE", "1") or "1")
    return max(1, int((FULL if full else QUICK)[campaign] * scale))


def record(name: str, inputs: int) -> None:
    RAN[name] = RAN.get(name, 0) + inputs


@pytest.fixture(scope="session", autouse=True)
def report_fuzz_counts() -> Iterator[None]:
    yield
    if RAN:
        lines = [f"  {name}: {count:,} inputs" for name, count in sorted(RAN.items())]
        print("\nfuzz campaigns:\n" + "\n".join(lines) + f"\n  total: {sum(RAN.values()):,} inputs")
