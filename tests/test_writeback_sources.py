"""Write-back to sources other than the demo's SQL tables with an updated-at column: crm without that column (the
version token is a hash of the mapped columns) and app as a CSV file, on a small demo of their own. Apart from
tests/test_writeback.py, so the suite's two workers share the write-back tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from connectors.demo import init_demo
from hub import store
from hub.config import load_config
from hub.workspace import Workspace
from tests.test_writeback import Hub, golden_now, source_records, table_digests, text

pytestmark = pytest.mark.slow(seconds=15)


@contextmanager
def published(work: Path) -> Iterator[Hub]:
    """The demo at `work` pulled, matched and published, nothing written back yet."""
    cfg = load_config(work / "hub.yaml")
    ws = Workspace.for_config(cfg)
    engine = store.open_store(cfg.serving_store)
    try:
        hub = Hub(work, cfg, ws, engine, "")
        hub.pull()
        hub.golden()
        yield hub
    finally:
        ws.close()
        engine.dispose()


def test_a_source_without_updated_at_and_a_file_source_stay_consistent(tmp_path):
    """crm without its updated-at column (the version token is a hash of the mapped columns, which the
    write changes) and app as a CSV file (pushed to a harmonized copy beside it): reruns plan nothing."""
    work = tmp_path / "demo"
    init_demo(work, customers=150, seed=5)
    con = sqlite3.connect(work / "app.db")
    pd.read_sql("SELECT * FROM profiles", con).to_csv(work / "app_profiles.csv", index=False)
    con.close()
    text_yaml = (work / "hub.yaml").read_text()
    crm_cursor = '    updated_at: LastModifiedDate\n    updated_at_format: "%Y-%m-%dT%H:%M:%S.%f%z"\n'
    app_sql = "    kind: sql\n    url: sqlite:///app.db\n    table: profiles\n"
    assert crm_cursor in text_yaml and app_sql in text_yaml
    text_yaml = text_yaml.replace(crm_cursor, "").replace(app_sql, "    kind: file\n    path: app_profiles.csv\n")
    (work / "hub.yaml").write_text(text_yaml)
    cfg = load_config(work / "hub.yaml")
    assert cfg.sources["crm"].updated_at is None and cfg.sources["app"].kind == "file"
    with published(work) as hub:
        first = hub.write_back()
        assert first["crm"].updated > 0 and first["app"].updated > 0
        assert (work / "app_profiles.harmonized.csv").exists()
        crm_before = table_digests(work / "crm.db")
        for label in ("rerun", "pull"):
            if label == "pull":
                hub.pull()  # crm: always a full pull; app: the original file, not the harmonized copy
            again = hub.write_back()
            for name, r in again.items():
                assert (r.planned, r.values_changed, r.conflicts, r.stale) == (0, 0, 0, 0), (label, name)
        assert table_digests(work / "crm.db") == crm_before
        fresh = source_records(cfg, "crm").sort_values("source_key").reset_index(drop=True)
        staged = hub.ws.staged("crm").sort_values("source_key").reset_index(drop=True)
        assert text(staged["source_version"]).equals(text(fresh["source_version"]))

        # A steward pin changes the golden first name; the crm row is edited before write-back runs:
        # the hash of its mapped columns changed, so it is a conflict and is not overwritten.
        xref, _golden = golden_now(hub)
        crm_key, gid = xref[xref.source_system == "crm"][["source_key", "golden_id"]].iloc[0]
        with store.write_transaction(hub.engine) as conn:
            store.pin(conn, gid, "first_name", "Pinned", "steward@example.com")
        hub.golden()
        con = sqlite3.connect(work / "crm.db")
        con.execute("UPDATE contacts SET MailingCity = 'Edited' WHERE Id = ?", [crm_key])
        con.commit()
        con.close()
        r = hub.write_back(sources=["crm"])["crm"]
        assert r.conflicts == 1 and r.conflict_rows["source_key"].tolist() == [crm_key]
        con = sqlite3.connect(work / "crm.db")
        first, city = con.execute("SELECT FirstName, MailingCity FROM contacts WHERE Id = ?", [crm_key]).fetchone()
        con.close()
        assert first != "Pinned" and city == "Edited"
        hub.pull()
        hub.golden()
        r = hub.write_back(sources=["crm"])["crm"]
        assert r.conflicts == 0 and r.updated >= 1
        con = sqlite3.connect(work / "crm.db")
        assert (
            con.execute("SELECT FirstName, MailingCity FROM contacts WHERE Id = ?", [crm_key]).fetchone()[0] == "Pinned"
        )
        con.close()


def test_the_international_demo_settles_in_one_write_back(tmp_path):
    """German and French flats ("Wohnung 25", "Appartement 12") on a line of their own under the street, in sources
    keeping the address on one line: the plan keys the flat apart from the street (hub.forms.UNIT_WORDS), so once
    written the address counts as the golden one and a second write-back plans nothing. A full-name column whose
    golden split reads back as another split (a double surname: "Ferdinand" + "Jacobi Jäckel" written as "Ferdinand
    Jacobi Jäckel", read as "Ferdinand Jacobi" + "Jäckel") is planned once more, and finds nothing to write: no
    UPDATE, no audit row. A surname's particles stay with it ("Noel" + "Le Goff" reads back as written)."""
    work = tmp_path / "demo"
    init_demo(work, customers=300, seed=7, flavour="international")
    with published(work) as hub:
        cfg = hub.cfg
        first = hub.write_back()
        assert all(r.values_changed > 0 for r in first.values())
        split = {n for n, s in cfg.sources.items() if any(m.transform == "split_name" for m in s.fields.values())}
        assert split and split != set(cfg.sources)
        second = hub.write_back()
        for name, r in second.items():
            assert (r.values_changed, r.conflicts, r.stale) == (0, 0, 0), (name, r.summary())
            if name not in split:
                assert r.planned == 0, (name, r.summary())
        third = hub.write_back()
        assert all(r.planned == 0 for r in third.values()), {n: r.summary() for n, r in third.items()}
