"""Consent state: per holder x channel x purpose, the consent event in force, kept beside the append-only
`consent_events` log (hub.store.consent_state), so a run reads one row per source record and channel instead of every
event ever stored. Backfilled here from the log by the rules of hub.store.consent_state (as of this revision).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HUB = "source IN ('api', 'steward')"
_DENIED_FIRST = "CASE WHEN value = 'denied' THEN 1 ELSE 0 END DESC"
# (which events, whose they are, which one is in force: the first in this order)
_KINDS = (
    (f"NOT {_HUB} AND source_key IS NOT NULL", "source_key", "created_at DESC, event_id DESC"),
    (f"{_HUB} AND channel <> 'all' AND value IN ('granted', 'denied')", "golden_id",
     f"recorded_at DESC, {_DENIED_FIRST}, event_id"),
    (f"{_HUB} AND channel = 'all'", "golden_id", "recorded_at DESC, created_at DESC, event_id"),
)  # fmt: skip
_COLUMNS = "source, holder, channel, purpose, event_id, golden_id, value, recorded_at, recorded_by, created_at"


def upgrade() -> None:
    op.create_table(
        "consent_state",
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("golden_id", sa.String(32), nullable=False),
        sa.Column("value", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "holder", "channel", "purpose", name="pk_consent_state"),
    )
    op.create_index("ix_consent_state_golden_id", "consent_state", ["golden_id"])
    for where, holder, order in _KINDS:
        op.execute(
            f"""INSERT INTO consent_state ({_COLUMNS})
                SELECT {_COLUMNS} FROM (
                  SELECT e.*, {holder} AS holder, row_number() OVER (
                    PARTITION BY source, {holder}, channel, purpose ORDER BY {order}) AS rn
                  FROM consent_events AS e WHERE {where}) AS ranked
                WHERE rn = 1"""
        )


def downgrade() -> None:
    op.drop_index("ix_consent_state_golden_id", table_name="consent_state")
    op.drop_table("consent_state")
