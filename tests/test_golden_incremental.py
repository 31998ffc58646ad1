"""Incremental golden builds (golden_record.incremental) against full ones: after a random sequence of source inserts,
edits and deletes, steward decisions, pins and unpins and consent choices, each taken by an incremental run, a full
rebuild (`hub run --full`) finds nothing to change, in the workspace or in the serving store."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors.demo import init_demo
from golden_record import published_model, xref_rows
from hub import store
from hub.catalogue import (
    GOLDEN_CONFLICTS,
    GOLDEN_CONSENT,
    GOLDEN_CONTESTED,
    GOLDEN_INPUTS,
    GOLDEN_LINEAGE,
    GOLDEN_LOOKUPS,
    GOLDEN_MEMBERS,
    GOLDEN_POPULATION,
    GOLDEN_PUBLISHED_MODEL,
    GOLDEN_PUBLISHED_TF,
    GOLDEN_REBUILT,
    GOLDEN_SEEN,
    GOLDEN_SOURCE_CONSENT,
    GOLDEN_VALUES,
    GOLDEN_XREF,
    STANDARDIZED,
    tf_basis,
)
from hub.config import load_config
from hub.store import bulk, schema
from hub.workspace import Workspace
from matching import models
from pipelines.build import APPLY_JOB
from pipelines.run import run_pipeline

pytestmark = pytest.mark.slow(seconds=170)  # the file's weight in the suite's order (tests/conftest.py)

NOTHING = {"new": 0, "changed": 0, "lineage_updated": 0, "retired": 0, "xref_changed": 0}
# the golden tables, and the basis the next build diffs against (written as differences by an incremental build)
TABLES = (GOLDEN_MEMBERS, GOLDEN_VALUES, GOLDEN_LINEAGE, GOLDEN_CONTESTED, GOLDEN_CONFLICTS, GOLDEN_INPUTS,
          GOLDEN_LOOKUPS, GOLDEN_POPULATION, GOLDEN_SEEN)  # fmt: skip


def _run(config: Path, full: bool = False) -> dict:
    summary = run_pipeline(str(config), full=full, reconcile=True, log_level="WARNING")
    assert summary.success, summary.errors
    return summary.metadata


def _apply(config: Path) -> None:
    """What `hub serve` runs after a steward's action: the decisions, pins and choices taken now (apply_decisions),
    comparing only the members whose inputs can have changed (golden_record/input_scope.py)."""
    summary = run_pipeline(str(config), log_level="WARNING", job_name=APPLY_JOB)
    assert summary.success, summary.errors
    built = summary.metadata["golden_records"]
    assert not built["full_build"]
    ws = Workspace.for_config(load_config(config))
    try:
        members = ws.con.execute(f"SELECT count(*) FROM {GOLDEN_MEMBERS}").fetchall()[0][0]
    finally:
        ws.close()
    assert built["inputs_compared"] < members / 2, (built["inputs_compared"], members)
    _mirrors_hold(config)
    _xref_is_whole(config)


def _published(metadata: dict) -> dict:
    return {k: metadata["published_golden"][k] for k in NOTHING}


def _state(config: Path) -> dict[str, pd.DataFrame]:
    """The golden tables of the workspace and the store's current golden records and xref, sorted."""
    cfg = load_config(config)
    out = {}
    ws = Workspace.for_config(cfg)
    try:
        for table in TABLES:
            frame = ws.con.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
            out[table] = frame.reset_index(drop=True)
    finally:
        ws.close()
    engine = store.open_store(cfg.serving_store)
    try:
        with engine.connect() as conn:
            golden = store.current_golden(conn).drop(columns=["updated_at", "run_id"], errors="ignore")
            out["store golden"] = golden.sort_values("golden_id").reset_index(drop=True)
            out["store xref"] = (
                store.current_xref(conn).sort_values(["source_system", "source_key"]).reset_index(drop=True)
            )
    finally:
        engine.dispose()
    return out


def _edit_sources(folder: Path, rng: random.Random) -> None:
    """An edit, an insert (a near copy of a customer: another record of that person) and a delete in web.db."""
    con = sqlite3.connect(folder / "web.db")
    ids = [r[0] for r in con.execute("SELECT id FROM users ORDER BY id")]
    names = [r[0] for r in con.execute("SELECT DISTINCT last_name FROM users WHERE last_name IS NOT NULL")]
    edited, copied, deleted = rng.sample(ids, 3)
    con.execute(
        "UPDATE users SET last_name = ?, city = upper(city), updated_at = '2099-01-01T00:00:00' WHERE id = ?",
        [rng.choice(names), edited],
    )
    columns = [r[1] for r in con.execute("PRAGMA table_info(users)") if r[1] != "id"]
    picked = ", ".join(f"{c} || 'x'" if c == "username" else c for c in columns)
    con.execute(f"INSERT INTO users ({', '.join(columns)}) SELECT {picked} FROM users WHERE id = ?", [copied])
    con.execute("DELETE FROM users WHERE id = ?", [deleted])
    con.commit()
    con.close()


def _flip_consent(folder: Path, rng: random.Random) -> None:
    """A billing customer goes paperless or back (post consent, a source without its own consent time)."""
    con = sqlite3.connect(folder / "billing.db")
    (account,) = rng.choice(con.execute("SELECT account_no FROM accounts ORDER BY account_no").fetchall())
    con.execute(
        """UPDATE accounts SET paperless = CASE paperless WHEN 'Y' THEN 'N' ELSE 'Y' END,
                               modified_on = '2099-01-01 00:00:00' WHERE account_no = ?""",
        [account],
    )
    con.commit()
    con.close()


def _mirrors_hold(config: Path) -> None:
    """What a build reads from the workspace instead of the store (golden_record.incremental) is what the store holds:
    the xref, the source consent state, and (for the publish's match-model diff) its term frequencies."""
    cfg = load_config(config)
    engine = store.open_store(cfg.serving_store)
    ws = Workspace.for_config(cfg)
    try:
        with engine.connect() as conn:
            xref = store.current_xref(conn)[["source_system", "source_key", "golden_id"]]
            seen = store.consent.source_choices(conn, store.consent.Rules.of(cfg.consent))
            tf = bulk.read_frame(conn, sa.select(schema.match_term_frequencies))[
                ["tf_column", "value", "golden_records"]
            ]
            head = store.last_published_run(conn)
        mirror_x = ws.con.execute(f"SELECT source_system, source_key, golden_id FROM {GOLDEN_XREF}").df()
        mirror_c = ws.con.execute(f"SELECT * FROM {GOLDEN_SOURCE_CONSENT}").df()
        [(model_run,)] = ws.con.execute(f"SELECT run_id FROM {GOLDEN_PUBLISHED_MODEL}").fetchall()
        mirror_tf = ws.con.execute(f"SELECT * FROM {GOLDEN_PUBLISHED_TF}").df()
    finally:
        ws.close()
        engine.dispose()
    seen = seen.rename(columns={"source": "source_system"})
    assert model_run == head  # the publish's model diff reads the copy of the store's term frequencies
    for ours, theirs in ((mirror_x, xref), (mirror_c, seen), (mirror_tf, tf)):
        a = ours.astype(str).sort_values(list(ours.columns)).reset_index(drop=True)
        b = theirs[list(ours.columns)].astype(str).sort_values(list(ours.columns)).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)


def _xref_is_whole(config: Path) -> None:
    """The store's xref is the one a full publish would send now (every record's row, computed whole): an incremental
    publish diffed only the records whose row could change (golden_record.xref_rows), and missed none."""
    cfg = load_config(config)
    engine = store.open_store(cfg.serving_store)
    ws = Workspace.for_config(cfg)
    try:
        with engine.connect() as conn:
            stored = store.current_xref(conn)
            must_link, _ = store.decisions(conn)
        xref_rows.compute(ws, must_link, incremental=False)
        whole = ws.con.execute(f"SELECT * FROM {xref_rows.NOW}").df()
    finally:
        ws.close()
        engine.dispose()
    columns = ["source_system", "source_key", "golden_id", "match_probability", "link_type"]
    a = whole[columns].astype(str).sort_values(columns[:2]).reset_index(drop=True)
    b = stored[columns].astype(str).sort_values(columns[:2]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def _served_model_is_current(config: Path) -> None:
    """The match model the store serves (as the last publish recorded it) is the one made from the workspace now,
    also when a publish skipped making it because what it is made of had not changed."""
    ws = Workspace.for_config(load_config(config))
    try:
        last = published_model.published(ws)
        now = models.for_serving(ws.con, models.scored_with(ws.con), STANDARDIZED)
        assert last is not None and last.digest == published_model.digest(now)
    finally:
        ws.close()


def _consent_news(config: Path) -> int:
    """How many consent values the last build found new against the store (its publish stored them as events)."""
    ws = Workspace.for_config(load_config(config))
    try:
        return int(ws.con.execute(f"SELECT count(*) FROM {GOLDEN_CONSENT}").fetchall()[0][0])
    finally:
        ws.close()


def _steward(config: Path, rng: random.Random) -> None:
    """A match or not-a-match decision, a pin or an unpin, and a consent choice through the hub."""
    cfg = load_config(config)
    rules = store.consent.Rules.of(cfg.consent)
    engine = store.open_store(cfg.serving_store)
    try:
        with engine.connect() as conn:
            xref = store.current_xref(conn)
            pins = store.overrides(conn)
        by_golden = xref.groupby("golden_id")
        multi = [g for g, rows in by_golden if len(rows) > 1]
        rid = (xref["source_system"] + ":" + xref["source_key"]).tolist()
        with store.write_transaction(engine) as conn:
            if rng.random() < 0.5 and multi:
                rows = by_golden.get_group(rng.choice(multi))
                pair = sorted((rows["source_system"] + ":" + rows["source_key"]).tolist()[:2])
                store.decide(conn, pair[0], pair[1], "not_match", "tester")
            else:
                pair = sorted(rng.sample(rid, 2))
                if (
                    xref.set_index(xref["source_system"] + ":" + xref["source_key"]).loc[pair, "golden_id"].nunique()
                    > 1
                ):
                    store.decide(conn, pair[0], pair[1], "match", "tester")
            golden = rng.choice(sorted(xref["golden_id"].unique()))
            if len(pins) and rng.random() < 0.4:
                row = pins.iloc[0]
                store.unpin(conn, row["golden_id"], row["field"])
            else:
                store.pin(conn, golden, "city", rng.choice(["Pinford", "Oldtown"]), "tester")
            store.consent.record(
                conn, rules, rng.choice(sorted(xref["golden_id"].unique())), channel="email",
                purpose=rules.source_purpose, value=rng.choice(["granted", "denied"]),
                legal_basis=rules.source_legal_basis, source="api", recorded_by="tester",
            )  # fmt: skip
    finally:
        engine.dispose()


@pytest.fixture
def demo(tmp_path) -> Path:
    folder = tmp_path / "demo"
    init_demo(folder, customers=80, seed=11)
    return folder / "hub.yaml"


def test_an_unchanged_run_rebuilds_nothing_and_publishes_nothing(demo):
    first = _run(demo)
    assert first["golden_records"]["full_build"] and first["golden_records"]["rebuilt"] > 0
    again = _run(demo)
    assert not again["golden_records"]["full_build"]
    assert again["golden_records"]["rebuilt"] == 0
    assert _published(again) == NOTHING
    # the gate validated every row of the full build, and nothing of a build that changed nothing
    assert first["golden_records"]["gate_scope"] == "all rows" and first["golden_records"]["gate_rows_validated"] > 0
    assert again["golden_records"]["gate_rows_validated"] == 0


@pytest.mark.parametrize("seed", [5])
def test_incremental_runs_agree_with_a_full_rebuild_after_random_changes(demo, seed):
    rng = random.Random(seed)
    _run(demo)
    _run(demo)  # the first run's publish stored every record's consent as news: this one stores none
    rebuilt = []
    for _ in range(3):
        _steward(demo, rng)
        _apply(demo)
        if rng.random() < 0.8:
            _edit_sources(demo.parent, rng)
        _flip_consent(demo.parent, rng)
        _steward(demo, rng)
        metadata = _run(demo)
        assert not metadata["golden_records"]["full_build"]
        _mirrors_hold(demo)
        _xref_is_whole(demo)
        _served_model_is_current(demo)
        assert metadata["golden_records"]["gate_scope"].startswith("changed since the last gated publish")
        rebuilt.append((metadata["golden_records"]["rebuilt"], metadata["golden_records"]["golden_records"]))
    assert all(0 < n < total for n, total in rebuilt), rebuilt  # the incremental path, not a full one
    _steward(demo, rng)
    _apply(demo)  # the last build compared only the inputs that can have changed: a full one finds nothing else
    before = _state(demo)
    full = _run(demo, full=True)
    assert full["golden_records"]["full_build"] and full["golden_records"]["gate_scope"] == "all rows"
    assert _published(full) == NOTHING
    assert _consent_news(demo) == 0  # every consent change the incremental runs saw was stored by them
    after = _state(demo)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], obj=name)


def _full_build_agrees(config: Path) -> None:
    """A full rebuild (`hub run --full`) finds nothing to change, in the workspace or in the store."""
    before = _state(config)
    assert _published(_run(config, full=True)) == NOTHING
    after = _state(config)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], obj=name)


def _one(con: Workspace, sql: str, params: list | None = None) -> object:
    return con.con.execute(sql, params or []).fetchall()[0][0]


def test_a_steward_merge_after_a_publish_compares_what_both_changed_as_a_full_build_would(demo):
    """apply_decisions compares only the members whose inputs can have changed (golden_record/input_scope.py), and
    those include
    - the name swap of the golden records whose members changed, decided again with the names counted over every
      member: a record written surname first, apart until a steward matches it to its person, is swapped back;
    - the members whose consent the last publish stored at its own time (golden_consent_news): a consent read with no
      time is stored at publish time, which the records survivorship reads then carry, though nothing was pulled.
    A full rebuild afterwards finds nothing to change."""
    _run(demo)
    ws = Workspace.for_config(load_config(demo))
    try:  # a web record of a person with at least three records: the population then outweighs the swap (SWAP_ODDS)
        big = f"SELECT golden_id FROM {GOLDEN_MEMBERS} GROUP BY ALL HAVING count(*) >= 3"
        web = str(
            _one(
                ws, f"SELECT min(record_id) FROM {GOLDEN_MEMBERS} WHERE record_id LIKE 'web:%' AND golden_id IN ({big})"
            )
        )
    finally:
        ws.close()
    con = sqlite3.connect(demo.parent / "web.db")
    copy = con.execute(
        """INSERT INTO users (username, email, first_name, last_name, newsletter, password_hash, created_at, updated_at)
           SELECT username || '.swapped', 'swapped.' || id || '@example.org', last_name, first_name, newsletter,
                  password_hash, created_at, '2099-01-01T00:00:00' FROM users WHERE id = ?""",
        [int(web.split(":")[1])],
    ).lastrowid
    con.commit()
    con.close()
    con = sqlite3.connect(demo.parent / "billing.db")
    (account,) = con.execute("SELECT min(account_no) FROM accounts").fetchone()
    con.execute(
        """UPDATE accounts SET paperless = CASE paperless WHEN 'Y' THEN 'N' ELSE 'Y' END, modified_on = 'unknown'
           WHERE account_no = ?""",
        [account],
    )
    con.commit()
    con.close()
    _run(demo, full=True)  # reads every row whatever its time: the consent with none is stored at publish
    ws = Workspace.for_config(load_config(demo))
    try:
        apart = _one(ws, f"SELECT count(DISTINCT golden_id) FROM {GOLDEN_MEMBERS} WHERE record_id IN (?, ?)",
                     [web, f"web:{copy}"])  # fmt: skip
        news = _one(ws, f"SELECT count(*) FROM {GOLDEN_CONSENT} WHERE source_system = 'billing' AND source_key = ?",
                    [str(account)])  # fmt: skip
    finally:
        ws.close()
    assert apart == 2 and news == 1  # the matcher alone keeps them apart; the flip is news
    engine = store.open_store(load_config(demo).serving_store)
    try:
        with store.write_transaction(engine) as conn:
            store.decide(conn, *sorted([web, f"web:{copy}"]), "match", "tester")
    finally:
        engine.dispose()
    _apply(demo)
    ws = Workspace.for_config(load_config(demo))
    try:
        assert _one(ws, f"SELECT swapped FROM {GOLDEN_INPUTS} WHERE record_id = ?", [f"web:{copy}"]) is True
    finally:
        ws.close()
    _full_build_agrees(demo)


def test_pairs_rescored_by_a_term_frequency_change_reach_the_xref(demo):
    """A city that more records now hold is worth less once its count passes a power of two (the kept term
    frequencies, matching/term_frequencies.py): the pairs of a golden record whose members share that city score lower,
    though nothing of that golden record changed (it is not rebuilt). Its members' xref rows carry the new strongest
    probabilities all the same."""
    _run(demo)
    cfg = load_config(demo)
    ws = Workspace.for_config(cfg)
    try:
        target, city = ws.con.execute(
            f"""SELECT m.golden_id, any_value(s.city_std) FROM {GOLDEN_MEMBERS} AS m
                JOIN {STANDARDIZED} AS s ON s.unique_id = m.record_id
                GROUP BY m.golden_id HAVING count(*) > 2 AND count(DISTINCT s.city_std) = 1
                ORDER BY count(*) DESC, m.golden_id LIMIT 1"""
        ).fetchall()[0]
        [(held,)] = ws.con.execute(f"SELECT c FROM {tf_basis('city_std')} WHERE city_std = ?", [city]).fetchall()
        more = 2 ** int(held).bit_length() - int(held)  # records to move there: its count reaches the next power of 2
        others = [r[0][4:] for r in ws.con.execute(
            f"""SELECT unique_id FROM {STANDARDIZED} WHERE starts_with(unique_id, 'web:') AND city_std <> ?
                ORDER BY unique_id LIMIT ?""", [city, more]).fetchall()]  # fmt: skip
        before = ws.con.execute(
            f"SELECT source_key, match_probability FROM {GOLDEN_XREF} WHERE golden_id = ? ORDER BY ALL", [target]
        ).fetchall()
    finally:
        ws.close()
    con = sqlite3.connect(demo.parent / "web.db")
    con.executemany(
        "UPDATE users SET city = ?, updated_at = '2099-01-01T00:00:00' WHERE id = ?", [(city, k) for k in others]
    )
    con.commit()
    con.close()
    metadata = _run(demo)
    assert not metadata["golden_records"]["full_build"]
    ws = Workspace.for_config(cfg)
    try:
        rebuilt = ws.con.execute(f"SELECT count(*) FROM {GOLDEN_REBUILT} WHERE golden_id = ?", [target]).fetchall()
        after = ws.con.execute(
            f"SELECT source_key, match_probability FROM {GOLDEN_XREF} WHERE golden_id = ? ORDER BY ALL", [target]
        ).fetchall()
    finally:
        ws.close()
    assert rebuilt == [(0,)]
    assert [k for k, _ in after] == [k for k, _ in before] and after != before  # the same members, weaker pairs
    _xref_is_whole(demo)


def test_an_unchanged_run_does_not_make_the_served_model_again(demo, monkeypatch):
    _run(demo)
    made, make = [], models.for_serving
    monkeypatch.setattr(published_model.models, "for_serving", lambda *a: made.append(a) or make(*a))
    again = _run(demo)
    assert again["published_golden"]["match_model_published"] == 0 and made == []


def test_an_unchanged_incremental_run_reads_the_store_by_key_only(demo, monkeypatch):
    """The build's xref, ids' creation times and source consent state, and the publish's match model, come from the
    workspace's copies or are read by key: the store's tables are not read whole, so the run's work follows the
    change, not the store's size."""
    _run(demo)
    read: list[tuple[str, int]] = []
    fetch = store.bulk._fetch

    def counted(conn, stmt):
        for rows in fetch(conn, stmt):
            read.append((str(stmt), len(rows)))
            yield rows

    monkeypatch.setattr(store.bulk, "_fetch", counted)
    again = _run(demo)
    assert not again["golden_records"]["full_build"]
    xref_rows = again["golden_records"]["golden_records"]
    assert sum(n for _, n in read) < xref_rows / 10, [(s.split("FROM")[1][:60], n) for s, n in read if n]


def test_a_dry_run_costs_the_next_run_nothing(demo):
    """A dry run's build keeps the published basis aside and the next build puts it back: the real run after it
    builds incrementally, and a full rebuild then finds nothing to publish."""
    _run(demo)
    _edit_sources(demo.parent, random.Random(2))
    dry = run_pipeline(str(demo), dry_run=True, reconcile=True, log_level="WARNING")
    assert dry.success, dry.errors
    assert not dry.metadata["golden_records"]["full_build"]
    real = _run(demo)
    assert not real["golden_records"]["full_build"]
    assert 0 < real["golden_records"]["rebuilt"] < real["golden_records"]["golden_records"]
    before = _state(demo)
    full = _run(demo, full=True)
    assert _published(full) == NOTHING
    after = _state(demo)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], obj=name)
