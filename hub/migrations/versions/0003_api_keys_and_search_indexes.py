"""REST API: hashed API keys with roles; indexes for search (case-folded name / email / postcode
prefixes, exact E.164 phone) and for the change feed (history versions and retirements in time order).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, expression or columns): the expression indexes serve range (prefix) scans of
# lower()/upper() on SQLite and PostgreSQL alike; the query must use the same expression.
EXPRESSION_INDEXES = (
    ("ix_golden_records_lower_last_name", "golden_records", "lower(last_name)"),
    ("ix_golden_records_lower_first_name", "golden_records", "lower(first_name)"),
    ("ix_golden_records_lower_email", "golden_records", "lower(email)"),
    ("ix_golden_records_upper_postal_code", "golden_records", "upper(postal_code)"),
)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),  # sha256(salt + secret), hex
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    for name, table, expr in EXPRESSION_INDEXES:
        op.create_index(name, table, [sa.text(expr)])
    op.create_index("ix_golden_records_phone", "golden_records", ["phone"])
    op.create_index("ix_golden_history_valid_from", "golden_history", ["valid_from", "golden_id", "version"])
    op.create_index("ix_id_redirects_retired_at", "id_redirects", ["retired_at", "retired_id"])


def downgrade() -> None:
    op.drop_index("ix_id_redirects_retired_at", table_name="id_redirects")
    op.drop_index("ix_golden_history_valid_from", table_name="golden_history")
    op.drop_index("ix_golden_records_phone", table_name="golden_records")
    for name, table, _expr in reversed(EXPRESSION_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("api_keys")
