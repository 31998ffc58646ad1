"""The comparison point for the hub's matcher: plain Splink 5 written the way its deduplication
tutorial does it — raw canonical fields, stock comparisons, tutorial blocking and training."""

from __future__ import annotations

import logging

import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from hub.catalogue import STAGED, record_id_sql
from hub.workspace import Workspace

INPUT = "baseline_input"


def linker(ws: Workspace, model: dict | None = None) -> Linker:
    """A linker over the workspace's staged records (the same records the hub matches)."""
    ws.con.execute(
        f"""CREATE OR REPLACE TABLE {INPUT} AS
            SELECT {record_id_sql()} AS unique_id, first_name, last_name AS surname,
                   strftime(date_of_birth, '%Y-%m-%d') AS dob, city, email
            FROM {STAGED}"""
    )
    settings = model or SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            cl.EmailComparison("email"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "surname"),
            block_on("surname", "dob"),
            block_on("first_name", "dob"),
            block_on("email"),
        ],
    )
    return Linker(DuckDBAPI(connection=ws.con.cursor()).register(INPUT), settings, log_level=logging.WARNING)


def train(lk: Linker) -> dict:
    lk.training.estimate_probability_two_random_records_match([block_on("first_name", "surname", "dob")], recall=0.7)
    lk.training.estimate_u_using_random_sampling(max_pairs=1e6)
    lk.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
    lk.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    return lk.misc.save_model_to_json()


def predict_and_cluster(lk: Linker, threshold: float) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Auto-match pairs, clusters (record_id, cluster_id) and the number of pairs scored."""
    predictions = lk.inference.predict(threshold_match_probability=threshold)
    clusters = lk.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    pairs = predictions.as_pandas_dataframe()[["unique_id_l", "unique_id_r"]]
    labels = clusters.as_pandas_dataframe()[["unique_id", "cluster_id"]].rename(columns={"unique_id": "record_id"})
    return pairs, labels, len(pairs)
