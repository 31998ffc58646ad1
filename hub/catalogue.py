"""The workspace catalogue: the name of every table one pipeline stage hands to another in the DuckDB workspace,
the columns each stage relies on, and the record id that ties them together. Stages import these names; none
spells a workspace table out, so a table renamed here is renamed everywhere, and a reader finds every user of a
table by its constant.

Tables, in pipeline order (the stage that writes each, then what it holds):
- pull (hub.workspace, connectors.ingest): `staged_records` (the record fields, hub.model.record_fields, plus
  STAGED_COLUMNS), `quarantine`, `field_warnings`, `connector_state`;
- write-back's echoes (hub.echoes): `writeback_echoes`, and the view `evidence_records` (staged_records with every
  echo replaced by the value it overwrote; the same columns);
- matching (matching.run, matching.models): `standardized_records` (evidence_records' columns plus
  STANDARDIZED_COLUMNS), `match_models`, `scored_with_model`, `scored_pairs` (the matcher's output, the contract
  columns plus a match weight `mw_*` and level `gamma_*` per comparison), `clusters`, `review_candidates`, and
  what the next run diffs against (matching.changes, matching.term_frequencies, matching.reclustering): `match_state`,
  `standardized_basis`, `scored_basis`, `tf_basis_version`, `tf_basis_<column>`, `tf_scored_<column>`,
  `cluster_basis`, and for the next golden build and publish `reclustered_records` and `rescored_records`;
- golden records (golden_record.run, golden_record.survivorship): `golden_members`, `golden_values` (the contract
  columns plus every attribute), `golden_lineage`, `golden_contested`, `golden_conflicts`, `golden_redirects`,
  `golden_build`, `golden_consent_news`, and what the next build diffs against: `golden_population`,
  `golden_inputs`, `golden_lookups`, `golden_seen`, `golden_rebuilt`, `golden_state`, `golden_xref`,
  `golden_source_consent`, `golden_published_model`, `golden_published_tf`;
- the golden gate (expectations.gate): `golden_gate`;
- write-back (connectors.writeback, connectors.writeback_basis): `writeback_state`, `writeback_basis`,
  `writeback_styles`, `writeback_style_rows` (connectors.styles).

COLUMNS holds, per table, the columns (and DuckDB types) the hub declares for it: the whole table where a stage
creates it from this list (`columns_sql`), else the part other stages read. What values are valid in them (an
email, an E.164 phone, a country) is hub.validity's: the golden gate and steward pins check by those rules.

The record id, `source_system:source_key`, names one source record across matching, clustering, golden members and
steward decisions. Its separator is the first ':': a source system name holds none (hub.config checks source
names are identifiers), a key may hold any number, so a key is everything after the first ':'.
"""

from __future__ import annotations

import pandas as pd

from hub.model import ATTRIBUTE_FIELDS, CANONICAL_FIELDS, DUCKDB_TYPES

STAGED = "staged_records"
QUARANTINE = "quarantine"
FIELD_WARNINGS = "field_warnings"
CONNECTOR_STATE = "connector_state"
ECHOES = "writeback_echoes"
EVIDENCE = "evidence_records"
STANDARDIZED = "standardized_records"
MATCH_MODELS = "match_models"
SCORED_WITH = "scored_with_model"  # one row: the model version the current scored_pairs were made with
PAIRS = "scored_pairs"
# Incremental matching (matching/changes.py, matching/term_frequencies.py): what the matching tables were made of.
MATCH_STATE = "match_state"  # step -> the version of the rules it ran (a change of code forces a full rebuild)
STANDARDIZED_BASIS = "standardized_basis"  # unique_id, fp: the evidence rows standardized_records was made from
SCORED_BASIS = "scored_basis"  # unique_id, fp: the records as scored_pairs scored them
TF_BASIS_VERSION = "tf_basis_version"  # one row: the model version whose term-frequency basis is kept
CLUSTER_BASIS = "cluster_basis"  # kind, id_l, id_r, p: the edges and decisions the current clusters were made from
RESCORED = "rescored_records"  # records whose scored pairs changed since the last publish (golden_record.xref_rows)
RECLUSTERED = "reclustered_records"  # records whose cluster changed since the last golden build (stable_ids)
CLUSTERS = "clusters"
REVIEW = "review_candidates"
GOLDEN_MEMBERS = "golden_members"
GOLDEN_VALUES = "golden_values"
GOLDEN_LINEAGE = "golden_lineage"
GOLDEN_CONTESTED = "golden_contested"
GOLDEN_CONFLICTS = "golden_conflicts"
GOLDEN_REDIRECTS = "golden_redirects"
GOLDEN_BUILD = "golden_build"  # one row: what golden_record.run.build made (on which run, counts, dry run?)
GOLDEN_CONSENT = "golden_consent_news"  # the build's consent values that its publish stores as source events
# What an incremental build diffs against (golden_record.incremental), as of the last build:
GOLDEN_POPULATION = "golden_population"  # per golden id what it adds to the population lookups survivorship reads
GOLDEN_INPUTS = "golden_inputs"  # per member record: a fingerprint of what survivorship reads, and its name swap
GOLDEN_LOOKUPS = "golden_lookups"  # the population lookups (derived: golden records per key, spelling per key)
GOLDEN_SEEN = "golden_seen"  # per golden id a hash of its pins and of the consent choices made through the hub
GOLDEN_REBUILT = "golden_rebuilt"  # the golden ids this build rebuilt (what its publish may change)
GOLDEN_STATE = "golden_state"  # one row: the run these tables were published in (NULL: not published), config, stamps
GOLDEN_XREF = "golden_xref"  # the xref as last published, for the next publish's scope
GOLDEN_SOURCE_CONSENT = "golden_source_consent"  # the store's source consent state as of the last build's publish
GOLDEN_KEPT = "golden_basis_kept"  # a schema: the published basis while a dry run's build holds the golden tables
GOLDEN_PUBLISHED_MODEL = "golden_published_model"  # one row: the run that last published the match model, its digest
GOLDEN_PUBLISHED_TF = "golden_published_tf"  # the term frequencies the store holds as of golden_published_model's run
GOLDEN_GATE = "golden_gate"  # per build gated: the gate's verdict, and the run that published it (expectations.gate)
WRITEBACK_STATE = "writeback_state"
WRITEBACK_BASIS = "writeback_basis"  # per source record: a digest of what its last settled plan was made from
WRITEBACK_STYLES = "writeback_styles"  # per source: the styles last learned, with a digest of what they came from
WRITEBACK_STYLE_ROWS = "writeback_style_rows"  # per source record: what its own values add to the style counts

TABLES = (
    STAGED, QUARANTINE, FIELD_WARNINGS, CONNECTOR_STATE, ECHOES, EVIDENCE, STANDARDIZED, MATCH_MODELS, SCORED_WITH,
    PAIRS, CLUSTERS, REVIEW, GOLDEN_MEMBERS, GOLDEN_VALUES, GOLDEN_LINEAGE, GOLDEN_CONTESTED, GOLDEN_CONFLICTS,
    GOLDEN_REDIRECTS, GOLDEN_BUILD, GOLDEN_CONSENT, GOLDEN_POPULATION, GOLDEN_INPUTS, GOLDEN_LOOKUPS, GOLDEN_SEEN,
    GOLDEN_REBUILT, GOLDEN_STATE, GOLDEN_XREF, GOLDEN_SOURCE_CONSENT, GOLDEN_PUBLISHED_MODEL, WRITEBACK_STATE,
    WRITEBACK_BASIS, WRITEBACK_STYLES, MATCH_STATE, STANDARDIZED_BASIS, SCORED_BASIS, TF_BASIS_VERSION, CLUSTER_BASIS,
    GOLDEN_GATE, WRITEBACK_STYLE_ROWS, GOLDEN_PUBLISHED_TF, RESCORED, RECLUSTERED,
)  # fmt: skip


TF_BASIS_PREFIX, TF_SCORED_PREFIX = "tf_basis_", "tf_scored_"


def tf_basis(column: str) -> str:
    """The kept term-frequency counts of one column (matching/term_frequencies.py): (column, c, n)."""
    return f"{TF_BASIS_PREFIX}{column}"


def tf_scored(column: str) -> str:
    """The term frequencies of one column that the current scored_pairs were scored with: (column, tf_column)."""
    return f"{TF_SCORED_PREFIX}{column}"


_V, _TS = "VARCHAR", "TIMESTAMP"
_CANONICAL = {f.name: DUCKDB_TYPES[f.type] for f in CANONICAL_FIELDS}  # then a hub.yaml's extra attributes
STAGED_COLUMNS = {"source_version": _V, "pulled_at": _TS}  # after the record fields
# The columns matching.standardize adds, in order, after every evidence column: what the matcher compares.
STANDARDIZED_COLUMNS = {
    "unique_id": _V,  # the record id
    "first_name_std": _V,
    "last_name_std": _V,
    "first_name_canonical": _V,
    "name_concat_std": _V,
    "email_std": _V,
    "email_user_std": _V,
    "phone_std": _V,
    "dob_std": "DATE",
    "dob_str": _V,
    "address_line1_std": _V,
    "house_number": _V,
    "postal_code_std": _V,
    "postal_outward": _V,
    "city_std": _V,
    "dob_swapped": "DATE",
    "address_line2_std": _V,
    "dialling_code": _V,  # the country's calling code: the record's country, else its phone's (+44...)
}
COLUMNS: dict[str, dict[str, str]] = {
    STAGED: {**_CANONICAL, **STAGED_COLUMNS},
    QUARANTINE: {"source_system": _V, "source_key": _V, "reason": _V, "raw_row": _V, "pulled_at": _TS},
    FIELD_WARNINGS: {
        "source_system": _V,
        "source_key": _V,
        "field": _V,
        "column": _V,
        "value": _V,
        "reason": _V,
        "source_version": _V,
        "pulled_at": _TS,
    },
    CONNECTOR_STATE: {"source_system": _V, "state": _V, "updated_at": _TS},
    # then `<field>__written` and `<field>__original` per attribute (hub.echoes)
    ECHOES: {"source_system": _V, "source_key": _V, "written_version": _V, "evidence_at": _TS},
    STANDARDIZED: {**_CANONICAL, **STAGED_COLUMNS, **STANDARDIZED_COLUMNS},
    MATCH_MODELS: {"version": "INTEGER", "trained_at": _TS, "records": "BIGINT", "model_json": _V},
    SCORED_WITH: {"version": "INTEGER"},
    MATCH_STATE: {"step": _V, "version": _V},
    STANDARDIZED_BASIS: {"unique_id": _V, "fp": "UBIGINT"},
    SCORED_BASIS: {"unique_id": _V, "fp": "UBIGINT"},
    TF_BASIS_VERSION: {"version": "INTEGER"},
    CLUSTER_BASIS: {"kind": _V, "id_l": _V, "id_r": _V, "p": "DOUBLE"},
    RESCORED: {"record_id": _V},
    RECLUSTERED: {"record_id": _V},
    PAIRS: {"unique_id_l": _V, "unique_id_r": _V, "match_probability": "DOUBLE", "match_weight": "DOUBLE"},
    CLUSTERS: {"record_id": _V, "cluster_id": _V},
    REVIEW: {
        "unique_id_l": _V,
        "unique_id_r": _V,
        "match_probability": "DOUBLE",
        "match_weight": "DOUBLE",
        "explanation": "JSON",
        "same_cluster": "BOOLEAN",
    },
    GOLDEN_MEMBERS: {"record_id": _V, "golden_id": _V},
    GOLDEN_VALUES: {
        "golden_id": _V,
        **{f.name: DUCKDB_TYPES[f.type] for f in ATTRIBUTE_FIELDS},
        "record_count": "BIGINT",
    },  # the extra attributes go between the fields and record_count
    GOLDEN_LINEAGE: {"golden_id": _V, "field": _V, "source_system": _V, "source_key": _V, "rule": _V, "value_at": _TS},
    GOLDEN_CONTESTED: {"record_id": _V, "field": _V, "rule": _V},
    GOLDEN_CONFLICTS: {"golden_id": _V, "field": _V},
    GOLDEN_REDIRECTS: {"retired_id": _V, "surviving_id": _V, "reason": _V},
    GOLDEN_BUILD: {
        "built_on_run": _V,
        "counts": _V,
        "dry_run": "BOOLEAN",
        "consent_read_at": _TS,
        "full": "BOOLEAN",
        "rebuilt": "BIGINT",
    },
    GOLDEN_POPULATION: {"golden_id": _V, "kind": _V, "key": _V, "n": "BIGINT"},
    GOLDEN_INPUTS: {"record_id": _V, "golden_id": _V, "fingerprint": "UBIGINT", "swapped": "BOOLEAN"},
    GOLDEN_LOOKUPS: {"kind": _V, "key": _V, "n": "BIGINT", "spelling": _V},
    GOLDEN_SEEN: {"golden_id": _V, "pins": "UBIGINT", "choices": "UBIGINT"},
    GOLDEN_REBUILT: {"golden_id": _V},
    GOLDEN_STATE: {"published_run": _V, "config": _V, "standardized": _V, "source_consent": _V, "members": "BIGINT"},
    GOLDEN_XREF: {
        "source_system": _V,
        "source_key": _V,
        "golden_id": _V,
        "match_probability": "DOUBLE",
        "link_type": _V,
    },
    GOLDEN_SOURCE_CONSENT: {
        "source_system": _V,
        "source_key": _V,
        "channel": _V,
        "value": _V,
        "recorded_at": _TS,
    },
    GOLDEN_PUBLISHED_MODEL: {"run_id": _V, "digest": _V, "inputs": _V},
    GOLDEN_PUBLISHED_TF: {"tf_column": _V, "value": _V, "golden_records": "BIGINT"},
    GOLDEN_GATE: {"built_on_run": _V, "consent_read_at": _TS, "passed": "BOOLEAN", "published_run": _V, "result": _V},
    GOLDEN_CONSENT: {
        "source_system": _V,
        "source_key": _V,
        "golden_id": _V,
        "channel": _V,
        "value": _V,
        "recorded_at": _TS,
    },
    WRITEBACK_STATE: {
        "source_system": _V,
        "source_key": _V,
        "golden_id": _V,
        "values_hash": _V,
        "source_version": _V,
        "written_at": _TS,
    },
    WRITEBACK_STYLES: {"source_system": _V, "digest": _V, "styles": _V},
    WRITEBACK_STYLE_ROWS: {
        "source_system": _V,
        "source_key": _V,
        "row_hash": "UBIGINT",
        "flags": "UBIGINT",
        "country": _V,
        "layout": _V,
    },
    WRITEBACK_BASIS: {
        "source_system": _V,
        "source_key": _V,
        "basis": "UBIGINT",
        "address_kept": "BOOLEAN",
        "conflicted": "BOOLEAN",
    },
}
PRIMARY_KEYS = {
    CONNECTOR_STATE: ("source_system",),
    ECHOES: ("source_system", "source_key"),
    MATCH_MODELS: ("version",),
    WRITEBACK_STATE: ("source_system", "source_key"),
    WRITEBACK_BASIS: ("source_system", "source_key"),
    WRITEBACK_STYLES: ("source_system",),
}


def columns_sql(table: str, extra: str = "") -> str:
    """The column list of CREATE TABLE `table` (COLUMNS, then `extra` columns, then its primary key)."""
    parts = [f'"{c}" {t}' for c, t in COLUMNS[table].items()] + ([extra] if extra else [])
    if table in PRIMARY_KEYS:
        parts.append(f"PRIMARY KEY ({', '.join(PRIMARY_KEYS[table])})")
    return ", ".join(parts)


def empty_sql(table: str, columns: list[str]) -> str:
    """A relation with `columns` of `table`, typed as COLUMNS says, and no rows: a table a run has not made yet."""
    typed = ", ".join(f'NULL::{COLUMNS[table][c]} AS "{c}"' for c in columns)
    return f"(SELECT {typed} WHERE false)"


# --------------------------------------------------------------------------------------------- record ids

SEPARATOR = ":"


def record_id(source_system: str, source_key: str) -> str:
    return f"{source_system}{SEPARATOR}{source_key}"


def split_record_id(rid: str) -> tuple[str, str]:
    """(source_system, source_key) of a record id; ValueError for text that is none."""
    system, sep, key = rid.partition(SEPARATOR)
    if not sep or not system or not key:
        raise ValueError(f"{rid!r} is not a record id ('source_system{SEPARATOR}source_key')")
    return system, key


def record_ids(systems: pd.Series | str, keys: pd.Series) -> pd.Series:
    """record_id, vectorized."""
    return systems + SEPARATOR + keys


def keys_of(ids: pd.Series) -> pd.Series:
    """The source keys of record ids, vectorized."""
    return ids.str.split(SEPARATOR, n=1).str[1]


def record_id_sql(system: str = "source_system", key: str = "source_key") -> str:
    """SQL: the record id of the columns (or expressions) `system` and `key`."""
    return f"{system} || '{SEPARATOR}' || {key}"


def system_sql(rid: str) -> str:
    """SQL: the source system of the record id `rid`."""
    return f"split_part({rid}, '{SEPARATOR}', 1)"


def key_sql(rid: str) -> str:
    """SQL: the source key of the record id `rid` (everything after the first separator)."""
    return f"substr({rid}, length({system_sql(rid)}) + 2)"


def of_system_sql(rid: str, system: str) -> str:
    """SQL: whether the record id `rid` belongs to the source system `system` (an expression or parameter)."""
    return f"starts_with({rid}, {system} || '{SEPARATOR}')"
