"""The composer in chromium: build the seed job by hand from an empty composer, and
import -> break a field -> see the error there -> fix -> download. Plus light/dark screenshots."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from jobs.definition import canonical_bytes
from tests.browser.composer_support import definition, settle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("COMPOSER_SHOTS", tempfile.gettempdir())) / "composer-shots"


@pytest.fixture
def signed_in(page: Any, live_server: Any) -> Any:
    get_user_model().objects.create_user("composer", password="composer-pass-123")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "composer")
    page.fill("input[name=password]", "composer-pass-123")
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    return page


def _click_and_wait(page: Any, button: str, appears: str) -> None:
    """Click a button that reshapes the form, wait until the page has settled, and check it made `appears`."""
    page.click(button)
    settle(page)
    assert page.locator(appears).count() >= 1, f"{button} did not make {appears}"


def _download(page: Any) -> bytes:
    with page.expect_download() as info:
        page.click("#download-btn")
    download = info.value
    assert download.suggested_filename == "job.json"
    return Path(download.path()).read_bytes()


def test_build_the_seed_job_from_an_empty_composer(signed_in: Any, live_server: Any, seed_job: dict[str, Any]) -> None:
    page = signed_in
    page.goto(f"{live_server.url}/jobs/new")
    settle(page)
    page.fill("#meta-trigger", "cli")
    page.click("#sec-global > summary")
    page.fill("#global-work_dir", "/home/")
    _click_and_wait(page, "button[value='add:global-env']", "[name='global-env-key']")
    page.fill("[name='global-env-key']", "DEBUG")
    page.fill("[name='global-env-value']", "1")

    _click_and_wait(page, "button[value='add-op:volume']", "#ops-0-id")
    page.fill("#ops-0-id", "create-volume")
    page.fill("#ops-0-args-name", "random-id-volume")

    _click_and_wait(page, "button[value='add-op:run']", "#ops-1-id")
    page.fill("#ops-1-id", "run-from-cli")
    _click_and_wait(page, "button[value='cmd-mode:ops-1-args-cmd:list']", "button[value='add:ops-1-args-cmd']")
    args = ["/bin/bash -c ", "echo Hello World > /nosana/outputs/test.txt;", "ls /nosana/outputs;", "pwd;"]
    for n, arg in enumerate(args):
        _click_and_wait(page, "button[value='add:ops-1-args-cmd']", f"#ops-1-args-cmd-{n}")
        page.fill(f"#ops-1-args-cmd-{n}", arg)
    page.fill("#ops-1-args-image", "ubuntu")
    _click_and_wait(page, "button[value='add:ops-1-args-volumes']", "#ops-1-args-volumes-0")
    page.fill("#ops-1-args-volumes-0", "random-id-volume")
    page.fill("[name='ops-1-args-volumes-dest']", "/nosana/outputs")
    page.fill("#ops-1-args-work_dir", "/home/podman")

    _click_and_wait(page, "button[value='add-op:run']", "#ops-2-id")
    page.fill("#ops-2-id", "run-from-cli-2")
    page.fill("#ops-2-args-image", "ubuntu")
    page.fill("#ops-2-args-cmd", "/bin/bash -c 'echo Hello World; ls; pwd;'")

    assert definition(page) == seed_job
    # the graph drew all three ops and the volume they share
    assert page.locator("#graph .node").count() == 3
    assert page.locator("#graph .edge-volume").count() == 1
    assert _download(page) == canonical_bytes(seed_job)


def test_import_break_fix_download(signed_in: Any, live_server: Any, seed_job_text: str,
                                  seed_job: dict[str, Any], tmp_path: Path) -> None:
    page = signed_in
    source = tmp_path / "multi_job.json"
    source.write_text(seed_job_text)
    page.goto(f"{live_server.url}/jobs/new")
    with page.expect_navigation():
        page.set_input_files("#import-file", str(source))
    page.wait_for_selector("#ops-2-id")
    assert "Imported multi_job.json" in page.content()

    page.fill("#ops-1-id", "run from cli")
    error = page.wait_for_selector("#msg-ops-1-id .field-error")
    assert "space" in error.inner_text().lower()
    page.wait_for_selector("#graph .node-error")
    assert page.locator("#summary .verdict-bad").count() == 1

    page.fill("#ops-1-id", "run-from-cli")
    page.wait_for_selector("#msg-ops-1-id .field-error", state="detached")
    page.wait_for_selector("#summary .verdict-ok")
    assert definition(page) == seed_job
    assert _download(page) == canonical_bytes(seed_job)


def test_screenshots_light_and_dark(signed_in: Any, live_server: Any) -> None:
    page = signed_in
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_server.url}/jobs/new/template/gpu-service")
    page.wait_for_selector("#op-0")
    page.screenshot(path=str(SHOTS / "light.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 420, "height": 900})
    page.click("#tab-json")
    page.screenshot(path=str(SHOTS / "dark-narrow.png"), full_page=True)
    assert (SHOTS / "light.png").stat().st_size > 10_000
