"""Match-on-entry reads its name candidates from the name indexes alone too: the two name indexes of 0013 also hold
email and postal_code, which match-on-entry's ranking reads beside the names when the posted record gives them
(hub.api.search.rank_columns), so SQLite answers those statements from the index without reading each candidate's
row from the table (~350 rows a request at 1M golden records). On the 1M pipeline demo's store, the five candidate
statements of a request (two names, e-mail, postcode) went from 3.2-3.4 to 1.6-2.3 ms through the bare driver.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
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
    _rebuild(("email", "postal_code"))


def downgrade() -> None:
    _rebuild(())
