"""Template helpers for the composer: messages beside a field, and its form buttons."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

register = template.Library()


def _slot(prefix: str, suffix: str) -> str:
    return f"{prefix}-{suffix}" if prefix and suffix else prefix or suffix


@register.inclusion_tag("jobs/composer/_msgs.html", takes_context=True)
def msgs(context: template.Context, prefix: str, suffix: str = "") -> dict[str, Any]:
    """The errors and warnings placed at one slot; `oob` in the context swaps it out of band."""
    slot = _slot(prefix, suffix)
    return {
        "slot": slot,
        "items": (context.get("issues_by_slot") or {}).get(slot, []),
        "oob": context.get("oob", False),
        "fixable": slot.endswith(("-cmd", "-entrypoint")),
        "new_url": reverse("jobs:new"),
    }


@register.inclusion_tag("jobs/composer/_act.html")
def act(value: str, label: str, css: str = "btn btn-small", title: str = "", focus: str = "") -> dict[str, Any]:
    """A form button that changes the form's structure: a plain submit, or an htmx swap of the form pane."""
    return {"value": value, "label": label, "css": css, "title": title or label, "new_url": reverse("jobs:new")}


@register.filter
def slot(prefix: str, suffix: str) -> str:
    return _slot(str(prefix), str(suffix))


@register.filter
def has_msgs(issues_by_slot: dict[str, Any], slot_name: str) -> bool:
    return bool(issues_by_slot.get(slot_name))


@register.filter
def tojson(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


@register.filter
def cat(value: Any, arg: Any) -> str:
    """String concatenation that also takes numbers (Django's `add` does not)."""
    return f"{value}{arg}"


@register.filter
def managed(obj: Any, key: str) -> bool:
    """Whether the form has a widget for this key of an op or of the root (else: kept as imported)."""
    return bool(obj.managed(key))
