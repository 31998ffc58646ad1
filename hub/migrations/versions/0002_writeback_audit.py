"""Write-back audit: one row per source column a write-back changed (old -> new), per run.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "writeback_audit",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("source_system", sa.String(64), nullable=False),
        sa.Column("source_key", sa.String(255), nullable=False),
        sa.Column("column", sa.String(255), nullable=False),
        sa.Column("fields", sa.Text(), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("written_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_writeback_audit_source_system_source_key", "writeback_audit", ["source_system", "source_key"])
    op.create_index("ix_writeback_audit_run_id", "writeback_audit", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_writeback_audit_run_id", table_name="writeback_audit")
    op.drop_index("ix_writeback_audit_source_system_source_key", table_name="writeback_audit")
    op.drop_table("writeback_audit")
