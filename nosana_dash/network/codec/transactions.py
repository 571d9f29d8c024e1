"""Legacy transactions assembled exactly as web3.js `Transaction.compileMessage` does.

web3.js orders account keys: signers first, then writable, then by a
case-insensitive collation of the base58 text (lowercase first on ties), and
moves the fee payer to the front. solders' own ordering is by bytes, which gives
different bytes, so the message is compiled here (vectors/auth.json).
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.hash import Hash
from solders.instruction import CompiledInstruction, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction


def web3_sort_key(text: str) -> tuple[str, tuple[bool, ...]]:
    """localeCompare('en', caseFirst lower) on base58 strings."""
    return text.lower(), tuple(c.isupper() for c in text)


@dataclass
class _Flags:
    signer: bool
    writable: bool


def compile_message(fee_payer: Pubkey, instructions: list[Instruction], recent_blockhash: Hash | str) -> Message:
    flags: dict[str, _Flags] = {}
    for ix in instructions:
        for meta in ix.accounts:
            key = str(meta.pubkey)
            current = flags.get(key)
            if current is None:
                flags[key] = _Flags(meta.is_signer, meta.is_writable)
            else:
                current.signer |= meta.is_signer
                current.writable |= meta.is_writable
        flags.setdefault(str(ix.program_id), _Flags(False, False))
    payer = str(fee_payer)
    flags.pop(payer, None)
    ordered = sorted(flags, key=lambda k: (not flags[k].signer, not flags[k].writable, web3_sort_key(k)))
    keys = [payer, *ordered]
    all_flags = {payer: _Flags(True, True), **flags}
    num_signers = sum(1 for k in keys if all_flags[k].signer)
    readonly_signed = sum(1 for k in keys if all_flags[k].signer and not all_flags[k].writable)
    readonly_unsigned = sum(1 for k in keys if not all_flags[k].signer and not all_flags[k].writable)
    index = {k: i for i, k in enumerate(keys)}
    compiled = [
        CompiledInstruction(
            index[str(ix.program_id)], ix.data, bytes(index[str(meta.pubkey)] for meta in ix.accounts)
        )
        for ix in instructions
    ]
    blockhash = recent_blockhash if isinstance(recent_blockhash, Hash) else Hash.from_string(recent_blockhash)
    return Message.new_with_compiled_instructions(
        num_signers,
        readonly_signed,
        readonly_unsigned,
        [Pubkey.from_string(k) for k in keys],
        blockhash,
        compiled,
    )


def sign(message: Message, signers: list[Keypair]) -> Transaction:
    """Sign with every required key (any order); raises if one is missing."""
    required = message.account_keys[: message.header.num_required_signatures]
    by_key = {kp.pubkey(): kp for kp in signers}
    missing = [str(k) for k in required if k not in by_key]
    if missing:
        raise ValueError(f"missing signer(s): {', '.join(missing)}")
    return Transaction([by_key[k] for k in required], message, message.recent_blockhash)


def build_transaction(
    fee_payer: Keypair, instructions: list[Instruction], recent_blockhash: Hash | str, extra_signers: list[Keypair]
) -> Transaction:
    message = compile_message(fee_payer.pubkey(), instructions, recent_blockhash)
    return sign(message, [fee_payer, *extra_signers])
