"""Data-subject requests end to end on a small demo: erasure leaves no trace in any hub-owned file or table (serving
store, workspace, Dagster's storage), runs each source's erasure action and keeps the person out of later pulls;
show and export hold the person's records; restriction stops matching and write-back until lifted; rectification
wins and is written back; the request log holds no personal data; only the privacy role may ask."""

from __future__ import annotations

import functools
import io
import json
import shutil
import sqlite3
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from connectors.demo import init_demo
from connectors.erasure import SourceErasureFailed, erase_in_source
from hub import store
from hub.api import keys
from hub.config import ConfigError, load_config
from hub.subjects.keyed import hmac_hex, hmac_sql
from pipelines.entry import create_app, main
from pipelines.run import PipelineSummary, run_pipeline
from tests.test_pipeline_fresh import _copy_table

pytestmark = [pytest.mark.slow(seconds=80), pytest.mark.usefixtures("hub_yaml_dagster_instance")]

SYSTEMS = ("billing", "web", "app", "crm")
KEY = "a-privacy-key-for-tests"
CUSTOMERS = 80


def _configure(folder: Path, **sources: dict) -> Path:
    """The demo's hub.yaml with a privacy key file and erasure actions: null_fields in billing, a flag in crm."""
    config = folder / "hub.yaml"
    raw = yaml.safe_load(config.read_text())
    raw["subjects"] = {"key_file": "privacy.key"}
    raw["sources"]["billing"]["erasure"] = {"action": "null_fields"}
    raw["sources"]["crm"]["erasure"] = {"action": "flag", "column": "LeadSource", "value": "ERASED"}
    for name, update in sources.items():
        raw["sources"][name] |= update
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    (folder / "privacy.key").write_text(KEY + "\n")
    return config


def _run(config: Path, **kwargs) -> PipelineSummary:
    """A run recorded in the demo's own Dagster instance (hub.yaml's pipeline.dagster_home), which the scans read."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DAGSTER_HOME", raising=False)
        r = run_pipeline(str(config), log_level="WARNING", **kwargs)
    assert r.success, r.errors
    return r


@functools.cache
def _built(folder: Path) -> Path:
    init_demo(folder, customers=CUSTOMERS, seed=21)
    _run(_configure(folder))
    return folder


@pytest.fixture
def demo(tmp_path_factory, tmp_path) -> Path:
    """A copy of the demo after its first run (built once per test process)."""
    built = _built(tmp_path_factory.getbasetemp() / "subjects-built")
    shutil.copytree(built, tmp_path / "demo")
    return tmp_path / "demo"


# ------------------------------------------------------------------------------------------- the person


@dataclass
class Person:
    golden_id: str
    records: list[str]  # record ids
    emails: set[str]
    phones: set[str]  # E.164
    names: set[tuple[str, str]]  # (last name, birth date ISO)

    @property
    def keys(self) -> list[tuple[str, str]]:
        return [tuple(r.split(":", 1)) for r in self.records]  # type: ignore[misc]

    def key_of(self, system: str) -> str:
        return next(k for s, k in self.keys if s == system)


def person(config: Path, systems: tuple[str, ...] = ("billing", "crm")) -> Person:
    """A golden record with records in `systems` and two more, whose e-mail, phone and name with birth date no
    other golden record's members hold (so a trace found is theirs)."""
    cfg = load_config(config)
    con = duckdb.connect(str(cfg.workspace), read_only=True)
    try:
        members = con.execute(
            """SELECT m.golden_id, m.record_id, lower(s.email) AS email, s.phone, lower(s.last_name) AS last_name,
                      strftime(s.date_of_birth, '%Y-%m-%d') AS dob, s.source_system
               FROM golden_members m JOIN staged_records s ON m.record_id = s.source_system || ':' || s.source_key"""
        ).df()
    finally:
        con.close()
    for gid, rows in members.groupby("golden_id"):
        if len(rows) < 3 or not set(systems) <= set(rows["source_system"]) or rows["dob"].isna().any():
            continue
        others = members[members["golden_id"] != gid]
        names = set(zip(rows["last_name"].dropna(), rows["dob"].dropna(), strict=False))
        shared = (
            others["email"].isin(rows["email"].dropna()).any()
            or others["phone"].isin(rows["phone"].dropna()).any()
            or others["last_name"].isin({n for n, _ in names}).any()
        )
        if not shared and rows["email"].notna().all() and rows["phone"].notna().all():
            return Person(str(gid), sorted(rows["record_id"]), set(rows["email"]), set(rows["phone"]), names)
    raise AssertionError("no person in the demo fits")


# ------------------------------------------------------------------------------------------- the scan


def _hit(text: str, p: Person) -> str | None:
    low = text.lower()
    for e in p.emails:
        if e in low:
            return e
    for ph in p.phones:
        if ph[-9:] in low:  # the national number, whatever the format around it
            return ph
    for last, dob in p.names:
        if last in low and dob in low:
            return f"{last} + {dob}"
    for system, key in p.keys:
        if f"{system}:{key}".lower() in low or (len(key) >= 8 and key.lower() in low):
            return f"{system}:{key}"
    return None


def _rows_hits(tables: Iterator[tuple[str, list[str], list[tuple]]], p: Person) -> list[str]:
    found = []
    pairs = set(p.keys)
    for table, cols, rows in tables:
        for row in rows:
            values = dict(zip(cols, row, strict=True))
            hit = _hit("|".join(str(v) for v in row), p)
            if hit is None and (values.get("source_system"), str(values.get("source_key"))) in pairs:
                hit = "source key"
            if hit:
                found.append(f"{table}: {hit}")
    return found


def _store_tables(url: str) -> Iterator[tuple[str, list[str], list[tuple]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            for table in [*store.metadata.sorted_tables]:
                result = conn.execute(sa.select(table))
                yield table.name, list(result.keys()), [tuple(r) for r in result]
    finally:
        engine.dispose()


def _workspace_tables(path: Path) -> Iterator[tuple[str, list[str], list[tuple]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall():
            result = con.execute(f'SELECT * FROM "{table}"')
            yield table, [d[0] for d in result.description], result.fetchall()
    finally:
        con.close()


def traces(config: Path, p: Person) -> list[str]:
    """Every place a hub-owned table or file holds one of the person's identifiers."""
    cfg = load_config(config)
    found = _rows_hits(_store_tables(cfg.serving_store), p) + _rows_hits(_workspace_tables(cfg.workspace), p)
    for folder in (cfg.workspace.parent, cfg.pipeline.dagster_home):
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                data = f.read_bytes().lower()
                found += [f"{f.name}: {n}" for n in _byte_needles(p) if n in data]
    return found


def _byte_needles(p: Person) -> list[bytes]:
    keys = [f"{s}:{k}" for s, k in p.keys] + [k for _, k in p.keys if len(k) >= 8]
    return [n.lower().encode() for n in [*p.emails, *(ph[-9:] for ph in p.phones), *keys]]


# ------------------------------------------------------------------------------------------- erasure


def test_erase_leaves_no_trace_runs_the_source_actions_and_a_full_pull_skips_the_person(demo, capsys):
    config = demo / "hub.yaml"
    p = person(config)
    _run(config, dry_run=True)  # its build keeps the published basis aside in the workspace: the person is there too
    con = sqlite3.connect(demo / ".hub" / "serving.db")  # a blocked run's gate names the values that failed
    con.execute(
        "INSERT INTO run_log (run_id, started_at, status, message) VALUES ('blocked', '2026-01-01', 'blocked', ?)",
        [f"golden: FAILED only valid emails survive (1 of 80 unexpected, e.g. '{sorted(p.emails)[0]}')"],
    )
    con.commit()
    con.close()
    assert traces(config, p)  # the scan finds the person before

    assert main(["subject", "erase", "--config", str(config), "--golden-id", p.golden_id]) == 0
    out = capsys.readouterr().out
    assert f"{len(p.records)} source record(s)" in out and "TASK" in out  # web and app report tasks
    assert traces(config, p) == []
    ws = duckdb.connect(str(demo / ".hub" / "workspace.duckdb"))
    orphans = "SELECT count(*) FROM golden_lookups WHERE (kind, key) NOT IN (SELECT (kind, key) FROM golden_population)"
    assert ws.execute(orphans).fetchall() == [(0,)]  # no name, town or street spelling only the person held
    ws.close()

    # billing (null_fields): the personal columns are NULL, the row and its other columns stay
    con = sqlite3.connect(demo / "billing.db")
    row = con.execute(
        "SELECT holder_name, email_address, phone, date_of_birth, billing_street, paperless FROM accounts "
        "WHERE account_no = ?",
        [int(p.key_of("billing"))],
    ).fetchone()
    con.close()
    assert row[:5] == (None,) * 5 and row[5] is not None
    con = sqlite3.connect(demo / "crm.db")  # crm (flag)
    assert con.execute("SELECT LeadSource FROM contacts WHERE Id = ?", [p.key_of("crm")]).fetchone() == ("ERASED",)
    con.close()

    r = _run(config, full=True)
    assert sum(r.value(f"raw_{s}", "rows_erased_subject") for s in SYSTEMS) == len(p.records)
    assert traces(config, p) == []
    assert main(["subject", "show", "--config", str(config), "--source", p.records[0]]) == 1
    assert "holds no golden record" in capsys.readouterr().err


def test_erase_needs_the_privacy_key_and_a_pull_will_not_run_without_it(demo, capsys):
    config = demo / "hub.yaml"
    p = person(config)
    raw = yaml.safe_load(config.read_text())
    del raw["subjects"]
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert main(["subject", "erase", "--config", str(config), "--golden-id", p.golden_id]) == 2
    assert "erasure needs the privacy key: set $HUB_PRIVACY_KEY" in capsys.readouterr().err

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUB_PRIVACY_KEY", KEY)
        assert main(["subject", "erase", "--config", str(config), "--email", sorted(p.emails)[0].upper()]) == 0
    assert main(["pull", "--config", str(config), "--full"]) == 2  # erased people listed, no key to skip them
    assert "pulling needs the privacy key" in capsys.readouterr().err


def test_keyed_hashes_in_sql_and_python_agree():
    con = duckdb.connect()
    for text in ("email:ann@example.com", "name_dob:zoë|o'neil|1980-01-02", ""):
        assert con.execute(f"SELECT {hmac_sql(b'k' * 70, '?')}", [text]).fetchone()[0] == hmac_hex(b"k" * 70, text)
        assert hmac_hex(b"k", text) != hmac_hex(b"other", text)


# ------------------------------------------------------------------------------------------- show / export


def test_show_and_export_hold_the_persons_records_and_the_log_holds_no_personal_data(demo, tmp_path, capsys):
    config = demo / "hub.yaml"
    p = person(config)
    assert main(["subject", "show", "--config", str(config), "--source", p.records[0]]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["golden_ids"] == [p.golden_id] and sorted(report["records"]) == p.records
    s = report["sections"]
    assert {r["golden_id"] for r in s["golden_record"]} == {p.golden_id} and s["golden_history"]
    assert sorted(f"{r['source_system']}:{r['source_key']}" for r in s["source_records"]) == p.records
    assert {r["email"].lower() for r in s["source_records"]} == p.emails
    assert len(s["xref"]) == len(p.records) and s["writeback_audit"] and s["consent"]

    out = tmp_path / "person.zip"
    email = sorted(p.emails)[0].upper()
    assert (
        main(["subject", "export", "--config", str(config), "--email", email, "--format", "zip", "--out", str(out)])
        == 0
    )
    with zipfile.ZipFile(out) as z:
        assert {"README.txt", "golden_record.csv", "source_records.csv", "writeback_audit.csv"} <= set(z.namelist())
        records = pd.read_csv(io.BytesIO(z.read("source_records.csv")))
    assert set(records["email"].str.lower()) == p.emails and len(records) == len(p.records)

    assert main(["subject", "log", "--config", str(config)]) == 0
    log = capsys.readouterr().out
    assert "show" in log and "export" in log and p.golden_id in log
    cfg = load_config(config)
    assert _rows_hits((t for t in _store_tables(cfg.serving_store) if t[0] == "subject_requests"), p) == []


# ------------------------------------------------------------------------------------------- restrict, rectify


def _members(config: Path, golden_id: str) -> list[str]:
    with store.opened(load_config(config).serving_store) as engine, engine.connect() as conn:
        return sorted(store.members(conn, golden_id))


def _golden(config: Path, golden_id: str) -> dict:
    with store.opened(load_config(config).serving_store) as engine, engine.connect() as conn:
        rec = store.golden_by_id(conn, golden_id)
    assert rec is not None
    return {a: rec[a] for a in store.ATTRIBUTES}


def _audited(config: Path, p: Person) -> int:
    with store.opened(load_config(config).serving_store) as engine, engine.connect() as conn:
        audit = store.writeback_audit(conn)
    return int((audit["source_system"] + ":" + audit["source_key"]).isin(p.records).sum())


def _changes(demo: Path, p: Person) -> str:
    """A new web user copying the person's web row (an obvious match), a changed phone on that row, and their
    billing row's phone blanked (write-back fills blanks); returns the new user's record id."""
    key = p.key_of("web")
    con = sqlite3.connect(demo / "web.db")
    cols = [r[1] for r in con.execute("PRAGMA table_info(users)") if r[1] != "id"]
    new_id = con.execute("SELECT max(id) + 1 FROM users").fetchone()[0]
    listed = ", ".join(cols)
    con.execute(f"INSERT INTO users (id, {listed}) SELECT ?, {listed} FROM users WHERE id = ?", [new_id, int(key)])
    con.execute(
        "UPDATE users SET username = username || '2', updated_at = '2030-01-01T00:00:00' WHERE id = ?", [new_id]
    )
    con.execute(
        "UPDATE users SET phone = '+44 20 7946 0999', updated_at = '2030-01-01T00:00:00' WHERE id = ?", [int(key)]
    )
    con.commit()
    con.close()
    con = sqlite3.connect(demo / "billing.db")
    con.execute(
        "UPDATE accounts SET phone = NULL, modified_on = '2030-01-01 00:00:00' WHERE account_no = ?",
        [int(p.key_of("billing"))],
    )
    con.commit()
    con.close()
    return f"web:{new_id}"


def test_restriction_stops_matching_and_write_back_until_lifted_and_a_rectification_is_written_back(demo, capsys):
    config = demo / "hub.yaml"
    p = person(config, ("billing", "web"))
    before, audited = _golden(config, p.golden_id), _audited(config, p)
    assert main(["subject", "restrict", "--config", str(config), "--golden-id", p.golden_id]) == 0
    twin = _changes(demo, p)

    r = _run(config)
    assert _members(config, p.golden_id) == p.records  # the twin did not join
    assert _golden(config, p.golden_id) == before  # the new phone did not win
    assert r.value("writeback_billing", "restricted") == 1  # the blank phone would be filled ...
    assert _audited(config, p) == audited  # ... but nothing was written to their rows

    # a correction made while restricted outlives the restriction
    rectify = ["subject", "rectify", "--config", str(config), "--source", f"web:{p.key_of('web')}"]
    assert main([*rectify, "--set", "date_of_birth=2999-01-01", "--reason", "customer asked"]) == 2
    assert "cannot be the date_of_birth" in capsys.readouterr().err
    assert main([*rectify, "--set", "last_name=Featherstonehaugh", "--reason", "customer asked on the phone"]) == 0
    assert main(["subject", "restrict", "--config", str(config), "--golden-id", p.golden_id, "--lift"]) == 0
    _run(config)
    assert twin in _members(config, p.golden_id)  # matching resumes ...
    assert _audited(config, p) > audited  # ... and write-back
    assert _golden(config, p.golden_id)["last_name"] == "Featherstonehaugh"
    con = sqlite3.connect(demo / "web.db")
    web = con.execute("SELECT last_name FROM users WHERE id = ?", [int(p.key_of("web"))]).fetchone()
    con.close()
    con = sqlite3.connect(demo / "billing.db")
    holder = con.execute("SELECT holder_name FROM accounts WHERE account_no = ?", [int(p.key_of("billing"))]).fetchone()
    con.close()
    assert web == ("Featherstonehaugh",) and "featherstonehaugh" in holder[0].lower()


def _lead_source(demo: Path, p: Person) -> tuple[str | None, str | None]:
    """(the golden record's extra lead_source, web's lead_source column) of the person."""
    with store.opened(load_config(demo / "hub.yaml").serving_store) as engine, engine.connect() as conn:
        rec = store.golden_by_id(conn, p.golden_id)
    assert rec is not None
    con = sqlite3.connect(demo / "web.db")
    web = con.execute("SELECT lead_source FROM users WHERE id = ?", [int(p.key_of("web"))]).fetchone()[0]
    con.close()
    return rec["extra"].get("lead_source"), web


def _set_lead_source(demo: Path, p: Person, value: str, at: str) -> None:
    con = sqlite3.connect(demo / "crm.db")
    con.execute("UPDATE contacts SET LeadSource = ?, LastModifiedDate = ? WHERE Id = ?", [value, at, p.key_of("crm")])
    con.commit()
    con.close()


def test_restriction_freezes_the_extra_attributes_until_lifted(demo, capsys):
    """An extra attribute (crm's LeadSource as `lead_source`, written back into a new web column): a source edit
    made while the person is restricted reaches neither the golden record nor web; once lifted, both."""
    config = demo / "hub.yaml"
    con = sqlite3.connect(demo / "web.db")
    con.execute("ALTER TABLE users ADD COLUMN lead_source TEXT")
    con.commit()
    con.close()
    raw = yaml.safe_load(config.read_text())
    raw["attributes"] = {"lead_source": "string"}
    raw["sources"]["crm"]["fields"]["lead_source"] = "LeadSource"
    raw["sources"]["web"]["fields"]["lead_source"] = "lead_source"
    raw["sources"]["web"]["accepts"].append("lead_source")
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    p = person(config, ("crm", "web"))
    _set_lead_source(demo, p, "Referral", "2030-01-01T00:00:00.000+0000")
    _run(config, full=True)
    assert _lead_source(demo, p) == ("Referral", "Referral")  # built, published and written back

    assert main(["subject", "restrict", "--config", str(config), "--golden-id", p.golden_id]) == 0
    with store.opened(load_config(config).serving_store) as engine, engine.connect() as conn:
        assert store.pinned(conn, p.golden_id, "lead_source") is not None  # frozen with the canonical fields
    _set_lead_source(demo, p, "Trade show", "2030-01-02T00:00:00.000+0000")
    _run(config)
    assert _lead_source(demo, p) == ("Referral", "Referral")  # frozen: not on the golden record, not written back

    assert main(["subject", "restrict", "--config", str(config), "--golden-id", p.golden_id, "--lift"]) == 0
    _run(config)
    assert _lead_source(demo, p) == ("Trade show", "Trade show")


# ------------------------------------------------------------------------------------------- the API


def test_only_the_privacy_role_reaches_subject_requests_over_the_api(demo):
    config = demo / "hub.yaml"
    p = person(config)
    cfg = load_config(config)
    engine = store.open_store(cfg.serving_store)
    raw = {role: keys.create_key(engine, f"{role} key", role)[1] for role in keys.ROLES}
    client = TestClient(create_app(cfg, engine))

    def post(path: str, role: str, body: dict):
        return client.post(f"/v1/subjects/{path}", json=body, headers={"Authorization": f"Bearer {raw[role]}"})

    for role in ("reader", "steward"):
        assert post("show", role, {"golden_id": p.golden_id}).status_code == 403
        assert post("erase", role, {"golden_id": p.golden_id}).status_code == 403
        assert client.get("/v1/subjects/requests", headers={"Authorization": f"Bearer {raw[role]}"}).status_code == 403
    shown = post("show", "privacy", {"email": sorted(p.emails)[0]})
    assert shown.status_code == 200 and sorted(shown.json()["records"]) == p.records
    assert post("show", "privacy", {"golden_id": p.golden_id, "email": "x@y.z"}).status_code == 422
    zipped = post("export", "admin", {"golden_id": p.golden_id, "format": "zip"})
    assert zipped.headers["content-type"] == "application/zip"
    assert "source_records.csv" in zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()

    erased = post("erase", "privacy", {"golden_id": p.golden_id})
    assert erased.status_code == 200, erased.text
    assert erased.json()["records"] == len(p.records) and erased.json()["tasks"]
    assert post("show", "privacy", {"golden_id": p.golden_id}).status_code == 404
    log = client.get("/v1/subjects/requests", headers={"Authorization": f"Bearer {raw['privacy']}"})
    assert [r["action"] for r in log.json()][:3] == ["show", "erase", "export"]
    assert all(r["requested_by"].startswith("key:") for r in log.json())
    assert _hit(log.text, p) is None
    engine.dispose()


# ------------------------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_erase_with_a_postgresql_store_and_a_statement_in_a_postgresql_source(tmp_path, postgres_url):
    init_demo(tmp_path, customers=CUSTOMERS, seed=22)
    _copy_table(tmp_path / "billing.db", "accounts", postgres_url)
    statement = (
        "UPDATE accounts SET holder_name = 'erased', email_address = NULL, phone = NULL, date_of_birth = NULL, "
        "billing_street = NULL, billing_street2 = NULL, billing_postcode = NULL WHERE account_no = :source_key"
    )
    config = _configure(tmp_path, billing={"url": postgres_url, "erasure": {"action": "statement", "sql": statement}})
    raw = yaml.safe_load(config.read_text())
    raw["serving_store"] = postgres_url  # the store's tables live beside the source's accounts table
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    _run(config)
    p = person(config)
    assert traces(config, p)

    assert main(["subject", "erase", "--config", str(config), "--source", p.records[0]]) == 0
    assert traces(config, p) == []
    pg = sa.create_engine(postgres_url)
    with pg.connect() as conn:
        row = conn.execute(
            sa.text("SELECT holder_name, email_address FROM accounts WHERE account_no = :k"),
            {"k": int(p.key_of("billing"))},
        ).one()
    pg.dispose()
    assert tuple(row) == ("erased", None)

    r = _run(config, full=True)
    assert sum(r.value(f"raw_{s}", "rows_erased_subject") for s in SYSTEMS) == len(p.records)
    assert traces(config, p) == []


@pytest.mark.mariadb
def test_null_fields_statement_and_flag_erase_in_mariadb_sources(tmp_path, mariadb_url):
    """Each action runs by primary key in a MariaDB table (the mariadb_url fixture: a database of its own; crm keyed
    by text, billing by number), changes exactly the person's rows and counts the rows it matched, also where a row
    already held what the action writes."""
    init_demo(tmp_path, customers=20, seed=23)
    _copy_table(tmp_path / "crm.db", "contacts", mariadb_url)
    _copy_table(tmp_path / "billing.db", "accounts", mariadb_url)
    config = _configure(tmp_path, crm={"url": mariadb_url}, billing={"url": mariadb_url})
    maria = sa.create_engine(mariadb_url)

    def rows(table: str, key: str) -> dict[object, dict]:
        with maria.connect() as conn:
            return {r[key]: dict(r) for r in conn.execute(sa.text(f"SELECT * FROM {table}")).mappings()}

    contacts, accounts = rows("contacts", "Id"), rows("accounts", "account_no")
    crm, billing = sorted(contacts), sorted(accounts)
    statement = "UPDATE accounts SET holder_name = 'erased', email_address = NULL WHERE account_no = :source_key"
    actions = [
        ("crm", {"action": "null_fields", "fields": ["email", "phone", "date_of_birth"]}, crm[:2]),
        ("billing", {"action": "statement", "sql": statement}, billing[:2]),
        ("crm", {"action": "flag", "column": "LeadSource", "value": "ERASED"}, crm[2:4]),
    ]
    for source, erasure, chosen in actions:
        raw = yaml.safe_load(config.read_text())
        raw["sources"][source]["erasure"] = erasure
        config.write_text(yaml.safe_dump(raw, sort_keys=False))
        keys = [str(k) for k in chosen]
        done = erase_in_source(load_config(config), source, [*keys, "999999"])
        assert (done.action, done.rows, done.changed) == (erasure["action"], 3, 2)
        assert erase_in_source(load_config(config), source, keys).changed == 2  # again: matched, though unchanged
    # a row the collation takes for the person's (the copied table has no unique key): refused, nothing changed
    twin = crm[4].upper() + " "
    with maria.begin() as conn:
        conn.execute(sa.text("INSERT INTO contacts SELECT * FROM contacts WHERE Id = :k"), {"k": crm[4]})
        conn.execute(sa.text("UPDATE contacts SET Id = :twin WHERE Id = :k LIMIT 1"), {"twin": twin, "k": crm[4]})
    with pytest.raises(SourceErasureFailed, match=f"also match rows keyed '{twin}'"):
        erase_in_source(load_config(config), "crm", [crm[4]])
    after_crm, after_billing = rows("contacts", "Id"), rows("accounts", "account_no")
    maria.dispose()
    assert [(after_crm[k]["Email"], after_crm[k]["Phone"], after_crm[k]["Birthdate"]) for k in crm[:2]] == [
        (None, None, None)
    ] * 2
    assert [after_crm[k]["LastName"] for k in crm[:2]] == [contacts[k]["LastName"] for k in crm[:2]]  # not chosen
    assert [(after_billing[k]["holder_name"], after_billing[k]["email_address"]) for k in billing[:2]] == [
        ("erased", None)
    ] * 2
    assert [after_crm[k]["LeadSource"] for k in crm[2:4]] == ["ERASED", "ERASED"]
    assert {k: after_crm[k] for k in crm[4:]} == {k: contacts[k] for k in crm[4:]}  # nobody else
    assert {k: after_billing[k] for k in billing[2:]} == {k: accounts[k] for k in billing[2:]}


def test_a_key_that_finds_another_row_stops_the_erasure_and_changes_nothing(tmp_path):
    """SQLite, a table without a unique key: the person's key held by a second row (another person's, for all the
    hub knows) is refused rather than nulled; a key of its own is erased."""
    from hub.config import HubConfig

    db = tmp_path / "crm.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (id TEXT, mail TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [("a", "ann@x.org"), ("a", "bob@x.org"), ("c", "cy@x.org")])
    con.commit()
    source = {"kind": "sql", "url": f"sqlite:///{db}", "table": "t", "primary_key": "id", "fields": {"email": "mail"}}
    cfg = HubConfig.model_validate({"sources": {"crm": source | {"erasure": {"action": "null_fields"}}}})
    with pytest.raises(SourceErasureFailed, match="also match rows keyed 'a'"):
        erase_in_source(cfg, "crm", ["a"])
    assert erase_in_source(cfg, "crm", ["c"]).changed == 1
    assert con.execute("SELECT id, mail FROM t ORDER BY mail").fetchall() == [
        ("c", None),
        ("a", "ann@x.org"),
        ("a", "bob@x.org"),
    ]
    con.close()


# ------------------------------------------------------------------------------------------- configuration


def _config_with(tmp_path: Path, source: dict) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({"sources": {"crm": source}}))
    return path


@pytest.mark.parametrize(
    ("erasure", "extra", "message"),
    [
        ({"action": "statement", "sql": "DELETE FROM t"}, {}, "needs 'sql' with the parameter :source_key"),
        ({"action": "flag", "column": "gone"}, {}, "needs 'column' and 'value'"),
        ({"action": "task", "sql": "x"}, {}, "do not apply to erasure action 'task'"),
        ({"action": "null_fields", "fields": ["phone"]}, {}, "'phone' is not a field mapped"),
        (
            {"action": "null_fields"},
            {"kind": "file", "path": "x.csv", "url": None, "table": None},
            "source takes 'task'",
        ),
    ],
)
def test_erasure_actions_are_checked_when_hub_yaml_is_read(tmp_path, erasure, extra, message):
    source = {"kind": "sql", "url": "sqlite:///x.db", "table": "t", "primary_key": "id", "fields": {"email": "mail"}}
    source = {k: v for k, v in (source | extra | {"erasure": erasure}).items() if v is not None}
    with pytest.raises(ConfigError, match=r"sources\.crm") as err:
        load_config(_config_with(tmp_path, source))
    assert message in str(err.value)


def test_a_store_table_added_later_is_shown_and_erased_by_the_columns_that_name_a_person(monkeypatch):
    from hub.store import schema
    from hub.store import subjects as rows

    meta = sa.MetaData()
    for table in schema.metadata.sorted_tables:
        table.to_metadata(meta)
    later = sa.Table("later_consent", meta, sa.Column("golden_id", sa.String(32)), sa.Column("choice", sa.Text()))
    monkeypatch.setattr(rows, "metadata", meta)  # as if schema.py declared it
    engine = sa.create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(later.insert(), [{"golden_id": "G1", "choice": "sms: no"}, {"golden_id": "G2", "choice": "x"}])
        assert rows.other_rows(conn, ["G1"], [])["later_consent"]["choice"].tolist() == ["sms: no"]
        counts = pd.DataFrame({"tf_column": [], "value": [], "records": []})
        assert rows.erase_rows(conn, ["G1"], [], {}, counts)["later_consent"] == 1
        assert conn.execute(sa.select(later.c.golden_id)).scalars().all() == ["G2"]
    engine.dispose()


def test_erasure_removes_the_persons_consent_events_filed_under_a_golden_id_still_live():
    """After a split, a record's earlier consent events stay under the golden id it left; erasing the person must
    find them by the record, in the log and in the state."""
    from datetime import datetime

    from hub.catalogue import record_id
    from hub.store import consent_state
    from hub.store import subjects as rows
    from hub.store.schema import consent_events, metadata
    from hub.store.schema import consent_state as state_table

    at = datetime(2026, 1, 1)
    events = pd.DataFrame(
        [
            {"event_id": eid, "golden_id": "G2", "channel": "sms", "purpose": "marketing", "value": "denied",
             "legal_basis": None, "recorded_at": at, "source": "web", "source_key": key, "recorded_by": None,
             "note": None, "run_id": None, "created_at": at}
            for eid, key in (("e1", "K1"), ("e9", "K9"))
        ]
    )  # fmt: skip
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        consent_state.append(conn, events)
        counts = pd.DataFrame({"tf_column": [], "value": [], "records": []})
        done = rows.erase_rows(conn, ["G1"], [record_id("web", "K1")], {record_id("web", "K1"): "h"}, counts)
        assert done["consent_events"] == 1 and done["consent_state"] == 1
        assert conn.execute(sa.select(consent_events.c.source_key)).scalars().all() == ["K9"]
        assert conn.execute(sa.select(state_table.c.holder)).scalars().all() == ["K9"]
    engine.dispose()


def test_restricted_records_keep_their_cluster_and_leave_the_review_queue():
    from hub.catalogue import CLUSTERS, PAIRS, REVIEW, STANDARDIZED
    from hub.config import HubConfig
    from hub.workspace import Workspace
    from matching.run import cluster_records, review_band

    cfg = HubConfig.model_validate(
        {"sources": {"crm": {"kind": "sql", "url": "sqlite://", "table": "t", "primary_key": "id", "fields": {}}}}
    )
    ws = Workspace(":memory:")
    ws.con.execute(f"CREATE TABLE {STANDARDIZED} AS SELECT 'crm:' || i AS unique_id FROM range(1, 6) r(i)")
    # crm:1 ~ crm:2 the person (restricted); crm:3 would join them; crm:4 ~ crm:5 a review pair with crm:1
    ws.con.execute(
        f"""CREATE TABLE {PAIRS} AS SELECT * FROM (VALUES
              ('crm:1', 'crm:2', 0.99, 9.0, 1.0), ('crm:2', 'crm:3', 0.99, 9.0, 1.0),
              ('crm:1', 'crm:4', 0.6, 1.0, 1.0), ('crm:4', 'crm:5', 0.6, 1.0, 1.0))
            t(unique_id_l, unique_id_r, match_probability, match_weight, mw_email)"""
    )
    frozen = pd.DataFrame({"record_id": ["crm:1", "crm:2"], "golden_id": ["G1", "G1"]})

    def clusters() -> dict[str, str]:
        return dict(ws.con.execute(f"SELECT record_id, cluster_id FROM {CLUSTERS}").fetchall())

    cluster_records(ws, cfg)
    assert clusters()["crm:3"] == clusters()["crm:1"]  # unrestricted: crm:3 joins
    cluster_records(ws, cfg, frozen=frozen)
    c = clusters()
    assert c["crm:1"] == c["crm:2"] != c["crm:3"]
    review_band(ws, cfg, frozen=frozen)
    assert ws.con.execute(f"SELECT unique_id_l, unique_id_r FROM {REVIEW}").fetchall() == [("crm:4", "crm:5")]
    ws.close()
