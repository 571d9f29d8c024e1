"""Drafts: the only state the composer changes. Keyword-only, typed, one owner per draft."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from jobs.models import Draft


def _default_name() -> str:
    return "Draft " + timezone.localtime().strftime("%Y-%m-%d %H:%M")


def save_draft(
    *,
    owner: Any,
    draft_id: int | None,
    name: str,
    definition_text: str,
    market: str,
) -> Draft:
    """Create a draft, or update the owner's draft `draft_id` (another user's id starts a new one)."""
    draft = Draft.objects.filter(pk=draft_id, owner=owner).first() if draft_id else None
    if draft is None:
        draft = Draft(owner=owner)
    draft.name = name.strip()[:200] or draft.name or _default_name()
    draft.definition_text = definition_text  # verbatim, even when it is not valid JSON
    draft.market = market[:64]
    draft.save()
    return draft


def drafts_of(owner: Any) -> QuerySet[Draft]:
    return Draft.objects.filter(owner=owner).order_by("-updated_at")


def delete_draft(*, draft: Draft) -> None:
    draft.delete()
