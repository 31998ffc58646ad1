"""The run log (one row per pipeline run: running, published or failed) and the golden-id sequence."""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
import sqlalchemy as sa

from hub.store.clock import utc_now
from hub.store.engine import write_transaction
from hub.store.schema import id_sequence, run_log


def start_run(engine: sa.Engine, run_id: str | None = None) -> str:
    """Record a run as 'running' (committed at once, so a crash still leaves a trace).

    Runs take the workspace lock one at a time (hub.workspace.exclusive), so a row still 'running' when a new
    run starts belongs to a process that stopped before it could finish or fail it (killed during publish):
    it is marked failed, with that reason, in the same transaction."""
    run_id = run_id or f"{utc_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    now = utc_now()
    reason = f"interrupted: still running when run {run_id} started (its process stopped before the run finished)"
    with write_transaction(engine) as conn:
        conn.execute(
            run_log.update()
            .where(run_log.c.status == "running")
            .values(status="failed", finished_at=now, message=reason)
        )
        conn.execute(run_log.insert().values(run_id=run_id, started_at=now, status="running"))
    return run_id


def fail_run(engine: sa.Engine, run_id: str, message: str) -> None:
    """Mark a run failed; its own transaction, since the failed publish rolled back."""
    with write_transaction(engine) as conn:
        conn.execute(
            run_log.update()
            .where(run_log.c.run_id == run_id)
            .values(status="failed", finished_at=utc_now(), message=message)
        )


def latest_run(conn: sa.Connection) -> dict[str, Any] | None:
    """The newest run in run_log whatever its status (run_id, status, started_at, finished_at, message)."""
    rl = run_log.c
    row = (
        conn.execute(
            sa.select(rl.run_id, rl.status, rl.started_at, rl.finished_at, rl.message)
            .order_by(rl.started_at.desc(), rl.run_id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def last_published_run(conn: sa.Connection) -> str | None:
    """The run id of the newest published run; None before the first publish."""
    head = last_published(conn)
    return head[0] if head else None


def last_published(conn: sa.Connection) -> sa.Row[*tuple[Any, ...]] | None:
    """(run_id, finished_at) of the last published run."""
    rl = run_log.c
    stmt = sa.select(rl.run_id, rl.finished_at).where(rl.status == "published")
    return conn.execute(stmt.order_by(rl.finished_at.desc(), rl.run_id.desc()).limit(1)).first()


def mint_ids(conn: sa.Connection, n: int) -> list[str]:
    """`n` new golden ids ('G00000001', ...), monotonic and never handed out twice once the
    transaction commits. Mint in a transaction of its own (write_transaction) if the ids are
    stored anywhere outside this store before publish: a rollback returns them to the pool."""
    if n <= 0:
        return []
    seq = id_sequence.c
    conn.execute(id_sequence.update().where(seq.name == "golden").values(next_value=seq.next_value + n))
    end = conn.execute(sa.select(seq.next_value).where(seq.name == "golden")).scalar_one()
    return _golden_ids(end - n, n)


def peek_ids(conn: sa.Connection, n: int) -> list[str]:
    """The `n` ids the next mint_ids would hand out, without taking them: provisional ids for a dry
    run, which writes nothing. Never publish them."""
    if n <= 0:
        return []
    next_value = conn.execute(sa.select(id_sequence.c.next_value).where(id_sequence.c.name == "golden")).scalar_one()
    return _golden_ids(next_value, n)


def _golden_ids(start: int, n: int) -> list[str]:
    return [f"G{i:08d}" for i in range(start, start + n)]


def runs(conn: sa.Connection) -> pd.DataFrame:
    """The run log (run_id, status, started_at, finished_at, message), oldest first."""
    rl = run_log.c
    columns = ["run_id", "status", "started_at", "finished_at", "message"]
    rows = conn.execute(sa.select(*(rl[c] for c in columns)).order_by(rl.started_at, rl.run_id)).all()
    return pd.DataFrame(rows, columns=columns)
