"""Subcommands of `python manage.py job`, one module each.

Each module defines `add_arguments(parser)` and `run(options, out, err) -> int`
(the exit status). `jobs/management/commands/job.py` only dispatches.
"""

SUBCOMMANDS = {
    "validate": "Check job definition files against the Nosana format.",
    "cid": "Print the CID that posting each file would pin (computed locally).",
    "post": "Post a job definition to a market (like `nosana job post`).",
    "get": "Show a job and its result (like `nosana job get`).",
}
