"""The worker that the embedded run keeps inside the server process."""

from __future__ import annotations

import threading

from nosana_dash.embedded import serving_with_embedded_workers

_started = threading.Event()


def start_if_enabled() -> None:
    if _started.is_set() or not serving_with_embedded_workers():
        return
    _started.set()
    from jobs.worker import run_forever

    thread = threading.Thread(target=run_forever, kwargs={"name": "embedded"}, daemon=True)
    thread.start()
