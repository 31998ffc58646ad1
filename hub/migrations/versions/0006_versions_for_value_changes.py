"""Versions only for value changes: a lineage hash beside the value hash, and the fields each version changed.

- golden_records.lineage_hash: md5 of the lineage JSON text ('' when there is none), filled here for the
  current rows. A publish compares it to see a lineage-only change, which it writes in place (current row
  and open history row) without a new version.
- golden_records.row_hash now covers the attribute values and extra only. Rows hashed before this revision
  (values, extra and lineage) no longer match, so the next publish compares their values directly
  (hub.store._plan_golden) and rewrites only the hash: no new version. That first publish reads the values of
  every current row once.
- golden_history.changed_fields: JSON list of the fields a version changed against the previous one, written
  by each publish for the change feed. NULL for first versions (they changed every field they have a value
  for: hub.store.changed_fields derives that on read) and for later versions published before this revision.

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-06
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def upgrade() -> None:
    op.add_column("golden_records", sa.Column("lineage_hash", sa.String(32), nullable=True))
    op.add_column("golden_history", sa.Column("changed_fields", sa.Text(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # SQLite has no md5(): the same digest from Python
        sqlite = bind.connection.driver_connection
        assert sqlite is not None  # a live connection has its driver's connection
        sqlite.create_function("md5", 1, _md5, deterministic=True)
    op.execute("UPDATE golden_records SET lineage_hash = md5(coalesce(lineage, ''))")


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite >= 3.35): a batch copy would lose migration 0003's expression indexes.
    op.drop_column("golden_history", "changed_fields")
    op.drop_column("golden_records", "lineage_hash")
