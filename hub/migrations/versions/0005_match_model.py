"""Match-on-entry: the match model the last run scored with, and the term frequencies of its golden
records, so the REST API scores a posted record without opening the workspace.

match_model holds one row (the published model); match_term_frequencies holds, per term-frequency
column of the model, the standardized values that two or more golden records share (any other value
is held by at most one: its frequency is 1 / the column's total in match_model.tf_totals).

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_model",
        sa.Column("version", sa.Integer(), nullable=False),  # the workspace's model version
        sa.Column("trained_at", sa.DateTime(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),  # records it was trained on
        sa.Column("model_json", sa.Text(), nullable=False),  # Splink settings with m and u probabilities
        sa.Column("tf_totals", sa.Text(), nullable=False),  # JSON: tf column -> golden records with a value
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),  # the run that published this model
        sa.PrimaryKeyConstraint("version", name="pk_match_model"),
    )
    op.create_table(
        "match_term_frequencies",
        sa.Column("tf_column", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),  # standardized value
        sa.Column("golden_records", sa.Integer(), nullable=False),  # golden records holding it (>= 2)
        sa.PrimaryKeyConstraint("tf_column", "value", name="pk_match_term_frequencies"),
    )


def downgrade() -> None:
    op.drop_table("match_term_frequencies")
    op.drop_table("match_model")
