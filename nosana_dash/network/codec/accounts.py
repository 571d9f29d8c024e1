"""Decode (and encode, for the fakes) Nosana program accounts from raw bytes (spec §3).

Each decoder checks the 8-byte Anchor discriminator and the length, and raises
AccountDecodeError with a clear message otherwise. Layouts are fixed Borsh
structs, so one precompiled `struct.Struct` per account does the parsing; pubkeys
become base58 through solders (Rust), which keeps 100k accounts well under a second.
Trailing bytes (allocation padding, the market's unused queue room) are ignored.
"""

from __future__ import annotations

import hashlib
import struct
from typing import NamedTuple

from solders.pubkey import Pubkey

from nosana_dash.network.codec.cid import digest_to_cid, is_zero_digest

ZERO_PUBKEY = "11111111111111111111111111111111"


class AccountDecodeError(ValueError):
    """The bytes are not an account of the expected type."""


def account_discriminator(name: str) -> bytes:
    return hashlib.sha256(f"account:{name}".encode()).digest()[:8]


JOB_DISCRIMINATOR = account_discriminator("JobAccount")
MARKET_DISCRIMINATOR = account_discriminator("MarketAccount")
RUN_DISCRIMINATOR = account_discriminator("RunAccount")
STAKE_DISCRIMINATOR = account_discriminator("StakeAccount")
SETTINGS_DISCRIMINATOR = account_discriminator("SettingsAccount")
NODE_DISCRIMINATOR = account_discriminator("NodeAccount")

# Offsets used in getProgramAccounts memcmp filters (from the start of the data).
JOB_MARKET_OFFSET = 72
JOB_NODE_OFFSET = 104
JOB_PAYER_OFFSET = 136
JOB_PROJECT_OFFSET = 176
JOB_STATE_OFFSET = 208
RUN_JOB_OFFSET = 8
RUN_NODE_OFFSET = 40

JOB_STATE_QUEUED = 0
JOB_STATE_DONE = 2
JOB_STATE_STOPPED = 3
QUEUE_JOBS = 0
QUEUE_NODES = 1
QUEUE_EMPTY = 255

_JOB = struct.Struct("<8s32s32s32s32s32sQ32sBqqq")
_RUN = struct.Struct("<8s32s32s32sBq")
_MARKET = struct.Struct("<8s32sqQqB32sB32s16sBI")
_STAKE = struct.Struct("<8sQ32sQq32sB16s")
_SETTINGS = struct.Struct("<8s32s32s")
_NODE = struct.Struct("<8s32s?BHHHHHH")
_U32 = struct.Struct("<I")


_B58_CACHE: dict[bytes, str] = {}
_B58_CACHE_MAX = 200_000


def _b58(raw: bytes) -> str:
    """base58 of a pubkey; markets, payers and nodes repeat across accounts, so memoize (bounded)."""
    text = _B58_CACHE.get(raw)
    if text is None:
        if len(_B58_CACHE) >= _B58_CACHE_MAX:
            _B58_CACHE.clear()
        text = _B58_CACHE[raw] = str(Pubkey(raw))
    return text


def _raw(address: str) -> bytes:
    return bytes(Pubkey.from_string(address))


def _check(data: bytes, disc: bytes, size: int, kind: str) -> None:
    if len(data) < size:
        raise AccountDecodeError(f"{kind}: {len(data)} bytes, at least {size} expected")
    if data[:8] != disc:
        raise AccountDecodeError(f"not a {kind} (discriminator {bytes(data[:8]).hex()})")


class JobAccount(NamedTuple):
    ipfs_job: bytes  # 32-byte digest of the definition's CIDv0
    ipfs_result: bytes  # all zero until a result is posted
    market: str
    node: str  # ZERO_PUBKEY until finish/end
    payer: str
    price: int  # NOS base units per second
    project: str
    state: int  # 0 queued, 2 done, 3 stopped (1 is never stored)
    time_end: int
    time_start: int
    timeout: int

    @property
    def ipfs_job_cid(self) -> str:
        return digest_to_cid(self.ipfs_job)

    @property
    def ipfs_result_cid(self) -> str | None:
        """None while no result is set (the all-zero digest)."""
        return None if is_zero_digest(self.ipfs_result) else digest_to_cid(self.ipfs_result)


class RunAccount(NamedTuple):
    job: str
    node: str
    payer: str
    state: int
    time: int


class MarketAccount(NamedTuple):
    authority: str
    job_expiration: int
    job_price: int
    job_timeout: int
    job_type: int
    vault: str
    vault_bump: int
    node_access_key: str
    node_xnos_minimum: int
    queue_type: int
    queue: tuple[str, ...]


class StakeAccount(NamedTuple):
    amount: int
    authority: str
    duration: int
    time_unstake: int
    vault: str
    vault_bump: int
    xnos: int


class SettingsAccount(NamedTuple):
    authority: str
    token_account: str


class NodeAccount(NamedTuple):
    authority: str
    audited: bool
    architecture: int
    country: int
    cpu: int
    gpu: int
    memory: int
    iops: int
    storage: int
    endpoint: str
    icon: str
    version: str


def decode_job(data: bytes) -> JobAccount:
    _check(data, JOB_DISCRIMINATOR, _JOB.size, "job account")
    (_, ipfs_job, ipfs_result, market, node, payer, price, project, state, t_end, t_start, timeout) = (
        _JOB.unpack_from(data)
    )
    return JobAccount(
        ipfs_job, ipfs_result, _b58(market), _b58(node), _b58(payer), price, _b58(project), state, t_end, t_start, timeout
    )


def decode_run(data: bytes) -> RunAccount:
    _check(data, RUN_DISCRIMINATOR, _RUN.size, "run account")
    _, job, node, payer, state, time = _RUN.unpack_from(data)
    return RunAccount(_b58(job), _b58(node), _b58(payer), state, time)


def decode_market(data: bytes) -> MarketAccount:
    _check(data, MARKET_DISCRIMINATOR, _MARKET.size, "market account")
    (_, authority, expiration, price, timeout, job_type, vault, bump, access_key, xnos_min, queue_type, count) = (
        _MARKET.unpack_from(data)
    )
    end = _MARKET.size + 32 * count
    if len(data) < end:
        raise AccountDecodeError(f"market account: queue of {count} entries does not fit in {len(data)} bytes")
    queue = tuple(_b58(bytes(data[i : i + 32])) for i in range(_MARKET.size, end, 32))
    return MarketAccount(
        _b58(authority),
        expiration,
        price,
        timeout,
        job_type,
        _b58(vault),
        bump,
        _b58(access_key),
        int.from_bytes(xnos_min, "little"),
        queue_type,
        queue,
    )


def decode_stake(data: bytes) -> StakeAccount:
    _check(data, STAKE_DISCRIMINATOR, _STAKE.size, "stake account")
    _, amount, authority, duration, time_unstake, vault, bump, xnos = _STAKE.unpack_from(data)
    return StakeAccount(amount, _b58(authority), duration, time_unstake, _b58(vault), bump, int.from_bytes(xnos, "little"))


def decode_settings(data: bytes) -> SettingsAccount:
    _check(data, SETTINGS_DISCRIMINATOR, _SETTINGS.size, "stake settings account")
    _, authority, token_account = _SETTINGS.unpack_from(data)
    return SettingsAccount(_b58(authority), _b58(token_account))


def _string(data: bytes, offset: int, kind: str) -> tuple[str, int]:
    if len(data) < offset + 4:
        raise AccountDecodeError(f"{kind}: truncated string length at {offset}")
    (length,) = _U32.unpack_from(data, offset)
    start = offset + 4
    if len(data) < start + length:
        raise AccountDecodeError(f"{kind}: string at {offset} runs past the end")
    try:
        return bytes(data[start : start + length]).decode("utf-8"), start + length
    except UnicodeDecodeError:
        raise AccountDecodeError(f"{kind}: string at {offset} is not UTF-8") from None


def decode_node(data: bytes) -> NodeAccount:
    _check(data, NODE_DISCRIMINATOR, _NODE.size, "node account")
    _, authority, audited, arch, country, cpu, gpu, memory, iops, storage = _NODE.unpack_from(data)
    endpoint, offset = _string(data, _NODE.size, "node account")
    icon, offset = _string(data, offset, "node account")
    version, _ = _string(data, offset, "node account")
    return NodeAccount(_b58(authority), audited, arch, country, cpu, gpu, memory, iops, storage, endpoint, icon, version)


# --- encoders (for fakes and tests) -------------------------------------------------------------


def encode_job(job: JobAccount) -> bytes:
    return _JOB.pack(
        JOB_DISCRIMINATOR,
        job.ipfs_job,
        job.ipfs_result,
        _raw(job.market),
        _raw(job.node),
        _raw(job.payer),
        job.price,
        _raw(job.project),
        job.state,
        job.time_end,
        job.time_start,
        job.timeout,
    )


def encode_run(run: RunAccount) -> bytes:
    return _RUN.pack(RUN_DISCRIMINATOR, _raw(run.job), _raw(run.node), _raw(run.payer), run.state, run.time)


def encode_market(market: MarketAccount) -> bytes:
    head = _MARKET.pack(
        MARKET_DISCRIMINATOR,
        _raw(market.authority),
        market.job_expiration,
        market.job_price,
        market.job_timeout,
        market.job_type,
        _raw(market.vault),
        market.vault_bump,
        _raw(market.node_access_key),
        market.node_xnos_minimum.to_bytes(16, "little"),
        market.queue_type,
        len(market.queue),
    )
    return head + b"".join(_raw(key) for key in market.queue)


def encode_stake(stake: StakeAccount) -> bytes:
    return _STAKE.pack(
        STAKE_DISCRIMINATOR,
        stake.amount,
        _raw(stake.authority),
        stake.duration,
        stake.time_unstake,
        _raw(stake.vault),
        stake.vault_bump,
        stake.xnos.to_bytes(16, "little"),
    )


def encode_settings(settings: SettingsAccount) -> bytes:
    return _SETTINGS.pack(SETTINGS_DISCRIMINATOR, _raw(settings.authority), _raw(settings.token_account))


def encode_node(node: NodeAccount) -> bytes:
    head = _NODE.pack(
        NODE_DISCRIMINATOR,
        _raw(node.authority),
        node.audited,
        node.architecture,
        node.country,
        node.cpu,
        node.gpu,
        node.memory,
        node.iops,
        node.storage,
    )
    parts = [head]
    for text in (node.endpoint, node.icon, node.version):
        raw = text.encode("utf-8")
        parts.append(_U32.pack(len(raw)) + raw)
    return b"".join(parts)
