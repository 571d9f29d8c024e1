"""Solana JSON-RPC client for the jobs program: reads with retries, sends without.

httpx speaks JSON-RPC directly (solana-py's client hides timeouts and error
bodies we need); solders types the transactions. Every call has an explicit
timeout. Reads retry with backoff on timeouts, 429 and 5xx. `sendTransaction`
is never retried: a caller that lost the answer looks the job account up.
Messages name the RPC host only: the URL may carry an API key.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from solders.hash import Hash
from solders.transaction import Transaction

from nosana_dash.network.base import InsufficientFunds, NetworkError, NotConfigured
from nosana_dash.network.http import new_client, request_once, retry_read

COMMITMENT = "confirmed"
MAX_MULTIPLE = 100  # getMultipleAccounts limit per call


class RpcCallDisabled(NetworkError):
    """The RPC refuses a method (public RPCs often disable getProgramAccounts)."""


class RateLimited(NetworkError):
    pass


class ConfirmTimeout(NetworkError):
    """The transaction was sent but not seen confirmed in time; it may still land."""


class TransactionFailed(NetworkError):
    def __init__(self, message: str, *, logs: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.logs = list(logs)


@dataclass(frozen=True)
class Blockhash:
    blockhash: Hash
    last_valid_block_height: int


@dataclass(frozen=True)
class Simulation:
    err: object | None
    logs: list[str]
    units_consumed: int | None


@dataclass(frozen=True)
class Filter:
    """A memcmp filter: bytes (base58 text) at an offset of the account data."""

    offset: int
    bytes_b58: str

    def to_rpc(self) -> dict[str, Any]:
        return {"memcmp": {"offset": self.offset, "bytes": self.bytes_b58}}


def _host(url: str) -> str:
    return urlsplit(url).hostname or "the RPC"


_ANCHOR_ERROR = re.compile(r"Error Code: (\w+)\. Error Number: (\d+)\. Error Message: ([^.]*)")


def explain_failure(err: object, logs: Sequence[str]) -> NetworkError:
    """Turn a simulation/transaction error into a message a person can act on."""
    text = "\n".join(logs)
    raw = str(err)
    if (
        "Attempt to debit an account but found no record of a prior credit" in raw
        or "AccountNotFound" in raw
        or "insufficient lamports" in text
        or "InsufficientFundsForRent" in raw
        or "InsufficientFundsForFee" in raw
    ):
        return InsufficientFunds("Not enough SOL to make the transaction (fees and account rent).")
    if "Error: insufficient funds" in text:
        return InsufficientFunds("Not enough NOS in the wallet's token account for the deposit.")
    match = _ANCHOR_ERROR.search(text)
    if match:
        name, number, message = match.groups()
        if name in ("AccountNotInitialized", "AccountOwnedByWrongProgram", "AccountDiscriminatorMismatch") and "market" in text:
            return NetworkError(f"Unknown market: {message} ({name} {number}).")
        return TransactionFailed(f"The jobs program refused the transaction: {name} ({number}): {message}", logs=logs)
    if "already in use" in text:
        return TransactionFailed("The job account already exists: this job was already listed.", logs=logs)
    return TransactionFailed(f"The transaction failed: {raw[:300]}", logs=logs)


class SolanaRpc:
    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        if not url:
            raise NotConfigured("No Solana RPC URL is configured: set NOSANA_RPC_URL_DEVNET or NOSANA_RPC_URL_MAINNET.")
        self.url = url
        self.host = _host(url)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._client = new_client(timeout=timeout, transport=transport)
        self._id = 0

    def close(self) -> None:
        self._client.close()

    # --- transport ---------------------------------------------------------------------------

    def _post_once(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        payload = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        response = request_once(
            lambda: self._client.post(self.url, json=payload),
            error=NetworkError,
            subject=f"The RPC {self.host}",
            timeout=self.timeout,
            doing=f"answer {method}",
        )
        if response.status_code == 429:
            raise RateLimited(f"The RPC {self.host} is rate limiting requests (HTTP 429).", retryable=True)
        if response.status_code >= 500:
            raise NetworkError(f"The RPC {self.host} failed with HTTP {response.status_code}.", retryable=True)
        if response.status_code >= 400:
            raise NetworkError(f"The RPC {self.host} refused {method} with HTTP {response.status_code}.")
        try:
            body = response.json()
        except ValueError:
            raise NetworkError(f"The RPC {self.host} answered {method} with something that is not JSON.") from None
        error = body.get("error") if isinstance(body, dict) else None
        if error:
            return self._rpc_error(method, error)
        if not isinstance(body, dict) or "result" not in body:
            raise NetworkError(f"The RPC {self.host} answered {method} without a result.")
        return body["result"]

    def _rpc_error(self, method: str, error: Any) -> Any:
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        if "disabled" in message.lower() or (code == -32601 and method == "getProgramAccounts"):
            raise RpcCallDisabled(
                f"The RPC {self.host} does not allow {method} ({message}). Configure an RPC endpoint that "
                "allows it; it is needed to see whether a job is running and to list jobs and markets."
            )
        if code == 429 or "rate limit" in message.lower():
            raise RateLimited(f"The RPC {self.host} is rate limiting requests.", retryable=True)
        if isinstance(error, dict) and isinstance(error.get("data"), dict):
            data = error["data"]
            logs = data.get("logs") or []
            if data.get("err") is not None or logs:
                raise explain_failure(data.get("err"), logs)
        raise NetworkError(f"The RPC {self.host} refused {method}: {message[:200]}")

    def read(self, method: str, params: list[Any]) -> Any:
        """A read: retried with exponential backoff on timeouts, 429 and 5xx."""
        return retry_read(
            lambda: self._post_once(method, params), retries=self.retries, backoff=self.backoff,
            what=f"{method} on {self.host}",
        )

    # --- reads ---------------------------------------------------------------------------------

    def get_account_data(self, address: str) -> bytes | None:
        result = self.read("getAccountInfo", [address, {"encoding": "base64", "commitment": COMMITMENT}])
        return _account_bytes(result.get("value") if isinstance(result, dict) else None)

    def get_multiple_accounts(self, addresses: Sequence[str]) -> list[bytes | None]:
        out: list[bytes | None] = []
        for start in range(0, len(addresses), MAX_MULTIPLE):
            chunk = list(addresses[start : start + MAX_MULTIPLE])
            result = self.read("getMultipleAccounts", [chunk, {"encoding": "base64", "commitment": COMMITMENT}])
            values = result.get("value") or [] if isinstance(result, dict) else []
            if len(values) != len(chunk):
                raise NetworkError(f"The RPC {self.host} returned {len(values)} accounts for {len(chunk)} addresses.")
            out.extend(_account_bytes(value) for value in values)
        return out

    def get_program_accounts(
        self, program: str, filters: Iterable[Filter], data_slice: tuple[int, int] | None = None
    ) -> list[tuple[str, bytes]]:
        config: dict[str, Any] = {
            "encoding": "base64",
            "commitment": COMMITMENT,
            "filters": [f.to_rpc() for f in filters],
        }
        if data_slice is not None:
            config["dataSlice"] = {"offset": data_slice[0], "length": data_slice[1]}
        result = self.read("getProgramAccounts", [program, config])
        if isinstance(result, dict):  # withContext answers
            result = result.get("value", [])
        out: list[tuple[str, bytes]] = []
        for item in result or []:
            data = _account_bytes(item.get("account"))
            if data is not None:
                out.append((item["pubkey"], data))
        return out

    def get_balance(self, address: str) -> int:
        result = self.read("getBalance", [address, {"commitment": COMMITMENT}])
        return int(result["value"] if isinstance(result, dict) else result)

    def get_token_balance(self, owner: str, mint: str) -> int:
        """All of `owner`'s token accounts for `mint`, in base units (no account: 0)."""
        result = self.read(
            "getTokenAccountsByOwner",
            [owner, {"mint": mint}, {"encoding": "jsonParsed", "commitment": COMMITMENT}],
        )
        total = 0
        for item in result.get("value", []) if isinstance(result, dict) else []:
            try:
                total += int(item["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"])
            except (KeyError, TypeError, ValueError):
                raise NetworkError(f"The RPC {self.host} returned an unreadable token account.") from None
        return total

    def get_latest_blockhash(self) -> Blockhash:
        result = self.read("getLatestBlockhash", [{"commitment": COMMITMENT}])
        value = result["value"]
        return Blockhash(Hash.from_string(value["blockhash"]), int(value["lastValidBlockHeight"]))

    def get_block_height(self) -> int:
        return int(self.read("getBlockHeight", [{"commitment": COMMITMENT}]))

    def get_signature_statuses(self, signatures: Sequence[str]) -> list[dict[str, Any] | None]:
        result = self.read("getSignatureStatuses", [list(signatures), {"searchTransactionHistory": True}])
        return list(result.get("value") or [])

    def get_first_signature(self, address: str) -> str | None:
        """The oldest known transaction touching an address (for a job: its `list`)."""
        result = self.read("getSignaturesForAddress", [address, {"limit": 1000, "commitment": COMMITMENT}])
        if not result:
            return None
        return str(result[-1]["signature"])

    def simulate(self, tx: Transaction) -> Simulation:
        encoded = base64.b64encode(bytes(tx)).decode()
        result = self.read(
            "simulateTransaction",
            [encoded, {"encoding": "base64", "commitment": COMMITMENT, "sigVerify": False}],
        )
        value = result["value"]
        return Simulation(value.get("err"), list(value.get("logs") or []), value.get("unitsConsumed"))

    # --- writes --------------------------------------------------------------------------------

    def send(self, tx: Transaction) -> str:
        """Send once. A timeout here means "maybe sent": the caller must look the result up."""
        encoded = base64.b64encode(bytes(tx)).decode()
        config = {"encoding": "base64", "preflightCommitment": COMMITMENT, "skipPreflight": False, "maxRetries": 0}
        return str(self._post_once("sendTransaction", [encoded, config]))

    def confirm(
        self, signature: str, last_valid_block_height: int, *, poll_interval: float, deadline_seconds: float
    ) -> None:
        """Wait until `signature` is confirmed; raise ConfirmTimeout when unknown and expired or late."""
        deadline = time.monotonic() + deadline_seconds
        while True:
            status = self.get_signature_statuses([signature])[0]
            if status is not None:
                if status.get("err") is not None:
                    raise explain_failure(status["err"], [])
                if status.get("confirmationStatus") in ("confirmed", "finalized"):
                    return
            if self.get_block_height() > last_valid_block_height:
                raise ConfirmTimeout(
                    f"Transaction {signature} was not confirmed before its blockhash expired.", retryable=True
                )
            if time.monotonic() > deadline:
                raise ConfirmTimeout(f"Transaction {signature} not confirmed after {deadline_seconds:g}s.", retryable=True)
            time.sleep(poll_interval)


def _account_bytes(value: Any) -> bytes | None:
    if not value:
        return None
    data = value.get("data")
    if isinstance(data, list) and data and data[1] == "base64":
        return base64.b64decode(data[0])
    raise NetworkError("The RPC answered an account in an unexpected encoding.")
