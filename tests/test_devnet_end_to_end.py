"""Devnet end to end over loopback HTTP: `job post` pins and lists through the RPC and pinning
fakes, a (fake) node runs the job, the watcher follows it, and `job get` prints the result.

Only the remote network is faked, at the HTTP level, fed with the vectors; everything of ours
(CLI, posting service, IPFS and RPC clients, transaction building, watcher) is the real code.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from jobs import watch
from jobs.models import Job, JobStatus
from nosana_dash.network.codec.cid import cid_to_digest
from nosana_dash.network.networks import DEVNET
from tests.conftest import TEST_PINNING_TOKEN, TEST_RPC_KEY, load_vectors
from tests.fakes import FakeChain, FakeNosana, FakePinning, serve

pytestmark = pytest.mark.django_db(transaction=True)

MARKET = "97G9NnvBDQ2WpKu6fasoMsAKmfj63C9rhysJnkeWodAf"
NODE = "DKUo8PCKcrfunRiCHWFNjeVLQieVYWr8izauPCFm8BVv"


def _cli(*args: str) -> str:
    out = io.StringIO()
    call_command("job", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_post_follow_and_get_a_devnet_job(settings: Any, tmp_path: Path, seed_job_text: str,
                                          django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("admin", "", "pw-admin-123")
    chain, pinning = FakeChain(DEVNET), FakePinning(jwt=TEST_PINNING_TOKEN)
    chain.open_market(MARKET, price=115, timeout=7200)
    wallet = load_vectors("auth.json")["keypairs"][0]["public_key"]
    chain.fund(wallet, sol=50_000_000, nos=60_000_000)
    job_file = tmp_path / "multi_job.json"
    job_file.write_text(seed_job_text)
    with serve(FakeNosana(chain, pinning).handle) as url:
        settings.NOSANA_RPC_URL_DEVNET = f"{url}/rpc?api-key={TEST_RPC_KEY}"
        settings.NOSANA_PINNING_URL = url
        settings.NOSANA_IPFS_GATEWAY = f"{url}/ipfs/"

        posted = json.loads(_cli("post", "--file", str(job_file), "--market", MARKET, "--network", "devnet",
                                 "--timeout", "120", "--json"))
        assert not posted["isError"], posted
        job = Job.objects.get(address=posted["job_address"])
        assert job.status == JobStatus.QUEUED and job.ipfs_job == "QmRSLxBU9iemsmjmHMmmqkwEkqujuYSrtPeNYqoNRGmmxT"
        on_chain = chain.job(job.address)
        assert on_chain is not None and on_chain.price == 115 and on_chain.timeout == 7200
        assert json.loads(pinning.store[job.ipfs_job]) == json.loads(seed_job_text)  # pinned as a file, compact

        chain.start_job(job.address, NODE)
        watch.follow(job, force=True)
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING and job.node == NODE

        document = load_vectors("result.json")["documents"][0]
        result_cid = pinning.put(document["compact_json"].encode())
        chain.finish_job(job.address, cid_to_digest(result_cid))
        watch.follow(job, force=True)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED and job.ipfs_result == result_cid

        printed = _cli("get", job.address, "--network", "devnet")
    assert "Status:\t\tCOMPLETED" in printed
    for op in document["document"]["opStates"]:
        assert f"- Executed step {op['operationId']} in " in printed
    assert TEST_RPC_KEY not in printed and TEST_PINNING_TOKEN not in printed
