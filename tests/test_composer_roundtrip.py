"""Definition -> the composer's form fields (as a browser would send them) -> definition, unchanged.

The fields are read from the rendered page itself, so this covers the templates too.
"""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jobs.composer.forms import state_from_post
from jobs.composer.page import build_context, pretty
from jobs.composer.state import ComposerState
from jobs.definition import canonical_bytes, validate
from jobs.definition.templates import TEMPLATES


class FormFields(HTMLParser):
    """Collects what submitting the composer form would send (buttons and files excluded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: list[tuple[str, str]] = []
        self._area: tuple[str, list[str]] | None = None
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._option: tuple[str | None, bool, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((name, a.get("value", "on") or "on"))
                return
            self.fields.append((name, a.get("value", "")))
        elif tag == "textarea" and name:
            self._area = (name, [])
        elif tag == "select" and name:
            self._select = (name, [])
        elif tag == "option" and self._select is not None:
            self._option = (a.get("value"), "selected" in a, [])

    def handle_data(self, data: str) -> None:
        if self._area is not None:
            self._area[1].append(data)
        if self._option is not None:
            self._option[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._area is not None:
            text = "".join(self._area[1])
            if text.startswith("\n"):
                text = text[1:]  # HTML drops one newline right after <textarea>
            self.fields.append((self._area[0], text))
            self._area = None
        elif tag == "option" and self._option is not None and self._select is not None:
            value, selected, text = self._option
            self._select[1].append((value if value is not None else "".join(text), selected))
            self._option = None
        elif tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [v for v, s in options if s] or [v for v, _ in options[:1]]
            if chosen:
                self.fields.append((name, chosen[0]))
            self._select = None


def page_fields(html: str) -> list[tuple[str, str]]:
    start = html.index('<form id="composer"')
    parser = FormFields()
    parser.feed(html[start : html.index("</form>", start)])
    return parser.fields


def querydict(fields: list[tuple[str, str]]) -> Any:
    from django.http import QueryDict

    q = QueryDict(mutable=True)
    for name, value in fields:
        q.appendlist(name, value.replace("\n", "\r\n"))  # as browsers send line breaks
    return q


def through_form(client: Client, definition: dict[str, Any]) -> dict[str, Any]:
    """Import the definition (JSON tab), then read the form the page draws and parse it back."""
    response = client.post("/jobs/new", {"action": "apply-json", "definition": pretty(definition)})
    assert response.status_code == 200, response.content[:500]
    fields = [(n, v) for n, v in page_fields(response.content.decode()) if n not in ("definition", "json_base")]
    return state_from_post(querydict(fields), 10_000).to_definition()


# ---- strategies: the templates plus random edits ------------------------------------------

safe_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
line = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=16)
op_id = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs")), min_size=1, max_size=10)
env = st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), line, max_size=3)
cmd = st.one_of(safe_text, st.lists(safe_text, max_size=4))
port = st.one_of(
    st.integers(1, 65535),
    st.builds(lambda p, t: {"port": p, "type": t}, st.integers(1, 65535), st.sampled_from(["web", "api", "none"])),
    st.builds(
        lambda p, path, c: {"port": p, "health_checks": [
            {"type": "http", "path": path, "method": "GET", "expected_status": 200, "continuous": c}]},
        st.integers(1, 65535), st.from_regex(r"/[a-z]{0,6}", fullmatch=True), st.booleans(),
    ),
)


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    base = copy.deepcopy(TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))].definition())
    ops = base["ops"]
    ids = draw(st.lists(op_id, min_size=len(ops), max_size=len(ops), unique=True))
    for op, new_id in zip(ops, ids, strict=True):
        if draw(st.booleans()):
            op["id"] = new_id
        args = op["args"]
        if op["type"] != "container/run":
            continue
        if draw(st.booleans()):
            args["image"] = draw(line)
        if draw(st.booleans()):
            args["env"] = draw(env)
        if draw(st.booleans()):
            args["cmd"] = draw(cmd)
        if draw(st.booleans()):
            args["volumes"] = [{"name": draw(line), "dest": draw(line)} for _ in range(draw(st.integers(0, 2)))]
        if draw(st.booleans()):
            items = draw(st.lists(port, max_size=3, unique_by=lambda p: p if isinstance(p, int) else p["port"]))
            args["expose"] = items[0] if len(items) == 1 and draw(st.booleans()) else items
        if draw(st.booleans()):
            args["gpu"] = draw(st.booleans())
    return base


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(definition=definitions())
def test_valid_definition_survives_the_form(client: Client, definition: dict[str, Any]) -> None:
    assume(validate(definition).valid)
    back = through_form(client, definition)
    assert back == definition
    assert canonical_bytes(back) == canonical_bytes(definition)


@pytest.mark.django_db
@pytest.mark.parametrize("slug", sorted(TEMPLATES))
def test_every_template_survives_the_form(client: Client, slug: str) -> None:
    definition = TEMPLATES[slug].definition()
    back = through_form(client, definition)
    assert back == definition
    assert canonical_bytes(back) == canonical_bytes(definition)


@pytest.mark.django_db
def test_conformance_cases_keep_everything(client: Client) -> None:
    """Every case of the vectors (valid or not) that is an object with an ops list comes back unchanged."""
    from tests.conftest import load_vectors

    cases = load_vectors("job-definition-cases.json")["cases"]
    checked = 0
    for case in cases:
        definition = case["definition"]
        if not isinstance(definition, dict) or len(json.dumps(definition)) > 20_000:
            continue
        state = ComposerState.of(definition)
        context = build_context_for(state)
        assert context is not None
        back = through_form(client, definition)
        assert back == definition, case["name"]
        checked += 1
    assert checked > 100


def build_context_for(state: ComposerState) -> Any:
    from jobs.composer.page import Source

    return build_context(Source(state, None))
