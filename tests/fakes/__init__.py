"""Fakes of the remote Nosana network for tests: Solana RPC, pinning service, gateway, nodes.

    from tests.fakes import FakeChain, FakePinning, FakeNosana, serve
    chain = FakeChain(DEVNET); pinning = FakePinning()
    fake = FakeNosana(chain, pinning)                       # one handler for everything
    net = RemoteNetwork("devnet", rpc_url="http://rpc.test", wallet=wallet,
                        transport=httpx.MockTransport(fake.handle), poll_interval=0.01)
    with serve(fake.handle) as url: ...                     # the same over loopback HTTP

`FakeNosana` routes by path: `/pinning/...` and `/ipfs/...` to the pinning fake,
`/node/info` to `node_info` (by node address = first label of the host),
everything else (JSON-RPC POSTs) to the chain. `wallet_from_vectors()` gives the
vectors' poster keypair.
"""

from __future__ import annotations

from typing import Any

import httpx
from solders.keypair import Keypair

from nosana_dash.network.codec.keys import Wallet
from tests.fakes.chain import FakeChain
from tests.fakes.pinning import FakePinning
from tests.fakes.server import serve


class FakeNosana:
    def __init__(self, chain: FakeChain, pinning: FakePinning, node_info: dict[str, dict[str, Any]] | None = None) -> None:
        self.chain = chain
        self.pinning = pinning
        self.node_info = node_info if node_info is not None else {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/pinning/" in path or "/ipfs/" in path:
            return self.pinning.handle(request)
        if path == "/node/info":
            label = request.url.host.split(".")[0]  # hosts are case-insensitive: compare lowered
            for node, info in self.node_info.items():
                if node.lower() == label:
                    return httpx.Response(200, json=info)
            raise httpx.ConnectError("node unreachable", request=request)
        return self.chain.handle(request)


def wallet_from_vectors(auth: dict[str, Any], index: int = 0) -> Wallet:
    entry = auth["keypairs"][index]
    return Wallet(Keypair.from_seed(bytes.fromhex(entry["seed_hex"])))


__all__ = ["FakeChain", "FakeNosana", "FakePinning", "serve", "wallet_from_vectors"]
