"""The serving store's tables as SQLAlchemy metadata, for the store's queries and Alembic's comparisons.

Timestamps are stored and returned as naive UTC. `extra` (the typed extra attributes of hub.yaml) and `lineage`
({field: {source_system, source_key, rule, value_at}}) are JSON text.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub.model import ATTRIBUTE_FIELDS, FieldType

LINK_TYPES = ("auto", "steward", "singleton")
ATTRIBUTES = [f.name for f in ATTRIBUTE_FIELDS]
VALUE_COLUMNS = [*ATTRIBUTES, "extra"]  # what makes a new version (row_hash)
STORED_COLUMNS = [*VALUE_COLUMNS, "lineage"]  # what a version stores
HASH_COLUMNS = {"row_hash", "lineage_hash"}  # internal: never returned by reads


class Readable(sa.types.TypeDecorator[Any]):
    """A date or timestamp attribute whose unreadable stored value (year 99999 on SQLite, pinned before pins
    were checked) reads as NULL instead of failing every read of its record, its history and the feed."""

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Any:
        inner = super().result_processor(dialect, coltype)
        if inner is None:
            return None

        def read(value: Any) -> Any:
            try:
                return inner(value)
            except (ValueError, OverflowError):
                return None

        return read


class ReadableDate(Readable):
    impl = sa.Date
    cache_ok = True


class ReadableDateTime(Readable):
    impl = sa.DateTime
    cache_ok = True


_SA_TYPES: dict[FieldType, type[sa.types.TypeEngine[Any]]] = {
    FieldType.STRING: sa.Text,
    FieldType.INTEGER: sa.BigInteger,
    FieldType.DOUBLE: sa.Double,
    FieldType.BOOLEAN: sa.Boolean,
    FieldType.DATE: ReadableDate,
    FieldType.TIMESTAMP: ReadableDateTime,
}


def value_columns() -> list[sa.Column[Any]]:
    """Fresh value columns: attributes, extra, lineage (a Column belongs to one table)."""
    cols = [sa.Column(f.name, _SA_TYPES[f.type]()) for f in ATTRIBUTE_FIELDS]
    return [*cols, sa.Column("extra", sa.Text()), sa.Column("lineage", sa.Text())]


GOLDEN_ID = sa.String(32)
RUN_ID = sa.String(64)

# Mirrors hub/migrations; the tests fail if the two drift apart.
metadata = sa.MetaData()
golden_records = sa.Table(
    "golden_records",
    metadata,
    sa.Column("golden_id", GOLDEN_ID, primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
    *value_columns(),
    sa.Column("record_count", sa.Integer(), nullable=False),
    sa.Column("row_hash", sa.String(32), nullable=False),  # md5 of the attribute values and extra
    sa.Column("lineage_hash", sa.String(32), nullable=True),  # md5 of lineage (migration 0006 filled old rows)
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Column("run_id", RUN_ID, nullable=False),
)
golden_history = sa.Table(
    "golden_history",
    metadata,
    sa.Column("golden_id", GOLDEN_ID, primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    *value_columns(),
    sa.Column("valid_from", sa.DateTime(), nullable=False),
    sa.Column("valid_to", sa.DateTime(), nullable=True),
    sa.Column("run_id", RUN_ID, nullable=False),
    # JSON list of the fields a later version changed; NULL for first versions (see changed_fields) and 0006's
    sa.Column("changed_fields", sa.Text(), nullable=True),
    sa.Index("ix_golden_history_golden_id_valid_from", "golden_id", "valid_from"),
)
xref = sa.Table(
    "xref",
    metadata,
    sa.Column("source_system", sa.String(64), primary_key=True),
    sa.Column("source_key", sa.String(255), primary_key=True),
    sa.Column("golden_id", GOLDEN_ID, nullable=False, index=True),
    sa.Column("match_probability", sa.Double(), nullable=True),
    sa.Column("link_type", sa.String(16), nullable=False),
    sa.Column("linked_at", sa.DateTime(), nullable=False),
    sa.Column("run_id", RUN_ID, nullable=False),
)
id_redirects = sa.Table(
    "id_redirects",
    metadata,
    sa.Column("retired_id", GOLDEN_ID, primary_key=True),
    sa.Column("surviving_id", GOLDEN_ID, nullable=True, index=True),  # live id now (repointed: one hop); NULL: deleted
    sa.Column("retired_into", GOLDEN_ID, nullable=True),  # live id when retired, for as-of reads; NULL: deleted
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("retired_at", sa.DateTime(), nullable=False),
    sa.Column("run_id", RUN_ID, nullable=False),
)
overrides_table = sa.Table(
    "overrides",
    metadata,
    sa.Column("golden_id", GOLDEN_ID, primary_key=True),
    sa.Column("field", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=True),
    sa.Column("pinned_by", sa.String(255), nullable=False),
    sa.Column("pinned_at", sa.DateTime(), nullable=False),
)
run_log = sa.Table(
    "run_log",
    metadata,
    sa.Column("run_id", RUN_ID, primary_key=True),
    sa.Column("started_at", sa.DateTime(), nullable=False),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("counts", sa.Text(), nullable=True),
    sa.Column("message", sa.Text(), nullable=True),
)
id_sequence = sa.Table(
    "id_sequence",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("next_value", sa.BigInteger(), nullable=False),
)
writeback_audit_table = sa.Table(  # append-only: one row per source column a write-back changed
    "writeback_audit",
    metadata,
    sa.Column("run_id", RUN_ID, nullable=False),  # the published golden run whose values were written
    sa.Column("source_system", sa.String(64), nullable=False),
    sa.Column("source_key", sa.String(255), nullable=False),
    sa.Column("column", sa.String(255), nullable=False),  # the source column ('<table>.golden_id': a side table)
    sa.Column("fields", sa.Text(), nullable=True),  # canonical fields it holds, comma-separated
    sa.Column("old_value", sa.Text(), nullable=True),  # as the source stored it
    sa.Column("new_value", sa.Text(), nullable=True),
    sa.Column("written_at", sa.DateTime(), nullable=False),
    sa.Index("ix_writeback_audit_source_system_source_key", "source_system", "source_key"),
    sa.Index("ix_writeback_audit_run_id", "run_id"),
)
writeback_journal = sa.Table(  # migration 0016 (0007's had a row per source row): a write-back batch, recorded
    "writeback_journal",  # before the source commits it
    metadata,
    sa.Column("batch_id", sa.String(32), primary_key=True),
    sa.Column("run_id", RUN_ID, nullable=False),
    sa.Column("source_system", sa.String(64), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),  # pending: source not known to have committed | audited
    sa.Column("rows", sa.Integer(), nullable=False),  # source rows the batch updates
    sa.Column("planned", sa.LargeBinary(), nullable=False),  # Parquet: their plan rows (connectors/writeback_plan.py)
    sa.Column("changes", sa.LargeBinary(), nullable=False),  # Parquet: the audit cells it writes (AUDIT_COLUMNS)
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
consent_events = sa.Table(  # migration 0010, append-only: every consent choice (hub.store.consent)
    "consent_events",
    metadata,
    sa.Column("event_id", sa.String(32), primary_key=True),
    sa.Column("golden_id", GOLDEN_ID, nullable=False, index=True),  # the golden record then (merges: redirects)
    sa.Column("channel", sa.String(16), nullable=False),  # email | sms | phone | post | all (do-not-contact)
    sa.Column("purpose", sa.String(64), nullable=False),  # hub.yaml consent.purposes | all (do-not-contact)
    sa.Column("value", sa.String(16), nullable=False),  # granted | denied | unknown
    sa.Column("legal_basis", sa.String(64), nullable=True),
    sa.Column("recorded_at", sa.DateTime(), nullable=False),  # when the person made the choice
    sa.Column("source", sa.String(64), nullable=False),  # a source system, 'api' or 'steward'
    sa.Column("source_key", sa.String(255), nullable=True),  # the source record (source events)
    sa.Column("recorded_by", sa.String(255), nullable=True),  # the API key or steward (api, steward events)
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("run_id", RUN_ID, nullable=True),  # the publish that saw a source's change
    sa.Column("created_at", sa.DateTime(), nullable=False),  # when the hub stored it
    sa.Index("ix_consent_events_source_source_key", "source", "source_key"),
)
consent_state = sa.Table(  # migration 0011: per holder x channel x purpose, the event in force (store.consent_state)
    "consent_state",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),  # a source system, 'api' or 'steward'
    sa.Column("holder", sa.String(255), primary_key=True),  # a source's record key; for api and steward a golden id
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("purpose", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(32), nullable=False),  # the event in force; the columns below are its own
    sa.Column("golden_id", GOLDEN_ID, nullable=False, index=True),
    sa.Column("value", sa.String(16), nullable=False),
    sa.Column("recorded_at", sa.DateTime(), nullable=False),
    sa.Column("recorded_by", sa.String(255), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
api_keys = sa.Table(  # REST API keys (hub.api.keys): only a salted hash of the secret is stored
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # reader | steward | privacy | admin
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("revoked_at", sa.DateTime(), nullable=True),
)
RECORD_ID = sa.String(320)  # 'source_system:source_key'
match_decisions = sa.Table(  # steward decisions (migration 0004): every one kept; current = superseded_at NULL
    "match_decisions",
    metadata,
    sa.Column("decision_id", sa.String(32), primary_key=True),
    sa.Column("id_l", RECORD_ID, nullable=False),  # id_l < id_r
    sa.Column("id_r", RECORD_ID, nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),  # match | not_match
    sa.Column("decided_by", sa.String(255), nullable=False),
    sa.Column("decided_at", sa.DateTime(), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("superseded_at", sa.DateTime(), nullable=True),
    sa.Index("ix_match_decisions_id_l_id_r", "id_l", "id_r"),
)
review_queue = sa.Table(  # the review band of the last published run, less the pairs decided since
    "review_queue",
    metadata,
    sa.Column("id_l", RECORD_ID, primary_key=True),  # id_l < id_r
    sa.Column("id_r", RECORD_ID, primary_key=True),
    sa.Column("source_system_l", sa.String(64), nullable=False),
    sa.Column("source_system_r", sa.String(64), nullable=False),
    sa.Column("golden_id_l", GOLDEN_ID, nullable=True),
    sa.Column("golden_id_r", GOLDEN_ID, nullable=True),
    sa.Column("match_probability", sa.Double(), nullable=False, index=True),
    sa.Column("match_weight", sa.Double(), nullable=True),
    sa.Column("explanation", sa.Text(), nullable=True),  # JSON: comparison -> match weight
    sa.Column("record_l", sa.Text(), nullable=True),  # JSON: canonical values of the record
    sa.Column("record_r", sa.Text(), nullable=True),
    sa.Column("run_id", RUN_ID, nullable=False),
)
match_model = sa.Table(  # the model the last run scored with (migration 0005): one row, replaced when it changes
    "match_model",
    metadata,
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("trained_at", sa.DateTime(), nullable=False),
    sa.Column("records", sa.BigInteger(), nullable=False),
    sa.Column("model_json", sa.Text(), nullable=False),
    sa.Column("tf_totals", sa.Text(), nullable=False),  # JSON: tf column -> scored records with a value
    sa.Column("published_at", sa.DateTime(), nullable=False),
    sa.Column("run_id", RUN_ID, nullable=False),
)
match_term_frequencies = sa.Table(  # per tf column, the values two or more of the scored records share
    "match_term_frequencies",
    metadata,
    sa.Column("tf_column", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), primary_key=True),
    sa.Column("golden_records", sa.Integer(), nullable=False),  # records holding it (the name predates that)
)
subject_requests = sa.Table(  # migration 0008: every data-subject request, without a value of the person
    "subject_requests",
    metadata,
    sa.Column("request_id", sa.String(32), primary_key=True),
    sa.Column("action", sa.String(16), nullable=False),  # show | export | rectify | erase | restrict | lift
    sa.Column("subject", sa.String(80), nullable=True),  # a golden id, or 'hmac:' + a keyed hash of a source key
    sa.Column("requested_by", sa.String(255), nullable=False),  # 'key:<id>', or 'cli:<os user>'
    sa.Column("received_at", sa.DateTime(), nullable=False, index=True),
    sa.Column("due_at", sa.DateTime(), nullable=False),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),  # received | done | partial | failed | not_found
    sa.Column("detail", sa.Text(), nullable=True),  # JSON: counts, field names, source actions; no values
)
subject_suppressions = sa.Table(  # keyed hashes of an erased person's identifiers: later pulls skip such rows
    "subject_suppressions",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),  # HMAC-SHA256 hex of '<kind>:<normalized value>'
    sa.Column("kind", sa.String(16), nullable=False),  # source_key | email | phone | name_dob
    sa.Column("request_id", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
subject_restrictions = sa.Table(  # the source records of people whose processing is restricted
    "subject_restrictions",
    metadata,
    sa.Column("record_id", RECORD_ID, primary_key=True),
    sa.Column("golden_id", GOLDEN_ID, nullable=False, index=True),
    sa.Column("request_id", sa.String(32), nullable=False),
    sa.Column("restricted_at", sa.DateTime(), nullable=False),
)
pii_reads = sa.Table(  # migration 0009: who read which golden records' PII fields through the API; never values
    "pii_reads",
    metadata,
    sa.Column("request_id", sa.String(32), primary_key=True),  # one API request (or command) that read them
    sa.Column("golden_id", GOLDEN_ID, primary_key=True),
    sa.Column("read_at", sa.DateTime(), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),  # the API key's id; 'cli' for a command run without one
    sa.Column("route", sa.String(255), nullable=False),  # the route's template (no query string), or the command
    sa.Column("fields", sa.Text(), nullable=False),  # PII fields shown in full, comma-separated
    sa.Column("masked_fields", sa.Text(), nullable=False),  # PII fields shown masked, comma-separated
    sa.Index("ix_pii_reads_golden_id_read_at", "golden_id", "read_at"),
    sa.Index("ix_pii_reads_key_id_read_at", "key_id", "read_at"),
    sa.Index("ix_pii_reads_read_at", "read_at"),
)
REVIEW_COLUMNS = [c.name for c in review_queue.c if c.name != "run_id"]
DECISIONS = ("match", "not_match")
# Search and change-feed indexes (migrations 0003 and 0012); hub.store.search and hub.store.feed query these same
# expressions.
_g, _h, _r = golden_records.c, golden_history.c, id_redirects.c
# the name indexes also hold what a name search and match-on-entry rank by, so they read no table row (migrations
# 0013, 0014, 0015); their expressions as text, as the databases reflect them, so autogenerate compares them with the
# columns beside them
sa.Index("ix_golden_records_lower_last_first", sa.text("lower(last_name)"), sa.text("lower(first_name)"),
         _g.last_name, _g.first_name, _g.golden_id, _g.email, _g.postal_code, _g.phone)  # fmt: skip
sa.Index("ix_golden_records_lower_first_last", sa.text("lower(first_name)"), sa.text("lower(last_name)"),
         _g.first_name, _g.last_name, _g.golden_id, _g.email, _g.postal_code, _g.phone)  # fmt: skip
sa.Index("ix_golden_records_lower_email", sa.func.lower(_g.email))
sa.Index("ix_golden_records_upper_postal_code", sa.func.upper(_g.postal_code))
sa.Index("ix_golden_records_phone", _g.phone)
sa.Index("ix_golden_history_valid_from", _h.valid_from, _h.golden_id, _h.version)
sa.Index("ix_id_redirects_retired_at", _r.retired_at, _r.retired_id)
del _g, _h, _r
