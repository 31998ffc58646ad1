"""The one seam between the hub and the probabilistic matcher.

Everything the hub needs from Splink goes through MatcherBackend: train a model on a table of
standardized records, score the pairs of that table with a saved model into another table, and score
given pairs (match-on-entry: a posted record against candidate golden records).
Models are plain Splink JSON, so the same model can be loaded by another Splink backend (Spark
for data beyond one machine) by adding a second implementation here.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd
from splink import DuckDBAPI, Linker

from hub.workspace import scalar
from matching import settings

Model = dict[str, Any]
RECORDS_PER_CHUNK = 500_000  # predict in chunks above this, so memory stays bounded at 1M+ records


def untrained_levels(model: Model) -> list[str]:
    """'comparison: level' for each non-null level without an m or u estimate (too rare in the data)."""
    return [
        f"{c['output_column_name']}: {level.get('label_for_charts', level['sql_condition'])}"
        for c in model["comparisons"]
        for level in c["comparison_levels"]
        if not level.get("is_null_level") and not {"m_probability", "u_probability"} <= level.keys()
    ]


class MatcherBackend(ABC):
    @abstractmethod
    def train(self, records_table: str, progress: Callable[[str], None] | None = None) -> Model:
        """Estimate a new model from the records: prior, u by random sampling, m by EM."""

    @abstractmethod
    def predict(self, records_table: str, model: Model, threshold: float, output_table: str) -> int:
        """Score candidate pairs with `model`, keep those with match_probability >= threshold in
        `output_table` (unique_id_l, unique_id_r, match_weight, match_probability, mw_* per
        comparison, gamma_* levels) and return how many were kept."""

    @abstractmethod
    def score_pairs(self, left_table: str, right_table: str, model: Model) -> pd.DataFrame:
        """Score every (left, right) record pair with `model`, unblocked: unique_id_l, unique_id_r,
        match_weight, match_probability, gamma_* levels and mw_* weights (mw_tf_adj_* for the term
        frequencies, read from the records' tf_* columns)."""


class DuckDBSplinkBackend(MatcherBackend):
    """Splink on the workspace's own DuckDB connection: records never leave the database."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._scoring: tuple[Model, tuple[str, str], str] | None = None  # score_pairs: model, tables, Splink's SQL

    def _linker(self, records_table: str, model: Model | Any) -> Linker:
        # Its own cursor on the same database: Splink's queries never meet a half-read result of ours.
        api = DuckDBAPI(connection=self.con.cursor())
        # Splink's chatter would drown the hub's own progress lines; train() reports what matters.
        return Linker(api.register(records_table), model, log_level=logging.ERROR)

    def train(self, records_table: str, progress: Callable[[str], None] | None = None) -> Model:
        say = progress or (lambda _line: None)
        linker = self._linker(records_table, settings.settings())
        say("estimating the share of matching pairs from deterministic rules")
        linker.training.estimate_probability_two_random_records_match(settings.deterministic_rules(), recall=0.8)
        say("estimating u probabilities by random sampling")
        linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
        for rule in settings.training_blocking_rules():
            say(f"estimating m probabilities by EM, blocked on {rule.get_blocking_rule('duckdb').blocking_rule_sql}")
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True, record_sample_proportion=1.0
            )
        model = linker.misc.save_model_to_json()
        missing = untrained_levels(model)
        if missing:
            say(f"{len(missing)} level(s) never seen in training, Splink defaults used: {', '.join(missing)}")
        return model

    def predict(self, records_table: str, model: Model, threshold: float, output_table: str) -> int:
        linker = self._linker(records_table, model)
        n = scalar(self.con, f"SELECT count(*) FROM {records_table}")
        chunks = max(1, math.ceil(n / RECORDS_PER_CHUNK))
        scored = linker.inference.predict(
            threshold_match_probability=threshold,
            num_chunks_left=chunks if chunks > 1 else None,
            num_chunks_right=1 if chunks > 1 else None,
        )
        cols = [r[0] for r in self.con.execute(f"SELECT column_name FROM (DESCRIBE {scored.physical_name})").fetchall()]
        keep = ["unique_id_l", "unique_id_r", "match_weight", "match_probability"]
        keep += [c for c in cols if c.startswith(("mw_", "gamma_"))]
        self.con.execute(
            f"""CREATE OR REPLACE TABLE {output_table} AS
                SELECT {", ".join(keep)} FROM {scored.physical_name}"""
        )
        scored.drop_table_from_database_and_remove_from_cache()
        return scalar(self.con, f"SELECT count(*) FROM {output_table}")

    def score_pairs(self, left_table: str, right_table: str, model: Model) -> pd.DataFrame:
        # Building Splink's SQL (settings parsed, every expression through sqlglot) costs several times
        # more than running it on a few rows, so the first call keeps the SQL score_pairs ran and later
        # calls with the same model and tables rerun it, as Splink's own realtime SQL cache does.
        key = (left_table, right_table)
        if self._scoring is not None and self._scoring[0] is model and self._scoring[1] == key:
            return self.con.execute(self._scoring[2]).df()
        api = DuckDBAPI(connection=self.con)
        linker = Linker(api.register(right_table), model, log_level=logging.ERROR)
        left, right = (api.table_to_splink_dataframe(t, t) for t in key)
        scored = linker.inference.score_pairs(left, right)
        try:
            self._scoring = (model, key, scored.sql_used_to_create)
            return scored.as_pandas_dataframe()
        finally:
            scored.drop_table_from_database_and_remove_from_cache()
