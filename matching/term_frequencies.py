"""The term frequencies a model version scores with: counted when the version first scores, then kept.

Why kept: a pair's weight on an agreeing name reads how many records hold that name. Counted afresh on every run,
every count (and the number of records) moves with every change, so every stored pair would need rescoring and an
incremental run could never give what a full rescoring gives. With kept counts a pair's score depends on its two
records, the model version and the rule below only, so scoring just the pairs that touch changed records gives the
very pairs that scoring all of them gives.

Rules, per column a model adjusts by term frequency (models.tf_columns):
1. The basis: each value's count (c_basis) and the number of records holding a value (n), over the standardized
   records when the model version first scores: on the run that trained it, the counts of that run's records, so a
   first run scores exactly as if counting live.
2. A value's count is max(c_basis, 2^floor(log2(c_live))): a value that became common since (or was not seen then)
   weighs as its current count rounded down to a power of two, never more than one bit stronger than a live count
   would make it, and changing only when its live count crosses a power of two (its holders are then rescored:
   `changed_holders`). A value whose count fell keeps its basis count: its weight stays weaker, never grows.
3. The term frequency: backend.pair_out_tf of that count and n where predict leaves the pair out (backend.tf_levels),
   else count / n, Splink's share of the records.
Retraining (`hub model train`) makes a new version and so a new basis; every pair is rescored then.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from hub.catalogue import TF_BASIS_VERSION, columns_sql, tf_basis
from hub.workspace import scalar
from matching.backend import Model, pair_out_tf, tf_columns, tf_levels


def ensure_basis(con: duckdb.DuckDBPyConnection, records: str, model: Model, version: int) -> None:
    """Count the basis (rule 1) over `records` unless it was counted for this model version."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {TF_BASIS_VERSION} ({columns_sql(TF_BASIS_VERSION)})")
    if scalar(con, f"SELECT count(*) FROM {TF_BASIS_VERSION} WHERE version = ?", [version]):
        return
    for column in tf_columns(model):
        con.execute(
            f"""CREATE OR REPLACE TABLE {tf_basis(column)} AS
                SELECT {column}, count(*)::DOUBLE AS c, sum(count(*)) OVER ()::DOUBLE AS n
                FROM {records} WHERE {column} IS NOT NULL GROUP BY {column}"""
        )
    con.execute(f"DELETE FROM {TF_BASIS_VERSION}")
    con.execute(f"INSERT INTO {TF_BASIS_VERSION} VALUES (?)", [version])


def counts_sql(records: str, column: str) -> str:
    """Per value `records` hold in `column`: (column, c, n) by rules 1 and 2; n is 1 for a column the basis never
    saw filled (no value of it can then weigh more than a share of 1)."""
    basis = tf_basis(column)
    return f"""SELECT {column}, greatest(coalesce(b.c, 0), pow(2, floor(log2(live.c)))) AS c,
                      coalesce((SELECT any_value(n) FROM {basis}), 1) AS n
               FROM (SELECT {column}, count(*)::DOUBLE AS c FROM {records} WHERE {column} IS NOT NULL GROUP BY ALL)
                    AS live
               LEFT JOIN {basis} AS b USING ({column})"""


def make_lookups(
    con: duckdb.DuckDBPyConnection, records: str, model: Model, table: Callable[[str], str]
) -> dict[str, str]:
    """(Re)create each tf column's lookup (`column`, tf_`column`), named `table(column)`, for the values `records`
    hold (rule 3), after ensure_basis. Returns column -> lookup table, as backend.predict takes them."""
    prior = model["probability_two_random_records_match"]
    pair_out = tf_levels(model)
    out = {}
    for column in tf_columns(model):
        tf = pair_out_tf("c", "n", pair_out[column], prior) if column in pair_out else "c / n"
        out[column] = table(column)
        con.execute(
            f"CREATE OR REPLACE TABLE {out[column]} AS SELECT {column}, {tf} AS tf_{column} "
            f"FROM ({counts_sql(records, column)})"
        )
    return out


def changed_holders(records: str, new: dict[str, str], old: dict[str, str]) -> str:
    """SQL selecting the unique_id of every record in `records` holding a value whose term frequency differs between
    the `old` lookups (the last scoring's) and the `new` ones, or that only `new` has: the values are found among the
    lookups' distinct values first, then their holders."""
    parts = [
        f"""SELECT unique_id FROM {records} WHERE {c} IN (
                SELECT a.{c} FROM {new[c]} AS a LEFT JOIN {old[c]} AS b USING ({c})
                WHERE b.tf_{c} IS DISTINCT FROM a.tf_{c})"""
        for c in new
    ]
    return " UNION ".join(parts) if parts else f"SELECT unique_id FROM {records} WHERE false"
