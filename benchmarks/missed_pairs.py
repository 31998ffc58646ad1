"""Why true pairs were missed: each true pair the clusters keep apart gets one cause, and a few
examples per cause are shown with their standardized values and, where a model exists, the score
and per-comparison match weights Splink gives them (unblocked, so never-compared pairs get one too).

Causes, in the order they are checked: a record was quarantined (never matched at all); no
blocking rule compares the pair; the pair was compared but scored below the review threshold; it
sits in the review band; it was auto-matched but clustered apart (steward decisions only).
"""

from __future__ import annotations

import duckdb
import pandas as pd
from blocking_ceiling import never_compared_sql

from hub.catalogue import PAIRS
from matching.backend import DuckDBSplinkBackend, Model, term_frequency_sql, tf_levels

SHOWN = ("first_name_std", "last_name_std", "dob_str", "address_line1_std", "city_std", "postal_code_std")
SHOWN += ("email_std", "phone_std")


def classify(
    con: duckdb.DuckDBPyConnection,
    records: str,
    true_pairs: str,
    labels: str,
    rules: list[str],
    auto_threshold: float,
    scored: str | None = PAIRS,
) -> pd.DataFrame:
    """One row per missed true pair: id_l, id_r, cause, match_probability (NULL unless scored).
    `true_pairs` (id_l, id_r) may hold records absent from `records` (quarantined); `labels` has
    record_id, cluster_id for the records that were matched."""
    prob = "s.match_probability" if scored else "NULL::DOUBLE"
    join_scored = f"LEFT JOIN {scored} AS s ON s.unique_id_l = m.id_l AND s.unique_id_r = m.id_r" if scored else ""
    return con.execute(
        f"""WITH t AS (SELECT DISTINCT least(id_l, id_r) AS id_l, greatest(id_l, id_r) AS id_r FROM {true_pairs}),
                 m AS (SELECT t.* FROM t
                       LEFT JOIN {labels} AS a ON a.record_id = t.id_l
                       LEFT JOIN {labels} AS b ON b.record_id = t.id_r
                       WHERE a.cluster_id IS NULL OR b.cluster_id IS NULL OR a.cluster_id <> b.cluster_id)
            SELECT m.id_l, m.id_r,
                   CASE WHEN l.unique_id IS NULL OR r.unique_id IS NULL THEN 'a record quarantined'
                        WHEN {never_compared_sql(rules)} THEN 'never compared by blocking'
                        WHEN {prob} IS NULL THEN 'compared, scored below the review threshold'
                        WHEN {prob} < {auto_threshold} THEN 'compared, in the review band'
                        ELSE 'auto-matched, clustered apart' END AS cause,
                   {prob} AS match_probability
            FROM m
            LEFT JOIN {records} AS l ON l.unique_id = m.id_l
            LEFT JOIN {records} AS r ON r.unique_id = m.id_r
            {join_scored}
            ORDER BY cause, m.id_l, m.id_r"""
    ).df()


def examples(
    con: duckdb.DuckDBPyConnection, records: str, missed: pd.DataFrame, model: Model | None, per_cause: int = 3
) -> pd.DataFrame:
    """A few missed pairs per cause (quarantined ones excepted) with both records' values and, given a
    model, Splink's score of the pair and each comparison's match weight."""
    picked = missed[missed.cause != "a record quarantined"].groupby("cause", sort=False).head(per_cause)
    if picked.empty:
        return picked
    con.register("_missed_examples", picked[["id_l", "id_r", "cause"]])
    shown = [c for c in SHOWN if c in _columns(con, records)]
    values = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in shown)
    out = con.execute(
        f"""SELECT e.*, {values} FROM _missed_examples AS e
            JOIN {records} AS l ON l.unique_id = e.id_l JOIN {records} AS r ON r.unique_id = e.id_r"""
    ).df()
    if model is not None:
        out = out.merge(_scores(con, records, model), on=["id_l", "id_r"], how="left")
    con.unregister("_missed_examples")
    return out


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()}


def _scores(con: duckdb.DuckDBPyConnection, records: str, model: Model) -> pd.DataFrame:
    """Unblocked Splink scores of the example pairs, with the term frequencies the hub's predict uses
    (matching.backend.term_frequency_sql over `records`)."""
    prior = model["probability_two_random_records_match"]
    lookups = {c: term_frequency_sql(records, c, m, prior) for c, m in tf_levels(model).items()}
    tf = "".join(f" LEFT JOIN ({sql}) AS tf{i} USING ({c})" for i, (c, sql) in enumerate(lookups.items()))
    with_tf = f"SELECT * FROM {records}{tf}"
    for side in ("l", "r"):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _missed_{side} AS
                SELECT * FROM ({with_tf}) WHERE unique_id IN (SELECT id_{side} FROM _missed_examples)"""
        )
    scored = DuckDBSplinkBackend(con).score_pairs("_missed_l", "_missed_r", model)
    weights = [c for c in scored.columns if c.startswith("mw_")]
    scored = scored.rename(columns={"unique_id_l": "id_l", "unique_id_r": "id_r"})
    return scored[["id_l", "id_r", "match_probability", *weights]].rename(columns={"match_probability": "score"})


def report(missed: pd.DataFrame, shown: pd.DataFrame) -> str:
    """Counts per cause, then each example as two lines of values and its score."""
    lines = ["missed true pairs by cause:"]
    lines += [f"  {n:>7,}  {cause}" for cause, n in missed.cause.value_counts(sort=False).sort_index().items()]
    for row in shown.to_dict("records"):
        lines.append(f"  [{row['cause']}] {row['id_l']}  /  {row['id_r']}")
        for side in ("l", "r"):
            values = [str(row.get(f"{c}_{side}")) for c in SHOWN if f"{c}_{side}" in row]
            lines.append("      " + " | ".join(values))
        if "score" in row and pd.notna(row["score"]):
            weights = ", ".join(
                f"{k.removeprefix('mw_')} {v:+.1f}" for k, v in row.items() if k.startswith("mw_") and abs(v) >= 0.05
            )
            lines.append(f"      score {row['score']:.4f}: {weights}")
    return "\n".join(lines)
