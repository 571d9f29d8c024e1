"""The job page, the jobs list, raw logs and line windows: visibility, rendering, escaping, queries."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.logwriter import LogWriter
from jobs.models import Job, JobStatus, LogStream, Step, StepStatus

pytestmark = pytest.mark.django_db

_counter = itertools.count(1)


def make_user(name: str, *, staff: bool = False) -> User:
    return User.objects.create_user(username=name, password="pw-" + name, is_staff=staff)


def make_job(owner: User | None, *, ops: tuple[str, ...] = ("create-volume", "run-from-cli"),
             status: str = JobStatus.RUNNING, **fields: object) -> Job:
    n = next(_counter)
    defaults: dict[str, object] = {
        "address": f"Job{n:04d}" + "x" * 30,
        "market": "Market" + "m" * 30,
        "definition_json": '{"version":"0.1","type":"container","ops":[]}',
        "ipfs_job": "QmRSLxBU9iemsmjmHMmmqkwEkqujuYSrtPeNYqoNRGmmxT",
        "price": 115,
        "timeout": 3600,
        "status": status,
    }
    defaults.update(fields)
    job = Job.objects.create(owner=owner, **defaults)
    for i, op in enumerate(ops):
        Step.objects.create(job=job, index=i, op_id=op, op_type="container/run", status=StepStatus.PENDING)
    return job


def read_stream(response: object) -> str:
    """Collects a streamed (async) download the way the ASGI server would."""
    from asgiref.sync import async_to_sync

    async def run() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])  # type: ignore[attr-defined]

    return async_to_sync(run)().decode()


def write_lines(job: Job, lines: Sequence[tuple[str | None, str, str]]) -> None:
    """lines: (op id or None, stream, text), written through LogWriter like the runner does."""
    steps = {s.op_id: s for s in job.steps.all()}
    writer = LogWriter(job, interval=3600, max_batch=10_000)
    for op, stream, text in lines:
        writer.line(text, step=steps[op] if op else None, stream=stream)
    writer.flush()


@pytest.fixture
def owner() -> User:
    return make_user("owner")


@pytest.fixture
def owner_client(owner: User) -> Client:
    c = Client()
    c.force_login(owner)
    return c


def test_owner_sees_page_other_gets_404_anonymous_redirected(owner: User, owner_client: Client) -> None:
    job = make_job(owner)
    write_lines(job, [("run-from-cli", LogStream.STDOUT, "hello world")])
    url = f"/jobs/{job.address}"
    page = owner_client.get(url)
    assert page.status_code == 200
    assert b"hello world" in page.content
    other = Client()
    other.force_login(make_user("mallory"))
    for path in (url, url + "/logs.txt", url + "/lines?after=0&format=json", url + "/definition.json",
                 url + "/steps/run-from-cli/logs.txt"):
        assert other.get(path).status_code == 404, path
        response = Client().get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path
    staff = Client()
    staff.force_login(make_user("admin", staff=True))
    assert staff.get(url).status_code == 200


def test_page_shows_cli_fields_steps_and_numbered_anchored_lines(owner: User, owner_client: Client) -> None:
    start = timezone.now() - timedelta(seconds=41)
    job = make_job(owner, status=JobStatus.COMPLETED, time_start=start, time_end=start + timedelta(seconds=41),
                   node="Node" + "n" * 40, tx_signature="Sig" + "s" * 80, ipfs_result="QmPutzR15brP5kFKeySRRYRp1PUj2Dz91xhZS9dkP7yjGo",
                   service_url="https://example.invalid/service")
    write_lines(job, [("run-from-cli", LogStream.STDOUT, "test.txt"), ("run-from-cli", LogStream.STDERR, "oops"),
                      ("create-volume", LogStream.SYSTEM, "volume created"), ("run-from-cli", LogStream.STDOUT, "/home/podman")])
    html = owner_client.get(f"/jobs/{job.address}").content.decode()
    for text in ("Market", "Price", "0.000115 NOS/s", "Node", "Start time", "41 seconds", "0.004715 NOS", "Result",
                 "JSON flow", "Transaction", "Service URL", job.node, job.ipfs_result):
        assert text in html, text
    # per-step numbering: run-from-cli has lines 1..3, create-volume line 1
    assert 'id="run-from-cli-L3"' in html and 'href="#run-from-cli-L3"' in html
    assert 'id="create-volume-L1"' in html
    assert re.search(r'class="log-line stderr" id="run-from-cli-L2"', html)
    assert '<details class="step step-pending" id="step-run-from-cli"' in html
    assert "/steps/run-from-cli/logs.txt" in html and f"/jobs/{job.address}/logs.txt" in html


def test_output_with_script_and_ansi_is_shown_as_text(owner: User, owner_client: Client) -> None:
    job = make_job(owner)
    evil = "<script>alert(1)</script> \x1b[31mred\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07 <img src=x onerror=alert(2)>"
    write_lines(job, [("run-from-cli", LogStream.STDOUT, evil)])
    html = owner_client.get(f"/jobs/{job.address}").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<span class="ansi-fg-1">red</span>' in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "\x1b" not in html
    # the JSON window returns raw text (the browser renders it through textContent)
    data = owner_client.get(f"/jobs/{job.address}/lines?after=0&format=json").json()
    assert data["lines"][0]["text"] == evil


def test_raw_downloads_hold_every_line(owner: User, owner_client: Client) -> None:
    job = make_job(owner)
    lines = [("run-from-cli" if i % 3 else "create-volume", LogStream.STDOUT, f"line {i} \x1b[1mbold\x1b[0m") for i in range(250)]
    write_lines(job, lines)
    response = owner_client.get(f"/jobs/{job.address}/logs.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "attachment" in response["Content-Disposition"]
    body = read_stream(response)
    for _, _, text in lines:
        assert text + "\n" in body
    step = owner_client.get(f"/jobs/{job.address}/steps/create-volume/logs.txt")
    step_body = read_stream(step)
    assert step_body == "".join(t + "\n" for op, _, t in lines if op == "create-volume")
    assert owner_client.get(f"/jobs/{job.address}/steps/nope/logs.txt").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_streamed_download_holds_no_connection_between_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow client reading a big log must not keep a pooled connection for the whole download."""
    from asgiref.sync import async_to_sync
    from django.db import connections

    from jobs import selectors

    pool = getattr(connections["default"], "pool", None)
    if pool is None:
        pytest.skip("needs PostgreSQL with the connection pool")
    monkeypatch.setattr(selectors, "RAW_PAGE", 10)
    job = make_job(make_user("reader"))
    write_lines(job, [("run-from-cli", LogStream.STDOUT, f"line {i}") for i in range(35)])
    connection.close()  # this test's own connection goes back to the pool too
    chunks: list[str] = []
    in_use: list[int] = []

    async def read_all() -> None:
        async for chunk in selectors.raw_text(job):
            chunks.append(chunk)
            stats = pool.get_stats()
            in_use.append(stats["pool_size"] - stats["pool_available"])  # while the client reads this chunk

    async_to_sync(read_all)()
    assert len(chunks) == 4 and "line 34\n" in chunks[-1]
    assert in_use == [0, 0, 0, 0]


def test_large_logs_paginate_server_side(owner: User, owner_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs import selectors

    monkeypatch.setattr(selectors, "PAGE_TAIL", 50)
    job = make_job(owner)
    write_lines(job, [("run-from-cli", LogStream.STDOUT, f"row {i}") for i in range(1, 131)])
    html = owner_client.get(f"/jobs/{job.address}").content.decode()
    assert "row 130" in html and "row 81" in html and ">row 80<" not in html
    assert "Show 80 earlier lines" in html
    link = re.search(r'href="(/jobs/[^"]+/lines\?section=run-from-cli&amp;before=\d+)"', html)
    assert link
    earlier = owner_client.get(link.group(1).replace("&amp;", "&") + "&limit=50").content.decode()
    assert 'id="run-from-cli-L31"' in earlier and 'id="run-from-cli-L80"' in earlier and "row 30<" not in earlier
    fragment = owner_client.get(link.group(1).replace("&amp;", "&"), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and 'id="run-from-cli-L1"' in fragment


def test_lines_window_numbers_within_sections(owner: User, owner_client: Client) -> None:
    job = make_job(owner)
    write_lines(job, [(None, LogStream.SYSTEM, "job accepted")] + [
        ("create-volume" if i < 3 else "run-from-cli", LogStream.STDOUT, f"l{i}") for i in range(8)])
    data = owner_client.get(f"/jobs/{job.address}/lines?after=4&format=json").json()
    assert [(line["seq"], line["step"], line["n"]) for line in data["lines"]] == [
        (5, "run-from-cli", 1), (6, "run-from-cli", 2), (7, "run-from-cli", 3), (8, "run-from-cli", 4), (9, "run-from-cli", 5)]
    assert data["last_seq"] == 9 and data["more"] is False
    assert owner_client.get(f"/jobs/{job.address}/lines?after=-1").status_code == 400
    assert owner_client.get(f"/jobs/{job.address}/lines?before=3").status_code == 400


def test_header_fragment_and_diagnosis(owner: User, owner_client: Client) -> None:
    job = make_job(owner, status=JobStatus.FAILED)
    Step.objects.filter(job=job, op_id="run-from-cli").update(status=StepStatus.FAILED, exit_code=137)
    write_lines(job, [("run-from-cli", LogStream.STDOUT, "loading"), ("run-from-cli", LogStream.STDERR,
                      "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB")])
    page = owner_client.get(f"/jobs/{job.address}").content.decode()
    assert "The GPU ran out of memory" in page and 'href="#run-from-cli-L2"' in page
    fragment = owner_client.get(f"/jobs/{job.address}?fragment=header", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="job-header"') and "<html" not in fragment


def test_sandbox_notice_and_definition(owner: User, owner_client: Client) -> None:
    job = make_job(owner, sandbox="bubblewrap")
    html = owner_client.get(f"/jobs/{job.address}").content.decode()
    assert "bubblewrap" in html and "image each op names was ignored" in html
    response = owner_client.get(f"/jobs/{job.address}/definition.json")
    assert response.content.decode() == job.definition_json
    assert owner_client.get(f"/jobs/{job.address}/result.json").status_code == 404


def test_job_list_filters_search_pagination_and_bounded_queries(owner: User, owner_client: Client) -> None:
    other = make_user("other")
    make_job(other, market_name="Someone else's")
    for i in range(30):
        make_job(owner, status=JobStatus.COMPLETED if i % 2 else JobStatus.RUNNING,
                 network="local" if i % 3 else "devnet", ops=(f"op-{i}",), market_name=f"GPU-{i}")
    with CaptureQueriesContext(connection) as ctx:
        response = owner_client.get("/jobs/")
    assert response.status_code == 200
    assert len(ctx.captured_queries) <= 6  # session, user, count, page
    html = response.content.decode()
    assert "Someone else" not in html and "Page 1 of 2" in html
    assert html.count('class="badge status-') == 25
    running = owner_client.get("/jobs/?status=running").content.decode()
    assert "Completed</span>" not in running
    devnet = owner_client.get("/jobs/?network=devnet").content.decode()
    assert devnet.count("<tr id=") == 10
    found = owner_client.get("/jobs/?q=op-17").content.decode()
    assert found.count("<tr id=") == 1 and "GPU-17" in found
    fragment = owner_client.get("/jobs/?fragment=table&page=2", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="job-table"') and fragment.count("<tr id=") == 5
    assert owner_client.get("/jobs/?page=abc&status=bogus").status_code == 200


def _result(name: str) -> str:
    from tests.conftest import load_vectors

    return next(d for d in load_vectors("result.json")["documents"] if d["name"] == name)["compact_json"]


def test_a_job_that_reached_its_timeout_says_so(owner: User, owner_client: Client) -> None:
    """The node reports it as success (protocol §7.3); the page must not pass it off as a full run."""
    start = timezone.now() - timedelta(seconds=6)
    job = make_job(owner, ops=("train",), status=JobStatus.COMPLETED, timeout=4, exit_code=137,
                   time_start=start, time_end=start + timedelta(seconds=6), result_json=_result("expired_timeout"))
    Step.objects.filter(job=job).update(status=StepStatus.SUCCESS, exit_code=137)
    write_lines(job, [("train", LogStream.SYSTEM, "stopping: the job reached its timeout")])
    html = owner_client.get(f"/jobs/{job.address}").content.decode()
    assert "Completed</span> <span class=\"status-note\">— reached its timeout after 4 s</span>" in html
    assert "ran out of memory" not in html  # 137 here is the stop at the deadline, not the OOM killer
    fragment = owner_client.get(f"/jobs/{job.address}?fragment=header", HTTP_HX_REQUEST="true").content.decode()
    assert "reached its timeout after 4 s" in fragment


def test_a_full_run_has_no_timeout_note_even_if_its_logs_mention_one(owner: User, owner_client: Client) -> None:
    text = _result("success_two_ops").replace("Hello World", '{\\"jobExpired\\":true}')
    job = make_job(owner, status=JobStatus.COMPLETED, result_json=text)
    assert '\\"jobExpired\\":true' in job.result_json
    assert "reached its timeout" not in owner_client.get(f"/jobs/{job.address}").content.decode()
