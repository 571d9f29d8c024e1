"""Retry a database write after the connection was cut (database restart, failover, a killed session).

Only for writes that are safe to run again: conditional updates, or work that checks first
whether an earlier attempt already committed. The broken connection is closed so Django
opens a new one on the next query.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPTS = 8
FIRST_DELAY = 0.1  # seconds; doubles per attempt, about 25 s in all


def retry_db(action: Callable[[], T], *, what: str, attempts: int = ATTEMPTS) -> T:
    delay = FIRST_DELAY
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except (OperationalError, InterfaceError) as exc:
            if attempt == attempts or connection.in_atomic_block:
                raise  # inside an outer transaction only the outer code may retry
            log.warning("database error while %s (attempt %d/%d): %s; reconnecting", what, attempt, attempts, exc)
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")
