"""FakeChain: an in-memory Solana JSON-RPC endpoint that runs the Nosana jobs program's poster side.

Use it as an httpx handler (`httpx.MockTransport(chain.handle)`) or behind a
loopback server (`tests.fakes.serve(chain.handle)`). It keeps accounts by
address, SOL balances and NOS token balances, and executes transactions that a
client sends: compute budget (ignored), create-ATA, and the jobs program's
list / delist / extend / end. State changes a node would make are test helpers:
`start_job`, `finish_job`, `quit_job`.

Fault injection, per JSON-RPC method, consumed in order:
    chain.fail("getAccountInfo", "timeout" | "5xx" | "429" | "disabled", times=1)
    chain.fail("sendTransaction", "timeout_after_apply")  # lands, but the answer is lost
Every call is recorded in `chain.calls` (method names); `chain.listed` counts list executions.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import base58
import httpx
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from nosana_dash.network.codec import accounts as acc
from nosana_dash.network.codec import instructions as ixs
from nosana_dash.network.codec import pda
from nosana_dash.network.networks import (
    ASSOCIATED_TOKEN_PROGRAM,
    COMPUTE_BUDGET_PROGRAM,
    NetworkConstants,
)

RENT_JOB = 2_561_280  # lamports, rent-exempt minimum of a 240-byte account
RENT_RUN = 1_726_080
FEE_PER_SIGNATURE = 5_000


@dataclass
class Account:
    data: bytes
    owner: str
    lamports: int = 1_000_000


@dataclass
class _State:
    accounts: dict[str, Account] = field(default_factory=dict)
    sol: dict[str, int] = field(default_factory=dict)
    tokens: dict[tuple[str, str], int] = field(default_factory=dict)  # (owner, mint) -> base units
    queue_changes: int = 0


class ProgramError(Exception):
    def __init__(self, err: Any, logs: list[str]) -> None:
        super().__init__(str(err))
        self.err = err
        self.logs = logs


class FakeChain:
    def __init__(self, net: NetworkConstants, *, now: int = 1_767_225_600) -> None:
        self.net = net
        self.now = now
        self.state = _State()
        self.block_height = 1_000
        self.block_step = 10  # each getBlockHeight call advances this much: expiry comes by itself
        self.calls: list[str] = []
        self.listed = 0
        self.sent: list[Transaction] = []
        self.statuses: dict[str, dict[str, Any]] = {}
        self.signatures_by_address: dict[str, list[str]] = defaultdict(list)
        self._faults: dict[str, list[str]] = defaultdict(list)
        self._hash_counter = 0

    # --- test setup --------------------------------------------------------------------------

    def fail(self, method: str, kind: str, times: int = 1) -> None:
        self._faults[method].extend([kind] * times)

    def fund(self, owner: str, *, sol: int = 0, nos: int = 0) -> None:
        """Give `owner` lamports and NOS base units (creating its NOS token account)."""
        self.state.sol[owner] = self.state.sol.get(owner, 0) + sol
        key = (owner, self.net.nos_mint)
        self.state.tokens[key] = self.state.tokens.get(key, 0) + nos

    def nos(self, owner: str) -> int:
        return self.state.tokens.get((owner, self.net.nos_mint), 0)

    def put(self, address: str, data: bytes, owner: str | None = None) -> None:
        self.state.accounts[address] = Account(bytes(data), owner or self.net.jobs_program)

    def put_market(self, address: str, market: acc.MarketAccount) -> None:
        self.put(address, acc.encode_market(market))

    def open_market(
        self, address: str, *, price: int, timeout: int = 3600, queue_type: int = acc.QUEUE_EMPTY,
        queue: tuple[str, ...] = (), authority: str = "11111111111111111111111111111111",
    ) -> acc.MarketAccount:
        vault, bump = pda.market_vault(address, self.net.nos_mint, self.net.jobs_program)
        market = acc.MarketAccount(
            authority=authority, job_expiration=86_400, job_price=price, job_timeout=timeout, job_type=0,
            vault=vault, vault_bump=bump, node_access_key="11111111111111111111111111111111",
            node_xnos_minimum=0, queue_type=queue_type, queue=queue,
        )
        self.put_market(address, market)
        return market

    def job(self, address: str) -> acc.JobAccount | None:
        account = self.state.accounts.get(address)
        return None if account is None else acc.decode_job(account.data)

    def market(self, address: str) -> acc.MarketAccount | None:
        account = self.state.accounts.get(address)
        return None if account is None else acc.decode_market(account.data)

    def runs_of(self, job: str) -> list[tuple[str, acc.RunAccount]]:
        out = []
        for address, account in self.state.accounts.items():
            if account.data[:8] == acc.RUN_DISCRIMINATOR:
                run = acc.decode_run(account.data)
                if run.job == job:
                    out.append((address, run))
        return out

    # --- what nodes do (test helpers) ------------------------------------------------------

    def start_job(self, job: str, node: str, *, run_address: str | None = None) -> str:
        """A node's `work`: create a run account; the job account does not change."""
        run_address = run_address or _address_from(f"run:{job}:{node}")
        self.put(run_address, acc.encode_run(acc.RunAccount(job, node, node, 0, self.now)))
        self._remove_from_queue(job)
        return run_address

    def finish_job(self, job: str, result_digest: bytes, *, duration: int = 41) -> None:
        """A node's `finish`: result set, state 2, node and times written, run closed."""
        current = self.job(job)
        assert current is not None
        runs = self.runs_of(job)
        node, start = (runs[0][1].node, runs[0][1].time) if runs else (current.node, self.now)
        for address, _ in runs:
            del self.state.accounts[address]
        self.put(job, acc.encode_job(current._replace(
            ipfs_result=result_digest, state=acc.JOB_STATE_DONE, node=node, time_start=start, time_end=start + duration
        )))

    def quit_job(self, job: str) -> None:
        """A node's `quit`: state 3, run closed."""
        current = self.job(job)
        assert current is not None
        for address, _ in self.runs_of(job):
            del self.state.accounts[address]
        self.put(job, acc.encode_job(current._replace(state=acc.JOB_STATE_STOPPED)))

    # --- JSON-RPC -----------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        method, params, rid = body["method"], body.get("params", []), body.get("id")
        self.calls.append(method)
        fault = self._faults[method].pop(0) if self._faults[method] else None
        if fault == "timeout":
            raise httpx.ReadTimeout("fake timeout", request=request)
        if fault == "5xx":
            return httpx.Response(503, text="upstream unavailable")
        if fault == "429":
            return httpx.Response(429, text="Too many requests")
        if fault == "disabled":
            return _error(rid, -32010, f"RPC call or parameters have been disabled: {method}")
        handler = getattr(self, "rpc_" + method, None)
        if handler is None:
            return _error(rid, -32601, "Method not found")
        try:
            result = handler(*params)
        except ProgramError as exc:
            return _error(rid, -32002, f"Transaction simulation failed: {exc.err}", {"err": exc.err, "logs": exc.logs})
        if fault == "timeout_after_apply":
            raise httpx.ReadTimeout("fake timeout after the call took effect", request=request)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": rid, "result": result})

    def _context(self, value: Any) -> dict[str, Any]:
        return {"context": {"slot": self.block_height}, "value": value}

    def _account_json(self, account: Account | None, data_slice: dict[str, int] | None = None) -> dict[str, Any] | None:
        if account is None:
            return None
        data = account.data
        if data_slice:
            data = data[data_slice["offset"] : data_slice["offset"] + data_slice["length"]]
        return {
            "data": [base64.b64encode(data).decode(), "base64"],
            "executable": False,
            "lamports": account.lamports,
            "owner": account.owner,
            "rentEpoch": 0,
        }

    def rpc_getAccountInfo(self, address: str, config: dict[str, Any] | None = None) -> Any:
        if address in self._token_accounts():
            return self._context({"data": ["", "base64"], "lamports": 2_039_280, "owner": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "executable": False, "rentEpoch": 0})
        return self._context(self._account_json(self.state.accounts.get(address)))

    def rpc_getMultipleAccounts(self, addresses: list[str], config: dict[str, Any] | None = None) -> Any:
        return self._context([self._account_json(self.state.accounts.get(a)) for a in addresses])

    def rpc_getProgramAccounts(self, program: str, config: dict[str, Any] | None = None) -> Any:
        config = config or {}
        out = []
        for address, account in self.state.accounts.items():
            if account.owner != program:
                continue
            if all(_matches(account.data, f) for f in config.get("filters", [])):
                out.append({"pubkey": address, "account": self._account_json(account, config.get("dataSlice"))})
        return out

    def rpc_getBalance(self, address: str, config: dict[str, Any] | None = None) -> Any:
        return self._context(self.state.sol.get(address, 0))

    def _token_accounts(self) -> dict[str, tuple[str, str]]:
        return {
            pda.associated_token_address(owner, mint, allow_owner_off_curve=True): (owner, mint)
            for owner, mint in self.state.tokens
        }

    def rpc_getTokenAccountsByOwner(self, owner: str, mint_filter: dict[str, str], config: dict[str, Any] | None = None) -> Any:
        mint = mint_filter.get("mint", self.net.nos_mint)
        if (owner, mint) not in self.state.tokens:
            return self._context([])
        amount = self.state.tokens[(owner, mint)]
        ata = pda.associated_token_address(owner, mint, allow_owner_off_curve=True)
        parsed = {"info": {"mint": mint, "owner": owner, "tokenAmount": {
            "amount": str(amount), "decimals": 6, "uiAmount": amount / 1e6, "uiAmountString": str(amount / 1e6)}},
            "type": "account"}
        return self._context([{"pubkey": ata, "account": {"data": {"parsed": parsed, "program": "spl-token", "space": 165},
                                                          "lamports": 2_039_280, "owner": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"}}])

    def rpc_getTokenAccountBalance(self, address: str, config: dict[str, Any] | None = None) -> Any:
        found = self._token_accounts().get(address)
        if found is None:
            raise ProgramError("could not find account", [])
        amount = self.state.tokens[found]
        return self._context({"amount": str(amount), "decimals": 6, "uiAmount": amount / 1e6, "uiAmountString": str(amount / 1e6)})

    def rpc_getLatestBlockhash(self, config: dict[str, Any] | None = None) -> Any:
        self._hash_counter += 1
        blockhash = str(Hash(hashlib.sha256(f"blockhash{self._hash_counter}".encode()).digest()))
        return self._context({"blockhash": blockhash, "lastValidBlockHeight": self.block_height + 150})

    def rpc_getBlockHeight(self, config: dict[str, Any] | None = None) -> Any:
        self.block_height += self.block_step
        return self.block_height

    def rpc_getSignatureStatuses(self, signatures: list[str], config: dict[str, Any] | None = None) -> Any:
        return self._context([self.statuses.get(s) for s in signatures])

    def rpc_getSignaturesForAddress(self, address: str, config: dict[str, Any] | None = None) -> Any:
        return [{"signature": s, "err": None, "slot": 1} for s in reversed(self.signatures_by_address[address])]

    def rpc_simulateTransaction(self, encoded: str, config: dict[str, Any] | None = None) -> Any:
        tx = Transaction.from_bytes(base64.b64decode(encoded))
        saved, listed = self._snapshot(), self.listed
        try:
            logs = self._execute(tx)
            err = None
        except ProgramError as exc:
            err, logs = exc.err, exc.logs
        finally:
            self._restore(saved)
            self.listed = listed
        return self._context({"err": err, "logs": logs, "unitsConsumed": 30_000, "accounts": None})

    def rpc_sendTransaction(self, encoded: str, config: dict[str, Any] | None = None) -> Any:
        tx = Transaction.from_bytes(base64.b64decode(encoded))
        if not tx.verify_with_results() or not all(tx.verify_with_results()):
            raise ProgramError("SignatureFailure", ["signature verification failed"])
        saved = self._snapshot()
        try:
            self._execute(tx)
        except ProgramError:
            self._restore(saved)
            raise
        signature = str(tx.signatures[0])
        self.sent.append(tx)
        self.statuses[signature] = {"slot": self.block_height, "confirmations": 0, "err": None, "confirmationStatus": "confirmed"}
        for key in tx.message.account_keys:
            self.signatures_by_address[str(key)].append(signature)
        return signature

    # --- execution ---------------------------------------------------------------------------

    def _snapshot(self) -> _State:
        return _State(
            accounts={k: replace(v) for k, v in self.state.accounts.items()},
            sol=dict(self.state.sol),
            tokens=dict(self.state.tokens),
        )

    def _restore(self, saved: _State) -> None:
        self.state = saved

    def _debit_sol(self, owner: str, amount: int) -> None:
        have = self.state.sol.get(owner, 0)
        if have < amount:
            raise ProgramError(
                "Attempt to debit an account but found no record of a prior credit.",
                [f"Transfer: insufficient lamports {have}, need {amount}"],
            )
        self.state.sol[owner] = have - amount

    def _move_nos(self, owner: str, amount: int, logs: list[str]) -> None:
        key = (owner, self.net.nos_mint)
        if key not in self.state.tokens or self.state.tokens[key] < amount:
            logs.append("Program log: Error: insufficient funds")
            raise ProgramError({"InstructionError": [0, {"Custom": 1}]}, logs)
        self.state.tokens[key] -= amount

    def _remove_from_queue(self, job: str) -> None:
        for address, account in list(self.state.accounts.items()):
            if account.data[:8] == acc.MARKET_DISCRIMINATOR:
                market = acc.decode_market(account.data)
                if job in market.queue:
                    self.put(address, acc.encode_market(market._replace(queue=tuple(q for q in market.queue if q != job))))

    def _execute(self, tx: Transaction) -> list[str]:
        message = tx.message
        keys = [str(k) for k in message.account_keys]
        fee_payer = keys[0]
        logs: list[str] = []
        self._debit_sol(fee_payer, FEE_PER_SIGNATURE * message.header.num_required_signatures)
        for ix in message.instructions:
            program = keys[ix.program_id_index]
            accounts = [keys[i] for i in ix.accounts]
            data = bytes(ix.data)
            if program == COMPUTE_BUDGET_PROGRAM:
                continue
            if program == ASSOCIATED_TOKEN_PROGRAM:
                payer, _ata, owner, mint = accounts[:4]
                if (owner, mint) not in self.state.tokens:
                    self._debit_sol(payer, 2_039_280)
                    self.state.tokens[(owner, mint)] = 0
                continue
            if program != self.net.jobs_program:
                raise ProgramError({"InstructionError": [0, "IncorrectProgramId"]}, [f"unknown program {program}"])
            logs.append(f"Program {program} invoke [1]")
            self._jobs_instruction(data, accounts, logs)
            logs.append(f"Program {program} success")
        return logs

    def _anchor_error(self, name: str, number: int, message: str, logs: list[str]) -> ProgramError:
        logs.append(f"Program log: AnchorError occurred. Error Code: {name}. Error Number: {number}. Error Message: {message}.")
        return ProgramError({"InstructionError": [0, {"Custom": number}]}, logs)

    def _jobs_instruction(self, data: bytes, accounts: list[str], logs: list[str]) -> None:
        disc = data[:8]
        if disc == ixs.LIST:
            job, market_key, run, user, vault, payer, _refl, _rv, authority = accounts[:9]
            digest, timeout = data[8:40], int.from_bytes(data[40:48], "little", signed=True)
            if job in self.state.accounts:
                logs.append(f"Allocate: account Address {{ address: {job}, base: None }} already in use")
                raise ProgramError({"InstructionError": [0, {"Custom": 0}]}, logs)
            market = self.market(market_key) if market_key in self.state.accounts else None
            if market is None:
                logs.append("Program log: market")
                raise self._anchor_error("AccountNotInitialized", 3012, "The program expected this account to be already initialized", logs)
            if vault != market.vault:
                raise self._anchor_error("InvalidVault", 6001, "This vault is not valid", logs)
            self._debit_sol(payer, RENT_JOB)
            if market.job_price > 0:
                ata_owner = next((o for (o, m) in self.state.tokens if m == self.net.nos_mint
                                  and pda.associated_token_address(o, m, allow_owner_off_curve=True) == user), None)
                if ata_owner is None:
                    raise self._anchor_error("AccountNotInitialized", 3012, "The program expected this account to be already initialized", logs)
                self._move_nos(ata_owner, market.job_price * timeout, logs)
            record = acc.JobAccount(digest, bytes(32), market_key, acc.ZERO_PUBKEY, payer, market.job_price,
                                    authority, acc.JOB_STATE_QUEUED, 0, 0, timeout)
            self.put(job, acc.encode_job(record))
            if market.queue_type == acc.QUEUE_NODES and market.queue:
                node, rest = market.queue[0], market.queue[1:]
                self._debit_sol(payer, RENT_RUN)
                self.put(run, acc.encode_run(acc.RunAccount(job, node, payer, 0, self.now)))
                self.put_market(market_key, market._replace(queue=rest, queue_type=acc.QUEUE_NODES if rest else acc.QUEUE_EMPTY))
            else:
                self.put_market(market_key, market._replace(queue=(*market.queue, job), queue_type=acc.QUEUE_JOBS))
            self.listed += 1
            return
        job_key = accounts[0]
        current = self.job(job_key) if job_key in self.state.accounts else None
        if current is None:
            raise self._anchor_error("AccountNotInitialized", 3012, "The program expected this account to be already initialized", logs)
        if disc == ixs.DELIST:
            _job, market_key, deposit, payer, _vault, _tp, authority = accounts[:7]
            if authority != current.project:
                raise self._anchor_error("Unauthorized", 6000, "This account is not authorized to perform this action", logs)
            if current.state != acc.JOB_STATE_QUEUED:
                raise self._anchor_error("JobInWrongState", 6002, "This job does not have the right status", logs)
            self._refund(deposit, current.price * current.timeout)
            del self.state.accounts[job_key]
            self._remove_from_queue(job_key)
            self.state.sol[payer] = self.state.sol.get(payer, 0) + RENT_JOB
        elif disc == ixs.EXTEND:
            new_timeout = int.from_bytes(data[8:16], "little", signed=True)
            user, authority = accounts[2], accounts[6]
            if authority != current.project:
                raise self._anchor_error("Unauthorized", 6000, "This account is not authorized to perform this action", logs)
            if new_timeout <= current.timeout:
                raise self._anchor_error("JobTimeoutNotGreater", 6017, "The job timeout is not greater", logs)
            owner = next((o for (o, m) in self.state.tokens if pda.associated_token_address(o, m, allow_owner_off_curve=True) == user), None)
            if owner is None:
                raise self._anchor_error("AccountNotInitialized", 3012, "The program expected this account to be already initialized", logs)
            self._move_nos(owner, current.price * (new_timeout - current.timeout), logs)
            self.put(job_key, acc.encode_job(current._replace(timeout=new_timeout)))
        elif disc == ixs.END:
            _job, _market, run_key, deposit, _user, _vault, _payer, authority = accounts[:8]
            if authority != current.project:
                raise self._anchor_error("Unauthorized", 6000, "This account is not authorized to perform this action", logs)
            run_account = self.state.accounts.get(run_key)
            if run_account is None:
                raise self._anchor_error("AccountNotInitialized", 3012, "The program expected this account to be already initialized", logs)
            running = acc.decode_run(run_account.data)
            duration = 20
            paid = current.price * min(duration, current.timeout)
            self._refund(deposit, current.price * current.timeout - paid)
            node_key = (running.node, self.net.nos_mint)
            self.state.tokens[node_key] = self.state.tokens.get(node_key, 0) + paid
            del self.state.accounts[run_key]
            self.put(job_key, acc.encode_job(current._replace(
                state=acc.JOB_STATE_DONE, node=running.node, time_start=running.time, time_end=running.time + duration)))
        else:
            raise ProgramError({"InstructionError": [0, "InvalidInstructionData"]}, logs + ["unsupported instruction"])

    def _refund(self, token_account: str, amount: int) -> None:
        owner = self._token_accounts().get(token_account)
        if owner is not None and amount > 0:
            self.state.tokens[owner] += amount


def _matches(data: bytes, spec: dict[str, Any]) -> bool:
    if "memcmp" in spec:
        offset = spec["memcmp"]["offset"]
        wanted = base58.b58decode(spec["memcmp"]["bytes"])
        return data[offset : offset + len(wanted)] == wanted
    if "dataSize" in spec:
        return len(data) == spec["dataSize"]
    return False


def _address_from(text: str) -> str:
    return str(Pubkey(hashlib.sha256(text.encode()).digest()))


def _error(rid: Any, code: int, message: str, data: Any = None) -> httpx.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": rid, "error": error})
