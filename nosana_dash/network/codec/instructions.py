"""Jobs-program and helper instructions, built with solders (spec §6, vectors/instructions.json).

Account order and writable/signer flags follow the program's account structs
exactly; data = 8-byte Anchor discriminator + Borsh args.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from nosana_dash.network.codec import pda
from nosana_dash.network.codec.cid import cid_to_digest
from nosana_dash.network.networks import (
    ASSOCIATED_TOKEN_PROGRAM,
    COMPUTE_BUDGET_PROGRAM,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
    NetworkConstants,
)

_I64 = struct.Struct("<q")


def discriminator(name: str) -> bytes:
    """First 8 bytes of sha256("global:<snake_name>")."""
    return hashlib.sha256(f"global:{name}".encode()).digest()[:8]


LIST = discriminator("list")
ASSIGN = discriminator("assign")
DELIST = discriminator("delist")
EXTEND = discriminator("extend")
END = discriminator("end")
RECOVER = discriminator("recover")
FINISH = discriminator("finish")
COMPLETE = discriminator("complete")


def _meta(key: str | Pubkey, *, writable: bool = False, signer: bool = False) -> AccountMeta:
    pubkey = key if isinstance(key, Pubkey) else Pubkey.from_string(key)
    return AccountMeta(pubkey, is_signer=signer, is_writable=writable)


def _ix(program: str, data: bytes, metas: list[AccountMeta]) -> Instruction:
    return Instruction(Pubkey.from_string(program), data, metas)


# --- instruction data --------------------------------------------------------------------------


def list_data(ipfs_job: bytes | str, timeout: int) -> bytes:
    """`list` args: ipfs_job [u8;32] (the CIDv0 digest), timeout i64 seconds. 48 bytes."""
    digest = cid_to_digest(ipfs_job) if isinstance(ipfs_job, str) else bytes(ipfs_job)
    if len(digest) != 32:
        raise ValueError("ipfs_job must be 32 bytes")
    return LIST + digest + _I64.pack(timeout)


def assign_data(ipfs_job: bytes | str, timeout: int) -> bytes:
    return ASSIGN + list_data(ipfs_job, timeout)[8:]


def extend_data(new_timeout: int) -> bytes:
    """`extend` takes the new *total* timeout in seconds."""
    return EXTEND + _I64.pack(new_timeout)


def result_data(name: str, ipfs_result: bytes) -> bytes:
    """`finish`/`complete` data (node side; used by the fakes)."""
    if len(ipfs_result) != 32:
        raise ValueError("ipfs_result must be 32 bytes")
    return discriminator(name) + bytes(ipfs_result)


# --- jobs program ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListAccounts:
    """The twelve accounts of `list`, in order."""

    job: str
    market: str
    run: str
    user: str  # payer's NOS ATA (any token account when the market is free)
    vault: str
    payer: str
    rewards_reflection: str
    rewards_vault: str
    authority: str


def list_accounts(
    net: NetworkConstants,
    *,
    job: str,
    run: str,
    market: str,
    authority: str,
    payer: str | None = None,
    vault: str | None = None,
) -> ListAccounts:
    """Derive vault, rewards PDAs and the payer's NOS ATA as the SDK's setAccounts does."""
    payer = payer or authority
    vault = vault or pda.market_vault(market, net.nos_mint, net.jobs_program)[0]
    return ListAccounts(
        job=job,
        market=market,
        run=run,
        user=pda.associated_token_address(payer, net.nos_mint),
        vault=vault,
        payer=payer,
        rewards_reflection=pda.rewards_reflection()[0],
        rewards_vault=pda.rewards_vault(net.nos_mint)[0],
        authority=authority,
    )


def list_ix(jobs_program: str, accounts: ListAccounts, ipfs_job: bytes | str, timeout: int) -> Instruction:
    a = accounts
    return _ix(
        jobs_program,
        list_data(ipfs_job, timeout),
        [
            _meta(a.job, writable=True, signer=True),
            _meta(a.market, writable=True),
            _meta(a.run, writable=True, signer=True),
            _meta(a.user, writable=True),
            _meta(a.vault, writable=True),
            _meta(a.payer, writable=True, signer=True),
            _meta(a.rewards_reflection, writable=True),
            _meta(a.rewards_vault, writable=True),
            _meta(a.authority, signer=True),
            _meta(pda.REWARDS_PROGRAM),
            _meta(TOKEN_PROGRAM),
            _meta(SYSTEM_PROGRAM),
        ],
    )


def delist_ix(*, jobs_program: str, job: str, market: str, deposit: str, payer: str, vault: str, authority: str) -> Instruction:
    """Cancel a QUEUED job: refunds price x timeout to `deposit`, closes the job (rent to payer)."""
    return _ix(
        jobs_program,
        DELIST,
        [
            _meta(job, writable=True),
            _meta(market, writable=True),
            _meta(deposit, writable=True),
            _meta(payer, writable=True),
            _meta(vault, writable=True),
            _meta(TOKEN_PROGRAM),
            _meta(authority, writable=True, signer=True),
        ],
    )


def extend_ix(
    *,
    jobs_program: str,
    job: str,
    market: str,
    user: str,
    vault: str,
    rewards_reflection: str,
    rewards_vault: str,
    authority: str,
    payer: str,
    new_timeout: int,
) -> Instruction:
    return _ix(
        jobs_program,
        extend_data(new_timeout),
        [
            _meta(job, writable=True),
            _meta(market),
            _meta(user, writable=True),
            _meta(vault, writable=True),
            _meta(rewards_reflection, writable=True),
            _meta(rewards_vault, writable=True),
            _meta(authority, signer=True),
            _meta(payer, signer=True),
            _meta(pda.REWARDS_PROGRAM),
            _meta(TOKEN_PROGRAM),
        ],
    )


def end_ix(
    *,
    jobs_program: str,
    job: str,
    market: str,
    run: str,
    deposit: str,
    user: str,
    vault: str,
    payer: str,
    authority: str,
) -> Instruction:
    """Stop a RUNNING job: `user` is the node's NOS ATA, `payer` the run account's payer."""
    return _ix(
        jobs_program,
        END,
        [
            _meta(job, writable=True),
            _meta(market),
            _meta(run, writable=True),
            _meta(deposit, writable=True),
            _meta(user, writable=True),
            _meta(vault, writable=True),
            _meta(payer, writable=True),
            _meta(authority, writable=True, signer=True),
            _meta(TOKEN_PROGRAM),
        ],
    )


def recover_ix(
    *, jobs_program: str, job: str, market: str, vault: str, user: str, payer: str, authority: str
) -> Instruction:
    """Reclaim the deposit of a STOPPED job (state 3, no run)."""
    return _ix(
        jobs_program,
        RECOVER,
        [
            _meta(job, writable=True),
            _meta(market),
            _meta(vault, writable=True),
            _meta(user, writable=True),
            _meta(payer, writable=True),
            _meta(authority, signer=True),
            _meta(TOKEN_PROGRAM),
        ],
    )


# --- helpers: compute budget and token accounts ---------------------------------------------


def set_compute_unit_price(micro_lamports: int) -> Instruction:
    """Priority fee: data 0x03 + u64 micro-lamports per compute unit."""
    return _ix(COMPUTE_BUDGET_PROGRAM, b"\x03" + struct.pack("<Q", micro_lamports), [])


def set_compute_unit_limit(units: int) -> Instruction:
    return _ix(COMPUTE_BUDGET_PROGRAM, b"\x02" + struct.pack("<I", units), [])


def create_ata_idempotent(*, payer: str, owner: str, mint: str) -> Instruction:
    """Create `owner`'s ATA for `mint` unless it exists (associated token program, data 0x01)."""
    ata = pda.associated_token_address(owner, mint)
    return _ix(
        ASSOCIATED_TOKEN_PROGRAM,
        b"\x01",
        [
            _meta(payer, writable=True, signer=True),
            _meta(ata, writable=True),
            _meta(owner),
            _meta(mint),
            _meta(SYSTEM_PROGRAM),
            _meta(TOKEN_PROGRAM),
        ],
    )
