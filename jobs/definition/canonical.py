"""The bytes that posting pins: exactly `JSON.stringify(obj)` of the parsed definition, in UTF-8.

Python's `json.dumps(obj, separators=(",", ":"), ensure_ascii=False)` agrees with
JavaScript except in three places, handled here:
- numbers: JavaScript prints the shortest round-trip digits with its own layout
  (`1e-7`, `1e+21`, `100` for `100.0`, `0` for `-0`), and every number is a double;
- object keys that are array indices ("0", "17") come first, in ascending order,
  because that is how JavaScript objects order their own properties;
- lone surrogates are escaped as `\\udxxx` (well-formed JSON.stringify) rather than failing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import cast

_encode_string = cast(
    Callable[[str], str],
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring,
)
_MAX_SAFE_INTEGER = 2**53
_MAX_ARRAY_INDEX = 2**32 - 2


def js_number(value: int | float) -> str:
    """Format a number as JavaScript's Number.prototype.toString does (for JSON: non-finite -> null)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if -_MAX_SAFE_INTEGER < value < _MAX_SAFE_INTEGER:
            return str(value)
        try:
            value = float(value)  # JavaScript holds every number as a double
        except OverflowError:
            return "null"
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"  # also for -0
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exp_text) if exp_text else 0)  # value = 0.digits * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    sign = "-" if value < 0 else ""
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        exponent = n - 1
        exp_sign = "+" if exponent >= 0 else "-"
        head = digits[0] if k == 1 else digits[0] + "." + digits[1:]
        body = f"{head}e{exp_sign}{abs(exponent)}"
    return sign + body


def _is_array_index(key: str) -> bool:
    if not key or not key.isdigit() or not key.isascii():
        return False
    if key[0] == "0" and len(key) > 1:
        return False
    return int(key) <= _MAX_ARRAY_INDEX


def js_key_order(obj: dict[str, object]) -> list[str]:
    """Own-property order of a JavaScript object built from `obj`'s keys in order."""
    keys = list(obj)
    if not any(k[:1].isdigit() for k in keys):
        return keys
    indices = sorted((k for k in keys if _is_array_index(k)), key=int)
    if not indices:
        return keys
    index_set = set(indices)
    return indices + [k for k in keys if k not in index_set]


def json_string(value: str) -> str:
    encoded = _encode_string(value)
    try:
        encoded.encode("utf-8")
    except UnicodeEncodeError:
        # lone surrogates: JavaScript escapes them, lowercase hex
        encoded = "".join(f"\\u{ord(ch):04x}" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in encoded)
    return encoded


def _encode(value: object, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(json_string(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int | float):
        parts.append(js_number(value))
    elif isinstance(value, dict):
        first = True
        parts.append("{")
        for key in js_key_order(value):
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings, not {type(key).__name__}")
            if not first:
                parts.append(",")
            first = False
            parts.append(json_string(key))
            parts.append(":")
            _encode(value[key], parts)
        parts.append("}")
    elif isinstance(value, list | tuple):
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            _encode(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


def canonical_text(obj: object) -> str:
    parts: list[str] = []
    _encode(obj, parts)
    return "".join(parts)


def canonical_bytes(obj: object) -> bytes:
    """Exactly the UTF-8 bytes of JavaScript's `JSON.stringify(obj)`."""
    return canonical_text(obj).encode("utf-8")
