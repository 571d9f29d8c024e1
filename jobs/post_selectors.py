"""Reads for the post step and the wallet page: markets to choose from, the wallet and its balances.

Views call these; the network is reached only through `nosana_dash.network`.
Nothing here ever returns a secret: the RPC URL is reduced to its host.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from nosana_dash import network as networks
from nosana_dash.network.base import LAMPORTS_PER_SOL, NOS_DECIMALS, Network, NetworkError
from nosana_dash.network.codec.cid import cid_v0

NETWORK_CHOICES = (("local", "Local (this machine)"), ("devnet", "Devnet"), ("mainnet", "Mainnet"))
RPC_SETTING = {"devnet": "NOSANA_RPC_URL_DEVNET", "mainnet": "NOSANA_RPC_URL_MAINNET"}


def market_picker(*, network: str, market: str, timeout_minutes: str, definition: str) -> dict[str, Any]:
    """The markets app's picker for the post step: price per hour (USD with a quote), idle nodes,
    cost for the chosen timeout (each market's own when blank), fit of GPU/VRAM for the definition,
    and the cost range from earlier runs of the same definition (matched by its CID)."""
    from markets.picker import picker_context

    try:
        minutes = int(timeout_minutes) if timeout_minutes.strip() else None
    except ValueError:
        minutes = None  # the review step explains a bad timeout; the picker shows market timeouts
    parsed: Any = None
    ipfs_job = None
    if definition.strip() and len(definition) <= settings.NOSANA_MAX_UPLOAD_BYTES:
        try:
            parsed = json.loads(definition)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            from jobs.services import PostError, validated_bytes

            try:  # the CID posting would give these exact bytes
                ipfs_job = cid_v0(validated_bytes(definition)[0])
            except PostError:  # an invalid definition has no earlier runs; review explains why
                ipfs_job = None
    return picker_context(
        network=network,
        timeout_seconds=minutes * 60 if minutes and minutes > 0 else None,
        definition=parsed if isinstance(parsed, dict) else None,
        ipfs_job=ipfs_job,
        selected=market,
        field_name="market",
        select_first=True,
    )


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
