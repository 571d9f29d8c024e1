"""CIDv0 of bytes exactly as `ipfs add` makes it by default, and CID <-> on-chain digest.

Defaults reproduced (spec §2.2, vectors/cid.json): UnixFS *file* nodes in dag-pb
(leaves too, not raw blocks), fixed 256 KiB chunks, a balanced DAG of at most 174
links per node, and the dag-pb encoding with Links before Data. A one-chunk file
is a single leaf node; any other group of one is still wrapped in a parent.

Speed: each leaf is hashed as header + memoryview slice + trailer, so chunk bytes
are never copied; the cost is one sha256 pass over the input plus tiny blocks.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import base58

CHUNK_SIZE = 256 * 1024
MAX_LINKS = 174
_MULTIHASH_PREFIX = b"\x12\x20"  # sha2-256, 32 bytes
ZERO_DIGEST_CID = "QmNLei78zWmzUdbeRB3CiUfAizWUrbeeZh5K1rhAQKCh51"


class CidError(ValueError):
    """Not a CIDv0 (base58btc sha2-256 multihash) or not a 32-byte digest."""


class _Node(NamedTuple):
    multihash: bytes  # 34 bytes: 0x12 0x20 + sha256 of the block
    tsize: int  # cumulative size: this block plus every block below it
    filesize: int  # file bytes under this node


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _leaf(view: memoryview) -> _Node:
    size = len(view)
    if size == 0:
        # Empty file: UnixFS{Type=File, filesize=0}, no Data field.
        block = b"\x0a\x04\x08\x02\x18\x00"
        return _Node(_MULTIHASH_PREFIX + hashlib.sha256(block).digest(), len(block), 0)
    n = _varint(size)
    unixfs_len = 2 + 1 + len(n) + size + 1 + len(n)
    header = b"\x0a" + _varint(unixfs_len) + b"\x08\x02\x12" + n
    trailer = b"\x18" + n
    digest = hashlib.sha256(header)
    digest.update(view)
    digest.update(trailer)
    return _Node(_MULTIHASH_PREFIX + digest.digest(), len(header) + size + len(trailer), size)


def _parent(children: list[_Node]) -> _Node:
    parts: list[bytes] = []
    for child in children:
        # PBLink{Hash=1, Name=2 (empty), Tsize=3}
        link = b"\x0a\x22" + child.multihash + b"\x12\x00\x18" + _varint(child.tsize)
        parts.append(b"\x12" + _varint(len(link)) + link)
    filesize = sum(child.filesize for child in children)
    unixfs = b"\x08\x02\x18" + _varint(filesize) + b"".join(b"\x20" + _varint(c.filesize) for c in children)
    parts.append(b"\x0a" + _varint(len(unixfs)) + unixfs)
    block = b"".join(parts)
    tsize = len(block) + sum(child.tsize for child in children)
    return _Node(_MULTIHASH_PREFIX + hashlib.sha256(block).digest(), tsize, filesize)


def _root(data: bytes | bytearray | memoryview) -> _Node:
    view = memoryview(data).cast("B")
    size = len(view)
    if size <= CHUNK_SIZE:
        return _leaf(view)
    level = [_leaf(view[offset : offset + CHUNK_SIZE]) for offset in range(0, size, CHUNK_SIZE)]
    while True:
        level = [_parent(level[i : i + MAX_LINKS]) for i in range(0, len(level), MAX_LINKS)]
        if len(level) == 1:
            return level[0]


def cid_v0(data: bytes | bytearray | memoryview) -> str:
    """The CIDv0 `ipfs add` (default options) gives these bytes."""
    return base58.b58encode(_root(data).multihash).decode("ascii")


def cid_to_digest(cid: str) -> bytes:
    """The 32 bytes stored on chain for a CIDv0; raises CidError for anything else."""
    try:
        raw = base58.b58decode(cid.strip())
    except ValueError as exc:
        raise CidError(f"Invalid IPFS hash: {cid[:64]!r} is not base58") from exc
    if len(raw) != 34 or raw[:2] != _MULTIHASH_PREFIX:
        raise CidError(f"Invalid IPFS hash: {cid[:64]!r} is not a CIDv0 (sha2-256)")
    return raw[2:]


def digest_to_cid(digest: bytes) -> str:
    """CIDv0 for 32 on-chain bytes (all zeros gives ZERO_DIGEST_CID, i.e. 'no result')."""
    if len(digest) != 32:
        raise CidError(f"Invalid Solana hash length, must be 32 bytes (got {len(digest)})")
    return base58.b58encode(_MULTIHASH_PREFIX + bytes(digest)).decode("ascii")


def is_zero_digest(digest: bytes) -> bool:
    return digest == bytes(32)
