"""Reads for the post step and the wallet page: markets to choose from, the wallet and its balances.

Views call these; the network is reached only through `nosana_dash.network`.
Nothing here ever returns a secret: the RPC URL is reduced to its host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings

from markets.models import Market
from nosana_dash import network as networks
from nosana_dash.network.base import LAMPORTS_PER_SOL, NOS_DECIMALS, MarketInfo, Network, NetworkError

NETWORK_CHOICES = (("local", "Local (this machine)"), ("devnet", "Devnet"), ("mainnet", "Mainnet"))
RPC_SETTING = {"devnet": "NOSANA_RPC_URL_DEVNET", "mainnet": "NOSANA_RPC_URL_MAINNET"}


@dataclass(frozen=True)
class MarketOption:
    address: str
    name: str
    gpu: str
    price: int  # NOS base units per second
    timeout: int  # seconds

    @property
    def nos_per_second(self) -> Decimal:
        return Decimal(self.price) / NOS_DECIMALS

    @property
    def nos_per_hour(self) -> Decimal:
        return Decimal(self.price * 3600) / NOS_DECIMALS

    @property
    def timeout_minutes(self) -> int:
        return self.timeout // 60

    @property
    def max_cost(self) -> Decimal:
        return Decimal(self.price * self.timeout) / NOS_DECIMALS


def _option(info: MarketInfo) -> MarketOption:
    return MarketOption(address=info.address, name=info.name, gpu=info.gpu, price=info.price, timeout=info.timeout)


def market_options(network: str) -> tuple[list[MarketOption], str]:
    """(markets, message). Remote markets come from the synced cache first; the network if it is empty."""
    if network != "local":
        cached = Market.objects.filter(network=network).order_by("price", "address")
        if cached:
            options = [MarketOption(m.address, m.name, m.gpu, m.price, m.timeout) for m in cached]
            return options, ""
    try:
        return [_option(m) for m in networks.get_network(network).list_markets()], ""
    except NetworkError as exc:
        return [], exc.message


def check_network_name(name: str | None) -> str:
    valid = {n for n, _ in NETWORK_CHOICES}
    return name if name in valid else settings.NOSANA_DEFAULT_NETWORK


@dataclass
class WalletStatus:
    network: str
    address: str | None = None
    sol: Decimal | None = None
    nos: Decimal | None = None
    sol_lamports: int | None = None
    nos_units: int | None = None
    rpc_host: str = ""
    keypair_path: str = ""
    balance_note: str = ""
    problems: list[str] = field(default_factory=list)  # what is missing, and what to set
    error: str = ""

    @property
    def is_local(self) -> bool:
        return self.network == "local"


def rpc_host(url: str) -> str:
    """Only scheme and host: providers put API keys in the path, the query or the user part."""
    parts = urlsplit(url)
    if not parts.hostname:
        return ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def wallet_status(network: str) -> WalletStatus:
    status = WalletStatus(network=network)
    if network != "local":
        rpc = getattr(settings, RPC_SETTING[network], "")
        status.rpc_host = rpc_host(rpc)
        status.keypair_path = settings.NOSANA_KEYPAIR_PATH
        if not rpc:
            status.problems.append(
                f"No RPC endpoint for {network}: set {RPC_SETTING[network]} to your RPC URL "
                f"(an API key in it stays on the server) and restart."
            )
        if not os.path.isfile(settings.NOSANA_KEYPAIR_PATH):
            status.problems.append(
                "No keypair file at the configured path: set NOSANA_KEYPAIR_PATH to your Solana CLI keypair "
                "(a JSON array of 64 numbers, file mode 0600), for example one made by `solana-keygen new`."
            )
        if not settings.NOSANA_PINNING_JWT:
            status.problems.append(
                "No pinning token: set NOSANA_PINNING_JWT to a JWT of your pinning service account, "
                "so job definitions can be uploaded to IPFS."
            )
    try:
        net: Network = networks.get_network(network)
        status.balance_note = getattr(net, "balance_note", "")
        status.address = net.wallet_address()
        if status.address and (network == "local" or status.rpc_host):
            balances = net.balances(status.address)
            status.sol_lamports, status.nos_units = balances.sol, balances.nos
            status.sol = Decimal(balances.sol) / LAMPORTS_PER_SOL
            status.nos = Decimal(balances.nos) / NOS_DECIMALS
    except NetworkError as exc:
        status.error = exc.message
    return status
