"""What the evidence allows: an oracle analysis of the hub's matching on a demo, against its ground truth.

Run after `matching_accuracy.py --dir DEMO` (it leaves the workspace and the trained model in DEMO/.bench-accuracy).
Every candidate pair the blocking rules compare is scored with the saved model and labelled with the truth, then:

1. the missed true pairs by evidence pattern (the comparison levels of the pair), each with how many true and false
   pairs of all compared pairs share exactly that pattern: a pattern held by as many false pairs as true ones carries
   no evidence the model is not using;
2. extra evidence the model does not see, on the largest class of misses (an exact full name, different e-mails,
   nothing else on both sides): how many records hold the full name, and the e-mail user names' edit distance;
3. the oracle: the best threshold rule on the evidence patterns (a pair is merged when the share of the other pairs
   of its pattern that truly match reaches a cut-off: leave-one-out, so a pattern of one pair decides nothing and finer
   patterns do not just memorise the truth; in-sample too, an upper bound), clustered as the hub clusters, against the
   model at its threshold;
4. namesakes (same full name, dates of birth apart beyond a keying slip) sharing an e-mail address built from the name;
5. records linked in the review band to two or more members of one other cluster (evidence a cluster could pool).

    hub demo init --dir /tmp/demo42 --customers 20000 --seed 42        # [--flavour international]
    python benchmarks/matching_accuracy.py --dir /tmp/demo42
    python benchmarks/oracle_evidence.py --dir /tmp/demo42
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import linkage_metrics as lm
import pandas as pd

from hub.catalogue import CLUSTERS, STANDARDIZED, record_ids
from hub.config import load_config
from matching import models
from matching.backend import DuckDBSplinkBackend
from matching.clustering import cluster

PAIRS = "_oracle_pairs"
CUTOFFS = (0.95, 0.9, 0.8, 0.5)


def score_all(con: duckdb.DuckDBPyConnection, truth: pd.DataFrame) -> list[str]:
    """Every compared pair, scored and labelled (is_match) in PAIRS; returns the gamma columns."""
    saved = models.load(con)
    if saved is None:
        raise SystemExit("no trained model in the workspace: run matching_accuracy.py --dir on this demo first")
    DuckDBSplinkBackend(con).predict(STANDARDIZED, saved.model, 0.0, PAIRS)
    con.register("_truth", truth)
    con.execute(
        f"""CREATE OR REPLACE TABLE {PAIRS} AS
            SELECT p.*, tl.person_id = tr.person_id AS is_match, cl.cluster_id = cr.cluster_id AS same_cluster,
                   least(nc.n, 5) AS name_count,
                   least(damerau_levenshtein(l.email_user_std, r.email_user_std), 4) AS email_user_edits
            FROM {PAIRS} AS p
            JOIN _truth AS tl ON tl.record_id = p.unique_id_l JOIN _truth AS tr ON tr.record_id = p.unique_id_r
            JOIN {CLUSTERS} AS cl ON cl.record_id = p.unique_id_l JOIN {CLUSTERS} AS cr ON cr.record_id = p.unique_id_r
            JOIN {STANDARDIZED} AS l ON l.unique_id = p.unique_id_l
            JOIN {STANDARDIZED} AS r ON r.unique_id = p.unique_id_r
            LEFT JOIN (SELECT name_concat_std, count(*) AS n FROM {STANDARDIZED} GROUP BY ALL) AS nc
              ON nc.name_concat_std = l.name_concat_std AND l.name_concat_std = r.name_concat_std"""
    )
    return [
        r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {PAIRS})").fetchall() if r[0].startswith("gamma_")
    ]


def missed_patterns(con: duckdb.DuckDBPyConnection, gammas: list[str]) -> pd.DataFrame:
    g = ", ".join(gammas)
    return con.execute(
        f"""WITH missed AS (SELECT {g}, count(*) AS missed, min(match_probability) AS p_min,
                                   max(match_probability) AS p_max
                            FROM {PAIRS} WHERE is_match AND NOT same_cluster GROUP BY ALL),
                 shared AS (SELECT {g}, count(*) FILTER (WHERE is_match) AS true_pairs,
                                   count(*) FILTER (WHERE NOT is_match) AS false_pairs
                            FROM {PAIRS} GROUP BY ALL)
            SELECT * FROM missed JOIN shared USING ({g}) ORDER BY missed DESC LIMIT 15"""
    ).df()


def name_only_splits(con: duckdb.DuckDBPyConnection, gammas: list[str]) -> dict[str, pd.DataFrame]:
    """The largest class of misses (exact full name, different e-mails, nothing else on both sides), by extra
    evidence."""
    top = con.execute(f"SELECT max(gamma_name), max(gamma_email) FROM {PAIRS}").fetchall()[0]
    rest = " AND ".join(f"{c} = -1" for c in gammas if c not in ("gamma_name", "gamma_email"))
    where = f"gamma_name = {top[0]} AND gamma_email = 0 AND {rest}"
    return {
        column: con.execute(
            f"""SELECT {column}, count(*) FILTER (WHERE is_match) AS true_pairs,
                       count(*) FILTER (WHERE NOT is_match) AS false_pairs,
                       count(*) FILTER (WHERE is_match AND NOT same_cluster) AS missed
                FROM {PAIRS} WHERE {where} GROUP BY ALL ORDER BY 1"""
        ).df()
        for column in ("name_count", "email_user_edits")
    }


def oracle(con: duckdb.DuckDBPyConnection, gammas: list[str], threshold: float, truth: pd.DataFrame) -> list[str]:
    records = con.execute(f"SELECT unique_id FROM {STANDARDIZED}").df()["unique_id"]

    def scores(where: str, features: str = "", own: int = 1) -> str:
        # own = 1, leave-one-out: a pair is judged by the other pairs of its pattern (a pattern of one decides nothing);
        # own = 0, in-sample: by all of them, itself included (an upper bound that memorises rare patterns)
        q = (
            f", (sum(is_match::INT) OVER w - {own} * is_match::INT) / nullif(count(*) OVER w - {own}, 0) AS q "
            f"FROM {PAIRS} WINDOW w AS (PARTITION BY {features})"
            if features
            else f" FROM {PAIRS}"
        )
        edges = con.execute(
            f"SELECT * FROM (SELECT unique_id_l AS id_l, unique_id_r AS id_r, is_match, match_probability{q}) "
            f"WHERE {where}"
        ).df()
        labels = cluster(records, edges[["id_l", "id_r"]].assign(match_probability=1.0)).merge(truth, on="record_id")
        c, _ = lm.cluster_scores(labels)
        false = int((~edges.is_match.astype(bool)).sum())
        return f"{len(edges):>8,} {false:>6,} {c.precision:>8.4f} {c.recall:>8.4f} {c.f1:>8.4f}"

    lines = [f"{'rule':64} {'pairs':>8} {'false':>6} {'clus P':>8} {'clus R':>8} {'clus F1':>8}"]
    lines.append(f"{'model: match probability >= ' + str(threshold):64} " + scores(f"match_probability >= {threshold}"))
    sets = {
        "levels": ", ".join(gammas),
        "levels + name count": ", ".join([*gammas, "name_count"]),
        "levels + name count + e-mail edits": ", ".join([*gammas, "name_count", "email_user_edits"]),
    }
    for own, how in ((1, "leave-one-out"), (0, "in-sample")):
        for name, features in sets.items():
            for cut in CUTOFFS:
                rule = f"{how}, {name}: share true >= {cut}"
                lines.append(f"{rule:64} " + scores(f"q >= {cut}", features, own))
    return lines


def namesakes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        f"""SELECT tl.person_id = tr.person_id AS same_person, count(*) AS pairs,
                   count(*) FILTER (WHERE l.email_std = r.email_std AND contains(l.email_user_std, l.last_name_std))
                     AS sharing_a_name_built_address
            FROM {STANDARDIZED} AS l JOIN {STANDARDIZED} AS r
              ON l.first_name_std = r.first_name_std AND l.last_name_std = r.last_name_std AND l.unique_id < r.unique_id
            JOIN _truth AS tl ON tl.record_id = l.unique_id JOIN _truth AS tr ON tr.record_id = r.unique_id
            WHERE l.email_std IS NOT NULL AND r.email_std IS NOT NULL
              AND damerau_levenshtein(l.dob_str, r.dob_str) > 1 AND l.dob_swapped IS DISTINCT FROM r.dob_std
            GROUP BY ALL"""
    ).df()


def pooled(con: duckdb.DuckDBPyConnection, threshold: float, review: float) -> pd.DataFrame:
    return con.execute(
        f"""WITH e AS (SELECT unique_id_l AS a, unique_id_r AS b, is_match FROM {PAIRS} WHERE match_probability
                         >= {review} AND match_probability < {threshold}
                       UNION ALL SELECT unique_id_r, unique_id_l, is_match FROM {PAIRS} WHERE match_probability
                         >= {review} AND match_probability < {threshold}),
                 x AS (SELECT e.a, cb.cluster_id, count(*) AS links, bool_or(is_match) AS same_person
                       FROM e JOIN {CLUSTERS} AS ca ON ca.record_id = e.a JOIN {CLUSTERS} AS cb ON cb.record_id = e.b
                       WHERE ca.cluster_id <> cb.cluster_id GROUP BY ALL)
            SELECT least(links, 3) AS links_into_one_cluster, count(*) FILTER (WHERE same_person) AS true_groups,
                   count(*) FILTER (WHERE NOT same_person) AS false_groups FROM x GROUP BY ALL ORDER BY 1"""
    ).df()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, required=True, help="demo directory matching_accuracy.py --dir ran on")
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    cfg = load_config(args.dir / "hub.yaml")
    con = duckdb.connect(str(args.dir / ".bench-accuracy" / "workspace.duckdb"))
    truth = pd.read_csv(args.dir / "ground_truth.csv", dtype=str, keep_default_na=False)
    truth["record_id"] = record_ids(truth.source_system, truth.source_key)
    truth = truth[["record_id", "person_id"]]
    gammas = score_all(con, truth)
    threshold, review = cfg.matching.auto_match_threshold, cfg.matching.review_threshold
    print("1. missed true pairs by evidence pattern (levels: -1 null, 0 else, higher is stronger), with all compared")
    print("   pairs sharing exactly that pattern\n" + missed_patterns(con, gammas).to_string(index=False))
    for column, frame in name_only_splits(con, gammas).items():
        print(f"\n2. exact full name, different e-mails, nothing else on both sides, by {column}")
        print(frame.to_string(index=False))
    print(
        "\n3. oracle: the best rule on the evidence patterns (leave-one-out and in-sample), clustered as the hub does"
    )
    print("\n".join(oracle(con, gammas, threshold, truth)))
    print("\n4. namesakes (same full name, other date of birth) sharing an e-mail address built from the name")
    print(namesakes(con).to_string(index=False))
    print(f"\n5. records linked in [{review}, {threshold}) to members of one other cluster")
    print(pooled(con, threshold, review).to_string(index=False))
    con.execute(f"DROP TABLE {PAIRS}")
    con.close()


if __name__ == "__main__":
    main()
