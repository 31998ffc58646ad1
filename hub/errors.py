"""The root of the errors a person running the hub can act on, and the exit code each gives `hub`.

An error the hub raises for its user (a hub.yaml key to fix, a database that cannot be reached, a step
run before the one it needs, a busy workspace) subclasses HubError: `hub` prints its message on one line
(`error: <message>`) and exits with its `exit_code`, and the pipeline's logs show it without a stack trace.
Anything else is a bug and keeps its traceback.

Exit codes of `hub`: 0 done; 1 a run that failed or was blocked, or a HubError that is not about the
configuration; 2 a configuration or usage problem (hub.yaml, a source that does not fit its block, a
database hub.yaml names that cannot be reached, a bad command line).
"""

from __future__ import annotations


class HubError(Exception):
    """A problem the user can act on, reported as its one-line message."""

    exit_code = 1


class NotReady(HubError, RuntimeError):
    """A step was asked for before the step it builds on ran (no scored pairs, no golden records built yet)."""


class Superseded(HubError, RuntimeError):
    """Another process changed what this step was prepared against (another run published meanwhile): run it again."""
