"""Constants of the two public Nosana networks (spec §1), nothing else.

Program ids, NOS mints and domains come from the spec and `vectors/instructions.json`.
No RPC URL is shipped: the user configures their own (settings NOSANA_RPC_URL_*).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RemoteName = Literal["devnet", "mainnet"]

SYSTEM_PROGRAM = "11111111111111111111111111111111"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"  # noqa: S105 (a program id, not a secret)  # nosec B105  # public program id
ASSOCIATED_TOKEN_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"  # noqa: S105 (a program id)  # nosec B105  # public program id
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
METAPLEX_METADATA_PROGRAM = "metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s"
REWARDS_PROGRAM = "nosRB8DUV67oLNrL45bo2pFLrmsWPiewe2Lk2DRNYCp"
STAKE_PROGRAM = "nosScmHY2uR24Zh751PmGj9ww9QRNHewh9H59AfrTJE"
POOLS_PROGRAM = "nosPdZrfDzND1LAR28FLMDEATUPK53K8xbRBXAirevD"
NODES_PROGRAM = "nosNeZR64wiEhQc5j251bsP4WqDabT6hmz4PHyoHLGD"
SOLANA_TX_EXPLORER = "https://explorer.solana.com/tx/"


@dataclass(frozen=True)
class NetworkConstants:
    name: RemoteName
    jobs_program: str
    nos_mint: str
    default_market: str
    node_domain: str  # nodes are reachable at https://<node>.<node_domain>
    explorer: str  # what the CLI prints for jobs, markets and hosts
    backend_url: str
    host_manager_url: str
    indexer_url: str
    rewards_program: str = REWARDS_PROGRAM
    stake_program: str = STAKE_PROGRAM
    nodes_program: str = NODES_PROGRAM

    def tx_url(self, signature: str) -> str:
        suffix = "" if self.name == "mainnet" else "?cluster=devnet"
        return f"{SOLANA_TX_EXPLORER}{signature}{suffix}"

    def job_url(self, address: str) -> str:
        return f"{self.explorer}/jobs/{address}"

    def market_url(self, address: str) -> str:
        return f"{self.explorer}/markets/{address}"

    def node_url(self, address: str) -> str:
        return f"{self.explorer}/host/{address}"

    def node_api_url(self, node: str) -> str:
        return f"https://{node}.{self.node_domain}"


MAINNET = NetworkConstants(
    name="mainnet",
    jobs_program="nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM",
    nos_mint="nosXBVoaCTtYdLvKY6Csb4AC8JCdQKKAaWYtx2ZMoo7",
    default_market="7nxXoihx65yRGZiGzWZsFMz8D7qwxFePNKvDBWZnxc41",
    node_domain="node.k8s.prd.nos.ci",
    explorer="https://explore.nosana.com",
    backend_url="https://dashboard.k8s.prd.nos.ci",
    host_manager_url="https://host-manager.k8s.prd.nos.ci",
    indexer_url="https://blockchain-indexer.k8s.prd.nos.ci",
)

DEVNET = NetworkConstants(
    name="devnet",
    jobs_program="nosJTmGQxvwXy23vng5UjkTbfv91Bzf9jEuro78dAGR",
    nos_mint="devr1BGQndEW5k5zfvG5FsLyZv1Ap73vNgAHcQ9sUVP",
    default_market="7nxXoihx65yRGZiGzWZsFMz8D7qwxFePNKvDBWZnxc41",
    node_domain="node.k8s.dev.nos.ci",
    explorer="https://devnet.nosana.io",
    backend_url="https://dashboard.k8s.dev.nos.ci",
    host_manager_url="https://host-manager.k8s.dev.nos.ci",
    indexer_url="https://blockchain-indexer.k8s.dev.nos.ci",
)

NETWORKS: dict[str, NetworkConstants] = {"mainnet": MAINNET, "devnet": DEVNET}


def constants(name: str) -> NetworkConstants:
    try:
        return NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown remote network {name!r}: choose devnet or mainnet") from None
