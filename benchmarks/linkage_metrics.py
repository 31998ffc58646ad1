"""Accuracy of a linkage against the truth, as record pairs and as clusters. One definition for every
accuracy benchmark, so figures from the demo and from FEBRL compare:

- pair P/R/F1: the record pairs the matcher auto-merged (scored at or above the auto-match
  threshold) against the true pairs (two records of one person);
- cluster P/R/F1, pairwise: the record pairs that share a cluster (golden record) against the true
  pairs. Links through a third record count, so this is what a downstream system sees;
- exact clusters: a cluster is exact when it holds all the records of one person and no other;
  precision = exact clusters / clusters, recall = exact clusters / people.

Set-based in DuckDB: truth, pairs and labels are registered frames, nothing loops over records.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd


@dataclass(frozen=True)
class Scores:
    hits: int
    predicted: int
    actual: int

    @property
    def precision(self) -> float:
        return self.hits / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.hits / self.actual if self.actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _con(**frames: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, frame in frames.items():
        con.register(name, frame)
    return con


TRUE_PAIRS_SQL = """SELECT a.record_id AS id_l, b.record_id AS id_r
                    FROM {truth} AS a JOIN {truth} AS b ON a.person_id = b.person_id AND a.record_id < b.record_id"""


def true_pairs(truth: pd.DataFrame) -> pd.DataFrame:
    """id_l < id_r for every two records of one person (`truth`: record_id, person_id)."""
    with _con(truth=truth) as con:
        return con.execute(TRUE_PAIRS_SQL.format(truth="truth")).df()


def pair_scores(found: pd.DataFrame, truth: pd.DataFrame) -> Scores:
    """`found` (id_l, id_r in either order) against the true pairs of `truth` (record_id, person_id)."""
    with _con(found=found, truth=truth) as con:
        row = con.execute(
            f"""WITH f AS (SELECT DISTINCT least(id_l, id_r) AS id_l, greatest(id_l, id_r) AS id_r FROM found),
                     t AS ({TRUE_PAIRS_SQL.format(truth="truth")})
                SELECT (SELECT count(*) FROM f JOIN t USING (id_l, id_r)), (SELECT count(*) FROM f),
                       (SELECT count(*) FROM t)"""
        ).fetchall()[0]
    return Scores(*row)


def cluster_scores(labels: pd.DataFrame) -> tuple[Scores, Scores]:
    """(pairwise, exact) scores of `labels` (record_id, cluster_id, person_id; one row per record)."""
    with _con(labels=labels) as con:
        pairwise = con.execute(
            """WITH cp AS (SELECT count(*) AS n FROM labels GROUP BY cluster_id, person_id),
                    c AS (SELECT count(*) AS n FROM labels GROUP BY cluster_id),
                    p AS (SELECT count(*) AS n FROM labels GROUP BY person_id)
               SELECT (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM cp),
                      (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM c),
                      (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM p)"""
        ).fetchall()[0]
        exact = con.execute(
            """WITH cp AS (SELECT cluster_id, person_id, count(*) AS n FROM labels GROUP BY ALL),
                    c AS (SELECT cluster_id, count(*) AS n FROM labels GROUP BY ALL),
                    p AS (SELECT person_id, count(*) AS n FROM labels GROUP BY ALL)
               SELECT (SELECT count(*) FROM cp JOIN c USING (cluster_id) JOIN p USING (person_id)
                       WHERE cp.n = c.n AND cp.n = p.n),
                      (SELECT count(*) FROM c), (SELECT count(*) FROM p)"""
        ).fetchall()[0]
    return Scores(*(int(v) for v in pairwise)), Scores(*exact)


def line(name: str, pairs: Scores | None, clusters: Scores, exact: Scores, extra: str = "") -> str:
    """One row under HEADER."""
    cells = [*(f"{v:>8.4f}" for v in (pairs.precision, pairs.recall, pairs.f1))] if pairs else [f"{'-':>8}"] * 3
    cells += [f"{v:>8.4f}" for v in (clusters.precision, clusters.recall, clusters.f1, exact.precision, exact.recall)]
    return f"{name:24}" + "".join(cells) + extra


HEADER = f"{'':24}" + "".join(
    f"{h:>8}" for h in ("pair P", "pair R", "pair F1", "clus P", "clus R", "clus F1", "exact P", "exact R")
)
