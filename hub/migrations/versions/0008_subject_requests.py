"""Data-subject requests: the request log, the suppression list of erased people and the restrictions.

`subject_requests` logs every request (who, when, what, the subject as a golden id or a keyed hash, the outcome,
the due date) and never a value of the person. `subject_suppressions` holds keyed hashes (HMAC-SHA256) of an
erased person's source keys, e-mails, phones and name with birth date, which later pulls skip.
`subject_restrictions` holds the source records of a person whose processing is restricted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subject_requests",
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(80), nullable=True),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name="pk_subject_requests"),
    )
    op.create_index("ix_subject_requests_received_at", "subject_requests", ["received_at"])
    op.create_table(
        "subject_suppressions",
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hash", name="pk_subject_suppressions"),
    )
    op.create_table(
        "subject_restrictions",
        sa.Column("record_id", sa.String(320), nullable=False),
        sa.Column("golden_id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("restricted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name="pk_subject_restrictions"),
    )
    op.create_index("ix_subject_restrictions_golden_id", "subject_restrictions", ["golden_id"])


def downgrade() -> None:
    op.drop_index("ix_subject_restrictions_golden_id", table_name="subject_restrictions")
    op.drop_table("subject_restrictions")
    op.drop_table("subject_suppressions")
    op.drop_index("ix_subject_requests_received_at", table_name="subject_requests")
    op.drop_table("subject_requests")
