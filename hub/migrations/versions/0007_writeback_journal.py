"""Write-back journal: what a write-back batch is about to change in a source, recorded before the source commits.

One row per source row of a batch: the plan row (JSON) and the old -> new cells it will write (JSON). A batch is
'pending' until the source has committed and its audit rows are written ('audited'), and is deleted once the
workspace holds what was written. Rows left behind by a killed process are reconciled by the next write-back
(connectors/journal.py), so no change to a source ever goes without its audit row.

Revision ID: 0007
Revises: 0006
Create Date: 2025-01-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "writeback_journal",
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("source_system", sa.String(64), nullable=False),
        sa.Column("source_key", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("planned", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "source_key", name="pk_writeback_journal"),
    )
    op.create_index("ix_writeback_journal_source_system", "writeback_journal", ["source_system"])


def downgrade() -> None:
    op.drop_index("ix_writeback_journal_source_system", table_name="writeback_journal")
    op.drop_table("writeback_journal")
