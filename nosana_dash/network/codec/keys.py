"""Keypair files (Solana CLI format) and signed auth headers. Pure: reads one file, no network.

A Solana CLI keypair file is a JSON array of 64 integers: the ed25519 seed, then
the public key (spec §12). The secret never appears in a repr, a str or an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import base58
from solders.keypair import Keypair
from solders.pubkey import Pubkey


class KeypairError(ValueError):
    """The keypair file is missing or malformed (the message never holds key bytes)."""


class Wallet:
    """A keypair whose secret cannot leak through printing or logging."""

    __slots__ = ("_keypair", "path")

    def __init__(self, keypair: Keypair, path: str | None = None) -> None:
        self._keypair = keypair
        self.path = path

    @property
    def keypair(self) -> Keypair:
        return self._keypair

    @property
    def pubkey(self) -> Pubkey:
        return self._keypair.pubkey()

    @property
    def address(self) -> str:
        return str(self._keypair.pubkey())

    def sign_header(self, message: str, now_ms: int | None = None) -> str:
        return sign_header(self._keypair, message, now_ms)

    def __repr__(self) -> str:
        return f"Wallet({self.address})"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("a Wallet is not serializable")


def keypair_from_bytes(raw: bytes | list[int]) -> Keypair:
    """64 bytes seed ‖ pubkey; checks that the seed derives the stored public key."""
    data = bytes(raw)
    if len(data) != 64:
        raise KeypairError(f"a keypair has 64 bytes, this one has {len(data)}")
    keypair = Keypair.from_seed(data[:32])
    if bytes(keypair.pubkey()) != data[32:]:
        raise KeypairError("the keypair's public key does not match its secret")
    return keypair


def parse_keypair_text(text: str) -> Keypair:
    """A JSON array of 64 integers, or base58 of the 64 bytes (both accepted by the SDK)."""
    text = text.strip()
    if not text:
        raise KeypairError("the keypair file is empty")
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            raise KeypairError("the keypair file is not a JSON array of 64 numbers") from None
        if not isinstance(values, list) or not all(isinstance(v, int) and 0 <= v <= 255 for v in values):
            raise KeypairError("the keypair file is not a JSON array of 64 numbers 0-255")
        return keypair_from_bytes(values)
    try:
        return keypair_from_bytes(base58.b58decode(text))
    except ValueError:
        raise KeypairError("the keypair is neither a JSON array nor base58") from None


def load_keypair(path: str | Path | None = None) -> Wallet:
    """Read a Solana CLI keypair file (default settings.NOSANA_KEYPAIR_PATH). Never creates one."""
    if path is None:
        from django.conf import settings

        path = settings.NOSANA_KEYPAIR_PATH
    file = Path(path).expanduser()
    try:
        text = file.read_text()
    except FileNotFoundError:
        raise KeypairError(f"no keypair file at {file}: set NOSANA_KEYPAIR_PATH") from None
    except OSError as exc:
        raise KeypairError(f"cannot read the keypair file {file}: {exc.strerror}") from None
    return Wallet(parse_keypair_text(text), str(file))


def sign_header(keypair: Keypair, message: str, now_ms: int | None = None) -> str:
    """`message:base58(ed25519(message))[:unix_ms]`; the time is appended, not signed (auth.json)."""
    if ":" in message:
        raise ValueError("the signed message must not contain ':'")
    signature = keypair.sign_message(message.encode("utf-8"))
    header = f"{message}:{signature}"
    return header if now_ms is None else f"{header}:{now_ms}"


def verify_header(header: str, address: str) -> bool:
    """Check a header's signature against a public key (what a node does)."""
    from solders.signature import Signature

    parts = header.split(":")
    if len(parts) not in (2, 3):
        return False
    try:
        signature = Signature.from_string(parts[1])
        return signature.verify(Pubkey.from_string(address), parts[0].encode("utf-8"))
    except ValueError:
        return False
