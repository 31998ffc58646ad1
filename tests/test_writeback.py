"""Write-back on a real small demo: pull -> match -> golden -> write the golden values into the four sources.

One demo is built per module and copied for each test (hub.yaml uses relative paths), so every test starts
from the same freshly published golden run and can write to its sources.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import open_connector, pull_source, writeback_plan
from connectors.demo import init_demo
from connectors.styles import Style
from connectors.writeback import WritebackError, plan_changes, published_run, write_back
from golden_record.run import build_and_publish
from hub import faults, forms, store
from hub.catalogue import WRITEBACK_STATE
from hub.config import ADDRESS_BLOCK, CASED_FIELDS, HubConfig, load_config
from hub.model import CONSENT_FIELDS
from hub.store import schema
from hub.workspace import Workspace, scalar
from matching.run import match
from pipelines.entry import main
from tests.built_once import published_demo
from tests.value_keys import keys

pytestmark = pytest.mark.slow(seconds=35)

SYSTEMS = ("billing", "web", "app", "crm")
SIDE_TABLE = "hub_golden_ids"  # web's golden-id table, the one table write-back may create


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return published_demo(tmp_path_factory.mktemp("writeback") / "demo", customers=400, seed=21)


@dataclass
class Hub:
    dir: Path
    cfg: HubConfig
    ws: Workspace
    engine: sa.Engine
    run_id: str

    def write_back(self, dry_run: bool = False, sources=SYSTEMS) -> dict:
        return {s: write_back(self.ws, self.cfg, self.engine, s, self.run_id, dry_run=dry_run) for s in sources}

    def pull(self, full: bool = False) -> None:
        for s in SYSTEMS:
            pull_source(self.cfg, s, self.ws, full=full)

    def golden(self) -> None:
        match(self.ws, self.cfg)
        build_and_publish(self.ws, self.cfg, self.engine)
        self.run_id = published_run(self.engine)

    def audit(self, **kw) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return store.writeback_audit(conn, **kw)


@pytest.fixture
def hub(pristine, tmp_path):
    work = tmp_path / "demo"
    shutil.copytree(pristine, work)
    cfg = load_config(work / "hub.yaml")
    ws = Workspace.for_config(cfg)
    engine = store.open_store(cfg.serving_store)
    yield Hub(work, cfg, ws, engine, published_run(engine))
    ws.close()
    engine.dispose()


# ------------------------------------------------------------------------------------------- helpers


def table_digests(db: Path) -> dict[str, str]:
    """Per table: a digest of its schema and every row in rowid order (row counts included)."""
    con = sqlite3.connect(db)
    out = {}
    for name, sql in con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        rows = con.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
        out[name] = hashlib.sha256(repr((sql, rows)).encode()).hexdigest()
    schema = con.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()  # indexes too
    out["indexes"] = hashlib.sha256(repr(schema).encode()).hexdigest()
    con.close()
    return out


def all_digests(hub: Hub) -> dict[str, dict[str, str]]:
    return {s: table_digests(hub.dir / f"{s}.db") for s in SYSTEMS}


def harmonized_columns(cfg: HubConfig, name: str) -> set[str]:
    src = cfg.sources[name]
    cols = {src.fields[f].column for f in src.accepts}
    return cols | ({src.golden_id.column} if src.golden_id and src.golden_id.column else set())


def untouchable(hub: Hub) -> dict:
    """What write-back must never change: every other table, every non-harmonized column (values in rowid
    order, so also the keys, the row count and the row order) of the customer table."""
    out = {}
    for name in SYSTEMS:
        db, table = hub.dir / f"{name}.db", hub.cfg.sources[name].table
        other = {t: d for t, d in table_digests(db).items() if t not in (table, SIDE_TABLE, "indexes")}
        con = sqlite3.connect(db)
        skip = harmonized_columns(hub.cfg, name)
        cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")') if r[1] not in skip]
        values = {c: con.execute(f'SELECT "{c}" FROM "{table}" ORDER BY rowid').fetchall() for c in cols}
        schema = con.execute("SELECT sql FROM sqlite_master WHERE tbl_name = ?", [table]).fetchall()
        con.close()
        out[name] = {"tables": other, "schema": schema, "columns": values}
    return out


def source_records(cfg: HubConfig, name: str) -> pd.DataFrame:
    """The source's rows now, as canonical records, read through its connector (a full pull, not staged)."""
    return pd.concat([b.records for b in open_connector(name, cfg).stream(None, full=True)], ignore_index=True)


def text(s: pd.Series) -> pd.Series:
    """Comparable text; timestamps in one fixed format."""
    s = s.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.strftime("%Y-%m-%d %H:%M:%S").astype("string")
    return s.astype("string")


def golden_now(hub: Hub) -> tuple[pd.DataFrame, pd.DataFrame]:
    with hub.engine.connect() as conn:
        return store.current_xref(conn), store.current_golden(conn).set_index("golden_id")


# --------------------------------------------------------------------------------------------- tests


def test_plan_has_one_column_per_accepted_field_writes_the_flat_the_sources_way_and_only_explicit_consent(hub):
    cfg, ws = hub.cfg, hub.ws
    forms.load(ws.con)
    xref, golden = golden_now(hub)
    for name in SYSTEMS:
        src = cfg.sources[name]
        plan = plan_changes(ws, cfg, name)
        assert list(plan.columns) == ["source_key", "expected_version", *src.accepts] + (
            ["golden_id"] if src.golden_id else []
        )
        staged = ws.staged(name).set_index("source_key")
        assert len(plan) > 0 and plan["source_key"].is_unique
        versions = staged.loc[plan["source_key"], "source_version"].to_numpy()
        assert (plan["expected_version"].to_numpy() == versions).all()
        gids = xref[xref.source_system == name].set_index("source_key").loc[plan["source_key"], "golden_id"]
        if src.golden_id:
            assert (plan["golden_id"].to_numpy() == gids.to_numpy()).all()
        g = golden.loc[gids].reset_index(drop=True)
        if "address_line1" in src.accepts and "address_line2" not in src.accepts:
            sent = plan["address_line1"].reset_index(drop=True)
            flat = sent.notna() & g["address_line2"].notna()
            assert flat.any(), name
            ws.con.register("_sent", pd.DataFrame({"line": sent[flat]}))
            parts = ws.con.execute("SELECT hub_street(line, NULL), hub_unit(line, NULL) FROM _sent").fetchall()
            ws.con.unregister("_sent")
            # one line in the source's own layout, which reads back as the golden street and flat
            want = list(zip(g.loc[flat, "address_line1"], g.loc[flat, "address_line2"], strict=True))
            assert [tuple(p) for p in parts] == want, name
            assert all("\n" in line for line in sent[flat]) == (name == "crm"), name  # CRM: the flat on its own line
        for consent in [f for f in src.accepts if f in CONSENT_FIELDS]:
            assert set(plan[consent].dropna()) <= {"granted", "denied"}
            if f"{consent}_at" in src.accepts:
                assert (plan[f"{consent}_at"].isna() | plan[consent].notna()).all()


def test_dry_run_reports_the_diff_and_writes_nothing_anywhere(hub):
    before = all_digests(hub)
    staged_before = hub.ws.con.execute("SELECT * FROM staged_records ORDER BY source_system, source_key").df()
    dry = hub.write_back(dry_run=True)
    assert all_digests(hub) == before
    staged_after = hub.ws.con.execute("SELECT * FROM staged_records ORDER BY source_system, source_key").df()
    pd.testing.assert_frame_equal(staged_after, staged_before)
    assert hub.audit().empty and scalar(hub.ws.con, f"SELECT count(*) FROM {WRITEBACK_STATE}") == 0
    for name, r in dry.items():
        assert r.dry_run and r.planned > 0 and r.updated > 0 and r.values_changed == len(r.changes) > 0, name
        assert r.changes["new_value"].notna().all()  # write-back never blanks a field
        assert (r.changes["old_value"].fillna("\0") != r.changes["new_value"]).all()
    assert set(dry["billing"].changes["column"]) >= {"hub_customer_id", "holder_name"}
    assert f"{SIDE_TABLE}.golden_id" in set(dry["web"].changes["column"])
    assert "Master_Id__c" in set(dry["crm"].changes["column"])

    # The diff is exactly what a real run then writes.
    real = hub.write_back()
    key = ["source_key", "column"]
    for name in SYSTEMS:
        a = dry[name].changes.sort_values(key).reset_index(drop=True)
        b = real[name].changes.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=name)


def test_write_back_never_makes_a_value_worse_and_leaves_everything_else_intact(hub):
    """Every value written is the golden value (by key), into a blank or over a value that lost to it on evidence;
    no cell is rewritten to say the same thing in another form; blanks of the same person's place get filled."""
    cfg = hub.cfg
    forms.load(hub.ws.con)
    before = untouchable(hub)
    was = {name: source_records(cfg, name).set_index("source_key") for name in SYSTEMS}
    contested = hub.ws.con.execute("SELECT record_id, field, rule FROM golden_contested").df()
    results = hub.write_back()
    xref, golden = golden_now(hub)

    filled = corrected = 0
    for name in SYSTEMS:
        src, r = cfg.sources[name], results[name]
        now = source_records(cfg, name).set_index("source_key")
        old = was[name].loc[now.index]
        gids = xref[xref.source_system == name].set_index("source_key").loc[now.index, "golden_id"]
        g = golden.loc[gids].set_index(now.index)
        lost = contested[contested.record_id.str.startswith(f"{name}:")]
        checked = [f for f in src.accepts if f not in ("address_line1", "address_line2")]
        changed, k_now, k_gold = {}, {}, {}
        for field in checked:
            country = g["country"] if field in ("region", "postal_code") else None
            k_old, k_now[field], k_gold[field] = (keys(hub.ws, field, x[field], country) for x in (old, now, g))
            changed[field] = (k_old.fillna("\0") != k_now[field].fillna("\0")).to_numpy()
        for field in checked:
            # A value whose key did not change was not rewritten (no case-only or format-only rewrites), unless
            # another part of its cell was ("rebecca warednr" -> "Rebecca Warner": the cell reads as one).
            column = src.fields[field].column
            cell = np.logical_or.reduce([changed[f] for f in checked if src.fields[f].column == column])
            same_text = (old[field].astype("string").fillna("-") == now[field].astype("string").fillna("-")).to_numpy()
            assert same_text[~cell].all(), (name, field, now.index[~cell & ~same_text][:5].tolist())
            # whatever changed now says what the golden record says
            assert (k_now[field][changed[field]] == k_gold[field][changed[field]]).all(), (name, field)
            blank = old[field].isna().to_numpy()
            filled += int((changed[field] & blank).sum())
            over = changed[field] & ~blank
            corrected += int(over.sum())
            unit = "address" if field in ADDRESS_BLOCK else field.removesuffix("_at")  # a consent time: its choice
            why = set(lost[lost.field == unit].record_id.str.split(":", n=1).str[1])
            assert set(now.index[over]) <= why, (name, field)  # it lost to the golden value on a rule
            assert cfg.policy_for(name, field) == "correct" or not over.any(), (name, field)
        # Only a record whose own address is another place keeps it (counted).
        assert r.address_kept >= 0
    assert filled > 300 and corrected > 30

    assert untouchable(hub) == before

    # Golden ids: billing's and crm's own columns, web's side table.
    web_xref = xref[xref.source_system == "web"].set_index("source_key")["golden_id"]
    for name, sql in (
        ("billing", "SELECT CAST(account_no AS TEXT), hub_customer_id FROM accounts"),
        ("crm", "SELECT Id, Master_Id__c FROM contacts"),
        ("web", f"SELECT source_key, golden_id FROM {SIDE_TABLE}"),
    ):
        con = sqlite3.connect(hub.dir / f"{name}.db")
        held = dict(con.execute(sql).fetchall())
        con.close()
        want = xref[xref.source_system == name].set_index("source_key")["golden_id"]
        assert {k: held.get(k) for k in want.index} == want.to_dict(), name
    assert len(web_xref) > 0

    # The audit: every change, old -> new, under the published run.
    audit = hub.audit(run_id=hub.run_id)
    assert len(audit) == sum(r.values_changed for r in results.values()) > 0
    assert set(audit["source_system"]) == set(SYSTEMS) and audit["written_at"].notna().all()
    for name in SYSTEMS:
        mine = hub.audit(source=name).drop(columns=["run_id", "source_system", "written_at"])
        key = ["source_key", "column"]
        pd.testing.assert_frame_equal(
            mine.sort_values(key).reset_index(drop=True),
            results[name].changes.sort_values(key).reset_index(drop=True),
            check_dtype=False,
            obj=name,
        )
    assert hub.audit(run_id="no-such-run").empty

    # The workspace holds what a pull would read now.
    for name in SYSTEMS:
        src = cfg.sources[name]
        cols = ["source_key", "source_version", *src.fields]
        fresh = source_records(cfg, name)[cols].sort_values("source_key").reset_index(drop=True)
        staged = hub.ws.staged(name)[cols].sort_values("source_key").reset_index(drop=True)
        for c in cols:
            assert text(staged[c]).equals(text(fresh[c])), (name, c)


def test_write_back_is_idempotent_without_a_pull_after_a_pull_and_after_a_new_golden_run(hub):
    first = hub.write_back()
    assert all(r.values_changed > 0 for r in first.values())
    written = all_digests(hub)
    audit_rows = len(hub.audit())

    def nothing(label: str) -> None:
        again = hub.write_back()
        for name, r in again.items():
            assert (r.planned, r.values_changed, r.conflicts, r.stale) == (0, 0, 0, 0), (label, name, r.summary())
        assert all_digests(hub) == written, label
        assert len(hub.audit()) == audit_rows, label

    nothing("second run")
    hub.pull()  # incremental: write-back never touches the updated-at columns
    nothing("after an incremental pull")
    hub.pull(full=True)  # every row re-read, values as the source now holds them
    nothing("after a full pull")
    hub.golden()  # re-match and survivorship over the harmonized values
    nothing("after match and golden")


def test_a_trigger_stamping_updated_at_on_each_write_leaves_nothing_to_do(hub):
    """A source whose updated-at column a trigger stamps on every UPDATE (MariaDB's ON UPDATE CURRENT_TIMESTAMP): a
    row that got only its golden id has a new version all the same. The read-back sees it (it reads those rows'
    versions, then the moved rows in full), so the next write-back finds no conflict and plans nothing."""
    con = sqlite3.connect(hub.dir / "billing.db")
    con.execute(
        "CREATE TRIGGER stamp AFTER UPDATE ON accounts BEGIN "
        "UPDATE accounts SET modified_on = '2030-01-01 00:00:00' WHERE rowid = NEW.rowid; END"
    )
    con.commit()
    con.close()
    first = hub.write_back(sources=("billing",))["billing"]
    changes = first.changes
    only_id = set(changes["source_key"]) - set(changes.loc[changes["column"] != "hub_customer_id", "source_key"])
    assert first.updated > 0 and only_id, "some rows got nothing but their golden id"
    staged = hub.ws.staged("billing").set_index("source_key")
    fresh = source_records(hub.cfg, "billing").set_index("source_key")
    keys = sorted(only_id)
    assert text(staged.loc[keys, "source_version"]).equals(text(fresh.loc[keys, "source_version"]))
    again = hub.write_back(sources=("billing",))["billing"]
    assert (again.planned, again.values_changed, again.conflicts, again.stale) == (0, 0, 0, 0), again.summary()


def test_a_row_edited_after_the_pull_is_a_conflict_then_stale_until_golden_runs_again(hub):
    plan = plan_changes(hub.ws, hub.cfg, "billing")
    key = plan["source_key"].iloc[0]
    con = sqlite3.connect(hub.dir / "billing.db")
    con.execute(
        "UPDATE accounts SET email_address = 'edited@example.com', modified_on = '2030-01-01 00:00:00' "
        "WHERE account_no = ?",
        [int(key)],
    )
    con.commit()
    edited = con.execute("SELECT * FROM accounts WHERE account_no = ?", [int(key)]).fetchone()
    con.close()

    def row() -> tuple:
        con = sqlite3.connect(hub.dir / "billing.db")
        try:
            return con.execute("SELECT * FROM accounts WHERE account_no = ?", [int(key)]).fetchone()
        finally:
            con.close()

    r = hub.write_back(sources=["billing"])["billing"]
    assert r.conflicts == 1 and r.updated == len(plan) - 1
    assert r.conflict_rows.to_dict("records") == [
        {"source_key": key, "status": "conflict", "detail": "row changed in the source since it was pulled; skipped"}
    ]
    assert row() == edited  # not overwritten, not even the golden id
    assert key not in set(hub.audit(source="billing")["source_key"])

    again = hub.write_back(sources=["billing"])["billing"]  # still outstanding: planned and skipped again
    assert (again.planned, again.conflicts, again.values_changed) == (1, 1, 0)

    # Pulled, but the golden records predate the edit: writing them would revert it.
    pull_source(hub.cfg, "billing", hub.ws)
    stale = hub.write_back(sources=["billing"])["billing"]
    assert (stale.planned, stale.stale, stale.conflicts) == (0, 1, 0)
    assert stale.conflict_rows["status"].tolist() == ["stale"] and row() == edited

    hub.golden()
    done = hub.write_back(sources=["billing"])["billing"]
    assert done.conflicts == done.stale == 0 and done.updated >= 1
    assert row()[2] == "edited@example.com"  # the newest email won survivorship: it stays


def test_edits_made_between_plan_and_push_are_never_overwritten(hub):
    """A person edits rows in the source while write-back runs, after it planned and before it pushes (the
    fault point `writeback:before-push`): the optimistic check skips exactly those rows, as conflicts."""
    plan = plan_changes(hub.ws, hub.cfg, "billing")
    edited = [int(k) for k in plan["source_key"].iloc[:3]]
    rows = f"SELECT * FROM accounts WHERE account_no IN {tuple(edited)} ORDER BY account_no"
    seen = []

    def edit() -> None:
        con = sqlite3.connect(hub.dir / "billing.db")
        for n, key in enumerate(edited):
            con.execute(
                "UPDATE accounts SET email_address = ?, holder_name = 'EDITED, Person', modified_on = ? "
                "WHERE account_no = ?",
                [f"edited{n}@example.com", f"2031-01-0{n + 1} 00:00:00", key],
            )
        con.commit()
        seen.append(con.execute(rows).fetchall())
        con.close()

    with faults.hook("writeback:before-push", edit):
        r = hub.write_back(sources=["billing"])["billing"]
    assert r.conflicts == 3 and r.updated == len(plan) - 3
    assert sorted(r.conflict_rows["source_key"].astype(int)) == sorted(edited)
    con = sqlite3.connect(hub.dir / "billing.db")
    now = con.execute(rows).fetchall()
    con.close()
    assert now == seen[0]  # not one cell of the edited rows written, not even the golden id
    assert not set(hub.audit(source="billing")["source_key"]) & {str(k) for k in edited}


def test_a_value_the_hub_could_not_read_is_not_a_blank_and_is_never_overwritten(hub):
    """'19160017' as a date of birth reads as missing, with a field warning, but the cell is not empty: write-back
    (which fills blanks) leaves it, while the record is still matched and its other fields still written."""
    keys = [
        k
        for (k,) in hub.ws.con.execute(
            """SELECT split_part(m.record_id, ':', 2) AS key
               FROM golden_members m JOIN golden_values g USING (golden_id)
               WHERE starts_with(m.record_id, 'web:') AND g.date_of_birth IS NOT NULL AND g.record_count >= 3
                 AND (SELECT count(*) FROM golden_members o JOIN standardized_records r ON r.unique_id = o.record_id
                      WHERE o.golden_id = m.golden_id AND o.record_id <> m.record_id
                        AND r.date_of_birth = g.date_of_birth) >= 2
               ORDER BY key LIMIT 3"""
        ).fetchall()
    ]
    assert len(keys) == 3
    con = sqlite3.connect(hub.dir / "web.db")
    con.executemany(
        "UPDATE users SET birthday = '19160017', phone = NULL, updated_at = '2031-01-01T00:00:00' WHERE id = ?",
        [[int(k)] for k in keys],
    )
    con.commit()
    con.close()
    pull_source(hub.cfg, "web", hub.ws)
    warned = hub.ws.con.execute("SELECT source_key, field, value FROM field_warnings WHERE source_system = 'web'")
    assert {(k, "date_of_birth", "19160017") for k in keys} <= set(warned.fetchall())
    hub.golden()

    plan = plan_changes(hub.ws, hub.cfg, "web").set_index("source_key").reindex(keys)
    assert plan["date_of_birth"].isna().all()  # not written: the cell holds text, not nothing
    assert plan["phone"].notna().any()  # the records are still matched, and their real blanks filled
    hub.write_back(sources=["web"])
    con = sqlite3.connect(hub.dir / "web.db")
    cells = con.execute(f"SELECT birthday FROM users WHERE id IN ({', '.join(keys)})").fetchall()
    con.close()
    assert cells == [("19160017",)] * 3


def test_cli_writeback_dry_run_prints_the_diff_then_writes(hub, capsys):
    config = str(hub.dir / "hub.yaml")
    before = all_digests(hub)
    assert main(["writeback", "--config", config, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert all_digests(hub) == before and hub.audit().empty
    assert "dry run: nothing written" in out and "values changed" in out
    for name in SYSTEMS:
        assert f"{name}: would change" in out
    assert " -> " in out and "... and " in out and "(none) -> G0000" in out  # golden ids sorted in with the rest

    assert main(["writeback", "--config", config, "--source", "billing"]) == 0
    out = capsys.readouterr().out
    assert "audit:" in out and "billing" in out
    assert set(hub.audit()["source_system"]) == {"billing"}
    assert all_digests(hub)["web"] == before["web"]

    assert main(["writeback", "--config", config, "--source", "nope"]) == 2


def test_cli_writeback_refuses_without_a_published_run(hub, tmp_path, capsys):
    fresh = tmp_path / "fresh"
    init_demo(fresh, customers=20, seed=3)
    assert main(["writeback", "--config", str(fresh / "hub.yaml")]) == 1
    assert "no golden records were ever published" in capsys.readouterr().err

    # A newer golden run that failed: the workspace holds values no quality gate passed.
    failed = store.start_run(hub.engine)
    store.fail_run(hub.engine, failed, "blocked by a quality gate")
    with pytest.raises(WritebackError, match="is failed"):
        published_run(hub.engine)
    assert main(["writeback", "--config", str(hub.dir / "hub.yaml")]) == 1
    assert failed in capsys.readouterr().err


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'serving.db'}"


def test_store_records_and_reads_the_write_back_audit(store_url):
    engine = store.open_store(store_url)
    audit = pd.DataFrame(
        {
            "source_key": ["1", "2"],
            "column": ["email", "column"],
            "fields": ["email", None],
            "old_value": [None, "a\nb"],
            "new_value": ["x@example.com", "c"],
        }
    )
    assert store.record_writeback(engine, "run-1", "billing", audit) == 2
    assert store.record_writeback(engine, "run-2", "web", audit.head(1)) == 1
    assert store.record_writeback(engine, "run-2", "web", audit.iloc[:0]) == 0
    with engine.connect() as conn:
        everything = store.writeback_audit(conn)
        one = store.writeback_audit(conn, run_id="run-1")
        web = store.writeback_audit(conn, source="web")
        none = store.writeback_audit(conn, run_id="run-1", source="web")
    engine.dispose()
    assert len(everything) == 3 and len(web) == 1 and none.empty
    rows = one[["source_key", "column", "old_value", "new_value"]].astype(object)
    assert rows.where(rows.notna(), None).values.tolist() == [
        ["1", "email", None, "x@example.com"],
        ["2", "column", "a\nb", "c"],
    ]
    assert list(everything.columns) == [c.name for c in schema.writeback_audit_table.c]
    assert pd.api.types.is_datetime64_any_dtype(everything["written_at"])


def test_a_block_field_read_but_not_accepted_is_compared_not_written(hub):
    """web maps its town but, here, does not accept it back: the address is still judged as one place."""
    web = hub.cfg.sources["web"]
    web = web.model_copy(update={"accepts": [f for f in web.accepts if f != "city"]})
    cfg = hub.cfg.model_copy(update={"sources": {**hub.cfg.sources, "web": web}})
    con = sqlite3.connect(hub.dir / "web.db")
    towns = con.execute("SELECT id, city FROM users ORDER BY id").fetchall()
    con.close()
    result = write_back(hub.ws, cfg, hub.engine, "web", hub.run_id)
    assert result.updated > 0
    con = sqlite3.connect(hub.dir / "web.db")
    assert con.execute("SELECT id, city FROM users ORDER BY id").fetchall() == towns
    con.close()


def test_the_plan_keys_street_lines_only_as_columns(tmp_path):
    """DuckDB copies a macro's argument into every place the macro's body names it: std_street keying the result of
    hub_street_from(...) in place took the plan ~0.9 s per source to bind (every run, any data size), keying the
    column that result is computed into ~0.3 s. Every std_street of every demo source's plan takes a column."""
    init_demo(tmp_path, customers=20, seed=3)
    cfg = load_config(tmp_path / "hub.yaml")
    keyed = set()
    for name, src in cfg.sources.items():
        sql = writeback_plan._sql(src, cfg, name, {})
        args = re.findall(r"std_street\(([^,]*),", sql)
        assert len(args) == sql.count("std_street("), name
        assert all(re.fullmatch(r"\w+", arg.strip()) for arg in args), (name, args)
        keyed |= {name} if args else set()
    assert keyed == {name for name, src in cfg.sources.items() if "address_line1" in src.fields}


def _people_in(hub: Hub, systems: tuple[str, ...], n: int, addressed: bool = False) -> list[dict[str, str]]:
    """`n` golden records with one member in each of `systems` and none elsewhere: {system: source_key}.
    `addressed`: each member has a street and a postcode."""
    address = "bool_and(r.address_line1 IS NOT NULL AND r.postal_code IS NOT NULL)" if addressed else "true"
    rows = hub.ws.con.execute(
        f"""SELECT golden_id, list(record_id ORDER BY record_id)
            FROM golden_members AS m JOIN standardized_records AS r ON r.unique_id = m.record_id GROUP BY golden_id
            HAVING count(*) = {len(systems)} AND list_sort(list(split_part(record_id, ':', 1))) = ? AND {address}
            ORDER BY golden_id LIMIT {n}""",
        [sorted(systems)],
    ).fetchall()
    assert len(rows) == n
    return [{r.split(":", 1)[0]: r.split(":", 1)[1] for r in members} for _, members in rows]


def _set_names(hub: Hub, person: dict[str, str], last: dict[str, str] | None = None,
               first: dict[str, str] | None = None) -> None:  # fmt: skip
    """Rename one person in billing ("SURNAME, Given"), app ("Given Surname"), web and crm: `last` / `first` give the
    spelling per system (a system left out keeps its own), edited after the last pull."""
    edits = {
        "billing": ("accounts", "account_no", "modified_on", "2031-01-01 00:00:00"),
        "app": ("profiles", "profile_uuid", "last_modified_ms", 1924992000000),
        "web": ("users", "id", "updated_at", "2031-01-01T00:00:00"),
        "crm": ("contacts", "Id", "LastModifiedDate", "2031-01-01T00:00:00.000000+0000"),
    }
    for system, key in person.items():
        table, pk, stamp, when = edits[system]
        new_first, new_last = (first or {}).get(system), (last or {}).get(system)
        con = sqlite3.connect(hub.dir / f"{system}.db")
        if system in ("billing", "app"):
            column = {"billing": "holder_name", "app": "display_name"}[system]
            (cell,) = con.execute(f"SELECT {column} FROM {table} WHERE {pk} = ?", [key]).fetchone()
            if system == "billing":
                surname, given = cell.split(", ", 1)
                cell = f"{new_last or surname}, {new_first or given}"
            else:
                given, surname = cell.split(" ", 1)
                cell = f"{new_first or given} {new_last or surname}"
            con.execute(f"UPDATE {table} SET {column} = ?, {stamp} = ? WHERE {pk} = ?", [cell, when, key])
        else:
            names = {"web": ("first_name", "last_name"), "crm": ("FirstName", "LastName")}[system]
            for column, spelling in zip(names, (new_first, new_last), strict=True):
                if spelling:
                    con.execute(f"UPDATE {table} SET {column} = ?, {stamp} = ? WHERE {pk} = ?", [spelling, when, key])
        con.commit()
        con.close()


def test_a_spelling_with_accents_is_never_replaced_by_its_transliteration_nor_the_reverse(hub):
    """ "Müller" in web, "Mueller" in crm and "MUELLER" in billing are one name, spelled by systems with and without
    the letter: the golden record keeps the accents, and nothing is written into any of them (before, the two
    ASCII spellings outvoted web's and write-back replaced "Müller" with "Mueller")."""
    (person,) = _people_in(hub, ("billing", "crm", "web"), 1)
    _set_names(hub, person, last={"web": "Müller", "crm": "Mueller", "billing": "MUELLER"})
    hub.pull()
    hub.golden()
    gid = scalar(hub.ws.con, "SELECT golden_id FROM golden_members WHERE record_id = ?", [f"web:{person['web']}"])
    assert scalar(hub.ws.con, "SELECT last_name FROM golden_values WHERE golden_id = ?", [gid]) == "Müller"
    for system in ("billing", "crm", "web"):
        plan = plan_changes(hub.ws, hub.cfg, system).set_index("source_key")
        assert person[system] not in plan.index or pd.isna(plan.loc[person[system], "last_name"]), system
    # Were the ASCII spelling golden, and web's value to have lost on evidence, "Müller" would still stay.
    hub.ws.con.execute("UPDATE golden_values SET last_name = 'Mueller' WHERE golden_id = ?", [gid])
    web_record = f"web:{person['web']}"
    hub.ws.con.execute("INSERT INTO golden_contested VALUES (?, 'last_name', 'most_frequent')", [web_record])
    plan = plan_changes(hub.ws, hub.cfg, "web", full=True).set_index("source_key")
    assert person["web"] not in plan.index or pd.isna(plan.loc[person["web"], "last_name"])


def test_a_system_that_holds_no_accented_letter_is_written_without_them(hub):
    """billing (the demo's ASCII-only system) learns that it holds no accented letter in its names: a corrected first
    name is written "Zoe" there, where web and crm spell it "Zoë"."""
    (person,) = _people_in(hub, ("billing", "crm", "web"), 1)
    _set_names(hub, person, first={"web": "Zoë", "crm": "Zoë", "billing": "Zeo"})
    hub.pull()
    hub.golden()
    plan = plan_changes(hub.ws, hub.cfg, "billing").set_index("source_key")
    assert plan.loc[person["billing"], "first_name"] == "Zoe"
    web = plan_changes(hub.ws, hub.cfg, "web").set_index("source_key")
    assert person["web"] not in web.index or pd.isna(web.loc[person["web"], "first_name"])
    hub.write_back(sources=["billing"])
    con = sqlite3.connect(hub.dir / "billing.db")
    (holder,) = con.execute("SELECT holder_name FROM accounts WHERE account_no = ?", [person["billing"]]).fetchone()
    con.close()
    assert holder.endswith(", Zoe")


def test_the_other_part_of_a_cell_keeps_its_accents(hub):
    """app's "jno müller": the first name is corrected; the surname says what the golden "Muller" says (web and crm
    write it in proper case, so the golden record takes their spelling), and it is written along with the first
    name only where that loses nothing: "müller" keeps its letter."""
    (person,) = _people_in(hub, ("app", "crm", "web"), 1)
    _set_names(hub, person, first={"app": "jno", "web": "Jon", "crm": "Jon"},
               last={"app": "müller", "web": "Muller", "crm": "Muller"})  # fmt: skip
    hub.pull()
    hub.golden()
    plan = plan_changes(hub.ws, hub.cfg, "app").set_index("source_key")
    assert plan.loc[person["app"], "first_name"] == "Jon"
    assert pd.isna(plan.loc[person["app"], "last_name"])
    hub.write_back(sources=["app"])
    con = sqlite3.connect(hub.dir / "app.db")
    (cell,) = con.execute("SELECT display_name FROM profiles WHERE profile_uuid = ?", [person["app"]]).fetchone()
    con.close()
    assert cell == "Jon müller"


def test_a_value_a_system_without_accents_cannot_hold_is_not_written(hub):
    """billing holds no accented letter, and a Cyrillic name or town has no ASCII spelling here: nothing is written
    (the system could refuse the batch or store question marks), neither the corrected first name nor the blank
    town, while web, which holds accented letters, gets them."""
    (person,) = _people_in(hub, ("billing", "crm", "web"), 1, addressed=True)
    _set_names(hub, person, first={"web": "Зоя", "crm": "Зоя", "billing": "Zeo"})
    # The town is newer in web and crm than anything billing holds: the address block comes from them.
    for system, (table, pk, column, stamp, when) in {
        "web": ("users", "id", "city", "updated_at", "2032-01-01T00:00:00"),
        "crm": ("contacts", "Id", "MailingCity", "LastModifiedDate", "2032-01-01T00:00:00.000000+0000"),
        "billing": ("accounts", "account_no", "billing_city", "modified_on", "2030-01-01 00:00:00"),
    }.items():
        town = None if system == "billing" else "Москва"
        con = sqlite3.connect(hub.dir / f"{system}.db")
        con.execute(f"UPDATE {table} SET {column} = ?, {stamp} = ? WHERE {pk} = ?", [town, when, person[system]])
        con.commit()
        con.close()
    hub.pull()
    hub.golden()
    gid = scalar(hub.ws.con, "SELECT golden_id FROM golden_members WHERE record_id = ?", [f"web:{person['web']}"])
    golden = hub.ws.con.execute("SELECT first_name, city FROM golden_values WHERE golden_id = ?", [gid]).fetchall()
    assert golden == [("Зоя", "Москва")]
    plan = plan_changes(hub.ws, hub.cfg, "billing").set_index("source_key")
    assert person["billing"] not in plan.index or plan.loc[person["billing"], ["first_name", "city"]].isna().all()


def test_a_plan_writing_without_accents_joins_nothing_more(hub):
    """Where every text field is written without accents, a plan's SQL holds the transliteration for each value it
    writes or tests: a country list there (`c IN (...)`) made DuckDB plan one join per copy, 84 in web's plan, and
    took it from 1 to 14 s at 50,000 people. The plan joins what it joined with the golden values as they are."""
    for name, src in hub.cfg.sources.items():
        plan_changes(hub.ws, hub.cfg, name)  # the tables a plan reads
        ascii = {f"{f}_charset": Style(f, "ascii") for f in src.accepts if f in CASED_FIELDS}
        joins = []
        for styles in ({}, ascii):
            sql = writeback_plan._sql(src, hub.cfg, name, styles)
            plan = "".join(row[1] for row in hub.ws.con.execute("EXPLAIN " + sql, {"source": name}).fetchall())
            joins.append(plan.count("Join Type:"))
        assert joins[1] == joins[0], name


def test_a_newer_town_and_postcode_are_not_replaced_by_an_older_full_address(hub):
    """billing's newer address has a town and a postcode but no street; crm's older one is complete, so the golden
    address is crm's (survivorship's `complete`). That is where the person lived, not where they live: billing keeps
    its own (before, write-back wrote crm's street, town and postcode over it). Once crm's full address is the newer
    one, billing gets it."""
    (person,) = _people_in(hub, ("billing", "crm"), 1, addressed=True)

    def edit(system: str, values: dict[str, str | None], when: str) -> None:
        table, pk, stamp = {"billing": ("accounts", "account_no", "modified_on"),
                            "crm": ("contacts", "Id", "LastModifiedDate")}[system]  # fmt: skip
        sets = ", ".join(f"{c} = ?" for c in [*values, stamp])
        con = sqlite3.connect(hub.dir / f"{system}.db")
        con.execute(f"UPDATE {table} SET {sets} WHERE {pk} = ?", [*values.values(), when, person[system]])
        con.commit()
        con.close()

    edit("billing", {"billing_street": None, "billing_city": "Plymouth", "billing_postcode": "02360"},
         "2032-01-01 00:00:00")  # fmt: skip
    edit("crm", {"MailingStreet": "7 Quay Road", "MailingCity": "Truro", "MailingPostalCode": "02666"},
         "2031-01-01T00:00:00.000000+0000")  # fmt: skip
    hub.pull()
    hub.golden()
    gid = scalar(hub.ws.con, "SELECT golden_id FROM golden_members WHERE record_id = ?", [f"crm:{person['crm']}"])
    assert hub.ws.con.execute("SELECT city FROM golden_values WHERE golden_id = ?", [gid]).fetchall() == [("Truro",)]
    plan = plan_changes(hub.ws, hub.cfg, "billing").set_index("source_key")
    assert person["billing"] not in plan.index or plan.loc[person["billing"], ["address_line1", "city"]].isna().all()
    assert hub.write_back(sources=["billing"])["billing"].address_kept >= 1
    edit("crm", {"MailingStreet": "7 Quay Road"}, "2033-01-01T00:00:00.000000+0000")  # crm's is now the newer
    hub.pull()
    hub.golden()
    plan = plan_changes(hub.ws, hub.cfg, "billing").set_index("source_key")
    assert plan.loc[person["billing"], ["address_line1", "city"]].tolist() == ["7 Quay Road", "Truro"]
