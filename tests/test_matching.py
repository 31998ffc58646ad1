"""Matching end to end on a small demo: model lifecycle, known pairs, steward decisions, review band."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from connectors import pull_source
from connectors.demo import init_demo
from hub.config import load_config
from hub.workspace import Workspace
from matching import backend, models
from matching.backend import DuckDBSplinkBackend
from matching.run import cluster_records, match, review_band, train
from matching.standardize import standardize


@pytest.fixture(scope="module")
def matched(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    init_demo(directory, customers=600, seed=11)
    cfg = load_config(directory / "hub.yaml")
    ws = Workspace.for_config(cfg)
    for name in cfg.sources:
        pull_source(cfg, name, ws)
    result = match(ws, cfg)
    yield ws, cfg, result
    ws.close()


def pairs(ws: Workspace, table: str = "scored_pairs") -> pd.DataFrame:
    return ws.con.execute(
        f"SELECT unique_id_l, unique_id_r, match_probability FROM {table} ORDER BY unique_id_l, unique_id_r"
    ).df()


def cluster_of(ws: Workspace) -> dict[str, str]:
    return dict(ws.con.execute("SELECT record_id, cluster_id FROM clusters").fetchall())


def test_first_run_trains_a_model_and_later_runs_reuse_it(matched):
    ws, cfg, first = matched
    assert first.trained and first.model_version == 1
    before = pairs(ws)
    again = match(ws, cfg)
    assert not again.trained and again.model_version == 1
    pd.testing.assert_frame_equal(pairs(ws), before)


def test_saved_model_scores_identically_after_a_round_trip(matched):
    ws, cfg, _ = matched
    saved = models.load(ws.con)
    reloaded = json.loads(json.dumps(saved.model))
    DuckDBSplinkBackend(ws.con).predict("standardized_records", reloaded, cfg.matching.review_threshold, "rescored")
    pd.testing.assert_frame_equal(pairs(ws, "rescored"), pairs(ws))


def test_training_and_scoring_leave_none_of_splinks_tables_in_the_workspace_file(matched):
    """EM's blocked pairs and comparison vectors (millions of rows at a million records, some of them left behind by
    Splink) are made in an in-memory database beside the workspace and go with it; scoring drops every table Splink
    made for it (its term-frequency tables stayed behind, two more with every whole scoring)."""
    ws, _, first = matched
    assert first.trained
    left = ws.con.execute("SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, '__splink__')")
    assert left.fetchall() == []


def test_retraining_makes_a_new_version_used_from_then_on(matched):
    ws, cfg, _ = matched
    saved = train(ws, cfg)
    assert saved.version == 2 and [v for v, *_ in models.versions(ws.con)] == [1, 2]
    assert match(ws, cfg).model_version == 2


@pytest.mark.parametrize("exploding", [False, True], ids=["plain-rules", "exploding-rules"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scoring_restricted_to_touched_records_gives_their_pairs_of_a_whole_scoring(matched, seed, exploding):
    """predict(touched=...) (every incremental run) scores exactly the pairs of a whole scoring that have a touched
    record on one side, whichever blocking rule (first/last names swapped included) brings them together; with
    rules that are not plain conditions (Splink's exploding arrays) too, which read every record. The touched ids are
    a TEMP table, as an incremental run's are: Splink's own cursor does not see it."""
    ws, _, _ = matched
    model = models.load(ws.con).model
    if exploding:
        model = json.loads(json.dumps(model))
        for rule in model["blocking_rules_to_generate_predictions"]:
            rule["arrays_to_explode"] = []
    ws.con.execute(
        """CREATE OR REPLACE TABLE recs AS SELECT * FROM standardized_records UNION ALL
           (SELECT * REPLACE ('t:swapped' AS unique_id, 't' AS source_system, 'swapped' AS source_key,
                  last_name_std AS first_name_std, first_name_std AS last_name_std, NULL AS email_std,
                  NULL AS email_user_std, NULL AS dob_std, NULL AS postal_code_std, NULL AS address_line1_std)
           FROM standardized_records WHERE first_name_std IS NOT NULL AND last_name_std IS NOT NULL
           ORDER BY unique_id LIMIT 1)"""
    )
    ws.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE chosen AS SELECT unique_id FROM recs WHERE hash(unique_id, {seed}) % 20 = 0
            UNION SELECT 't:swapped'"""
    )
    backend = DuckDBSplinkBackend(ws.con)
    backend.predict("recs", model, 0.0, "whole_pairs")
    backend.predict("recs", model, 0.0, "some_pairs", touched="chosen")
    expected = ws.con.execute(
        """SELECT unique_id_l, unique_id_r, match_probability FROM whole_pairs
           WHERE unique_id_l IN (SELECT unique_id FROM chosen) OR unique_id_r IN (SELECT unique_id FROM chosen)
           ORDER BY ALL"""
    ).df()
    got = ws.con.execute("SELECT unique_id_l, unique_id_r, match_probability FROM some_pairs ORDER BY ALL").df()
    assert "t:swapped" in set(expected.unique_id_l) | set(expected.unique_id_r)
    pd.testing.assert_frame_equal(got, expected)
    for table in ("recs", "chosen", "whole_pairs", "some_pairs"):
        ws.con.execute(f"DROP TABLE {table}")


def test_a_failed_restricted_scoring_leaves_no_scratch_behind(matched, monkeypatch):
    """The candidates' view (in the workspace file) and the in-memory database behind it go whatever Splink does: a
    view left over a database that is gone would break the workspace's next reader of it."""
    ws, _, _ = matched
    model = models.load(ws.con).model
    broken = {"blocking_rule": "l.no_such_column = r.no_such_column", "sql_dialect": "duckdb"}
    monkeypatch.setattr(backend, "_touching_rules", lambda m: {**m, "blocking_rules_to_generate_predictions": [broken]})
    ws.con.execute("CREATE OR REPLACE TEMP TABLE chosen AS SELECT unique_id FROM standardized_records LIMIT 20")
    with pytest.raises(Exception, match="no_such_column"):
        DuckDBSplinkBackend(ws.con).predict("standardized_records", model, 0.0, "never_made", touched="chosen")
    assert not ws.con.execute(f"SELECT * FROM duckdb_views() WHERE view_name = '{backend.TOUCHING}'").fetchall()
    assert not ws.con.execute(f"SELECT * FROM duckdb_databases() WHERE database_name = '{backend.SCRATCH}'").fetchall()
    ws.con.execute("DROP TABLE chosen")


PROBES = pd.DataFrame(
    [
        # known match: nickname, gmail dots, different phone formatting
        ("p", "1", "Robert", "Smith", "1980-01-02", "robert.smith@gmail.com", "+447700900001", "12 High Street",
         "SW1A 1AA"),
        ("p", "2", "Bob", "Smith", "1980-01-02", "robertsmith@gmail.com", "+447700900001", "12 High St", "SW1A1AA"),
        # known match: first and last name swapped, moved house, same email and birth date
        ("p", "3", "Grace", "Hopper", "1970-12-09", "g.hopper@example.org", None, "1 Navy Way", "N1 1AA"),
        ("p", "4", "Hopper", "Grace", "1970-12-09", "g.hopper@example.org", None, "77 New Road", "E2 2BB"),
        # known non-match: same household (surname, phone, address), different person
        ("p", "5", "Alice", "Brown", "1985-03-04", "alice@example.com", "+442079460018", "5 Oak Lane", "M1 1AE"),
        ("p", "6", "Tom", "Brown", "1987-08-21", "tom@example.com", "+442079460018", "5 Oak Lane", "M1 1AE"),
    ],
    columns=["source_system", "source_key", "first_name", "last_name", "date_of_birth", "email", "phone",
             "address_line1", "postal_code"],
)  # fmt: skip


def test_known_matches_and_non_matches(matched):
    ws, _, _ = matched
    probe = Workspace(":memory:")
    probe.con.register("probes", PROBES.assign(date_of_birth=pd.to_datetime(PROBES.date_of_birth)))
    probe.con.execute("INSERT INTO staged_records BY NAME SELECT * FROM probes")
    standardize(probe.con, target="standardized_records")
    model = models.load(ws.con).model
    DuckDBSplinkBackend(probe.con).predict("standardized_records", model, 0.0, "probe_pairs")
    scores = {(r.unique_id_l, r.unique_id_r): r.match_probability for r in pairs(probe, "probe_pairs").itertuples()}
    assert scores[("p:1", "p:2")] >= 0.95, scores
    assert scores[("p:3", "p:4")] >= 0.95, scores
    assert scores.get(("p:5", "p:6"), 0.0) < 0.7, scores
    probe.close()


def test_steward_decisions_split_and_join_clusters(matched):
    ws, cfg, _ = matched
    clusters = cluster_of(ws)
    members = pd.Series(clusters).groupby(pd.Series(clusters)).groups
    big = next(sorted(ids) for ids in members.values() if len(ids) >= 3)
    singles = [ids[0] for ids in members.values() if len(ids) == 1][:2]
    # A decision about a record deleted from its source since is skipped, not fatal.
    cannot = pd.DataFrame({"id_l": [big[0], "crm:deleted-since"], "id_r": [big[1], big[0]]})
    must = pd.DataFrame({"id_l": [singles[0]], "id_r": [singles[1]]})

    match(ws, cfg, must_link=must, cannot_link=cannot)
    after = cluster_of(ws)
    assert after[big[0]] != after[big[1]]  # "not a match" splits the cluster
    assert after[singles[0]] == after[singles[1]]  # "match" joins two unrelated records
    decided = {tuple(sorted(p)) for p in ((big[0], big[1]), (singles[0], singles[1]))}
    review = ws.con.execute("SELECT unique_id_l, unique_id_r FROM review_candidates").fetchall()
    assert not decided & {tuple(sorted(p)) for p in review}


def test_review_candidates_are_in_the_band_and_explained(matched):
    ws, cfg, result = matched
    review = ws.con.execute("SELECT match_probability, explanation FROM review_candidates").df()
    assert len(review) == result.review_candidates > 0
    assert review.match_probability.between(cfg.matching.review_threshold, cfg.matching.auto_match_threshold).all()
    explanation = json.loads(review.explanation.iloc[0])
    assert {"name", "date_of_birth", "email", "phone", "address"} <= set(explanation)


def test_decisions_about_records_gone_from_every_source_are_skipped_and_said(matched):
    """Only decisions whose two records are still staged reach clustering; the others are counted."""
    _, cfg, _ = matched
    ws = Workspace(":memory:")
    ws.con.execute("CREATE TABLE standardized_records AS SELECT 'crm:' || range AS unique_id FROM range(100000)")
    ws.con.execute("CREATE TABLE scored_pairs (unique_id_l VARCHAR, unique_id_r VARCHAR, match_probability DOUBLE)")
    decisions = pd.DataFrame(
        {"id_l": ["crm:1", "crm:2", "web:gone"], "id_r": ["crm:99999", "crm:100000", "crm:3"]}, dtype="string"
    )
    said: list[str] = []
    cluster_records(ws, cfg, must_link=decisions, progress=said.append)
    assert said == ["skipped 2 'match' decision(s) about records no longer present"]
    together = ws.con.execute(
        "SELECT count(DISTINCT cluster_id) FROM clusters WHERE record_id IN ('crm:1', 'crm:99999')"
    )
    assert together.fetchall() == [(1,)]
    cluster_records(ws, cfg, must_link=decisions.iloc[:0], progress=said.append)
    assert len(said) == 1


def test_a_decided_pair_leaves_the_review_band_in_either_order(matched):
    """A steward's decision names a pair in the order the steward saw it: it takes the pair out of the review band
    whichever way round the band holds it, and a restricted person's records leave it too; nothing else does."""
    ws, cfg, _ = matched
    strict = cfg.model_copy(update={"matching": cfg.matching.model_copy(update={"auto_match_threshold": 0.999999})})
    ws.con.execute("CREATE OR REPLACE TABLE _review_before AS SELECT * FROM review_candidates")
    review_band(ws, strict)  # a wide band: more pairs to take out
    try:
        band = ws.con.execute(
            """SELECT unique_id_l, unique_id_r FROM review_candidates
               ORDER BY match_probability DESC, unique_id_l, unique_id_r"""
        ).fetchall()
        assert len(band) > 5
        (a_l, a_r), (b_l, b_r) = band[0], band[1]
        held = next(r for r, _ in band[2:] if r not in (a_l, a_r, b_l, b_r))
        must = pd.DataFrame({"id_l": [a_r], "id_r": [a_l]})  # the other way round
        cannot = pd.DataFrame({"id_l": [b_l], "id_r": [b_r]})
        frozen = pd.DataFrame({"record_id": [held]})
        n = review_band(ws, strict, must, cannot, frozen)
        after = set(ws.con.execute("SELECT unique_id_l, unique_id_r FROM review_candidates").fetchall())
        expected = {p for p in band[2:] if held not in p}
        assert after == expected and n == len(expected)
    finally:
        ws.con.execute("CREATE OR REPLACE TABLE review_candidates AS SELECT * FROM _review_before")
        ws.con.execute("DROP TABLE _review_before")
