"""`python manage.py job cid FILE...`: the CID posting each file would pin, computed locally.

Posting pins `JSON.stringify` of the parsed file (compact, the file's own key order),
so the CID is that of `canonical_bytes`, not of the file's bytes.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any, TextIO

from jobs.definition import DefinitionParseError, canonical_bytes, parse_json_text
from nosana_dash.network.codec.cid import cid_v0


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="job definition JSON files")


def file_cid(name: str) -> str:
    """The CID of one file's canonical bytes; raises OSError or DefinitionParseError."""
    return cid_v0(canonical_bytes(parse_json_text(Path(name).read_bytes())))


def run(options: dict[str, Any], out: TextIO, err: TextIO) -> int:
    status = 0
    for name in options["files"]:
        try:
            out.write(f"{file_cid(name)}  {name}\n")
        except OSError as exc:
            err.write(f"{name}: cannot read the file: {exc.strerror or exc}\n")
            status = 2
        except DefinitionParseError as exc:
            err.write(f"{name}: not JSON: {exc.message} (line {exc.line}, column {exc.column})\n")
            status = 2
    return status
