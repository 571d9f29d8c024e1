"""Helpers the benchmark scripts share: loopback ports and throwaway PostgreSQL databases."""

from __future__ import annotations

import socket
from urllib.parse import urlparse, urlunparse


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_database(url: str, suffix: str) -> tuple[str, str]:
    """(URL of a fresh database named after `url`'s plus `suffix`, admin URL to drop it afterwards)."""
    import psycopg

    parsed = urlparse(url)
    if not parsed.scheme.startswith("postgres"):
        raise SystemExit("DATABASE_URL must point at PostgreSQL")
    name = (parsed.path.lstrip("/") or "postgres") + suffix
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parsed._replace(path=f"/{name}")), admin


def drop_database(db_url: str, admin: str) -> None:
    import psycopg

    name = urlparse(db_url).path.lstrip("/")
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


ACK_EVERY = 1.0  # seconds between a viewer's acks, as static/js/joblog.js sends them
