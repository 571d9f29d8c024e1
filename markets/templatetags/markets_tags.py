"""Formatting for market and node pages: NOS amounts, durations, short addresses."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django import template

from nosana_dash.network.base import NOS_DECIMALS

register = template.Library()


@register.filter
def nos(value: Decimal | int | float | None, places: int = 6) -> str:
    """A NOS amount without trailing zeros: 0.000115, 0.414, 12."""
    if value is None or value == "":
        return "—"
    amount = Decimal(str(value)).quantize(Decimal(1).scaleb(-int(places)))
    text = format(amount.normalize(), "f")
    return text


@register.filter
def units_to_nos(value: int | None) -> str:
    """NOS base units (1e-6) as NOS."""
    if value is None:
        return "—"
    return nos(Decimal(value) / NOS_DECIMALS)


@register.filter
def duration(seconds: int | float | None) -> str:
    """41 s · 3 min 5 s · 2 h 4 min."""
    if seconds is None:
        return "—"
    total = int(round(float(seconds)))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def short(address: str | None) -> str:
    """First and last four characters of a base58 address."""
    if not address:
        return ""
    return address if len(address) <= 12 else f"{address[:4]}…{address[-4:]}"


@register.filter
def unixtime(value: int | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


@register.filter
def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.0f}%"


@register.filter
def get_item(mapping: dict[str, str] | None, key: str) -> str:
    return (mapping or {}).get(key, "")
