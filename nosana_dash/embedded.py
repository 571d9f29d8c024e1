"""Background loops that the embedded run (`bin/run`) keeps inside the server process."""

from __future__ import annotations

import os
import sys

from django.conf import settings


def serving_with_embedded_workers() -> bool:
    """True in the process that serves under `runserver` with NOSANA_EMBEDDED_WORKER on:
    not in migrate or other commands, and not in the autoreloader's watching parent."""
    if not settings.NOSANA_EMBEDDED_WORKER or "runserver" not in sys.argv:
        return False
    return os.environ.get("RUN_MAIN") is not None or "--noreload" in sys.argv
