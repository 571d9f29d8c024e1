"""The embedded run keeps a market sync loop inside the server process (like the jobs worker)."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from nosana_dash.embedded import serving_with_embedded_workers

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
    if _started.is_set() or not serving_with_embedded_workers():
        return
    _started.set()
    threading.Thread(target=_loop, name="market-sync", daemon=True).start()
