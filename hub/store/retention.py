"""Retention (hub.yaml `retention:`): what the purge step deletes, table by table, in one transaction.

Each target is a setting of RetentionConfig, a table and the time column its age is read from. Golden history
is aged by `valid_to` (when a version was superseded), so a current version (valid_to NULL) is never purged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa

from hub.store.clock import utc_naive, utc_now
from hub.store.engine import write_transaction
from hub.store.schema import metadata

TARGETS: tuple[tuple[str, str, str], ...] = (
    ("golden_history_days", "golden_history", "valid_to"),
    ("writeback_audit_days", "writeback_audit", "written_at"),
    ("pii_reads_days", "pii_reads", "read_at"),
    ("request_log_days", "subject_requests", "received_at"),
)


def purge(
    engine: sa.Engine, days: Mapping[str, int | None], now: datetime | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Delete every row older than its setting's days (one DELETE per table, one transaction); returns table ->
    rows deleted (a dry run: rows that would be) for each target with a setting."""
    at = utc_naive(now) if now else utc_now()
    counts: dict[str, int] = {}
    with engine.connect() if dry_run else write_transaction(engine) as conn:  # a dry run may be read-only
        present = set(sa.inspect(conn).get_table_names())
        for setting, name, column in TARGETS:
            if days.get(setting) is None or name not in present or name not in metadata.tables:
                continue
            table = metadata.tables[name]
            old = table.c[column] < at - timedelta(days=days[setting] or 0)  # NULL (a current version) is never old
            if dry_run:
                counts[name] = conn.scalar(sa.select(sa.func.count()).select_from(table).where(old)) or 0
            else:
                counts[name] = conn.execute(table.delete().where(old)).rowcount
    return counts
