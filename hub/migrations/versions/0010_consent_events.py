"""Consent events: every consent choice the hub learns of, per golden record, channel and purpose, append-only.

A choice comes from a source system (its consent field changed, seen at publish), from the REST API (`api`) or from
a steward in the web UI (`steward`); the global do-not-contact flag is kept here too (channel and purpose `all`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("golden_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("value", sa.String(16), nullable=False),
        sa.Column("legal_basis", sa.String(64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("source_key", sa.String(255), nullable=True),
        sa.Column("recorded_by", sa.String(255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_consent_events"),
    )
    op.create_index("ix_consent_events_golden_id", "consent_events", ["golden_id"])
    op.create_index("ix_consent_events_source_source_key", "consent_events", ["source", "source_key"])


def downgrade() -> None:
    op.drop_index("ix_consent_events_source_source_key", table_name="consent_events")
    op.drop_index("ix_consent_events_golden_id", table_name="consent_events")
    op.drop_table("consent_events")
