"""Everything a composer page shows, computed from a form state: the definition, its verdict
placed beside the fields, the graph, the JSON text and the command lines."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import QueryDict

from jobs.composer.forms import area, hidden_root, state_from_post
from jobs.composer.graph import Graph, build_graph
from jobs.composer.slots import Placed, place, slots
from jobs.composer.state import (
    HTTP_METHODS,
    OP_TYPES,
    RESTART_POLICIES,
    SERVICE_TYPES,
    ComposerState,
)
from jobs.definition import DefinitionParseError, parse_json_text, validate

NETWORKS = ("local", "devnet", "mainnet")


def pretty(definition: Any) -> str:
    return json.dumps(definition, indent=2, ensure_ascii=False)


@dataclass
class JsonError:
    message: str
    line: int
    column: int


@dataclass
class Source:
    """Which side the user edited last, and what it says."""

    state: ComposerState
    definition: Any
    json_text: str | None = None  # the JSON as typed, when it is the source (or could not be read)
    json_error: JsonError | None = None
    notice: str = ""


def too_many_ops(definition: Any) -> int:
    ops = definition.get("ops") if isinstance(definition, dict) else None
    count = len(ops) if isinstance(ops, list) else 0
    return count if count > settings.NOSANA_MAX_OPS else 0


def from_json_text(text: str | bytes, fallback: ComposerState) -> Source:
    """JSON text -> form. Bad JSON keeps the form's last good state and reports line and column."""
    try:
        parsed = parse_json_text(text)
    except DefinitionParseError as exc:
        shown = text if isinstance(text, str) else ""
        return Source(fallback, fallback.to_definition(), shown, JsonError(exc.message, exc.line, exc.column))
    shown = text if isinstance(text, str) else pretty(parsed)
    if not isinstance(parsed, dict):
        return Source(fallback, fallback.to_definition(), shown,
                      JsonError("a job definition is a JSON object ({…}) at the top level", 1, 1))
    count = too_many_ops(parsed)
    if count:
        return Source(
            fallback, fallback.to_definition(), shown,
            JsonError(f"{count:,} ops: the form holds at most {settings.NOSANA_MAX_OPS}. "
                      "Split the job, or trim it here", 1, 1),
        )
    state = ComposerState.of(parsed)
    for op, old in zip(state.ops, fallback.ops, strict=False):
        op.collapsed = old.collapsed
    return Source(state, parsed)


def resolve(post: QueryDict, *, prefer_json: bool = False) -> Source:
    """Form or JSON: the JSON wins when it was edited since the page was drawn (or on "Apply JSON")."""
    state = state_from_post(post, settings.NOSANA_MAX_OPS)
    json_text = area(post.get("definition", ""))
    json_base = area(post.get("json_base", ""))
    if prefer_json or (json_text.strip() and json_text.strip() != json_base.strip()):
        return from_json_text(json_text, state)
    return Source(state, state.to_definition())


@dataclass
class Commands:
    market: str
    network: str
    timeout_minutes: str
    nosana: str
    manage: str
    timeout_seconds: str = ""


def commands(market: str, network: str, timeout_minutes: str) -> Commands:
    shown_market = shlex.quote(market) if market else "<market>"
    minutes = timeout_minutes.strip()
    seconds = ""
    extra = ""
    if minutes.isdigit() and int(minutes) > 0:
        seconds = f"{int(minutes) * 60:,}"
        extra = f" --timeout {int(minutes)}"
    net = network if network in NETWORKS else settings.NOSANA_DEFAULT_NETWORK
    nosana_net = f" --network {net}" if net in ("devnet", "mainnet") else ""
    return Commands(
        market=market,
        network=net,
        timeout_minutes=timeout_minutes,
        timeout_seconds=seconds,
        nosana=f"nosana job post --file job.json --market {shown_market}{extra}{nosana_net}",
        manage=f"python manage.py job post --file job.json --market {shown_market} --network {net}{extra}",
    )


@dataclass
class OpView:
    op: Any
    i: int
    p: str
    volumes: list[str]
    dep_choices: list[tuple[str, bool, bool]]  # (id, checked, known)
    level: str
    kept: dict[str, str]
    kinds: list[str] = field(default_factory=list)


def build_context(
    source: Source,
    *,
    market: str = "",
    network: str = "",
    timeout_minutes: str = "",
    draft_id: str = "",
    draft_name: str = "",
) -> dict[str, Any]:
    state = source.state
    definition = state.to_definition()
    verdict = validate(definition)
    errors = [i.as_dict() for i in verdict.errors]
    warnings = [i.as_dict() for i in verdict.warnings]
    form_errors: list[dict[str, object]] = [{"path": p, "message": m} for p, m in state.form_issues]
    placed: Placed = place(state, errors + form_errors, warnings)
    ids = [op.id for op in state.ops if op.json_text is None]
    ops_view: list[OpView] = []
    for i, op in enumerate(state.ops):
        known = set(ids) - {op.id}
        choices = [(d, d in op.depends_on, d in known) for d in state.other_ids(i)]
        kept = {k: json.dumps(v, ensure_ascii=False) for k, v in op.kept.items()} if op.json_text is None else {}
        kinds = list(OP_TYPES) if op.type in OP_TYPES else [*OP_TYPES, op.type]
        ops_view.append(OpView(op, i, f"ops-{i}", state.volumes_before(i), choices,
                               placed.op_levels.get(i, ""), kept, kinds))
    graph: Graph = build_graph(definition, placed.op_levels)
    text = pretty(definition)
    return {
        "state": state,
        "ops_view": ops_view,
        "definition_obj": definition,
        "verdict": verdict,
        "errors": placed.errors,
        "warnings": placed.warnings,
        "issues_by_slot": placed.by_slot,
        "slots": slots(state),
        "graph": graph,
        "json_text": source.json_text if source.json_text is not None else text,
        "json_base": text,
        "json_error": source.json_error,
        "json_dirty": source.json_error is not None,
        "raw_root": hidden_root(state, definition),
        "root_kept": {k: json.dumps(v, ensure_ascii=False) for k, v in state.kept.items()},
        "commands": commands(market, network, timeout_minutes),
        "networks": NETWORKS,
        "service_types": SERVICE_TYPES,
        "http_methods": HTTP_METHODS,
        "restart_policies": RESTART_POLICIES,
        "draft_id": draft_id,
        "draft_name": draft_name,
        "notice": source.notice,
        "max_ops": settings.NOSANA_MAX_OPS,
        "max_upload": settings.NOSANA_MAX_UPLOAD_BYTES,
        "op_count": len(state.ops),
    }
