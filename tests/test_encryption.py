"""Encryption at rest: with a key, a full demo run leaves no customer e-mail readable in the workspace or serving store
files, while reads, search and the API work; rotation moves both stores to a new key (crash-safe); a wrong or missing
key is a clear error that never shows the key.

One encrypted demo is run once per module; tests that change the stores work on a copy of it.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from connectors.demo import init_demo
from hub import rekey, store
from hub.api import keys
from hub.config import ConfigError, load_config
from hub.encryption import KEY_ENV, NEW_KEY_ENV, WrongKey, key_for, new_key
from hub.workspace import Workspace
from matching.backend import SCRATCH
from pipelines.entry import create_app, main
from pipelines.run import run_pipeline

pytestmark = pytest.mark.slow(seconds=20)

PEOPLE = 200
SAMPLE = 100


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(NEW_KEY_ENV, raising=False)


def encrypt_config(directory: Path, key_file: Path) -> Path:
    """Turn encryption on in the demo's hub.yaml, with the key in `key_file` (DuckDB's built-in crypto module: the
    machine has no httpfs)."""
    key_file.write_text(new_key() + "\n")
    config = directory / "hub.yaml"
    with config.open("a") as fh:
        fh.write(f"encryption:\n  key_file: {key_file}\n  duckdb_crypto: builtin\n")
    return config


def hub_files(directory: Path) -> list[Path]:
    """Every file the hub keeps in its `.hub` folder: workspace, its log and spill files, serving store, WAL, shm."""
    return sorted(p for p in (directory / ".hub").rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def found(files: list[Path], needles: list[str]) -> dict[str, int]:
    """Per file, how many of `needles` occur in its bytes (as written, or lower-cased)."""
    out = {}
    for f in files:
        data = f.read_bytes()
        out[f.name] = sum(n.encode() in data or n.lower().encode() in data for n in needles)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo run once through the whole pipeline with encryption on, and 100 e-mails of its golden records."""
    base = tmp_path_factory.mktemp("encrypted")
    work = base / "demo"
    init_demo(work, customers=PEOPLE, seed=5)
    config = encrypt_config(work, base / "hub.key")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(KEY_ENV, raising=False)
        summary = run_pipeline(str(config), instance=dg.DagsterInstance.ephemeral())
        assert summary.success and not summary.blocked, summary.errors
        cfg = load_config(config)
        with store.opened_for(cfg) as engine, engine.connect() as conn:
            emails = pd.read_sql(
                sa.text("SELECT DISTINCT email FROM golden_records WHERE email IS NOT NULL ORDER BY email"), conn
            )["email"]
    assert len(emails) >= SAMPLE
    return work, cfg, list(emails.sample(SAMPLE, random_state=1))


def copy_of(demo, tmp_path: Path) -> tuple[Path, object]:
    """A copy of the demo's folder (and its key file) that a test may change."""
    work, cfg, _ = demo
    shutil.copytree(work, tmp_path / "demo")
    shutil.copy(cfg.encryption.key_file, tmp_path / "hub.key")
    config = tmp_path / "demo" / "hub.yaml"
    text = config.read_text().replace(str(cfg.encryption.key_file), str(tmp_path / "hub.key"))
    config.write_text(text)
    return tmp_path / "demo", load_config(config)


def test_after_a_full_encrypted_run_no_sampled_email_is_in_the_workspace_or_store_files(demo, tmp_path):
    work, _cfg, emails = demo
    files = hub_files(work)
    names = {f.name for f in files}
    assert {"workspace.duckdb", "serving.db"} <= names
    assert found(files, emails) == dict.fromkeys(names, 0)
    # The control: the same stores decrypted (as `--to-plain` leaves them) hold every one of them, so the scan can
    # see an e-mail where there is one.
    plain, _ = copy_of(demo, tmp_path)
    assert main(["encryption", "rotate", "--config", str(plain / "hub.yaml"), "--to-plain"]) == 0
    counts = found(hub_files(plain), emails)
    assert counts["workspace.duckdb"] == SAMPLE and counts["serving.db"] == SAMPLE


def test_reads_search_and_the_api_work_on_the_encrypted_store(demo):
    _work, cfg, emails = demo
    engine = store.open_for(cfg)
    try:
        reader = keys.create_key(engine, "encryption test", "reader")[1]
    finally:
        engine.dispose()
    with TestClient(create_app(cfg)) as client:  # opens the store itself, with the key
        auth = {"Authorization": f"Bearer {reader}"}
        hit = client.get("/v1/search", params={"email": emails[0]}, headers=auth)
        assert hit.status_code == 200, hit.text
        golden_id = hit.json()["results"][0]["golden_id"]
        record = client.get(f"/v1/golden/{golden_id}", headers=auth).json()["attributes"]
        assert record["email"] == emails[0]
        name = client.get("/v1/search", params={"name": f"{record['first_name']} {record['last_name']}"}, headers=auth)
        assert golden_id in [r["golden_id"] for r in name.json()["results"]]
    ws = Workspace.for_config(cfg)
    try:
        assert ws.counts("billing")[0] > 0
    finally:
        ws.close()


def test_rotation_moves_both_stores_to_the_new_key_and_the_old_key_opens_neither(demo, tmp_path, capsys):
    work, cfg = copy_of(demo, tmp_path)
    new_file = tmp_path / "new.key"
    assert main(["encryption", "keygen", "--out", str(new_file)]) == 0
    assert stat.S_IMODE(new_file.stat().st_mode) == 0o600
    config = str(work / "hub.yaml")
    assert main(["encryption", "rotate", "--config", config, "--new-key-file", str(new_file)]) == 0
    with pytest.raises(WrongKey, match="another key"):
        Workspace.for_config(cfg)
    with pytest.raises(WrongKey, match="another key"):
        store.open_for(cfg)
    shutil.copy(new_file, cfg.encryption.key_file)  # the operator's next step: the hub gets the new key
    with store.opened_for(cfg) as engine, engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM golden_records")) > 0
    capsys.readouterr()
    assert main(["encryption", "status", "--config", config]) == 0
    out = capsys.readouterr().out
    assert out.count("encrypted; opens with the configured key") == 2
    assert new_file.read_text().strip() not in out


def test_a_rotation_that_fails_halfway_leaves_each_store_under_one_key_and_a_rerun_finishes_it(
    demo, tmp_path, monkeypatch
):
    work, cfg = copy_of(demo, tmp_path)
    old = key_for(cfg)
    new_file = tmp_path / "new.key"
    new_file.write_text(new_key())
    real_replace = os.replace

    def dies_on_the_store(src, dst):
        if str(dst).endswith("serving.db"):
            raise OSError("killed")
        real_replace(src, dst)

    monkeypatch.setattr(rekey.os, "replace", dies_on_the_store)
    config = str(work / "hub.yaml")
    with pytest.raises(OSError, match="killed"):
        main(["encryption", "rotate", "--config", config, "--new-key-file", str(new_file)])
    from hub.encryption import read_key_file

    new = read_key_file(new_file, "builtin")
    store_path = work / ".hub" / "serving.db"
    assert rekey.workspace_state(cfg.workspace, new) == "encrypted; opens with the configured key"
    assert rekey.sqlite_state(store_path, old) == "encrypted; opens with the configured key"
    monkeypatch.setattr(rekey.os, "replace", real_replace)
    assert main(["encryption", "rotate", "--config", config, "--new-key-file", str(new_file)]) == 0
    assert rekey.workspace_state(cfg.workspace, new) == rekey.sqlite_state(store_path, new)
    assert rekey.sqlite_state(store_path, new) == "encrypted; opens with the configured key"
    assert not list((work / ".hub").glob("*.rekey*"))


def test_a_wrong_key_or_no_key_is_a_clear_error_that_never_shows_the_key(demo, tmp_path, monkeypatch, capsys):
    work, cfg, _ = demo
    config = str(work / "hub.yaml")
    wrong = new_key()
    monkeypatch.setenv(KEY_ENV, wrong)  # the environment wins over the key file
    assert main(["review", "list", "--config", config]) == 1
    err = capsys.readouterr().err
    assert "cannot be opened with the key from $HUB_ENCRYPTION_KEY" in err and wrong not in err
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    assert main(["review", "list", "--config", config]) == 2
    assert "not 32 bytes" in capsys.readouterr().err
    monkeypatch.delenv(KEY_ENV)
    keyless = tmp_path / "hub.yaml"
    keyless.write_text(Path(config).read_text().replace(f"key_file: {cfg.encryption.key_file}", "enabled: true"))
    with pytest.raises(ConfigError) as info:
        key_for(load_config(keyless))
    assert info.value.key == "encryption" and KEY_ENV in info.value.reason and "key_file" in info.value.reason
    plain = work / "plain.yaml"  # beside hub.yaml: the same stores, with encryption off
    plain.write_text(Path(config).read_text().split("encryption:")[0])
    assert main(["review", "list", "--config", str(plain)]) == 1
    assert "encrypted" in capsys.readouterr().err


def test_a_plain_hub_is_encrypted_in_place_and_its_data_kept(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.con.execute("CREATE TABLE people AS SELECT 'plain.person@example.com' AS email")
    ws.close()
    store.open_store(f"sqlite:///{tmp_path / 'serving.db'}").dispose()
    key_file = tmp_path / "k"
    key_file.write_text(new_key())
    config = tmp_path / "hub.yaml"
    config.write_text(
        f"workspace: ws.duckdb\nserving_store: sqlite:///serving.db\n"
        f"encryption:\n  key_file: {key_file}\n  duckdb_crypto: builtin\n"
        "sources:\n  web:\n    kind: file\n    path: web.csv\n    primary_key: id\n    fields: {email: email}\n"
    )
    cfg = load_config(config)
    with pytest.raises(WrongKey, match="--from-plain"):
        Workspace.for_config(cfg)
    assert main(["encryption", "rotate", "--config", str(config), "--from-plain"]) == 0
    assert b"plain.person@example.com" not in (tmp_path / "ws.duckdb").read_bytes()
    ws = Workspace.for_config(cfg)
    try:
        assert ws.con.execute("SELECT email FROM people").fetchall() == [("plain.person@example.com",)]
        assert ws.con.execute("SELECT current_setting('temp_file_encryption')").fetchone() == (True,)
    finally:
        ws.close()
    store.open_for(cfg).dispose()


def test_openssl_crypto_without_httpfs_names_the_setting(tmp_path):
    import duckdb

    try:
        duckdb.connect().execute("LOAD httpfs")
        pytest.skip("this machine has DuckDB's httpfs extension")
    except duckdb.Error:
        pass
    key_file = tmp_path / "k"
    key_file.write_text(new_key())
    config = tmp_path / "hub.yaml"
    config.write_text(
        f"encryption:\n  key_file: {key_file}\n"
        "sources:\n  web:\n    kind: file\n    path: web.csv\n    primary_key: id\n    fields: {email: email}\n"
    )
    with pytest.raises(ConfigError) as info:
        Workspace.for_config(load_config(config))
    assert info.value.key == "encryption.duckdb_crypto" and "httpfs" in info.value.reason


@pytest.mark.parametrize("table", ["TEMP TABLE big", f"TABLE {SCRATCH}.big"], ids=["temp", "scratch-database"])
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_spill_files_of_an_encrypted_workspace_hold_no_readable_value(tmp_path, encrypted, table):
    """A temporary table larger than the memory limit spills to `<workspace>.tmp/`: plain text in a plain workspace
    (so the scan can see it), ciphertext in an encrypted one (DuckDB leaves them plain unless told). So does a table
    of the in-memory database incremental scoring puts its candidates in (matching.backend.SCRATCH)."""
    from hub.encryption import AtRestKey

    key = AtRestKey(os.urandom(32), "test", "builtin") if encrypted else None
    ws = Workspace(tmp_path / "ws.duckdb", key=key)
    try:
        ws.con.execute("SET memory_limit = '24MB'")
        ws.con.execute("SET threads = 1")
        ws.con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {SCRATCH}")
        ws.con.execute(
            f"CREATE {table} AS SELECT 'person' || i || '@example.com' AS email, random() AS r "
            "FROM range(800000) t(i) ORDER BY r"
        )
        spilled = [p.read_bytes() for p in (tmp_path / "ws.duckdb.tmp").rglob("*") if p.is_file()]
        assert sum(len(b) for b in spilled) > 16 * 2**20  # it did spill
        readable = sum(b"@example.com" in b for b in spilled)
        assert readable == 0 if encrypted else readable > 0
    finally:
        ws.close()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_spill_files_of_the_in_memory_connections_beside_the_stores_hold_no_readable_email(
    tmp_path, monkeypatch, encrypted
):
    """Clustering, golden ids, publish and the rest open in-memory DuckDB connections (hub.encryption.scratch_duckdb)
    that spill to `.tmp/` in the working directory when memory runs short: with the configuration's encryption on,
    none of the sampled e-mails is readable there; with it off they are (so the scan can fail)."""
    from hub import encryption

    monkeypatch.setattr(encryption, "_in_force", None)
    monkeypatch.chdir(tmp_path)
    key_file = tmp_path / "k"
    key_file.write_text(new_key())
    config = tmp_path / "hub.yaml"
    block = f"encryption:\n  key_file: {key_file}\n  duckdb_crypto: builtin\n" if encrypted else ""
    config.write_text(f"{block}sources:\n  web:\n    kind: file\n    path: web.csv\n    primary_key: id\n"
                      "    fields: {email: email}\n")  # fmt: skip
    assert (key_for(load_config(config)) is not None) == encrypted  # as opening any store for it does
    emails = [f"person{i}@example.com" for i in range(0, 800_000, 8_000)]
    con = encryption.scratch_duckdb({"memory_limit": "24MB", "threads": 1})
    try:
        con.execute(
            "CREATE TEMP TABLE big AS SELECT 'person' || i || '@example.com' AS email, random() AS r "
            "FROM range(800000) t(i) ORDER BY r"
        )
        files = [p for p in (tmp_path / ".tmp").rglob("*") if p.is_file()]
        assert sum(p.stat().st_size for p in files) > 16 * 2**20  # it did spill
        readable = sum(found(files, emails).values())
        assert readable == 0 if encrypted else readable > 0
    finally:
        con.close()


def test_every_duckdb_connection_of_the_hub_comes_from_the_encryption_module():
    """No module but hub/encryption.py calls duckdb.connect: every in-memory connection goes through scratch_duckdb,
    so none can spill plain text while encryption is on."""
    import ast

    root = Path(__file__).resolve().parents[1]
    callers = []
    for package in ("hub", "connectors", "matching", "golden_record", "pipelines", "expectations"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                func = node.func if isinstance(node, ast.Call) else None
                if isinstance(func, ast.Attribute) and func.attr == "connect" and ast.unparse(func.value) == "duckdb":
                    callers.append(str(path.relative_to(root)))
    assert set(callers) == {"hub/encryption.py"}
