"""Serving store: golden records (current + history), xref, id redirects, overrides, run log, id sequence.

The value columns are written out here rather than generated from hub.model, so this revision stays
what it was when it shipped; a later model change needs a new revision (tests/test_store.py checks
that hub.store.metadata and the migrated schema agree).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
)
CHANNELS = ("email", "sms", "phone", "post")


def _values() -> list[sa.Column]:
    """Attribute columns of hub.model at this revision, plus extra attributes and lineage as JSON text."""
    cols: list[sa.Column[Any]] = [sa.Column(name, sa.Text()) for name in TEXT_FIELDS[:2]]
    cols.append(sa.Column("date_of_birth", sa.Date()))
    cols += [sa.Column(name, sa.Text()) for name in TEXT_FIELDS[2:]]
    for channel in CHANNELS:
        cols += [sa.Column(f"consent_{channel}", sa.Text()), sa.Column(f"consent_{channel}_at", sa.DateTime())]
    cols += [sa.Column("preferred_channel", sa.Text()), sa.Column("extra", sa.Text()), sa.Column("lineage", sa.Text())]
    return cols


def upgrade() -> None:
    op.create_table(
        "golden_records",
        sa.Column("golden_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_values(),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("row_hash", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("golden_id", name="pk_golden_records"),
    )
    op.create_table(
        "golden_history",
        sa.Column("golden_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_values(),
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.Column("valid_to", sa.DateTime(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("golden_id", "version", name="pk_golden_history"),
    )
    op.create_index("ix_golden_history_golden_id_valid_from", "golden_history", ["golden_id", "valid_from"])
    op.create_table(
        "xref",
        sa.Column("source_system", sa.String(64), nullable=False),
        sa.Column("source_key", sa.String(255), nullable=False),
        sa.Column("golden_id", sa.String(32), nullable=False),
        sa.Column("match_probability", sa.Double(), nullable=True),
        sa.Column("link_type", sa.String(16), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("source_system", "source_key", name="pk_xref"),
    )
    op.create_index("ix_xref_golden_id", "xref", ["golden_id"])
    op.create_table(
        "id_redirects",
        sa.Column("retired_id", sa.String(32), nullable=False),
        sa.Column("surviving_id", sa.String(32), nullable=True),  # NULL: deleted, no successor
        sa.Column("retired_into", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("retired_id", name="pk_id_redirects"),
    )
    op.create_index("ix_id_redirects_surviving_id", "id_redirects", ["surviving_id"])
    op.create_table(
        "overrides",
        sa.Column("golden_id", sa.String(32), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("pinned_by", sa.String(255), nullable=False),
        sa.Column("pinned_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("golden_id", "field", name="pk_overrides"),
    )
    op.create_table(
        "run_log",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_run_log"),
    )
    sequence = op.create_table(
        "id_sequence",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("next_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_id_sequence"),
    )
    op.bulk_insert(sequence, [{"name": "golden", "next_value": 1}])


def downgrade() -> None:
    for table in ("id_sequence", "run_log", "overrides", "id_redirects", "xref", "golden_history", "golden_records"):
        op.drop_table(table)
