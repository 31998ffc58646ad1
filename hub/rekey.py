"""Key rotation and status of encryption at rest: `hub encryption rotate` and `hub encryption status`.

Each store (the workspace, a SQLite serving store) is copied under the new key into a file beside it, the copy is
opened with the new key to check it, and only then renamed over the original in one step. So a rotation that fails or
is killed leaves every store whole under the old key or the new one, never half of each; a rerun skips what opens
with the new key already and finishes the rest. Rotating a plain hub (`from_plain`) encrypts it the same way.

The rotation holds the workspace lock, so no pipeline run or CLI step works meanwhile; `hub serve` must be stopped
for it (it keeps the serving store open).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlalchemy as sa

from hub.encryption import AtRestKey, WrongKey, attach, key_sqlite, scratch_duckdb, sqlcipher
from hub.errors import HubError

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class StoreState:
    store: str  # "workspace" or "serving store"
    location: str
    state: str  # what a person reads: encrypted and opens with the key, not encrypted, ...


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite serving store URL (None: another backend, or in memory)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database or "")


def _remove(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the workspace ----------------------------------------------------------------------------------------------


def _duckdb_opens(path: Path, key: AtRestKey | None) -> bool:
    con = scratch_duckdb()
    try:
        attach(con, f"{path}", key, "probe", read_only=True)
        return True
    except WrongKey:
        return False
    finally:
        con.close()


def copy_workspace(path: Path, old: AtRestKey | None, new: AtRestKey | None, suffix: str) -> Path:
    """The DuckDB file at `path` (opened with `old`) copied into a fresh file `<path>.<suffix>` under `new`: every
    table, and no freed block or write-ahead log of the original. Returns the copy's path."""
    copy = path.with_name(f"{path.name}.{suffix}")
    _remove(copy, Path(f"{copy}.wal"))
    # able to write the new file, and to checkpoint the old one's log as it is detached
    con = scratch_duckdb({"temp_directory": f"{path}.tmp"}, new or old)
    try:
        attach(con, path, old, "old")
        attach(con, copy, new, "new")
        con.execute("COPY FROM DATABASE old TO new")
        con.execute("DETACH new")
        con.execute("DETACH old")
    finally:
        con.close()
    return copy


def rotate_workspace(path: Path, old: AtRestKey | None, new: AtRestKey | None) -> str:
    if not path.exists():
        return "not created yet"
    if _duckdb_opens(path, new):
        return "already under the new key" if new else "already not encrypted"
    copy = copy_workspace(path, old, new, "rekey")
    if Path(f"{path}.wal").exists() or Path(f"{copy}.wal").exists():
        raise HubError(f"rotation of the workspace {path} stopped: a write-ahead log was left behind; run it again")
    if not _duckdb_opens(copy, new):
        raise HubError(f"rotation of the workspace {path} stopped: its copy does not open with the new key")
    _fsync(copy)
    os.replace(copy, path)
    return "re-encrypted under the new key" if new else "decrypted"


def workspace_state(path: Path, key: AtRestKey | None) -> str:
    if not path.exists():
        return "not created yet"
    try:
        if _duckdb_opens(path, None):
            return "NOT encrypted"
        return (
            "encrypted; opens with the configured key"
            if key and _duckdb_opens(path, key)
            else ("encrypted; does NOT open with the configured key" if key else "encrypted; no key configured")
        )
    except duckdb.Error as exc:
        return f"cannot be read now ({' '.join(str(exc).split())[:120]})"


# --- a SQLite serving store --------------------------------------------------------------------------------------


def _sqlite_opens(path: Path, key: AtRestKey | None) -> bool:
    conn = sqlcipher().connect(str(path))
    try:
        if key is not None:
            key_sqlite(conn, key)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        return True
    except sqlcipher().DatabaseError:
        return False
    finally:
        conn.close()


def rotate_sqlite(path: Path, old: AtRestKey | None, new: AtRestKey | None) -> str:
    if not path.exists():
        return "not created yet"
    if _sqlite_opens(path, new):
        return "already under the new key" if new else "already not encrypted"
    if not _sqlite_opens(path, old):
        raise WrongKey(f"the serving store {path} opens with neither the old key nor the new one")
    copy = path.with_name(f"{path.name}.rekey")
    _remove(copy, Path(f"{copy}-wal"), Path(f"{copy}-shm"))
    conn = sqlcipher().connect(str(path), isolation_level=None)
    try:
        if old is not None:
            key_sqlite(conn, old)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything committed is in the file itself
        target = f"\"x'{new.store_secret()}'\"" if new else "''"  # an empty key: a plain SQLite file
        conn.execute(f"ATTACH DATABASE '{str(copy).replace(chr(39), chr(39) * 2)}' AS rekeyed KEY {target}")
        conn.execute("BEGIN IMMEDIATE")  # no writer gets in while the copy is made
        conn.execute("SELECT sqlcipher_export('rekeyed')")
        version = conn.execute("PRAGMA main.user_version").fetchone()[0]
        conn.execute(f"PRAGMA rekeyed.user_version = {int(version)}")
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE rekeyed")
    finally:
        conn.close()
    if not _sqlite_opens(copy, new):
        raise HubError(f"rotation of the serving store {path} stopped: its copy does not open with the new key")
    _fsync(copy)
    _remove(Path(f"{path}-wal"), Path(f"{path}-shm"))  # checkpointed and empty: the old file is whole without them
    os.replace(copy, path)
    return "re-encrypted under the new key" if new else "decrypted"


def sqlite_state(path: Path, key: AtRestKey | None) -> str:
    if not path.exists():
        return "not created yet"
    with open(path, "rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
            return "NOT encrypted"
    if key is None:
        return "encrypted (or not a SQLite file); no key configured"
    return (
        "encrypted; opens with the configured key"
        if _sqlite_opens(path, key)
        else ("encrypted; does NOT open with the configured key")
    )


# --- both ---------------------------------------------------------------------------------------------------------


def rotate(workspace: Path, serving_store: str, old: AtRestKey | None, new: AtRestKey | None) -> list[StoreState]:
    """Re-encrypt the workspace and a SQLite serving store from `old` to `new` (None: plain, either way)."""
    out = [StoreState("workspace", str(workspace), rotate_workspace(workspace, old, new))]
    path = _sqlite_path(serving_store)
    if path is None:
        out.append(StoreState("serving store", _shown(serving_store), SERVER_SIDE))
    else:
        out.append(StoreState("serving store", str(path), rotate_sqlite(path, old, new)))
    return out


def status(workspace: Path, serving_store: str, key: AtRestKey | None) -> list[StoreState]:
    out = [StoreState("workspace", str(workspace), workspace_state(workspace, key))]
    path = _sqlite_path(serving_store)
    if path is None:
        out.append(StoreState("serving store", _shown(serving_store), SERVER_SIDE))
    else:
        out.append(StoreState("serving store", str(path), sqlite_state(path, key)))
    return out


SERVER_SIDE = "a database server: encryption at rest is the server's (disk or volume encryption), not the hub's"


def _shown(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)
