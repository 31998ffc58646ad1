"""The `hub` command line. Each command calls the same stage function the pipeline calls; the stages come in as
a Stages record (hub.cli.stages) from the composition root, pipelines/entry.py, which the `hub` script runs.

A HubError (hub.errors) ends a command with its one-line message on stderr (`error: <message>`) and its exit code:
0 ok, 1 a runtime failure (a failed or blocked run, a busy workspace, a step run too early), 2 bad configuration
or usage (the message names the key)."""

from __future__ import annotations

import sys

from hub.cli.parser import build_parser
from hub.cli.report import run_summary
from hub.cli.stages import Stages
from hub.errors import HubError

__all__ = ["Stages", "main", "run_summary"]


def main(argv: list[str] | None, stages: Stages) -> int:
    """Run one `hub` command (`argv`: its arguments, None: sys.argv) and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, stages)
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
