"""The name indexes hold the phone too: match-on-entry's other common record, a name and a phone, ranks its name
candidates by the phone beside the names (hub.api.search.rank_columns), so with it in the two name indexes those
statements read no table row either, on SQLite and (once vacuumed: hub/store/upkeep.py) as PostgreSQL's index-only
scans. On a PostgreSQL store of 1,000,000 golden records a name-and-phone statement read ~5,000 table blocks for
~250 candidates.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMES = (("ix_golden_records_lower_last_first", "last_name", "first_name"),
         ("ix_golden_records_lower_first_last", "first_name", "last_name"))  # fmt: skip


def _rebuild(ranked: tuple[str, ...]) -> None:
    for name, one, other in NAMES:
        op.drop_index(name, table_name="golden_records")
        keys = [sa.text(f"lower({one})"), sa.text(f"lower({other})")]
        op.create_index(name, "golden_records", [*keys, one, other, "golden_id", *ranked])


def upgrade() -> None:
    _rebuild(("email", "postal_code", "phone"))


def downgrade() -> None:
    _rebuild(("email", "postal_code"))
