"""The request log: every data-subject request, who asked, when, what, about whom (a golden id or a keyed hash)
and how it ended, with its due date; never a value of the person."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub import store
from hub.config import HubConfig
from hub.store import subjects as rows
from hub.subjects.find import SubjectNotFound


def cli_user() -> str:
    """Who asks from the command line: 'cli:' and the OS user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def api_user(key_id: str) -> str:
    return f"key:{key_id}"


@dataclass
class Entry:
    """A request in progress: what the log will say when it ends (`subject`, `detail`, `outcome`)."""

    request_id: str
    received_at: datetime
    due_at: datetime
    subject: str | None = None
    outcome: str = "done"
    detail: dict[str, Any] = field(default_factory=dict)


@contextmanager
def logged(engine: sa.Engine, cfg: HubConfig, action: str, by: str) -> Iterator[Entry]:
    """Log the request as received, run the block, then log how it ended: `not_found`, `failed` (with the error's
    class, not its message, which may name the person) or the block's `entry.outcome`."""
    received = store.utc_now()
    due = received + timedelta(days=cfg.subjects.due_days)
    with store.write_transaction(engine) as conn:
        entry = Entry(rows.log_request(conn, action, by, received, due), received, due)
    try:
        yield entry
    except SubjectNotFound:
        _finish(engine, entry, "not_found")
        raise
    except BaseException as exc:
        entry.detail["error"] = type(exc).__name__
        _finish(engine, entry, "failed")
        raise
    _finish(engine, entry, entry.outcome)


def _finish(engine: sa.Engine, entry: Entry, outcome: str) -> None:
    with store.write_transaction(engine) as conn:
        rows.finish_request(conn, entry.request_id, outcome, entry.subject, entry.detail)


def requests(engine: sa.Engine, limit: int = 100) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return rows.request_rows(conn, limit)
