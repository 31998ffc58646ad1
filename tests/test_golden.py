"""Golden records end to end on a small demo: pull -> match -> ids + survivorship -> publish."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from connectors import pull_source
from connectors.demo import init_demo
from golden_record.run import build_and_publish
from hub import store
from hub.config import load_config
from hub.workspace import Workspace
from matching.run import match
from pipelines.entry import main

pytestmark = pytest.mark.slow(seconds=30)  # the file's weight in the suite's order (tests/conftest.py)


@pytest.fixture
def hub(tmp_path):
    init_demo(tmp_path, customers=400, seed=21)
    cfg = load_config(tmp_path / "hub.yaml")
    ws = Workspace.for_config(cfg)
    engine = store.open_store(cfg.serving_store)

    def run(must_link=None, cannot_link=None, pull=False):
        if pull:
            for name in cfg.sources:
                pull_source(cfg, name, ws)
        match(ws, cfg, must_link=must_link, cannot_link=cannot_link)
        return build_and_publish(ws, cfg, engine, must_link=must_link)

    for name in cfg.sources:
        pull_source(cfg, name, ws)
    yield cfg, ws, engine, run
    ws.close()
    engine.dispose()


def xref(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        x = store.current_xref(conn)
    return x.assign(record_id=x.source_system + ":" + x.source_key).set_index("record_id")


def test_every_source_record_maps_to_one_golden_record_or_quarantine_and_reruns_change_nothing(hub, tmp_path):
    cfg, ws, engine, run = hub
    first = run()
    assert first.minted == first.golden_records and first.published["new"] == first.golden_records
    x = xref(engine)
    truth = pd.read_csv(tmp_path / "ground_truth.csv", dtype=str, keep_default_na=False)
    quarantined = sum(ws.counts(name)[1] for name in cfg.sources)
    assert len(x) + quarantined == len(truth) and x.index.is_unique

    second = run()
    assert second.minted == 0 and second.published["new"] == second.published["changed"] == 0
    assert second.published["xref_changed"] == 0
    pd.testing.assert_series_equal(xref(engine).golden_id.sort_index(), x.golden_id.sort_index())


def test_steward_merge_redirects_and_split_mints_without_losing_the_id(hub):
    _cfg, _ws, engine, run = hub
    run()
    x = xref(engine)
    sizes = x.groupby("golden_id").size()
    big = sizes[sizes >= 3].index[0]
    small = sizes[sizes == 1].index[0]
    a, b = x[x.golden_id == big].index[:2], x[x.golden_id == small].index[0]

    merged = run(must_link=pd.DataFrame({"id_l": [a[0]], "id_r": [b]}))
    assert merged.merged_away == 1
    with engine.connect() as conn:
        assert store.resolve(conn, small) == big  # the larger keeps its id, the other redirects
        assert store.golden_by_id(conn, small)["golden_id"] == big
    assert xref(engine).loc[b, "link_type"] == "steward"

    run(cannot_link=pd.DataFrame({"id_l": [a[0]], "id_r": [a[1]]}))
    after = xref(engine)
    assert after.loc[a[0], "golden_id"] != after.loc[a[1], "golden_id"]
    assert big in {after.loc[a[0], "golden_id"], after.loc[a[1], "golden_id"]}  # the largest part keeps it


def test_pinned_value_wins_and_a_source_change_makes_a_new_version_with_history(hub):
    cfg, _ws, engine, run = hub
    run()
    x = xref(engine)
    gid = x[x.source_system == "billing"].golden_id.iloc[0]
    with store.write_transaction(engine) as conn:
        store.pin(conn, gid, "first_name", "Pinned", "steward@example.com")
    run()
    with engine.connect() as conn:
        g = store.golden_by_id(conn, gid)
    assert g["first_name"] == "Pinned" and g["version"] == 2
    lineage = g["lineage"] if isinstance(g["lineage"], dict) else json.loads(g["lineage"])
    assert lineage["first_name"]["rule"] == "pinned"

    # The customer changes their email in billing, later than any other source's record.
    key = x[(x.golden_id == gid) & (x.source_system == "billing")].source_key.iloc[0]
    before_change = datetime.now(UTC).replace(tzinfo=None)
    with sqlite3.connect(cfg.sources["billing"].url.removeprefix("sqlite:///")) as db:
        db.execute(
            "UPDATE accounts SET email_address = 'brand.new@example.com', modified_on = ? WHERE account_no = ?",
            ((datetime(2030, 1, 1) + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S"), int(key)),
        )
    run(pull=True)
    with engine.connect() as conn:
        now = store.golden_by_id(conn, gid)
        then = store.golden_by_id(conn, gid, as_of=before_change)
        versions = store.history(conn, gid)
    assert now["email"] == "brand.new@example.com" and now["version"] == 3
    assert then["version"] == 2 and then["email"] != "brand.new@example.com"
    assert [v["version"] for v in versions] == [1, 2, 3]


def test_export_writes_the_published_golden_records_and_xref(hub, tmp_path, capsys):
    _cfg, _ws, engine, run = hub
    run()
    config = str(tmp_path / "hub.yaml")
    assert main(["export", "golden", "--config", config, "--out", str(tmp_path / "out" / "golden.parquet")]) == 0
    assert main(["export", "xref", "--config", config, "--out", str(tmp_path / "out" / "xref.csv")]) == 0
    golden = pd.read_parquet(tmp_path / "out" / "golden.parquet")
    xref_csv = pd.read_csv(tmp_path / "out" / "xref.csv", dtype=str)
    with engine.connect() as conn:
        live = store.current_golden(conn, ["golden_id"])
    assert set(golden.golden_id) == set(live.golden_id) and {"lineage", "email", "version"} <= set(golden.columns)
    assert len(xref_csv) == len(xref(engine)) and set(xref_csv.golden_id) <= set(golden.golden_id)
    assert "golden rows written" in capsys.readouterr().out


def test_the_publish_frame_built_in_pieces_equals_the_frame_built_whole(hub, monkeypatch):
    """The golden records a publish reads (values, extra attributes and lineage per golden record) are aggregated a
    piece of golden ids at a time to bound DuckDB's memory: the pieces together are the whole, row for row."""
    from golden_record import run as golden_run

    cfg, ws, _engine, run = hub
    run()
    whole = golden_run._golden_frame(ws, list(cfg.attributes))
    monkeypatch.setattr(golden_run, "FRAME_CHUNK", 7)
    pieces = golden_run._golden_frame(ws, list(cfg.attributes))
    assert len(whole) > 7 * 10  # many pieces
    key = ["golden_id"]
    pd.testing.assert_frame_equal(
        pieces.sort_values(key).reset_index(drop=True), whole.sort_values(key).reset_index(drop=True)
    )
    assert not ws.con.execute("SELECT * FROM duckdb_tables() WHERE table_name = '_gf_piece'").fetchall()
