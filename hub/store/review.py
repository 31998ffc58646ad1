"""The review queue: the review band of the last published run, less the pairs a steward decided since."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from hub.store.bulk import insert_frame
from hub.store.inputs import check_columns
from hub.store.schema import REVIEW_COLUMNS, match_decisions, review_queue


def review_page(
    conn: sa.Connection,
    min_probability: float = 0.0,
    max_probability: float = 1.0,
    source: str | None = None,
    descending: bool = True,
    limit: int = 20,
    offset: int = 0,
    allowed: Collection[str] | None = None,
) -> tuple[int, Sequence[sa.Row[*tuple[Any, ...]]]]:
    """(total, rows) of the review queue in a probability band, optionally only pairs with a record of
    `source`, and only pairs both of whose records come from `allowed` sources (None: any; hub.access). Ties in
    probability are ordered by the pair's ids, so pages are stable."""
    q = review_queue.c
    where = [q.match_probability >= min_probability, q.match_probability <= max_probability]
    if allowed is not None:
        where += [q.source_system_l.in_(list(allowed)), q.source_system_r.in_(list(allowed))]
    if source is not None:
        where.append(sa.or_(q.source_system_l == source, q.source_system_r == source))
    prob = q.match_probability.desc() if descending else q.match_probability.asc()
    total = conn.execute(sa.select(sa.func.count()).select_from(review_queue).where(*where)).scalar_one()
    stmt = sa.select(review_queue).where(*where).order_by(prob, q.id_l, q.id_r).limit(limit).offset(offset)
    return total, conn.execute(stmt).all()


def publish_review(conn: sa.Connection, run_id: str, review: pd.DataFrame) -> None:
    check_columns("review", review, set(REVIEW_COLUMNS), set(REVIEW_COLUMNS))
    conn.execute(review_queue.delete())
    insert_frame(conn, review_queue, review[REVIEW_COLUMNS].assign(run_id=run_id))
    q, d = review_queue.c, match_decisions.c
    decided = sa.select(d.decision_id).where(d.id_l == q.id_l, d.id_r == q.id_r, d.superseded_at.is_(None))
    conn.execute(review_queue.delete().where(decided.exists()))


def queue_size(conn: sa.Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(review_queue)).scalar_one()


def queued_pair(conn: sa.Connection, id_l: str, id_r: str) -> sa.Row[*tuple[Any, ...]] | None:
    """The queue row of the pair (id_l < id_r), or None when it is not queued."""
    q = review_queue.c
    return conn.execute(sa.select(review_queue).where(q.id_l == id_l, q.id_r == id_r)).first()
