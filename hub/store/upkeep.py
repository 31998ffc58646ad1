"""After a publish that rewrote much of a PostgreSQL store: its lookup tables vacuumed and analyzed at once.

PostgreSQL leaves both to autovacuum, which gets to a table minutes or hours later. Until then its planner has no
statistics for the new rows (it guesses the cardinality of every range) and its visibility map does not cover the
pages they are on, so no scan is index-only: each name search or match-on-entry candidate is read from the table as
well as from the covering name indexes (migrations 0013-0015). Measured at 1,000,000 golden records just published
(`benchmarks/api_latency.py --build --url postgresql+psycopg://...`, one client): fuzzy name search p50 / p99 51 /
147 ms before `VACUUM (ANALYZE)` and 16 / 32 ms after; the statement behind it read ~5,400 table blocks for 500
candidates, then none.

Rules:
1. Only PostgreSQL. SQLite keeps no visibility map and plans these statements by their indexes without statistics
   (tests/test_search_plans.py).
2. A table is vacuumed and analyzed when the publish wrote (inserted, replaced or deleted) rows numbering at least
   SHARE of the rows the planner thinks it holds (pg_class.reltuples), or the table was never vacuumed nor
   analyzed (reltuples < 0: a first publish). A publish that changed 1% of the store leaves the table to
   autovacuum: the pages it touched are few, so are the rows read from the table for them.
3. Outside the publish's transaction (VACUUM refuses to run in one), after it committed: a reader already sees the
   new state, and VACUUM takes no lock that stops readers or writers. A table another publish holds locked is
   skipped (SKIP_LOCKED), not waited for: autovacuum gets to it. It only speeds reads up, so a failure
   is a warning, never a failed publish.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import sqlalchemy as sa

SHARE = 0.1  # rule 2: the share of a table a publish must write to have it vacuumed at once

log = logging.getLogger(__name__)
_HELD = sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)")  # the planner's row count; -1: never


def due(conn: sa.Connection, written: Mapping[str, int]) -> list[str]:
    """The tables of `written` (table -> rows the publish wrote into it) that rule 2 says to vacuum now."""
    out = []
    for table, n in sorted(written.items()):
        if n <= 0:
            continue
        # the table the store's statements name (search_path), not a same-named one in another schema
        held = conn.execute(_HELD, {"t": table}).scalar()
        if held is not None and (held < 0 or n >= SHARE * held):
            out.append(table)
    return out


def after_publish(engine: sa.Engine, written: Mapping[str, int]) -> list[str]:
    """Vacuum and analyze the tables a publish rewrote much of (rules 1-3); returns the ones it asked to (a locked one
    is skipped by PostgreSQL with a warning)."""
    if engine.dialect.name != "postgresql":
        return []
    done = []
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in due(conn, written):
                conn.exec_driver_sql(f'VACUUM (ANALYZE, SKIP_LOCKED) "{table}"')
                done.append(table)
    except sa.exc.SQLAlchemyError as exc:  # rule 3: the publish stands; autovacuum gets there later
        log.warning("publish: VACUUM (ANALYZE) after the publish failed (%s); lookups stay slower until "
                    "autovacuum gets to the tables", exc)  # fmt: skip
    return done
