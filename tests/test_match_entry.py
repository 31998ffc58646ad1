"""Match-on-entry scores a pair as the pipeline's run scored it: the term frequencies published with the model are
the counts predict's lookups were made of, weighed by predict's rule (matching.entry, matching.models.for_serving),
and read back through the serving store the way POST /v1/match reads them."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from hub import store
from hub.api.match import term_counts
from hub.catalogue import STANDARDIZED
from hub.model import CANONICAL_FIELDS, ENTRY_SYSTEM
from matching import models
from matching.backend import DuckDBSplinkBackend
from matching.entry import EntryScorer
from matching.score_one import as_date
from tests.test_matching import matched  # noqa: F401 (fixture)
from tests.test_store import golden, links, person

FIELDS = [f.name for f in CANONICAL_FIELDS if f.name not in ("source_system", "source_key")]


@pytest.fixture(scope="module")
def run(matched):  # noqa: F811 (the fixture imported above)
    """test_matching's small demo matched once, with every pair its blocking rules compare scored (any probability)."""
    ws = matched[0]
    saved = models.scored_with(ws.con)
    DuckDBSplinkBackend(ws.con).predict(STANDARDIZED, saved.model, 0.0, "every_pair")
    return ws, saved


@pytest.fixture
def serving(run, tmp_path):
    """A serving store the run's model and term frequencies were published to."""
    ws, saved = run
    engine = store.open_store(f"sqlite:///{tmp_path / 'serving.db'}")
    model = models.for_serving(ws.con, saved, STANDARDIZED)
    store.publish(engine, store.start_run(engine), golden(person("A")), links(("a1", "A")), model=model)
    yield engine
    engine.dispose()


def test_a_pair_scored_on_entry_gets_the_match_weight_of_the_run(run, serving):
    ws, saved = run
    # records holding a shared name, phone, city or e-mail user name, so term frequencies decide their weights
    tf_weights = [c for c in ws.con.execute("SELECT * FROM every_pair LIMIT 0").df() if c.startswith("mw_tf_adj_")]
    adjusted = " OR ".join(f"{c} <> 0" for c in tf_weights)
    batch = ws.con.execute(
        f"""SELECT unique_id_l, unique_id_r, match_weight, match_probability FROM every_pair
            WHERE unique_id_l IN (SELECT DISTINCT unique_id_l FROM every_pair WHERE {adjusted}
                                  ORDER BY unique_id_l LIMIT 40)"""
    ).df()
    records = ws.con.execute(f"SELECT unique_id, {', '.join(FIELDS)} FROM {STANDARDIZED}").df().set_index("unique_id")
    scorer = EntryScorer(saved.model)
    scored = []
    with serving.connect() as conn:
        counts = term_counts(conn, store.published_model(conn).tf_totals)
        for left, pairs in batch.groupby("unique_id_l"):
            new = records.loc[[left]].assign(source_system=ENTRY_SYSTEM, source_key="new")
            candidates = records.loc[pairs.unique_id_r].assign(source_system="run", source_key=pairs.unique_id_r.values)
            entry = pd.DataFrame(scorer.score(pd.concat([new, candidates]).to_dict("records"), counts))
            scored.append(entry.assign(unique_id_l=left).rename(columns={"source_key": "unique_id_r"}))
    both = batch.merge(pd.concat(scored), on=["unique_id_l", "unique_id_r"], suffixes=("_run", "_entry"))
    assert len(both) == len(batch) > 100
    assert both.match_weight_entry.to_numpy() == pytest.approx(both.match_weight_run.to_numpy(), abs=1e-9)
    assert both.match_probability_entry.to_numpy() == pytest.approx(both.match_probability_run.to_numpy(), abs=1e-12)


def test_a_floor_and_a_limit_keep_the_best_candidates_with_their_explanations(run, serving):
    """POST /v1/match returns a few of the hundred candidates it scores: the scorer returns those at or above the
    floor, best first, at most `limit`, each explained as when every candidate is returned."""
    ws, saved = run
    records = ws.con.execute(f"SELECT unique_id, {', '.join(FIELDS)} FROM {STANDARDIZED}").df().set_index("unique_id")
    left = records.index[0]
    new = records.loc[[left]].assign(source_system=ENTRY_SYSTEM, source_key="new")
    candidates = records.iloc[1:60].assign(source_system="run", source_key=records.index[1:60])
    rows = pd.concat([new, candidates]).to_dict("records")
    scorer = EntryScorer(saved.model)
    with serving.connect() as conn:
        counts = term_counts(conn, store.published_model(conn).tf_totals)
        every = scorer.score(rows, counts)
        floor = sorted(r["match_probability"] for r in every)[len(every) // 2]  # half the candidates are below it
        best = scorer.score(rows, counts, floor=floor, limit=5)
        none = scorer.score(rows, counts, floor=1.01)
    above = [r for r in every if r["match_probability"] >= floor]
    assert len(every) == 59 and len(above) > 5
    assert best == above[:5]
    assert none == []


def test_only_the_values_a_pairs_level_adjusts_by_are_looked_up(run, serving):
    """Each value asked is a lookup in the serving store; a candidate whose level in a comparison has no
    term-frequency adjustment (a different surname, say) needs none for it. The scores are the run's (above)."""
    ws, saved = run
    records = ws.con.execute(f"SELECT unique_id, {', '.join(FIELDS)} FROM {STANDARDIZED}").df().set_index("unique_id")
    # a record the run scored with term-frequency adjustments (a shared full name, e-mail user name, phone or town)
    tf_weights = [c for c in ws.con.execute("SELECT * FROM every_pair LIMIT 0").df() if c.startswith("mw_tf_adj_")]
    adjusted = ws.con.execute(
        f"SELECT unique_id_l, unique_id_r FROM every_pair WHERE {' OR '.join(f'{c} <> 0' for c in tf_weights)}"
    ).df()
    left = adjusted.unique_id_l.iloc[0]
    alike = adjusted.unique_id_r[adjusted.unique_id_l == left].tolist()
    others = records.index[~records.index.isin([left, *alike])][:60]
    new = records.loc[[left]].assign(source_system=ENTRY_SYSTEM, source_key="new")
    candidates = records.loc[[*alike, *others]]
    rows = pd.concat([new, candidates.assign(source_system="run", source_key=candidates.index)]).to_dict("records")
    scorer = EntryScorer(saved.model)
    assert scorer.light is not None
    asked: dict[str, set] = {}
    with serving.connect() as conn:
        lookup = term_counts(conn, store.published_model(conn).tf_totals)

        def counts(values):
            for column, vs in values.items():
                asked.setdefault(column, set()).update(vs)
            return lookup(values)

        scorer.score(rows, counts)
    standardize_one, pairs = scorer.light
    std = []
    for raw in rows:  # as the scorer reads a record
        values = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in raw.items()}
        values["date_of_birth"] = as_date(values.get("date_of_birth"))
        std.append(values | standardize_one(values))
    wanted: dict[str, set] = {}
    every: dict[str, set] = {}
    for right in std[1:]:
        for level in pairs.levels(std[0], right):
            if level.tf_column is not None:
                values = {r.get(level.tf_column) for r in (std[0], right)} - {None}
                wanted.setdefault(level.tf_column, set()).update(values)
        for column in scorer.tf_columns:
            every.setdefault(column, set()).update({r.get(column) for r in (std[0], right)} - {None})
    assert {c: v for c, v in asked.items() if v} == wanted != {}
    assert sum(map(len, wanted.values())) < sum(map(len, every.values())) / 2
