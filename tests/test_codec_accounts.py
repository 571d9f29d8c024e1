"""Account decoders and encoders agree with accounts.json; malformed bytes give a clear error."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from nosana_dash.network.codec import accounts as acc
from nosana_dash.network.remote import job_info
from tests.conftest import load_vectors

ACCOUNTS = load_vectors("accounts.json")
CODECS = {
    "jobAccount": (acc.decode_job, acc.encode_job),
    "runAccount": (acc.decode_run, acc.encode_run),
    "marketAccount": (acc.decode_market, acc.encode_market),
    "NodeAccount": (acc.decode_node, acc.encode_node),
    "StakeAccount": (acc.decode_stake, acc.encode_stake),
    "SettingsAccount": (acc.decode_settings, acc.encode_settings),
}
BY_NAME = {v["name"]: v for v in ACCOUNTS["vectors"]}


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _data(vector: dict) -> bytes:
    if "data_base64" in vector:
        return base64.b64decode(vector["data_base64"])
    base = base64.b64decode(BY_NAME["market_job_queue"]["data_base64"])
    data = base + bytes(int(vector["data_length"]) - len(base))
    assert hashlib.sha256(data).hexdigest() == vector["data_sha256_hex"]
    return data


def _expected(got: object, value: object) -> object:
    if isinstance(value, dict):
        return bytes.fromhex(value["hex"])
    if isinstance(got, bool):
        return value
    if isinstance(got, int):
        return int(value)  # type: ignore[arg-type]
    if isinstance(got, tuple):
        return tuple(value)  # type: ignore[arg-type]
    return value


@pytest.mark.parametrize("vector", ACCOUNTS["vectors"], ids=lambda v: v["name"])
def test_decode_matches_vector(vector: dict) -> None:
    decode, encode = CODECS[vector["account_type"]]
    data = _data(vector)
    decoded = decode(data)
    for key, value in vector["decoded"].items():
        got = getattr(decoded, _snake(key))
        assert got == _expected(got, value), key
    for field in vector.get("fields", []):
        if field["name"] != "discriminator":
            continue
        assert data[:8].hex() == field["bytes_hex"]
    encoded = encode(decoded)
    assert data[: len(encoded)] == encoded
    assert not any(data[len(encoded):])  # only zero padding after the struct


@pytest.mark.parametrize("name", [n for n, v in BY_NAME.items() if "sdk_mapJob_view" in v])
def test_job_view_matches_sdk(name: str) -> None:
    vector = BY_NAME[name]
    view = vector["sdk_mapJob_view"]
    job = acc.decode_job(_data(vector))
    info = job_info("x", job, None)
    assert info.state == view["state"]
    assert info.ipfs_job == view["ipfsJob"]
    assert (info.ipfs_result or "QmNLei78zWmzUdbeRB3CiUfAizWUrbeeZh5K1rhAQKCh51") == view["ipfsResult"]
    assert (info.node or "11111111111111111111111111111111") == view["node"]
    assert str(info.price) == view["price"] and str(info.timeout) == view["timeout"]


@pytest.mark.parametrize("view", ACCOUNTS["sdk_jobs_get_views"]["views"], ids=lambda v: f"{v['job_vector']}-{v['run_account_present']}")
def test_running_derived_from_run_account(view: dict) -> None:
    job = acc.decode_job(_data(BY_NAME[view["job_vector"]]))
    run = acc.decode_run(_data(BY_NAME["run_active"])) if view["run_account_present"] else None
    info = job_info("x", job, run)
    expected = view["sdk_jobs_get"]
    assert info.state == expected["state"]
    assert (info.node or "11111111111111111111111111111111") == expected["node"]
    assert str(info.time_start) == expected["timeStart"]


def test_discriminators_match_idl() -> None:
    idl = load_vectors("instructions.json")
    names = {"marketAccount": acc.MARKET_DISCRIMINATOR, "jobAccount": acc.JOB_DISCRIMINATOR,
             "runAccount": acc.RUN_DISCRIMINATOR}
    for account in idl["nosana_jobs"]["accounts"]:
        assert names[account["name"]].hex() == account["discriminator_hex"]
    stake = {a["name"]: a["discriminator_hex"] for a in idl["nosana_stake"]["accounts"]}
    assert acc.STAKE_DISCRIMINATOR.hex() == stake["StakeAccount"]
    assert acc.SETTINGS_DISCRIMINATOR.hex() == stake["SettingsAccount"]
    assert acc.NODE_DISCRIMINATOR.hex() == idl["nosana_nodes"]["accounts"][0]["discriminator_hex"]


def test_memcmp_offsets_match_sdk() -> None:
    offsets = ACCOUNTS["sdk_memcmp_offsets"]
    assert (acc.JOB_MARKET_OFFSET, acc.JOB_NODE_OFFSET, acc.JOB_PROJECT_OFFSET, acc.JOB_STATE_OFFSET) == (
        offsets["market"], offsets["node"], offsets["project"], offsets["state"])
    assert acc.RUN_JOB_OFFSET == offsets["run_account_job"]


@pytest.mark.parametrize(
    ("decoder", "data", "message"),
    [
        (acc.decode_job, b"", "at least 233"),
        (acc.decode_job, acc.JOB_DISCRIMINATOR + bytes(100), "at least 233"),
        (acc.decode_job, acc.RUN_DISCRIMINATOR + bytes(300), "not a job account"),
        (acc.decode_market, acc.MARKET_DISCRIMINATOR + bytes(139) + b"\x05\x00\x00\x00", "does not fit"),
        (acc.decode_run, acc.JOB_DISCRIMINATOR + bytes(200), "not a run account"),
        (acc.decode_node, acc.NODE_DISCRIMINATOR + bytes(46) + b"\xff\xff\xff\x00", "runs past the end"),
    ],
)
def test_malformed_accounts_raise_clear_error(decoder, data: bytes, message: str) -> None:
    with pytest.raises(acc.AccountDecodeError, match=message):
        decoder(data)
