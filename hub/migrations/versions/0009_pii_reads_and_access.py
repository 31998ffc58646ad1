"""PII read log: which API key read which golden records' PII fields, when and through which route (issue 15).

One row per golden record per request (written in one insert per request); the fields are named, their values
never stored. Indexed for the privacy role's questions: by golden id, by key, by time (and retention's purge).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pii_reads",
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("golden_id", sa.String(32), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("route", sa.String(255), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("masked_fields", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "golden_id", name="pk_pii_reads"),
    )
    op.create_index("ix_pii_reads_golden_id_read_at", "pii_reads", ["golden_id", "read_at"])
    op.create_index("ix_pii_reads_key_id_read_at", "pii_reads", ["key_id", "read_at"])
    op.create_index("ix_pii_reads_read_at", "pii_reads", ["read_at"])


def downgrade() -> None:
    op.drop_index("ix_pii_reads_read_at", table_name="pii_reads")
    op.drop_index("ix_pii_reads_key_id_read_at", table_name="pii_reads")
    op.drop_index("ix_pii_reads_golden_id_read_at", table_name="pii_reads")
    op.drop_table("pii_reads")
