"""The serving store: golden records (current + history), xref, id redirects, overrides, run log,
write-back audit, API keys, steward match decisions and the review queue.

What people and systems read while the pipeline runs: the pipeline publishes one run in ONE transaction
(hub.store.publish), so a reader sees the previous run or the new one, never half of one. Callers use
`from hub import store` and the names below; the modules behind them each do one job:

engine   opening the store (engines, read-only engines, migrations, reachability)
schema   the tables (created and changed only by the Alembic migrations in hub/migrations)
clock    naive-UTC times, as the store keeps them
runs     the run log and golden-id minting
publish  one run made current (diff: what changed; writes: the set-based writes; inputs: the frames checked)
         match_model: the match model a run scored with, as publish takes it
         upkeep: on PostgreSQL, the tables a publish rewrote much of vacuumed and analyzed after it
bulk     bulk rows through the database driver
reads    golden records by id, as of a time, by source key; history; current state in bulk
feed     the change feed's read
search   search candidates by index range scans
steward  match decisions and pins;  review: the review queue
audit    write-back audit and journal;  keys: API key rows
subjects data-subject requests: the request log, the suppression list, restrictions, one person's rows
         (imported as `hub.store.subjects`)
pii_reads  the PII read log, and which golden records a source-restricted caller sees
retention  the purge of what is older than hub.yaml's `retention:`
consent  consent events, the choice in force per channel and purpose, the golden record's consent fields
         consent_state: the event in force per holder, channel and purpose, kept in step with the log
"""

from hub.catalogue import record_id
from hub.store import consent
from hub.store.audit import (
    JOURNAL_COLUMNS,
    WRITEBACK_AUDIT_COLUMNS,
    journal_audited,
    journal_close,
    journal_entries,
    journal_forget,
    journal_open,
    pack,
    record_writeback,
    unpack,
    writeback_audit,
)
from hub.store.clock import utc_naive, utc_now
from hub.store.engine import (
    alembic_config,
    create_store_engine,
    open_for,
    open_read_only,
    open_store,
    opened,
    opened_for,
    store_problems,
    upgrade,
    write_transaction,
)
from hub.store.feed import MAX_VERSION, FeedEvent, Position, changes
from hub.store.keys import add_api_key, api_key_row, api_key_rows, revoke_api_key
from hub.store.match_model import MatchModel
from hub.store.pii_reads import MAX_READS_PAGE, reads, record_reads, survivors, visible_frame, visible_id, visible_ids
from hub.store.publish import ConsentInput, PublishResult, Scope, preview, publish
from hub.store.reads import (
    PublishedModel,
    all_versions,
    changed_fields,
    created_at,
    current_golden,
    current_redirects,
    current_xref,
    ever_published,
    golden_by_id,
    golden_by_source_key,
    history,
    published_model,
    redirect,
    resolve,
    shared_values,
    source_records,
    version_count,
)
from hub.store.retention import purge
from hub.store.review import queue_size, queued_pair, review_page
from hub.store.runs import (
    fail_run,
    last_published,
    last_published_run,
    latest_run,
    mint_ids,
    peek_ids,
    runs,
    start_run,
)
from hub.store.schema import ATTRIBUTES, DECISIONS, LINK_TYPES, REVIEW_COLUMNS, VALUE_COLUMNS, metadata
from hub.store.search import SEARCH_COLUMNS, SearchCriteria, golden_rows, name_words, postcode, search_candidates
from hub.store.steward import (
    ConflictingDecision,
    check_records,
    decide,
    decide_many,
    decision_history,
    decisions,
    decisions_since,
    members,
    overrides,
    pin,
    pinned,
    unpin,
)

__all__ = [
    "ATTRIBUTES",
    "DECISIONS",
    "JOURNAL_COLUMNS",
    "LINK_TYPES",
    "MAX_READS_PAGE",
    "MAX_VERSION",
    "REVIEW_COLUMNS",
    "SEARCH_COLUMNS",
    "VALUE_COLUMNS",
    "WRITEBACK_AUDIT_COLUMNS",
    "ConflictingDecision",
    "ConsentInput",
    "FeedEvent",
    "MatchModel",
    "Position",
    "PublishResult",
    "PublishedModel",
    "Scope",
    "SearchCriteria",
    "add_api_key",
    "alembic_config",
    "all_versions",
    "api_key_row",
    "api_key_rows",
    "changed_fields",
    "changes",
    "check_records",
    "consent",
    "create_store_engine",
    "created_at",
    "current_golden",
    "current_redirects",
    "current_xref",
    "decide",
    "decide_many",
    "decision_history",
    "decisions",
    "decisions_since",
    "ever_published",
    "fail_run",
    "golden_by_id",
    "golden_by_source_key",
    "golden_rows",
    "history",
    "journal_audited",
    "journal_close",
    "journal_entries",
    "journal_forget",
    "journal_open",
    "last_published",
    "last_published_run",
    "latest_run",
    "members",
    "metadata",
    "mint_ids",
    "name_words",
    "open_for",
    "open_read_only",
    "open_store",
    "opened",
    "opened_for",
    "overrides",
    "pack",
    "peek_ids",
    "pin",
    "pinned",
    "postcode",
    "preview",
    "publish",
    "published_model",
    "purge",
    "queue_size",
    "queued_pair",
    "reads",
    "record_id",
    "record_reads",
    "record_writeback",
    "redirect",
    "resolve",
    "review_page",
    "revoke_api_key",
    "runs",
    "search_candidates",
    "shared_values",
    "source_records",
    "start_run",
    "store_problems",
    "survivors",
    "unpack",
    "unpin",
    "upgrade",
    "utc_naive",
    "utc_now",
    "version_count",
    "visible_frame",
    "visible_id",
    "visible_ids",
    "write_transaction",
    "writeback_audit",
]
