import socket

import pytest

from tests.conftest import InternetAccessError


def test_guard_blocks_public_addresses() -> None:
    with pytest.raises(InternetAccessError):
        socket.create_connection(("192.0.2.1", 443), timeout=0.1)
    with pytest.raises(InternetAccessError):
        socket.getaddrinfo("example.org", 443)


def test_guard_allows_loopback() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()
