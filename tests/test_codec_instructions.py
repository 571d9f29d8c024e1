"""Instruction data, PDAs, keypairs/auth headers and the full `list` transactions agree with the vectors."""

from __future__ import annotations

import base64
import json

import pytest
from solders.keypair import Keypair

from nosana_dash.network.codec import instructions as ixs
from nosana_dash.network.codec import pda, transactions
from nosana_dash.network.codec.keys import (
    KeypairError,
    Wallet,
    keypair_from_bytes,
    load_keypair,
    sign_header,
    verify_header,
)
from nosana_dash.network.networks import NETWORKS
from tests.conftest import load_vectors

INSTRUCTIONS = load_vectors("instructions.json")
PDA = load_vectors("pda.json")
AUTH = load_vectors("auth.json")


def test_networks_match_sdk_and_kit() -> None:
    for name, expected in INSTRUCTIONS["networks"].items():
        net = NETWORKS[name]
        assert net.jobs_program == expected["jobs_program"]
        assert net.nos_mint == expected["nos_mint"]
        assert net.rewards_program == expected["rewards_program"]
        assert net.stake_program == expected["stake_program"]
        assert net.nodes_program == expected["nodes_program"]
        assert net.default_market == expected["default_market_sdk"]


def test_instruction_discriminators() -> None:
    for instruction in INSTRUCTIONS["nosana_jobs"]["instructions"]:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in instruction["name"])
        assert ixs.discriminator(snake).hex() == instruction["discriminator_hex"]


@pytest.mark.parametrize("vector", INSTRUCTIONS["list_instruction_data"]["vectors"], ids=lambda v: v["timeout"])
def test_list_data(vector: dict) -> None:
    data = ixs.list_data(bytes.fromhex(vector["ipfsJob_hex"]), int(vector["timeout"]))
    assert data.hex() == vector["data_hex"] and len(data) == vector["data_length"]
    assert ixs.list_data(vector["ipfs_cid"], int(vector["timeout"])) == data


@pytest.mark.parametrize("vector", INSTRUCTIONS["other_instruction_data"], ids=lambda v: v["instruction"])
def test_other_instruction_data(vector: dict) -> None:
    name, args = vector["instruction"], vector["args"]
    if name == "assign":
        data = ixs.assign_data(bytes.fromhex(args["ipfsJob"]), int(args["timeout"]))
    elif name == "extend":
        data = ixs.extend_data(int(args["timeout"]))
    elif name in ("finish", "complete"):
        data = ixs.result_data(name, bytes.fromhex(args["ipfsResult"]))
    elif not args:
        data = ixs.discriminator(name)
    else:
        pytest.skip(f"{name} is a market-admin instruction the dashboard never sends")
    assert data.hex() == vector["data_hex"]


def _account_names(name: str) -> list[tuple[str, bool, bool]]:
    ix = next(i for i in INSTRUCTIONS["nosana_jobs"]["instructions"] if i["name"] == name)
    return [(a["name"], a["isMut"], a["isSigner"]) for a in ix["accounts"]]


def test_builders_follow_idl_account_flags() -> None:
    keys = [str(Keypair.from_seed(bytes([i]) * 32).pubkey()) for i in range(1, 12)]
    net = NETWORKS["mainnet"]
    built = {
        "list": ixs.list_ix(net.jobs_program, ixs.ListAccounts(*keys[:9]), bytes(32), 1),
        "delist": ixs.delist_ix(jobs_program=net.jobs_program, job=keys[0], market=keys[1], deposit=keys[2],
                                payer=keys[3], vault=keys[4], authority=keys[5]),
        "extend": ixs.extend_ix(jobs_program=net.jobs_program, job=keys[0], market=keys[1], user=keys[2], vault=keys[3],
                                rewards_reflection=keys[4], rewards_vault=keys[5], authority=keys[6], payer=keys[7],
                                new_timeout=2),
        "end": ixs.end_ix(jobs_program=net.jobs_program, job=keys[0], market=keys[1], run=keys[2], deposit=keys[3],
                          user=keys[4], vault=keys[5], payer=keys[6], authority=keys[7]),
        "recover": ixs.recover_ix(jobs_program=net.jobs_program, job=keys[0], market=keys[1], vault=keys[2],
                                  user=keys[3], payer=keys[4], authority=keys[5]),
    }
    for name, ix in built.items():
        flags = [(m.is_writable, m.is_signer) for m in ix.accounts]
        assert flags == [(w, s) for _, w, s in _account_names(name)], name


@pytest.mark.parametrize("vault", PDA["vaults"], ids=lambda v: v["label"])
def test_market_vaults(vault: dict) -> None:
    assert pda.market_vault(vault["market"], vault["nos_mint"], vault["program"]) == (vault["address"], vault["bump"])


@pytest.mark.parametrize("other", PDA["other_pdas"], ids=lambda v: f"{v['network']}-{v['label']}")
def test_other_pdas(other: dict) -> None:
    seeds = tuple(bytes.fromhex(s) for s in other["seeds_hex"])
    assert pda.find_pda(seeds, other["program"]) == (other["address"], other["bump"])


def test_named_pda_helpers() -> None:
    for name in ("mainnet", "devnet"):
        expected = PDA["sdk_setAccounts"][name]
        net = NETWORKS[name]
        accounts = ixs.list_accounts(net, job="1" * 32, run="1" * 32, market=expected["market"], authority=expected["authority"])
        assert accounts.vault == expected["vault"] and accounts.user == expected["user"]
        assert accounts.rewards_vault == expected["rewardsVault"]
        assert accounts.rewards_reflection == expected["rewardsReflection"]
    assert pda.metadata_pda(PDA["metaplex_metadata_pda"]["mint"])[0] == PDA["metaplex_metadata_pda"]["address"]


@pytest.mark.parametrize("ata", PDA["associated_token_accounts"], ids=lambda v: f"{v['owner_name']}-{v['mint_name']}")
def test_associated_token_accounts(ata: dict) -> None:
    off_curve = "off curve" in ata["owner_name"]
    assert pda.associated_token_address(ata["owner"], ata["mint"], allow_owner_off_curve=off_curve) == ata["ata"]
    if off_curve:
        with pytest.raises(ValueError, match="off the ed25519 curve"):
            pda.associated_token_address(ata["owner"], ata["mint"])


@pytest.mark.parametrize("tx", AUTH["transactions"], ids=lambda t: t["name"])
def test_list_transaction_byte_for_byte(tx: dict) -> None:
    inputs = tx["inputs"]
    net = NETWORKS[tx["network"]]
    keypairs = {k["public_key"]: Keypair.from_seed(bytes.fromhex(k["seed_hex"])) for k in AUTH["keypairs"]}
    job = Keypair.from_seed(bytes.fromhex(inputs["job_keypair_seed_hex"]))
    run = Keypair.from_seed(bytes.fromhex(inputs["run_keypair_seed_hex"]))
    accounts = ixs.list_accounts(net, job=str(job.pubkey()), run=str(run.pubkey()), market=inputs["market"],
                                 authority=inputs["authority_and_fee_payer"], payer=inputs["nos_payer"])
    ix = ixs.list_ix(net.jobs_program, accounts, inputs["ipfs_cid"], inputs["timeout"])
    extra = [job, run]
    if inputs["nos_payer"] != inputs["authority_and_fee_payer"]:
        extra.append(keypairs[inputs["nos_payer"]])
    built = transactions.build_transaction(keypairs[inputs["authority_and_fee_payer"]], [ix], inputs["recent_blockhash"], extra)
    assert base64.b64encode(bytes(built.message)).decode() == tx["message_base64"]
    assert base64.b64encode(bytes(built)).decode() == tx["serialized_base64"]
    assert [str(s) for s in built.signatures] == [s["signature_base58"] for s in tx["signatures"]]
    assert [str(k) for k in built.message.account_keys] == [k["key"] for k in tx["account_keys"]]


def test_web3_key_order() -> None:
    order = AUTH["account_key_order"]
    assert sorted(order["same_keys_sorted_ascii"], key=transactions.web3_sort_key) == order["keys_sorted_like_web3js"]
    strings = order["comparator_only_strings"]
    assert sorted(strings["input"], key=transactions.web3_sort_key) == strings["sorted_like_web3js"]


def test_keypairs_and_auth_headers(tmp_path) -> None:
    entry = AUTH["keypairs"][0]
    path = tmp_path / "id.json"
    path.write_text(json.dumps(entry["solana_cli_keypair_json"]))
    wallet = load_keypair(path)
    assert wallet.address == entry["public_key"]
    assert entry["secret_key_base58"] not in repr(wallet) + str(wallet)
    assert str(entry["solana_cli_keypair_json"][:8])[1:-1] not in repr(wallet)
    cli = AUTH["live_logs"]["cli_sdk_flavour"]
    assert sign_header(wallet.keypair, cli["message"]) == cli["header"]
    kit = AUTH["live_logs"]["dashboard_kit_flavour"]
    assert wallet.sign_header(kit["message"]) == kit["header"]
    api = AUTH["api_auth"]
    assert sign_header(wallet.keypair, "NosanaApiAuthentication", AUTH["fixed_time_ms"]) == api["sdk_NosanaApiAuthentication_with_time"]
    results = api["cli_node_results_header"]
    assert sign_header(wallet.keypair, results["message"], AUTH["fixed_time_ms"]) == results["authorization"]
    assert verify_header(cli["header"], entry["public_key"])
    assert not verify_header(cli["header"], AUTH["keypairs"][1]["public_key"])
    for other in AUTH["keypairs"]:
        assert str(keypair_from_bytes(other["solana_cli_keypair_json"]).pubkey()) == other["public_key"]


@pytest.mark.parametrize("content", ["", "[1,2,3]", "{\"a\": 1}", "[" + ",".join(["300"] * 64) + "]", "zzz0OIl"])
def test_bad_keypair_files(tmp_path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(KeypairError):
        load_keypair(path)


def test_keypair_mismatch_and_missing(tmp_path) -> None:
    values = AUTH["keypairs"][0]["solana_cli_keypair_json"][:32] + AUTH["keypairs"][1]["solana_cli_keypair_json"][32:]
    with pytest.raises(KeypairError, match="does not match"):
        keypair_from_bytes(values)
    with pytest.raises(KeypairError, match="NOSANA_KEYPAIR_PATH"):
        load_keypair(tmp_path / "missing.json")
    assert isinstance(Wallet(Keypair()), Wallet)
