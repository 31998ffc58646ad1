"""Match-on-entry: score one new record against candidate golden records with a saved model, in memory.

Two ways, one answer. The light path (used whenever the model allows): the record and the candidates are
standardized in Python by matching.standardize_one (the pipeline's standardize statement, rule for rule) and each
(record, candidate) pair scored by matching.score_one (the model's levels compiled once; Splink's weights), in
microseconds per pair: a request costs what its candidates cost, with no statement to plan. A model with a level
condition score_one does not implement is scored the other way: standardized by the pipeline's own statement
(matching.standardize) and scored by the backend's score_pairs (Splink, unblocked), in an in-memory DuckDB whose
planning costs a few hundred milliseconds per request. Neither opens the workspace (the pipeline holds its lock)
nor writes anything. FastAPI runs sync endpoints in a thread pool and a DuckDB connection runs one statement at a
time, so the DuckDB way borrows a connection per call from a pool (as many as calls ran at once), with one DuckDB
thread each: on a few rows, scheduling more costs more than it saves.

Term frequencies are predict's: the counts its lookups were made of (the run's standardized records, published
with the model by matching.models.for_serving) go through the same rule (backend.pair_out_tf where predict leaves
the pair out, Splink's share of the records elsewhere), so a pair scored here gets the probability it got in the run.
"""

from __future__ import annotations

import math
import queue
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd

from hub.catalogue import keys_of
from hub.encryption import scratch_duckdb
from hub.model import CANONICAL_FIELDS, DUCKDB_TYPES, ENTRY_SYSTEM, TermCounts
from matching.backend import TF_KEPT, DuckDBSplinkBackend, Model, pair_out_tf, tf_columns, tf_levels
from matching.score_one import PairScorer, Unsupported, as_date
from matching.standardize import standardize
from matching.standardize_one import Standardizer

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
        self.tf_columns = tf_columns(model)
        self.labels = level_labels(model)
        prior = model["probability_two_random_records_match"]
        pair_out = " ".join(f"WHEN '{c}' THEN {pair_out_tf('c', 'n', m, prior)}" for c, m in tf_levels(model).items())
        self._tf_sql = f"CASE tf_column {pair_out} ELSE c / n END" if pair_out else "c / n"
        self._idle: queue.SimpleQueue[DuckDBSplinkBackend] = queue.SimpleQueue()
        self._prior, self._tf_m = prior, tf_levels(model)
        try:
            self.light: tuple[Standardizer, PairScorer] | None = (Standardizer(), PairScorer(model))
        except Unsupported:
            self.light = None

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

    def score(
        self, records: list[dict[str, Any]], counts: TermCounts, floor: float = 0.0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """`records`: source_system, source_key and canonical attributes; one of source system ENTRY_SYSTEM, the
        others candidates. Returns per candidate with a match probability of at least `floor`, best first, at most
        `limit` of them: source_key, match_probability, match_weight and `explanation` (per comparison: level label,
        its match weight, the term-frequency part of it; made only for the candidates returned, a request scores a
        hundred and returns a few). `counts` says how many of the run's scored records hold each value asked
        (hub.model.TermCounts)."""
        if self.light is not None:
            scored = self._score_light(self.light, records, counts)
        else:
            with self._borrow() as backend:
                frame = self._score(backend, pd.DataFrame(records), counts)
            frame = frame.assign(source_key=keys_of(frame["unique_id_r"]))
            scored = [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]
        best = sorted(
            (row for row in scored if row["match_probability"] >= floor),
            key=lambda row: (-row["match_probability"], row["source_key"]),
        )[:limit]
        return [
            {
                "source_key": row["source_key"],
                "match_probability": row["match_probability"],
                "match_weight": row["match_weight"],
                "explanation": self._explain(row),
            }
            for row in best
        ]

    def _tf(self, column: str, c: float, n: float) -> float:
        """A value's term frequency from its count: backend.pair_out_tf's rule (the same operations, in the same
        order, so the same double) for the columns predict leaves the pair out of, Splink's share elsewhere."""
        if column not in self._tf_m:
            return c / n
        prior, m = self._prior, self._tf_m[column]
        return max(TF_KEPT * c / n, ((c - 1) / max(n - 1, 1) - prior * m) / (1 - prior))

    def _score_light(
        self, light: tuple[Standardizer, PairScorer], records: list[dict[str, Any]], counts: TermCounts
    ) -> list[dict[str, Any]]:
        """Per candidate: its source_key and PairScorer.score's columns, in plain dicts (no frame per request)."""
        standardize_one, pairs = light
        rows = []
        for raw in records:
            values = {str(k): None if isinstance(v, float) and math.isnan(v) else v for k, v in raw.items()}
            values["date_of_birth"] = as_date(values.get("date_of_birth"))
            rows.append({**values, **standardize_one(values)})
        new = [r for r in rows if r["source_system"] == ENTRY_SYSTEM]
        chosen = [
            (left, right, pairs.levels(left, right))
            for left in new
            for right in rows
            if right["source_system"] != ENTRY_SYSTEM
        ]
        # Term frequencies of the values a pair's level adjusts by, and of no other: most candidates of a request
        # fall in levels without an adjustment, and each value asked is a lookup in the serving store.
        asked: dict[str, set[Any]] = {c: set() for c in self.tf_columns}
        for left, right, levels in chosen:
            for column in {lvl.tf_column for lvl in levels if lvl.tf_column is not None}:
                asked[column].update(v for v in (left.get(column), right.get(column)) if v is not None)
        tf = {
            (column, value): self._tf(column, float(held), float(n))
            for column, (n, held_by) in counts({c: sorted(v) for c, v in asked.items()}).items()
            for value, held in held_by.items()
        }
        for r in rows:
            for column in self.tf_columns:
                value = r.get(column)
                r[f"tf_{column}"] = tf.get((column, value)) if value is not None else None
        return [{"source_key": right["source_key"], **pairs.weigh(left, right, lvls)} for left, right, lvls in chosen]

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

    def _explain(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
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
