"""Fixed-window rate limits kept in Django's cache (Redis when REDIS_URL is set,
so every web process shares the counts)."""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache


def _key(scope: str, ident: str, window: int) -> str:
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    return f"ratelimit:{scope}:{digest}:{int(time.time()) // window}"


def hit(scope: str, ident: str, *, limit: int, window: int) -> bool:
    """Count one event; return False when it goes over `limit` per `window` seconds."""
    key = _key(scope, ident, window)
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 1)
        count = 1
    return count <= limit


def blocked(scope: str, ident: str, *, limit: int, window: int) -> bool:
    """True when `ident` already used up `limit` events in this window (without counting one)."""
    value = cache.get(_key(scope, ident, window), 0)
    return int(value) >= limit
