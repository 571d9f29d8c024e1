"""Fuzzing the composer's form posts through the Django test client, signed in: never a 500.

Random field names (the composer's own, mangled ones and junk) with random
values (text, JSON fragments, numbers, huge counts, control characters) go to
`/jobs/new`, `/jobs/new/validate` and `/jobs/new/sync-json`, as plain posts and
as htmx requests. The test client re-raises any exception a view lets escape,
so a crash fails the campaign with its traceback; every response is also
scanned for secrets by the suite's conftest.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.definition.templates import TEMPLATES
from tests.fuzz.conftest import fuzz_count, record

pytestmark = pytest.mark.django_db

URLS = ("/jobs/new", "/jobs/new/validate", "/jobs/new/sync-json")
OP_FIELDS = ["type", "id", "args-name", "args-image", "args-cmd", "args-cmd-mode", "args-cmd-item",
             "args-entrypoint", "args-entrypoint-item", "args-env-key", "args-env-value", "args-volumes-name",
             "args-volumes-dest", "args-work_dir", "args-gpu", "args-private", "args-expose-count",
             "args-expose-0-port", "args-expose-0-type", "args-expose-0-raw", "args-expose-0-health_checks-count",
             "args-expose-0-health_checks-0-path", "args-restart_policy", "args-resources", "execution-group",
             "execution-depends_on", "execution-stop_if_dependent_stops", "raw", "json", "unmanaged", "collapsed"]
ROOT_FIELDS = ["action", "json", "definition", "raw-root", "root-unmanaged", "ops-in-form", "ops-absent", "ops-count",
               "meta-trigger", "meta-system_resources-required_vram", "global-image", "global-work_dir",
               "global-gpu", "global-entrypoint", "global-entrypoint-item", "global-env-key", "global-env-value",
               "global-variables-key", "global-variables-value", "market", "network", "timeout_minutes", "draft",
               "draft_name"]
ACTIONS = ["refresh", "apply-json", "reset-json", "save-draft", "post", "import", "download", "add-op",
           "add-op:volume", "op-remove:0", "op-dup:0", "op-up:1", "op-down:0", "op-toggle:0", "op-move:0:1",
           "op-remove:99", "op-move:x:y", "cmd-mode:ops-0-args-cmd:list", "cmd-mode:global-entrypoint:string",
           "add:global-env", "add:ops-0-args-env", "del:global-env:0", "del:ops-0-args-env:7", "add:nowhere",
           "fix:ops-0-args-cmd", "fix:nothing", "bogus", ""]
NAMES = st.one_of(
    st.sampled_from(ROOT_FIELDS),
    st.builds(lambda i, f: f"ops-{i}-{f}", st.sampled_from(["0", "1", "2", "-1", "99", "x", "00"]),
              st.sampled_from(OP_FIELDS)),
    st.text(max_size=30),
)
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                       max_leaves=12).map(json.dumps)
VALUES = st.one_of(
    st.text(max_size=200),
    JSONISH,
    st.sampled_from(ACTIONS),
    st.integers(-10**12, 10**12).map(str),
    st.sampled_from(["on", "1", "0", "list", "string", "", "999999999999999999999", "-1", "1e309", "NaN"]),
    st.sampled_from([t.text for t in TEMPLATES.values()]),
)
FORMS = st.lists(st.tuples(NAMES, VALUES), max_size=25)


@pytest.fixture
def signed_in() -> Client:
    user = User.objects.create_user("fuzz-composer", password="pw-123456789")
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, url: str, fields: list[tuple[str, str]], htmx: bool) -> int:
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value.replace("\x00", ""))  # a form field cannot carry NUL
    response = client.post(url, data, headers={"HX-Request": "true"} if htmx else None)
    assert response.status_code < 500, (url, fields[:5], response.status_code)
    return response.status_code


def _campaign(client: Client, full: bool) -> None:
    n = fuzz_count("composer", full=full)
    statuses: dict[int, int] = {}

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(URLS), FORMS, st.booleans())
    def post(url: str, fields: list[tuple[str, Any]], htmx: bool) -> None:
        status = _post(client, url, fields, htmx)
        statuses[status] = statuses.get(status, 0) + 1

    post()
    record("composer/posts", sum(statuses.values()))
    assert sum(statuses.values()) >= n * 0.9, statuses
    assert statuses.get(200, 0) > 0, statuses  # the fuzz reached the views, not only refusals


@pytest.mark.timeout(180)
def test_composer_fuzz_quick(signed_in: Client) -> None:
    _campaign(signed_in, full=False)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_composer_fuzz_full(signed_in: Client) -> None:
    _campaign(signed_in, full=True)
