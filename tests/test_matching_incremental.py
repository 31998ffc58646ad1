"""Incremental matching: standardizing the changed records, scoring the pairs they touch and clustering the components
they reach gives what standardizing, scoring and clustering everything gives, after any sequence of inserts, edits,
deletes and steward decisions (matching/changes.py, matching/term_frequencies.py, matching/reclustering.py)."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from connectors import pull_source
from connectors.demo import init_demo
from hub.catalogue import CLUSTER_BASIS, CLUSTERS, PAIRS, RECLUSTERED, STAGED, STANDARDIZED
from hub.config import load_config
from hub.workspace import Workspace
from matching import changes, models, reclustering
from matching.backend import DuckDBSplinkBackend, tf_columns
from matching.run import cluster_records, match, score_pairs, standardize_records, train

pytestmark = pytest.mark.slow(seconds=20)  # the file's weight in the suite's order (tests/conftest.py)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    directory = tmp_path_factory.mktemp("incremental")
    init_demo(directory, customers=400, seed=23)
    cfg = load_config(directory / "hub.yaml")
    ws = Workspace.for_config(cfg)
    for name in cfg.sources:
        pull_source(cfg, name, ws)
    match(ws, cfg)
    yield ws, cfg
    ws.close()


def table(ws: Workspace, name: str, key: list[str]) -> pd.DataFrame:
    return ws.con.execute(f"SELECT * FROM {name}").df().sort_values(key, ignore_index=True)


def pairs(ws: Workspace) -> pd.DataFrame:
    return table(ws, PAIRS, ["unique_id_l", "unique_id_r"])


def inputs(ws: Workspace) -> pd.DataFrame:
    """The clustering input the next run diffs against, as the set it is read as."""
    return ws.con.execute(f"SELECT DISTINCT * FROM {CLUSTER_BASIS} ORDER BY ALL").df()


def moved(before: pd.DataFrame, now: pd.DataFrame) -> set[str]:
    """The records whose cluster changed: those of every cluster whose records are not exactly those of a cluster
    before, and the records gone."""
    old = {frozenset(rs) for _, rs in before.groupby("cluster_id")["record_id"]}
    out = {r for _, rs in now.groupby("cluster_id")["record_id"] if frozenset(rs) not in old for r in rs}
    return out | (set(before["record_id"]) - set(now["record_id"]))


def change_staged(ws: Workspace, rng: random.Random) -> None:
    """Edits, deletes and inserts on the staged records, as pulls would leave them: names with a typo or another
    record's name (so counts of shared values move), cities in capitals (no standardized change), records gone,
    copies of records under new keys (another person's duplicate: the values' counts grow past powers of two), and a
    record of someone new that matches no one (only the records new since the last clustering seed it)."""
    keys = [k for (k,) in ws.con.execute(f"SELECT source_key FROM {STAGED} ORDER BY source_key").fetchall()]
    pick = rng.sample(keys, 40)
    names = [n for (n,) in ws.con.execute(f"SELECT DISTINCT last_name FROM {STAGED} WHERE last_name IS NOT NULL")
             .fetchall()]  # fmt: skip
    con = ws.con
    for key in pick[:10]:
        con.execute(f"UPDATE {STAGED} SET last_name = last_name || 'e' WHERE source_key = ?", [key])
    for key in pick[10:18]:
        con.execute(f"UPDATE {STAGED} SET last_name = ? WHERE source_key = ?", [rng.choice(names), key])
    for key in pick[18:24]:
        con.execute(f"UPDATE {STAGED} SET city = upper(city) WHERE source_key = ?", [key])
    for key in pick[24:30]:
        con.execute(f"DELETE FROM {STAGED} WHERE source_key = ?", [key])
    for i, key in enumerate(pick[30:]):
        con.execute(
            f"INSERT INTO {STAGED} SELECT * REPLACE (source_key || ? AS source_key) FROM {STAGED} WHERE source_key = ?",
            [f"-copy{rng.randrange(10**6)}-{i}", key],
        )
    stranger = f"{rng.randrange(10**9):09d}"  # someone new, like no one else: no pair reaches their record
    con.execute(
        f"""INSERT INTO {STAGED} SELECT * REPLACE (source_key || '-new' || $n AS source_key, 'Qx' || $n AS first_name,
                   'Zy' || $n AS last_name, NULL AS date_of_birth, NULL AS email, NULL AS phone,
                   $n || ' Nowhere Rd' AS address_line1, NULL AS address_line2, NULL AS postal_code)
            FROM {STAGED} WHERE source_key = $key""",
        {"n": stranger, "key": pick[0]},
    )


def decide(ws: Workspace, rng: random.Random, decisions: dict[str, list[tuple[str, str]]]) -> None:
    """A steward's decisions: "not a match" inside a multi-record cluster (it splits), "match" between two clusters
    (they join), each about present records; a "match" that would contradict a "not a match" is not taken."""
    rows = ws.con.execute(
        f"""SELECT cluster_id, list(record_id ORDER BY record_id) FROM {CLUSTERS}
            WHERE record_id IN (SELECT unique_id FROM {STANDARDIZED}) GROUP BY ALL ORDER BY 1"""
    ).fetchall()
    big = [members for _, members in rows if len(members) > 1]
    a, b = rng.sample(rng.choice(big), 2)
    decisions["cannot"].append((a, b))
    c, d = (rng.choice(members) for _, members in rng.sample(rows, 2))
    if not {c, d} & {x for pair in decisions["cannot"] for x in pair}:
        decisions["must"].append((c, d))


def clustered(ws, cfg, decisions, full: bool = False):
    frames = {k: pd.DataFrame(v, columns=["id_l", "id_r"]) for k, v in decisions.items()}
    return cluster_records(ws, cfg, frames["must"], frames["cannot"], full=full)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_runs_give_what_a_full_rebuild_gives(demo, seed):
    ws, cfg = demo
    saved = models.load(ws.con)
    rng = random.Random(seed)
    decisions: dict[str, list[tuple[str, str]]] = {"must": [], "cannot": []}
    clustered(ws, cfg, decisions, full=True)
    for _ in range(3):
        change_staged(ws, rng)
        done = standardize_records(ws)
        scored = score_pairs(ws, cfg, saved)
        decide(ws, rng, decisions)
        before = table(ws, CLUSTERS, ["record_id"])
        reclustering.mark_build(ws)  # as a golden build leaves it
        grouped = clustered(ws, cfg, decisions)
        assert reclustering.changed_since_build(ws) == RECLUSTERED
        noted = {r for (r,) in ws.con.execute(f"SELECT record_id FROM {RECLUSTERED}").fetchall()}
        assert moved(before, table(ws, CLUSTERS, ["record_id"])) <= noted  # what the golden build compares
        assert not done.full and 0 < done.redone < done.records
        assert not scored.full and 0 < scored.rescored_records < done.records
        assert not grouped.full and 0 < grouped.reclustered < done.records
        standardized, incremental = table(ws, STANDARDIZED, ["unique_id"]), pairs(ws)
        clusters = table(ws, CLUSTERS, ["record_id"])
        basis = inputs(ws)  # kept as differences by the incremental run, rewritten whole by the full one
        assert standardize_records(ws, full=True).full and score_pairs(ws, cfg, saved, full=True).full
        assert clustered(ws, cfg, decisions, full=True).full
        pd.testing.assert_frame_equal(standardized, table(ws, STANDARDIZED, ["unique_id"]))
        pd.testing.assert_frame_equal(incremental, pairs(ws))
        pd.testing.assert_frame_equal(clusters, table(ws, CLUSTERS, ["record_id"]))
        pd.testing.assert_frame_equal(basis, inputs(ws))


def test_an_unchanged_run_standardizes_scores_and_clusters_nothing(demo):
    ws, cfg = demo
    saved = models.load(ws.con)
    decisions: dict[str, list[tuple[str, str]]] = {"must": [], "cannot": []}
    standardize_records(ws)
    score_pairs(ws, cfg, saved)
    clustered(ws, cfg, decisions)
    before, groups = pairs(ws), table(ws, CLUSTERS, ["record_id"])
    assert standardize_records(ws).redone == 0
    assert score_pairs(ws, cfg, saved).rescored_records == 0
    assert clustered(ws, cfg, decisions).reclustered == 0
    pd.testing.assert_frame_equal(before, pairs(ws))
    pd.testing.assert_frame_equal(groups, table(ws, CLUSTERS, ["record_id"]))


def test_a_failed_scoring_is_redone_by_the_next_run(demo, monkeypatch):
    ws, cfg = demo
    saved = models.load(ws.con)
    change_staged(ws, random.Random(9))
    standardize_records(ws)

    def broken(*args, **kwargs):
        raise RuntimeError("killed mid-scoring")

    with monkeypatch.context() as patched:
        patched.setattr(DuckDBSplinkBackend, "predict", broken)
        with pytest.raises(RuntimeError):
            score_pairs(ws, cfg, saved)
    assert score_pairs(ws, cfg, saved).rescored_records > 0
    incremental = pairs(ws)
    score_pairs(ws, cfg, saved, full=True)
    pd.testing.assert_frame_equal(incremental, pairs(ws))


def test_other_standardization_rules_or_another_model_start_over(demo, monkeypatch):
    ws, cfg = demo
    standardize_records(ws)
    with monkeypatch.context() as patched:
        patched.setattr(changes, "STANDARDIZE_RULES", "other rules")
        assert standardize_records(ws).full
        assert score_pairs(ws, cfg, models.load(ws.con)).full
    assert standardize_records(ws).full  # and back to the real rules: everything again
    newer = train(ws, cfg)
    assert score_pairs(ws, cfg, newer).full
    assert score_pairs(ws, cfg, newer).rescored_records == 0


def test_a_value_grown_common_weighs_by_its_new_count_and_its_holders_are_rescored(demo):
    """Term frequencies are kept from the first scoring; a value whose live count doubles moves to the power of two
    below it (weaker), and every record holding it has its pairs scored again — as a full rescoring scores them."""
    ws, cfg = demo
    saved = models.load(ws.con)
    standardize_records(ws)
    score_pairs(ws, cfg, saved)
    column = "name_concat_std"
    lookup = f"tf_scored_{column}"
    if column not in tf_columns(saved.model):
        pytest.skip(f"the model has no term frequencies on {column}")
    (name, before), *_ = ws.con.execute(
        f"SELECT {column}, tf_{column} FROM {lookup} ORDER BY tf_{column} DESC, {column} LIMIT 1"
    ).fetchall()
    first, last = name.split(" ", 1)
    held = ws.con.execute(f"SELECT count(*) FROM {STANDARDIZED} WHERE {column} = ?", [name]).fetchall()[0][0]
    for i in range(held * 2):  # more than double: past the next power of two
        ws.con.execute(
            f"""INSERT INTO {STAGED} SELECT * REPLACE (source_key || '-namesake{i}' AS source_key,
                       ? AS first_name, ? AS last_name, NULL AS email, NULL AS phone)
                FROM {STAGED} ORDER BY source_key LIMIT 1 OFFSET ?""",
            [first, last, i * 7],
        )
    standardize_records(ws)
    scored = score_pairs(ws, cfg, saved)
    after = ws.con.execute(f"SELECT tf_{column} FROM {lookup} WHERE {column} = ?", [name]).fetchall()[0][0]
    assert after > before and scored.rescored_records >= held * 3
    incremental = pairs(ws)
    score_pairs(ws, cfg, saved, full=True)
    pd.testing.assert_frame_equal(incremental, pairs(ws))


def test_a_new_decision_reclusters_the_whole_component_an_earlier_split_left(demo):
    """A - B - C - D chained by auto-match pairs, split by "A is not D" into {A, B} and {C, D}. "A is not B" then
    puts B with C and D (the component is split again, strongest pair first): the part {C, D} the decision's records
    are not in is clustered again too, as clustering everything does."""
    _, cfg = demo
    ws = Workspace(":memory:")
    ws.con.execute(f"CREATE TABLE {STANDARDIZED} AS SELECT unnest(['a', 'b', 'c', 'd']) AS unique_id")
    ws.con.execute(
        f"""CREATE TABLE {PAIRS} AS SELECT * FROM (VALUES ('a', 'b', 0.99), ('b', 'c', 0.96), ('c', 'd', 0.99))
            AS t(unique_id_l, unique_id_r, match_probability)"""
    )
    decisions: dict[str, list[tuple[str, str]]] = {"must": [], "cannot": [("a", "d")]}
    clustered(ws, cfg, decisions, full=True)
    assert dict(ws.con.execute(f"SELECT record_id, cluster_id FROM {CLUSTERS}").fetchall()) == {
        "a": "a", "b": "a", "c": "c", "d": "c"
    }  # fmt: skip
    decisions["cannot"].append(("a", "b"))
    assert clustered(ws, cfg, decisions).reclustered == 4
    assert dict(ws.con.execute(f"SELECT record_id, cluster_id FROM {CLUSTERS}").fetchall()) == {
        "a": "a", "b": "b", "c": "b", "d": "b"
    }  # fmt: skip


def test_clusters_written_any_other_way_make_the_next_build_compare_them_all(demo):
    """The noted changes are trusted only while `clusters` is as clustering left it: rows written by anything else
    (a person, a script, a restore) and the next golden build compares every cluster rather than miss them."""
    ws, cfg = demo
    clustered(ws, cfg, {"must": [], "cannot": []})
    reclustering.mark_build(ws)
    assert reclustering.changed_since_build(ws) == RECLUSTERED
    first = f"(SELECT min(record_id) FROM {CLUSTERS})"
    ws.con.execute(f"UPDATE {CLUSTERS} SET cluster_id = cluster_id || 'x' WHERE record_id = {first}")
    assert reclustering.changed_since_build(ws) is None
    clustered(ws, cfg, {"must": [], "cannot": []})  # and clustering does not take them up again
    assert reclustering.changed_since_build(ws) is None
    clustered(ws, cfg, {"must": [], "cannot": []}, full=True)  # the module's workspace as it was
