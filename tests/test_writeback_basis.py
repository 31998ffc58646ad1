"""Write-back plans only the records whose plan could have changed since it was last settled
(connectors/writeback_basis.py), and that restricted plan writes exactly what the full plan writes.

A small demo goes through a random sequence of rounds: source edits (some change survivorship: a newer email or
town), inserts and deletes, steward pins and unpins in the serving store, then pull, match and golden; per source,
a dry run of the full plan and of the restricted plan must report the same rows, values, conflicts and counts;
then the real (restricted) write-back runs, sometimes with a person editing planned rows between plan and push
(conflicts) or with the write failing after the source committed (recovered by the next write-back).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import pull_source, writeback_basis, writeback_plan
from connectors.styles import learn
from connectors.writeback import WritebackResult, published_run, write_back
from golden_record.run import build_and_publish
from hub import faults, store
from hub.catalogue import GOLDEN_MEMBERS, GOLDEN_VALUES, STAGED, WRITEBACK_BASIS
from hub.config import HubConfig, load_config
from hub.workspace import Workspace
from matching.run import match
from tests.built_once import published_demo

pytestmark = pytest.mark.slow(seconds=40)


@dataclass(frozen=True)
class Table:
    """A demo source's customer table: its key, how it stamps an edit, text columns an edit may change, and how
    to mint a key for an inserted row (from a random 64-bit number)."""

    name: str
    key: str
    updated: str
    stamp: Callable[[datetime], str | int]
    columns: tuple[str, ...]
    new_key: Callable[[int], str | int]

    def key_of(self, source_key: str) -> str | int:
        """A staged source_key as the table stores it (integer keys as integers)."""
        return int(source_key) if self.key in ("account_no", "id") else source_key


TABLES = {
    "billing": Table("accounts", "account_no", "modified_on", lambda t: f"{t:%Y-%m-%d %H:%M:%S}",
                     ("email_address", "billing_city", "holder_name", "billing_street"), lambda n: 10**9 + n % 10**9),
    "web": Table("users", "id", "updated_at", lambda t: f"{t:%Y-%m-%dT%H:%M:%S}",
                 ("email", "city", "first_name", "last_name", "street_address"), lambda n: 10**9 + n % 10**9),
    "app": Table("profiles", "profile_uuid", "last_modified_ms", lambda t: int(t.timestamp() * 1000),
                 ("email", "display_name", "mobile"), lambda n: f"{n:016x}-0000-4000-8000-000000000000"),
    "crm": Table("contacts", "Id", "LastModifiedDate", lambda t: f"{t:%Y-%m-%dT%H:%M:%S}.000+0000",
                 ("Email", "MailingCity", "FirstName", "LastName"), lambda n: f"003T{n:014X}"),
}  # fmt: skip
GOLDEN_ID_COLUMNS = ("hub_customer_id", "Master_Id__c")  # where billing and crm keep the hub's id
PINNABLE = ("email", "city", "last_name", "phone")
ROUNDS = 4


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return published_demo(tmp_path_factory.mktemp("basis") / "demo", customers=150, seed=8)


@pytest.fixture
def demo(pristine, tmp_path) -> Iterator[tuple[Path, HubConfig, Workspace, sa.Engine]]:
    """A copy of the pristine demo, its workspace and serving store open (closed after the test)."""
    directory = tmp_path / "demo"
    shutil.copytree(pristine, directory)
    cfg = load_config(directory / "hub.yaml")
    ws = Workspace.for_config(cfg)
    engine = store.open_store(cfg.serving_store)
    yield directory, cfg, ws, engine
    ws.close()
    engine.dispose()


def _source(directory: Path, source: str) -> sqlite3.Connection:
    return sqlite3.connect(directory / f"{source}.db")


def _keys(con: sqlite3.Connection, t: Table) -> list:
    return [k for (k,) in con.execute(f"SELECT {t.key} FROM {t.name} ORDER BY {t.key}")]


def _edit(directory: Path, rng: random.Random, source: str, keys: list | None = None) -> None:
    """Edit rows (3 random ones, or `keys`) of a source as a person would: another row's value in a column (a move,
    a new email, another name), or the row's own value in capitals (a format-only change), stamped now."""
    t = TABLES[source]
    con = _source(directory, source)
    with con:
        for key in keys if keys is not None else rng.sample(_keys(con, t), 3):
            column = rng.choice(t.columns)
            values = [
                v
                for (v,) in con.execute(f"SELECT DISTINCT {column} FROM {t.name} WHERE {column} IS NOT NULL ORDER BY 1")
            ]
            (own,) = con.execute(f"SELECT {column} FROM {t.name} WHERE {t.key} = ?", [key]).fetchone()
            value = own.upper() if own and rng.random() < 0.3 else rng.choice(values)
            stamp = t.stamp(datetime.now(UTC))
            con.execute(f"UPDATE {t.name} SET {column} = ?, {t.updated} = ? WHERE {t.key} = ?", [value, stamp, key])
    con.close()


def _insert_and_delete(directory: Path, rng: random.Random, source: str) -> None:
    """A new row (a copy of a random one under a new key, no golden id yet) and a deleted one."""
    t = TABLES[source]
    con = _source(directory, source)
    with con:
        keys = _keys(con, t)
        copied, deleted = rng.sample(keys, 2)
        given = {t.key: t.new_key(rng.getrandbits(64)), t.updated: t.stamp(datetime.now(UTC))}
        columns = [r[1] for r in con.execute(f"PRAGMA table_info({t.name})")]
        exprs = ["?" if c in given else "NULL" if c in GOLDEN_ID_COLUMNS else c for c in columns]
        con.execute(
            f"INSERT INTO {t.name} ({', '.join(columns)}) SELECT {', '.join(exprs)} FROM {t.name} WHERE {t.key} = ?",
            [*(given[c] for c in columns if c in given), copied],
        )
        con.execute(f"DELETE FROM {t.name} WHERE {t.key} = ?", [deleted])
    con.close()


def _pin_or_unpin(ws: Workspace, engine: sa.Engine, rng: random.Random) -> None:
    """A steward pins a field of a multi-record golden record to another golden record's value, or lifts a pin."""
    with store.write_transaction(engine) as conn:
        pins = store.overrides(conn)
        if len(pins) and rng.random() < 0.3:
            row = pins.iloc[rng.randrange(len(pins))]
            store.unpin(conn, row["golden_id"], row["field"])
            return
        field = rng.choice(PINNABLE)
        shared = ws.con.execute(
            f"SELECT golden_id FROM {GOLDEN_MEMBERS} GROUP BY golden_id HAVING count(*) > 1 ORDER BY golden_id"
        ).fetchall()
        values = ws.con.execute(
            f"SELECT DISTINCT {field} FROM {GOLDEN_VALUES} WHERE {field} IS NOT NULL ORDER BY 1"
        ).fetchall()
        store.pin(conn, rng.choice(shared)[0], field, rng.choice(values)[0], "steward@example.com")


def _report(r: WritebackResult) -> dict:
    """What a write-back did or would do: rows, every value written (old -> new), skipped rows, counts."""
    changes = r.changes.astype("string").fillna("<NA>").sort_values(list(r.changes.columns)).reset_index(drop=True)
    skipped = r.conflict_rows.astype("string").sort_values(["source_key", "status"]).reset_index(drop=True)
    counts = {k: v for k, v in r.summary().items() if k != "recovered"}
    return {"counts": counts | {"restricted": r.restricted}, "changes": changes, "skipped": skipped}


def _same(a: dict, b: dict) -> bool:
    return a["counts"] == b["counts"] and a["changes"].equals(b["changes"]) and a["skipped"].equals(b["skipped"])


class Failure(RuntimeError):
    """The write-back's process failing after the source committed a batch (injected)."""


def _fail() -> None:
    raise Failure("injected: write-back failed after the source committed")


@pytest.mark.parametrize("seed", [3])
def test_the_restricted_plan_writes_exactly_what_the_full_plan_writes(demo, seed):
    directory, cfg, ws, engine = demo
    rng = random.Random(seed)
    seen = {"considered less": 0, "written": 0, "conflicts": 0, "failed": 0, "recovered": 0}
    for round_ in range(ROUNDS):
        if round_:  # round 0 writes the first golden run into untouched sources
            for source in TABLES:
                if rng.random() < 0.7:
                    _edit(directory, rng, source)
                if rng.random() < 0.4:
                    _insert_and_delete(directory, rng, source)
            if rng.random() < 0.6:
                _pin_or_unpin(ws, engine, rng)
            for source in cfg.sources:
                pull_source(cfg, source, ws)
            match(ws, cfg)
            build_and_publish(ws, cfg, engine)
        run_id = published_run(engine)
        for source in cfg.sources:
            full = write_back(ws, cfg, engine, source, run_id, dry_run=True, full=True)
            restricted = write_back(ws, cfg, engine, source, run_id, dry_run=True)
            assert _same(_report(full), _report(restricted)), (round_, source)
            seen["considered less"] += restricted.considered < full.considered

            fault, hook = "writeback:before-push", (lambda: None)
            plan = restricted.changes["source_key"].drop_duplicates().tolist()
            turn = (round_ + list(cfg.sources).index(source)) % 3
            if plan and turn == 1:  # a person edits planned rows between plan and push: conflicts
                keys = [TABLES[source].key_of(k) for k in plan[:2]]
                hook = lambda s=source, k=keys: _edit(directory, rng, s, k)  # noqa: E731
            elif plan and turn == 2 and round_ < ROUNDS - 1:  # the next round's write-back recovers it
                fault, hook = "writeback:before-read-back", _fail
            with faults.hook(fault, hook):
                try:
                    r = write_back(ws, cfg, engine, source, run_id)
                except Failure:
                    seen["failed"] += 1
                    continue
            seen["written"] += r.values_changed
            seen["conflicts"] += r.conflicts
            seen["recovered"] += r.recovered
        for source in cfg.sources:  # the same again, without a pull: what was just written is settled alike
            full = write_back(ws, cfg, engine, source, run_id, dry_run=True, full=True)
            restricted = write_back(ws, cfg, engine, source, run_id, dry_run=True)
            assert _same(_report(full), _report(restricted)), (round_, source, "after write")
    # The sequence did what it is for: plans were restricted, values written, conflicts met, a failure recovered.
    assert seen["considered less"] and seen["written"] and seen["conflicts"], seen
    assert seen["failed"] and seen["recovered"], seen


def test_an_unchanged_workspace_plans_nothing_and_a_full_plan_everything(demo):
    _directory, cfg, ws, engine = demo
    run_id = published_run(engine)
    first = write_back(ws, cfg, engine, "billing", run_id)
    staged = ws.con.execute(f"SELECT count(*) FROM {STAGED} WHERE source_system = 'billing'").fetchall()[0][0]
    assert first.considered == staged and first.values_changed > 0
    again = write_back(ws, cfg, engine, "billing", run_id)  # what it wrote, the first settled as it went
    assert again.considered < first.planned and again.values_changed == 0
    settled = write_back(ws, cfg, engine, "billing", run_id)
    assert settled.considered == 0 and settled.planned == 0
    assert (settled.address_kept, settled.conflicted) == (first.address_kept, first.conflicted)
    full = write_back(ws, cfg, engine, "billing", run_id, full=True)
    assert full.considered == staged and full.planned == 0
    basis = ws.con.execute(f"SELECT count(*) FROM {WRITEBACK_BASIS} WHERE source_system = 'billing'").fetchall()
    assert basis[0][0] == staged


def test_a_dry_run_settles_nothing(demo):
    _directory, cfg, ws, engine = demo
    run_id = published_run(engine)
    dry = write_back(ws, cfg, engine, "crm", run_id, dry_run=True)
    assert _basis(ws, "crm") == 0
    real = write_back(ws, cfg, engine, "crm", run_id)  # crm takes golden ids: every row has something to write
    assert real.considered == dry.considered and real.values_changed == dry.values_changed > 0
    assert _basis(ws, "crm") > 0  # what it wrote, read back and planned again, needs nothing more


def _basis(ws: Workspace, source: str) -> int:
    if not ws.has_table(WRITEBACK_BASIS):
        return 0
    return int(
        ws.con.execute(f"SELECT count(*) FROM {WRITEBACK_BASIS} WHERE source_system = ?", [source]).fetchall()[0][0]
    )


def test_a_row_the_source_changes_as_it_is_written_is_planned_again(demo):
    """Rows that got values are planned again once read back (rows that got only their golden id read nothing new):
    the source may hold something else than what was written, here a trigger that blanks the town whenever the
    email changes. The next write-back fills the town again, as a full one would."""
    directory, cfg, ws, engine = demo
    con = _source(directory, "billing")
    with con:
        con.execute(
            """CREATE TRIGGER blank_town AFTER UPDATE OF email_address ON accounts
               WHEN old.email_address IS NOT new.email_address
               BEGIN UPDATE accounts SET billing_city = NULL WHERE account_no = new.account_no; END"""
        )
    con.close()
    run_id = published_run(engine)
    first = write_back(ws, cfg, engine, "billing", run_id)
    emailed = set(first.changes.loc[first.changes["column"] == "email_address", "source_key"])
    full = write_back(ws, cfg, engine, "billing", run_id, dry_run=True, full=True)
    restricted = write_back(ws, cfg, engine, "billing", run_id, dry_run=True)
    assert _same(_report(full), _report(restricted))
    towns = set(restricted.changes.loc[restricted.changes["column"] == "billing_city", "source_key"])
    assert emailed and emailed <= towns


def test_rows_the_source_stamps_as_their_golden_id_is_written_are_read_back(demo):
    """A source that stamps a row on every write (an ORM, a trigger) gives a row that got only its golden id a new
    version. Such a row is read back like one that got values: staging then holds what a pull would stage."""
    directory, cfg, ws, engine = demo
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    con = _source(directory, "billing")
    with con:
        con.execute(
            f"""CREATE TRIGGER stamp AFTER UPDATE OF hub_customer_id ON accounts
                BEGIN UPDATE accounts SET modified_on = '{stamp}' WHERE account_no = new.account_no; END"""
        )
    con.close()

    def staged() -> list[tuple]:
        return ws.con.execute(
            f"""SELECT source_key, source_version, source_updated_at FROM {STAGED}
                WHERE source_system = 'billing' ORDER BY source_key"""
        ).fetchall()

    r = write_back(ws, cfg, engine, "billing", published_run(engine))
    written = staged()
    assert r.updated and sum(str(at).startswith(stamp) for _, _, at in written) == r.updated
    pull_source(cfg, "billing", ws, reconcile=True)
    assert staged() == written


def test_the_basis_of_some_keys_is_the_one_they_get_among_the_whole_source(demo):
    """Settling the rows a write-back wrote considers only their keys (`only`); each key must get the basis a plan of
    the whole source gives it, whatever the other keys hold."""
    _directory, cfg, ws, engine = demo
    write_back(ws, cfg, engine, "web", published_run(engine))  # state, echoes and settled bases to hash
    src = cfg.sources["web"]
    sql = writeback_plan._sql(src, cfg, "web", learn(ws, src, "web"))
    golden, accepted = writeback_plan._golden_fields(src), list(src.accepts)

    def bases(only: pd.Series | None) -> pd.DataFrame:
        writeback_basis.consider(ws, "web", golden, accepted, sql, False, only)
        return ws.con.execute(f"SELECT source_key, basis FROM {writeback_basis.CONSIDER}").df().set_index("source_key")

    every = bases(None)
    some = pd.Series(every.index[::3], dtype="string")
    assert 20 < len(some) < len(every)
    assert bases(some).sort_index().equals(every.loc[some].sort_index())


def test_settling_what_a_write_back_wrote_does_not_learn_the_styles_again(demo, monkeypatch):
    """Learning a source's styles reads every staged record of it; the plan that settles the rows a write-back wrote
    takes the styles they were written in, so a write-back learns them once (then the next one agrees with a full
    plan: test_the_restricted_plan_writes_exactly_what_the_full_plan_writes)."""
    _directory, cfg, ws, engine = demo
    learned = []
    monkeypatch.setattr(writeback_plan, "learn", lambda *a, **k: learned.append(a[2]) or learn(*a, **k))
    result = write_back(ws, cfg, engine, "web", published_run(engine))
    assert result.values_changed > 0 and result.updated > 0
    assert learned == ["web"]
    settled = write_back(ws, cfg, engine, "web", published_run(engine))
    assert settled.planned == 0
