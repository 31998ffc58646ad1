"""The one seam between the hub and the probabilistic matcher.

Everything the hub needs from Splink goes through MatcherBackend: train a model on a table of
standardized records, and score the pairs of that table with a saved model into another table.
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


class DuckDBSplinkBackend(MatcherBackend):
    """Splink on the workspace's own DuckDB connection: records never leave the database."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

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
