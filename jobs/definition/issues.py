"""The result types of validation: one `Issue` per error or warning, one `Verdict` per definition."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs.definition.model import JobDefinition

logger = logging.getLogger(__name__)


@dataclass(frozen=True, init=False)
class Issue:
    """One error or warning.

    `path` is a JSON path without the reference's `$input` root (`ops[1].args.image`,
    `global.env.DEBUG`, `""` for the root). `suggestion`, when set, is a replacement value
    for the field at `path` that fixes the problem (the composer offers it as a one-click fix).
    """

    path: str
    message: str
    suggestion: object | None = field(default=None, compare=False)

    def __init__(self, path: str, message: str, suggestion: object | None = None) -> None:
        # Written straight into the instance dict: the generated frozen __init__ goes through
        # object.__setattr__ per field, which made up a large part of validating long op lists.
        fields = self.__dict__
        fields["path"] = path
        fields["message"] = message
        fields["suggestion"] = suggestion

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"path": self.path, "message": self.message}
        if self.suggestion is not None:
            data["suggestion"] = self.suggestion
        return data


@dataclass(frozen=True, init=False)
class Verdict:
    """The outcome of validating one definition.

    `definition` (the typed pydantic model, None when invalid) is built on first access:
    like the reference, which hands back the data it checked, validation itself does not
    pay for building models nobody reads. `source` is the validated JSON value.
    """

    valid: bool  # exactly the reference validator's verdict
    errors: list[Issue]  # what the reference reports (every path it reports)
    warnings: list[Issue]  # our extra checks; they never change `valid`
    source: object = field(default=None, repr=False, compare=False)

    def __init__(self, valid: bool, errors: list[Issue], warnings: list[Issue], source: object = None) -> None:
        fields = self.__dict__  # as in Issue: one Verdict per validation, so its construction counts
        fields["valid"] = valid
        fields["errors"] = errors
        fields["warnings"] = warnings
        fields["source"] = source

    @cached_property
    def definition(self) -> JobDefinition | None:
        if not self.valid:
            return None
        from pydantic import ValidationError

        from jobs.definition.model import JobDefinition

        if isinstance(self.source, JobDefinition):
            return self.source
        try:
            return JobDefinition.model_validate(self.source)
        except ValidationError as exc:  # a gap between the model and the reference checks: keep the verdict
            logger.error("definition accepted by the reference checks but not by the model: %s", exc.errors()[:3])
            return None


def format_path(path: str) -> str:
    """A path for people: the root has no name of its own."""
    return path if path else "(root)"
