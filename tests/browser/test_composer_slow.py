"""The composer against a slow server: whatever is typed while a round-trip is in flight ends up
exactly where it was typed, and the cursor stays where the user put it.

Races are made deterministic by holding the composer's POSTs in flight (Gate) and typing
meanwhile; one test runs the whole seed build against a server that answers every composer
POST late."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jobs import composer_views
from jobs.definition import canonical_bytes
from tests.browser.composer_support import SETTLE_MS, Gate, definition, focused_name, settle, values

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NEW = "/jobs/new"
VALIDATE = "/jobs/new/validate"
TYPING_DELAY_MS = 30  # between keys, like a fast typist
SERVER_DELAY_S = 0.8  # per composer POST in the slow-server test: longer than the 300 ms debounce


def _is_inert(page: Any, selector: str) -> bool:
    inert: bool = page.eval_on_selector(selector, "e => e.inert || !!e.closest('[inert]')")
    return inert


def type_into(page: Any, selector: str, text: str) -> None:
    """Click into a field, select what is there and type over it key by key."""
    page.click(selector)
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(text, delay=TYPING_DELAY_MS)


def _type_at_end(page: Any, selector: str, text: str) -> None:
    """Click into a field, go to its end and type key by key, as a person does."""
    page.click(selector)
    page.keyboard.press("End")
    page.keyboard.type(text)


def test_a_live_check_in_flight_never_moves_the_cursor(page: Any, live_server: Any) -> None:
    """The reported bug: "+ Variable", type the name, Tab, type the value while the check of the
    name is still running. The answer used to put the cursor back in the name field."""
    checks = Gate(page, VALIDATE)
    page.goto(f"{live_server.url}{NEW}")
    settle(page)
    page.click("#sec-global > summary")
    page.click("button[value='add:global-env']")
    settle(page)
    assert focused_name(page) == "global-env-key"  # the new row's name field, ready to type

    checks.close()
    page.keyboard.type("DEBUG")
    checks.wait_held(1)  # the check of "DEBUG" has left and not come back
    page.keyboard.press("Tab")
    assert focused_name(page) == "global-env-value"
    page.keyboard.type("1")
    checks.open()  # it answers now, while the cursor is in the value field
    settle(page)
    assert focused_name(page) == "global-env-value"
    page.keyboard.type("23")

    env = definition(page)["global"]["env"]
    assert env == {"DEBUG": "123"}
    assert values(page, "[name='global-env-key']") == ["DEBUG"]


def test_typing_elsewhere_while_a_check_is_in_flight(page: Any, live_server: Any) -> None:
    """A check of one field in flight; the user types in other fields; the answer changes none of them."""
    checks = Gate(page, VALIDATE)
    page.goto(f"{live_server.url}{NEW}")
    settle(page)
    page.click("button[value='add-op:run']")
    settle(page)
    checks.close()
    page.fill("#ops-0-id", "first")
    checks.wait_held(1)
    _type_at_end(page, "#ops-0-args-image", "ubu")
    checks.wait_held(2)  # a second check, with "ubu", is held too
    page.keyboard.type("ntu")
    checks.open()
    settle(page)
    assert focused_name(page) == "ops-0-args-image"
    page.keyboard.type(":24.04")
    op = definition(page)["ops"][0]
    assert (op["id"], op["args"]["image"]) == ("first", "ubuntu:24.04")
    # the summary, graph and message slots follow the last state, not an older answer
    assert page.locator("#graph .node").count() == 1


def test_typing_while_the_form_changes_shape(page: Any, live_server: Any) -> None:
    """Each structural button (add a row, an op, an argument, a mount; switch cmd mode; move and
    remove ops) is held in flight while the user types in another field. Everything typed stays
    in its field, the renumbered ones included, and the cursor stays where it was."""
    shape = Gate(page, NEW)
    page.goto(f"{live_server.url}{NEW}")
    settle(page)
    page.click("#sec-global > summary")

    # + Variable while typing the global image
    _type_at_end(page, "#global-image", "ubu")
    shape.close()
    page.click("button[value='add:global-env']")
    shape.wait_held(1)
    _type_at_end(page, "#global-image", "ntu")
    shape.open()
    settle(page)
    assert focused_name(page) == "global-image"  # not pulled into the new row
    page.keyboard.type(":24.04")
    page.fill("[name='global-env-key']", "DEBUG")
    page.fill("[name='global-env-value']", "1")

    # + Container run, then + Volume while typing the run op's id
    page.click("button[value='add-op:run']")
    settle(page)
    page.fill("#ops-0-id", "first")
    shape.close()
    page.click("button[value='add-op:volume']")
    shape.wait_held(1)
    _type_at_end(page, "#ops-0-id", "-op")
    shape.open()
    settle(page)
    assert focused_name(page) == "ops-0-id"
    page.keyboard.type("s")
    assert page.input_value("#ops-1-id") == "volume-1"

    # type a shell string and switch to an argument list at once; type the image meanwhile
    page.fill("#ops-0-args-cmd", "echo hi")
    shape.close()
    page.click("button[value='cmd-mode:ops-0-args-cmd:list']")
    shape.wait_held(1)
    assert _is_inert(page, "#ops-0-args-cmd")  # it is being rewritten: locked, not silently dropped
    _type_at_end(page, "#ops-0-args-image", "busybox")
    shape.open()
    settle(page)
    assert values(page, "[name='ops-0-args-cmd-item']") == ["/bin/sh", "-c", "echo hi"]

    # + Argument while finishing the last argument
    shape.close()
    page.click("button[value='add:ops-0-args-cmd']")
    shape.wait_held(1)
    _type_at_end(page, "#ops-0-args-cmd-2", " there")
    shape.open()
    settle(page)
    assert focused_name(page) == "ops-0-args-cmd-item"
    page.keyboard.type("!")
    page.fill("#ops-0-args-cmd-3", "ls")

    # + Mount a volume while naming the volume
    shape.close()
    page.click("button[value='add:ops-0-args-volumes']")
    shape.wait_held(1)
    page.fill("#ops-1-args-name", "shared")
    shape.open()
    settle(page)
    page.fill("#ops-0-args-volumes-0", "shared")
    page.fill("[name='ops-0-args-volumes-dest']", "/data")

    # a third op; move it up while typing into it, then remove it while typing into the op after it
    page.click("button[value='add-op:run']")
    settle(page)
    shape.close()
    page.click("button[value='op-up:2']")
    shape.wait_held(1)
    _type_at_end(page, "#ops-2-args-image", "alpine")  # becomes op 1 when the answer comes
    shape.open()
    settle(page)
    assert page.input_value("#ops-1-args-image") == "alpine"
    assert focused_name(page) == "ops-1-args-image"
    shape.close()
    page.click("button[value='op-remove:1']")
    shape.wait_held(1)
    assert _is_inert(page, "#ops-1-args-image")
    _type_at_end(page, "#ops-2-args-name", "-data")  # the volume op, op 1 once the answer comes
    shape.open()
    settle(page)
    assert focused_name(page) == "ops-1-args-name"

    built = definition(page)
    assert built["global"] == {"image": "ubuntu:24.04", "env": {"DEBUG": "1"}}
    assert [op["id"] for op in built["ops"]] == ["first-ops", "volume-1"]
    run, volume = built["ops"]
    assert run["args"]["image"] == "busybox"
    assert run["args"]["cmd"] == ["/bin/sh", "-c", "echo hi there!", "ls"]
    assert run["args"]["volumes"] == [{"name": "shared", "dest": "/data"}]
    assert volume["args"] == {"name": "shared-data"}


def test_removing_a_row_while_typing_in_a_later_row(page: Any, live_server: Any) -> None:
    """✕ on the first env row is in flight while the third row's value is typed: the text follows
    its row, which is the second row once the answer comes."""
    shape = Gate(page, NEW)
    page.goto(f"{live_server.url}{NEW}")
    settle(page)
    page.click("#sec-global > summary")
    for n, name in enumerate(["A", "B", "C"]):
        page.click("button[value='add:global-env']")
        settle(page)
        page.fill(f"#global-env-{n}", name)
    shape.close()
    page.click("button[value='del:global-env:0']")
    shape.wait_held(1)
    assert _is_inert(page, "#global-env-0")
    page.locator("[name='global-env-value']").nth(2).click()
    page.keyboard.type("three")
    shape.open()
    settle(page)
    assert values(page, "[name='global-env-key']") == ["B", "C"]
    assert values(page, "[name='global-env-value']") == ["", "three"]
    page.keyboard.type("!")  # the cursor went along with its row
    assert definition(page)["global"]["env"] == {"B": "", "C": "three!"}


def test_a_json_edit_waits_for_a_structural_change(page: Any, live_server: Any) -> None:
    """A JSON edit made while a button's answer is pending is sent after it, and the form follows
    the JSON as typed (the later edit wins; neither answer overwrites the editor)."""
    shape = Gate(page, NEW)
    page.goto(f"{live_server.url}{NEW}")
    settle(page)
    page.click("button[value='add-op:run']")
    settle(page)
    page.click("#tab-json")
    edited = definition(page)
    edited["ops"][0]["id"] = "from-json"
    page.evaluate(
        """() => { window.jsonTries = 0; document.body.addEventListener("htmx:beforeRequest",
        e => { if (e.detail.elt.id === "json-editor") window.jsonTries += 1; }); }"""
    )
    shape.close()
    page.click("button[value='add-op:volume']")
    shape.wait_held(1)
    page.fill("#json-editor", json.dumps(edited, indent=2))
    page.wait_for_function("() => window.jsonTries >= 1", timeout=SETTLE_MS)  # tried, and told to wait
    shape.open()
    settle(page)
    assert json.loads(page.input_value("#json-editor")) == edited
    assert values(page, "input.op-id") == ["from-json"]
    assert definition(page) == edited


@pytest.fixture
def slow_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every composer POST answers SERVER_DELAY_S late (the live server runs in this process)."""
    real: Callable[..., Any] = composer_views.render

    def late_render(request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method == "POST":
            time.sleep(SERVER_DELAY_S)
        return real(request, *args, **kwargs)

    monkeypatch.setattr(composer_views, "render", late_render)
    yield


def test_seed_job_on_a_slow_server(page: Any, live_server: Any, slow_server: None, seed_job: dict[str, Any]) -> None:
    """The seed build by clicking and typing key by key, never waiting for a check to answer before
    typing on: answers land while the user is typing somewhere else."""
    page.goto(f"{live_server.url}{NEW}")
    settle(page)
    type_into(page, "#meta-trigger", "cli")
    page.click("#sec-global > summary")
    type_into(page, "#global-work_dir", "/home/")
    page.click("button[value='add:global-env']")
    type_into(page, "[name='global-env-key']", "DEBUG")  # waits for the row, never for the checks
    type_into(page, "[name='global-env-value']", "1")

    page.click("button[value='add-op:volume']")
    type_into(page, "#ops-0-id", "create-volume")
    type_into(page, "#ops-0-args-name", "random-id-volume")

    page.click("button[value='add-op:run']")
    type_into(page, "#ops-1-id", "run-from-cli")
    page.click("button[value='cmd-mode:ops-1-args-cmd:list']")
    args = ["/bin/bash -c ", "echo Hello World > /nosana/outputs/test.txt;", "ls /nosana/outputs;", "pwd;"]
    for n, arg in enumerate(args):
        page.click("button[value='add:ops-1-args-cmd']")
        type_into(page, f"#ops-1-args-cmd-{n}", arg)
    type_into(page, "#ops-1-args-image", "ubuntu")
    page.click("button[value='add:ops-1-args-volumes']")
    type_into(page, "#ops-1-args-volumes-0", "random-id-volume")
    type_into(page, "[name='ops-1-args-volumes-dest']", "/nosana/outputs")
    type_into(page, "#ops-1-args-work_dir", "/home/podman")

    page.click("button[value='add-op:run']")
    type_into(page, "#ops-2-id", "run-from-cli-2")
    type_into(page, "#ops-2-args-image", "ubuntu")
    type_into(page, "#ops-2-args-cmd", "/bin/bash -c 'echo Hello World; ls; pwd;'")

    assert definition(page) == seed_job
    with page.expect_download() as info:
        page.click("#download-btn")
    assert info.value.path().read_bytes() == canonical_bytes(seed_job)
