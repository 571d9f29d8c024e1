"""The only code that talks to the outside world. `get_network(name)` picks one."""

from __future__ import annotations

from nosana_dash.network.base import Network, NetworkError, NetworkName

NETWORK_NAMES: tuple[NetworkName, ...] = ("local", "devnet", "mainnet")


def get_network(name: str) -> Network:
    if name == "local":
        from nosana_dash.network.local.network import LocalNetwork

        return LocalNetwork()
    if name in ("devnet", "mainnet"):
        from nosana_dash.network.remote import RemoteNetwork

        return RemoteNetwork(name)  # type: ignore[arg-type]
    raise NetworkError(f"unknown network {name!r}: choose one of {', '.join(NETWORK_NAMES)}")


__all__ = ["NETWORK_NAMES", "Network", "NetworkError", "get_network"]
