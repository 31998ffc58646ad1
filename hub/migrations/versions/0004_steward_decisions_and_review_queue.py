"""Steward review: match decisions (every one kept, the current one per pair has no superseded_at)
and the review queue the pipeline publishes (pairs in the review band nobody decided yet).

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_decisions",
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("id_l", sa.String(320), nullable=False),  # record ids 'source_system:source_key', id_l < id_r
        sa.Column("id_r", sa.String(320), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),  # match | not_match
        sa.Column("decided_by", sa.String(255), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("superseded_at", sa.DateTime(), nullable=True),  # NULL: the pair's current decision
        sa.PrimaryKeyConstraint("decision_id", name="pk_match_decisions"),
    )
    op.create_index("ix_match_decisions_id_l_id_r", "match_decisions", ["id_l", "id_r"])
    op.create_table(
        "review_queue",
        sa.Column("id_l", sa.String(320), nullable=False),
        sa.Column("id_r", sa.String(320), nullable=False),
        sa.Column("source_system_l", sa.String(64), nullable=False),
        sa.Column("source_system_r", sa.String(64), nullable=False),
        sa.Column("golden_id_l", sa.String(32), nullable=True),  # at publish time
        sa.Column("golden_id_r", sa.String(32), nullable=True),
        sa.Column("match_probability", sa.Double(), nullable=False),
        sa.Column("match_weight", sa.Double(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),  # JSON: comparison -> match weight
        sa.Column("record_l", sa.Text(), nullable=True),  # JSON: the record's canonical values
        sa.Column("record_r", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id_l", "id_r", name="pk_review_queue"),
    )
    op.create_index("ix_review_queue_match_probability", "review_queue", ["match_probability"])


def downgrade() -> None:
    op.drop_index("ix_review_queue_match_probability", table_name="review_queue")
    op.drop_table("review_queue")
    op.drop_index("ix_match_decisions_id_l_id_r", table_name="match_decisions")
    op.drop_table("match_decisions")
