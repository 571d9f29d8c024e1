"""The embedded run keeps a market sync loop inside the server process (like the jobs worker)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)
_started = threading.Event()


def _loop() -> None:
    from markets import services

    while True:
        close_old_connections()
        try:
            services.sync_network(network=settings.NOSANA_DEFAULT_NETWORK)
        except Exception:  # the loop must survive a bad round; the SyncRun row holds the message
            log.exception("embedded market sync failed")
        close_old_connections()
        time.sleep(max(10, settings.NOSANA_MARKET_SYNC_SECONDS))


def start_if_enabled() -> None:
    if not settings.NOSANA_EMBEDDED_WORKER or _started.is_set():
        return
    if "runserver" not in sys.argv or (os.environ.get("RUN_MAIN") is None and "--noreload" not in sys.argv):
        return
    _started.set()
    threading.Thread(target=_loop, name="market-sync", daemon=True).start()
