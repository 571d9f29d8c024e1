"""Program-derived addresses and associated token accounts (spec §2.3, vectors/pda.json)."""

from __future__ import annotations

from functools import lru_cache

from solders.pubkey import Pubkey

from nosana_dash.network.networks import (
    ASSOCIATED_TOKEN_PROGRAM,
    METAPLEX_METADATA_PROGRAM,
    REWARDS_PROGRAM,
    STAKE_PROGRAM,
    TOKEN_PROGRAM,
)


def _pk(value: str | Pubkey) -> Pubkey:
    return value if isinstance(value, Pubkey) else Pubkey.from_string(value)


@lru_cache(maxsize=1024)
def find_pda(seeds: tuple[bytes, ...], program: str) -> tuple[str, int]:
    address, bump = Pubkey.find_program_address(list(seeds), Pubkey.from_string(program))
    return str(address), bump


def market_vault(market: str, nos_mint: str, jobs_program: str) -> tuple[str, int]:
    """The market's NOS escrow: PDA [market, NOS mint] of the jobs program."""
    return find_pda((bytes(_pk(market)), bytes(_pk(nos_mint))), jobs_program)


def rewards_reflection() -> tuple[str, int]:
    return find_pda((b"reflection",), REWARDS_PROGRAM)


def rewards_vault(nos_mint: str) -> tuple[str, int]:
    return find_pda((bytes(_pk(nos_mint)),), REWARDS_PROGRAM)


def rewards_reward(authority: str) -> tuple[str, int]:
    return find_pda((b"reward", bytes(_pk(authority))), REWARDS_PROGRAM)


def stake_account(nos_mint: str, authority: str) -> tuple[str, int]:
    return find_pda((b"stake", bytes(_pk(nos_mint)), bytes(_pk(authority))), STAKE_PROGRAM)


def stake_vault(nos_mint: str, authority: str) -> tuple[str, int]:
    return find_pda((b"vault", bytes(_pk(nos_mint)), bytes(_pk(authority))), STAKE_PROGRAM)


def metadata_pda(mint: str) -> tuple[str, int]:
    return find_pda(
        (b"metadata", bytes(_pk(METAPLEX_METADATA_PROGRAM)), bytes(_pk(mint))), METAPLEX_METADATA_PROGRAM
    )


def associated_token_address(owner: str, mint: str, *, allow_owner_off_curve: bool = False) -> str:
    """Standard ATA: PDA [owner, token program, mint] of the associated token program."""
    owner_key = _pk(owner)
    if not allow_owner_off_curve and not owner_key.is_on_curve():
        raise ValueError(f"{owner} is off the ed25519 curve: it cannot own an associated token account")
    address, _bump = find_pda((bytes(owner_key), bytes(_pk(TOKEN_PROGRAM)), bytes(_pk(mint))), ASSOCIATED_TOKEN_PROGRAM)
    return address
