"""`manage.py job post` and `job get`: the seed's fields, in the seed's order, with the seed's alignment."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from jobs import watch
from jobs.cli.output import js_number
from jobs.models import Job, JobStatus, Step
from nosana_dash import network as networks
from nosana_dash.network.local import ledger
from tests.conftest import SEED_DOC, load_vectors
from tests.posting_fakes import FakeRemote

pytestmark = pytest.mark.django_db

B58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,}")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def seed_outputs() -> list[list[str]]:
    """The two CLI outputs of the seed document (post, then get), banner and blank edges removed."""
    doc = SEED_DOC.read_text()
    blocks = re.findall(r"```sh:no-line-numbers\n(.*?)```", doc, re.S)
    outputs = [b for b in blocks if "Network:" in b]
    result = []
    for block in outputs:
        lines = block.splitlines()
        banner_end = max(i for i, line in enumerate(lines) if line.startswith(" |_|"))
        result.append([line for line in lines[banner_end + 1:] if line.strip()])
    return result


def shape(line: str) -> str:
    """A line with its values blanked: labels and their tabs stay, as do the fixed words."""
    if "\t" in line:
        label, _, _ = line.partition("\t")
        tabs = re.match(r"[^\t]*(\t+)", line).group(1)  # type: ignore[union-attr]
        return f"{label}{tabs}<v>"
    return NUMBER.sub("<n>", B58.sub("<b58>", line))


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("job", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def admin() -> User:
    return User.objects.create_superuser("admin", password="pw-123456789")


@pytest.fixture
def seed_file(tmp_path: Path, seed_job_text: str) -> Path:
    path = tmp_path / "multi_job.json"
    path.write_text(seed_job_text)
    return path


def test_post_prints_the_seed_fields(admin: User, seed_file: Path) -> None:
    market = ledger.default_market_address()
    code, out, err = run("post", "--file", str(seed_file), "--market", market, "--network", "local")
    assert code == 0, err
    job = Job.objects.get()
    ours = [line for line in out.splitlines() if line.strip()]
    seed = [line for line in seed_outputs()[0] if not line.startswith(("Reading keypair", "Service will be exposed"))]
    # The seed's job exposes no port: today's nodes give it no service URL (the 2024 CLI printed a run address).
    ours = [line for line in ours if not line.startswith("(")]  # the local network's play-money note
    assert [shape(line) for line in ours[:-1]] == [shape(line) for line in seed[:-1]]
    # The hint names this dashboard's command instead of `nosana`, with the same arguments.
    assert ours[-1] == f"run python manage.py job get {job.address} --network local to retrieve job and result"
    assert seed[-1].startswith("run nosana job get ") and seed[-1].endswith("to retrieve job and result")
    assert f"Job:\t\thttp://127.0.0.1:8000/jobs/{job.address}" in out
    assert f"JSON flow:\thttp://127.0.0.1:8000/ipfs/{job.ipfs_job}" in out
    assert f"Market:\t\thttp://127.0.0.1:8000/markets/{market}" in out
    total = job.price * job.timeout / 1e6
    assert f"for price {js_number(job.price / 1e6)} NOS/s (total: {total:.4f} NOS)" in out
    assert f"job posted with tx {job.tx_signature}!" in out
    assert "Status:\t\tQUEUED" in out


def test_post_json_output(admin: User, seed_file: Path) -> None:
    code, out, _ = run("post", "--file", str(seed_file), "--market", ledger.default_market_address(),
                       "--network", "local", "--json", "--timeout", "5")
    assert code == 0
    data = json.loads(out)
    job = Job.objects.get()
    assert job.timeout == 300
    for key in ("network", "wallet", "balances", "ipfs_uploaded", "job_posting", "transaction_id", "job_url",
                "json_flow_url", "market_url", "price", "status", "isError"):
        assert key in data
    assert data["transaction_id"] == job.tx_signature and data["status"] == "QUEUED" and data["isError"] is False


def test_post_invalid_definition_fails_with_paths(admin: User, tmp_path: Path) -> None:
    case = next(c for c in load_vectors("job-definition-cases.json")["cases"] if not c["valid"] and c["errors"]
                and isinstance(c["definition"], dict))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(case["definition"]))
    code, out, err = run("post", "--file", str(path), "--market", ledger.default_market_address(), "--network", "local")
    assert code == 1
    assert "Job Definition validation failed" in err
    assert not Job.objects.exists()


def test_post_without_user_explains(seed_file: Path) -> None:
    code, _, err = run("post", "--file", str(seed_file), "--market", ledger.default_market_address(),
                       "--network", "local")
    assert code == 2 and "createsuperuser" in err


def test_get_prints_the_seed_fields_for_a_completed_job(admin: User, seed_file: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A devnet job followed to completion (fake chain fed with the result vector), then `job get`."""
    from django.contrib.auth.models import Permission

    fake = FakeRemote("devnet")
    monkeypatch.setattr(networks, "get_network", lambda name: fake)
    document = next(d for d in load_vectors("result.json")["documents"] if d["name"] == "success_two_ops")
    definition = {"version": "0.1", "type": "container", "ops": [
        {"type": "container/run", "id": s["operationId"], "args": {"image": "ubuntu", "cmd": "true"}}
        for s in document["document"]["opStates"]]}
    admin.user_permissions.add(Permission.objects.get(codename="post_remote"))
    path = seed_file.parent / "ops.json"
    path.write_text(json.dumps(definition))
    code, _, err = run("post", "--file", str(path), "--market", fake.market.address, "--network", "devnet")
    assert code == 0, err
    job = Job.objects.get()
    fake.start_run(job.address)
    watch.follow(job, force=True)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.node
    fake.finish(job.address, document["compact_json"].encode())
    watch.follow(job, force=True)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.ipfs_result == document["cid"]

    code, out, err = run("get", job.address, "--network", "devnet")
    assert code == 0, err
    ours = out.splitlines()
    seed = seed_outputs()[1]
    head = seed[: seed.index("Logs:") + 1]
    assert [shape(line) for line in ours[: len(head)]] == [shape(line) for line in head]
    assert f"Duration:\t{job.time_end and int((job.time_end - job.time_start).total_seconds())} seconds" in out
    # Per step: "- Executed step ID in N.NNNs", its output as logged, a blank line, the exit status.
    for state in document["document"]["opStates"]:
        seconds = (state["endTime"] - state["startTime"]) / 1000
        logs = "".join(chunk["log"] for chunk in state["logs"])
        block = f"- Executed step {state['operationId']} in {seconds:.3f}s\n{logs}\nExited with status " \
                f"{state['status']} with code {state['exitCode']}"
        assert block in out
    steps = {s.op_id: s for s in Step.objects.filter(job=job)}
    for state in document["document"]["opStates"]:
        assert steps[state["operationId"]].exit_code == state["exitCode"]
        assert steps[state["operationId"]].line_count == "".join(c["log"] for c in state["logs"]).count("\n")

    code, out, _ = run("get", job.address, "--network", "devnet", "--json")
    data = json.loads(out)
    assert data["status"] == "COMPLETED"
    assert [e["operationId"] for e in data["executions"]] == [s["operationId"] for s in document["document"]["opStates"]]


def test_get_unknown_job(admin: User) -> None:
    code, _, err = run("get", "1" * 44, "--network", "local")
    assert code == 1 and "not found" in err


def test_get_says_a_job_reached_its_timeout(admin: User) -> None:
    """A timed-out job is COMPLETED with a `success` result (protocol §7.3); `job get` says why it ended."""
    from datetime import timedelta

    from django.utils import timezone

    document = next(d for d in load_vectors("result.json")["documents"] if d["name"] == "expired_timeout")
    start = timezone.now() - timedelta(seconds=70)
    job = Job.objects.create(
        owner=admin, address="Tmo" + "t" * 41, network="local", status=JobStatus.COMPLETED,
        market=ledger.default_market_address(), definition_json='{"version":"0.1","type":"container","ops":[]}',
        ipfs_job=document["cid"], ipfs_result=document["cid"], result_json=document["compact_json"], price=115,
        timeout=60, node="Node" + "n" * 40, time_start=start, time_end=start + timedelta(seconds=62),
    )
    code, out, err = run("get", job.address, "--network", "local")
    assert code == 0, err
    assert out.count("Status:\t\tCOMPLETED — reached its timeout after 60 s\n") == 2
    assert "Exited with status success with code 143" in out  # the op as the node recorded it
    code, out, _ = run("get", job.address, "--network", "local", "--json")
    data = json.loads(out)
    assert (data["status"], data["status_note"]) == ("COMPLETED", "reached its timeout after 60 s")


def test_get_of_a_full_run_has_no_timeout_note(admin: User) -> None:
    document = next(d for d in load_vectors("result.json")["documents"] if d["name"] == "success_two_ops")
    job = Job.objects.create(
        owner=admin, address="Ful" + "f" * 41, network="local", status=JobStatus.COMPLETED,
        market=ledger.default_market_address(), definition_json="{}", ipfs_job=document["cid"],
        ipfs_result=document["cid"], result_json=document["compact_json"], price=115, timeout=60,
    )
    code, out, _ = run("get", job.address, "--network", "local")
    assert code == 0 and "Status:\t\tCOMPLETED\n" in out and "timeout" not in out
    assert json.loads(run("get", job.address, "--network", "local", "--json")[1])["status_note"] is None
