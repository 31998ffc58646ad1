"""Match-on-entry: score one new record against candidate golden records with a saved model, in memory.

The new record and the candidates are standardized by the pipeline's own statement (matching.standardize)
and every (new, candidate) pair is scored by the backend's score_pairs (Splink, unblocked), in an
in-memory DuckDB: the workspace is never opened (the pipeline holds its lock) and nothing is written.
FastAPI runs sync endpoints in a thread pool and a DuckDB connection runs one statement at a time, so
each call borrows a connection of its own from a pool (as many as calls ran at once), whose reference
tables and Splink SQL are built once and reused. One DuckDB thread per connection: on a few rows,
scheduling more costs more than it saves, and the requests themselves run side by side.

Term frequencies are predict's: the counts its lookups were made of (the run's standardized records, published
with the model by matching.models.for_serving) go through the same rule (backend.pair_out_tf where predict leaves
the pair out, Splink's share of the records elsewhere), so a pair scored here gets the probability it got in the run.
"""

from __future__ import annotations

import queue
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd

from hub.catalogue import keys_of
from hub.encryption import scratch_duckdb
from hub.model import CANONICAL_FIELDS, DUCKDB_TYPES, ENTRY_SYSTEM, TermCounts
from matching import models
from matching.backend import DuckDBSplinkBackend, Model, pair_out_tf, tf_levels
from matching.standardize import standardize

_INPUT, _STANDARDIZED, _LEFT, _RIGHT = "entry_input", "entry_standardized", "entry_new", "entry_candidates"
_TYPES = {f.name: DUCKDB_TYPES[f.type] for f in CANONICAL_FIELDS}


def level_labels(model: Model) -> dict[str, dict[int, str]]:
    """comparison -> gamma value -> level label. Splink numbers a comparison's levels from the top:
    the null level is -1, the others count down to 0 (the else level)."""
    out: dict[str, dict[int, str]] = {}
    for c in model["comparisons"]:
        labels, gamma = {}, sum(not lvl.get("is_null_level") for lvl in c["comparison_levels"])
        for lvl in c["comparison_levels"]:
            null = bool(lvl.get("is_null_level"))
            gamma -= not null
            labels[-1 if null else gamma] = lvl.get("label_for_charts", lvl["sql_condition"])
        out[c["output_column_name"]] = labels
    return out


class EntryScorer:
    """One saved model, ready to score new records (one per published model version)."""

    def __init__(self, model: Model):
        self.model = model
        self.tf_columns = models.tf_columns(model)
        self.labels = level_labels(model)
        prior = model["probability_two_random_records_match"]
        pair_out = " ".join(f"WHEN '{c}' THEN {pair_out_tf('c', 'n', m, prior)}" for c, m in tf_levels(model).items())
        self._tf_sql = f"CASE tf_column {pair_out} ELSE c / n END" if pair_out else "c / n"
        self._idle: queue.SimpleQueue[DuckDBSplinkBackend] = queue.SimpleQueue()

    @contextmanager
    def _borrow(self) -> Iterator[DuckDBSplinkBackend]:
        try:
            backend = self._idle.get_nowait()
        except queue.Empty:
            backend = DuckDBSplinkBackend(scratch_duckdb({"threads": 1}))
        try:
            yield backend
        finally:
            self._idle.put(backend)

    def score(self, records: pd.DataFrame, counts: TermCounts) -> pd.DataFrame:
        """`records`: source_system, source_key and canonical attributes; one row of source system ENTRY_SYSTEM,
        the others candidates. Returns per candidate: source_key, match_probability, match_weight and
        `explanation` (per comparison: level label, its match weight, the term-frequency part of it),
        best first. `counts` says how many of the run's scored records hold each value asked (hub.model.TermCounts)."""
        with self._borrow() as backend:
            scored = self._score(backend, records, counts)
        scored["source_key"] = keys_of(scored["unique_id_r"])
        explanations = [self._explain(row) for row in scored.to_dict("records")]
        scored["explanation"] = pd.Series(explanations, index=scored.index, dtype=object)
        keep = ["source_key", "match_probability", "match_weight", "explanation"]
        return scored.sort_values(["match_probability", "source_key"], ascending=[False, True], ignore_index=True)[keep]

    def _score(self, backend: DuckDBSplinkBackend, records: pd.DataFrame, counts: TermCounts) -> pd.DataFrame:
        con = backend.con
        typed = ", ".join(f"CAST({c} AS {_TYPES[c]}) AS {c}" for c in records.columns)
        con.register("_entry", records)
        con.execute(f"CREATE OR REPLACE TABLE {_INPUT} AS SELECT {typed} FROM _entry")
        con.unregister("_entry")
        standardize(con, _INPUT, _STANDARDIZED)
        distinct = " UNION ".join(
            f"SELECT '{c}' AS tf_column, {c} AS value FROM {_STANDARDIZED} WHERE {c} IS NOT NULL"
            for c in self.tf_columns
        )
        asked: dict[str, list[str]] = {c: [] for c in self.tf_columns}
        for column, value in con.execute(distinct).fetchall():
            asked[column].append(value)
        rows = [(col, value, held, n) for col, (n, values) in counts(asked).items() for value, held in values.items()]
        frame = pd.DataFrame(rows, columns=["tf_column", "value", "c", "n"]).astype({"c": "float64", "n": "float64"})
        con.register("_counts", frame)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _tf AS SELECT tf_column, value, {self._tf_sql} AS tf FROM _counts")
        joins = " ".join(
            f"LEFT JOIN _tf t{i} ON t{i}.tf_column = '{c}' AND t{i}.value = s.{c}"
            for i, c in enumerate(self.tf_columns)
        )
        with_tf = ", ".join(f"t{i}.tf AS tf_{c}" for i, c in enumerate(self.tf_columns))
        for table, cond in ((_LEFT, "="), (_RIGHT, "<>")):
            con.execute(
                f"""CREATE OR REPLACE TABLE {table} AS SELECT s.*, {with_tf} FROM {_STANDARDIZED} s {joins}
                    WHERE s.source_system {cond} '{ENTRY_SYSTEM}'"""
            )
        con.unregister("_counts")
        return backend.score_pairs(_LEFT, _RIGHT, self.model)

    def _explain(self, row: Mapping[Hashable, Any]) -> list[dict[str, Any]]:
        out = []
        for name, labels in self.labels.items():
            tf_part = row.get(f"mw_tf_adj_{name}") or 0.0
            out.append(
                {
                    "comparison": name,
                    "level": labels[int(row[f"gamma_{name}"])],
                    "match_weight": float(row[f"mw_{name}"]) + float(tf_part),
                    "tf_adjustment": float(tf_part),
                }
            )
        return out
