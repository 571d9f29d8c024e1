"""The Nosana job definition: model, reference-exact validation, lint warnings, canonical bytes.

Everything else in the project goes through this package's public names.
"""

from jobs.definition.canonical import canonical_bytes
from jobs.definition.issues import Issue, Verdict, format_path
from jobs.definition.jsontext import DefinitionParseError, parse_json_text
from jobs.definition.model import JobDefinition
from jobs.definition.validate import validate, validate_text

__all__ = [
    "DefinitionParseError",
    "Issue",
    "JobDefinition",
    "Verdict",
    "canonical_bytes",
    "format_path",
    "parse_json_text",
    "validate",
    "validate_text",
]
