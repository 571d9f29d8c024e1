"""The worker that the embedded run keeps inside the server process."""

from __future__ import annotations

import os
import sys
import threading

from django.conf import settings

_started = threading.Event()


def start_if_enabled() -> None:
    if not settings.NOSANA_EMBEDDED_WORKER or _started.is_set():
        return
    # Only the process that serves: not migrate, not the autoreloader's parent.
    if "runserver" not in sys.argv or (os.environ.get("RUN_MAIN") is None and "--noreload" not in sys.argv):
        return
    _started.set()
    from jobs.worker import run_forever

    thread = threading.Thread(target=run_forever, kwargs={"name": "embedded"}, daemon=True)
    thread.start()
