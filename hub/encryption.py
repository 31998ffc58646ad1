"""Encryption at rest: the one place that knows the key and opens the workspace and a SQLite serving store with it.

The key is 32 random bytes (64 hex digits or base64; `hub encryption keygen` makes one) from $HUB_ENCRYPTION_KEY or
the file hub.yaml's `encryption.key_file` names; the environment wins when both are there. It is never logged and
never put in a URL: this module hands DuckDB and SQLCipher keys derived from it (HKDF-SHA256, one per store), so a
key that leaks from one of them says nothing about the other.

- Workspace: DuckDB's own database encryption (AES-GCM): the file is attached with the derived key, WAL and spill
  files included (`temp_file_encryption`, which DuckDB leaves off unless asked).
- Every other DuckDB connection the hub opens (in memory, beside the stores: clustering, golden ids, publish's
  diff, match-on-entry, ...) comes from `scratch_duckdb`: while encryption is on, what it spills is encrypted too.
- SQLite serving store: SQLCipher 4 (AES-256 pages with an HMAC each), through the sqlcipher3 driver, keyed with a
  raw key (no passphrase derivation on every connection).
- PostgreSQL serving store: not encrypted by the hub; the server's disk encryption is its protection (README).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.config import ConfigError
from hub.errors import HubError

if TYPE_CHECKING:
    import duckdb

    from hub.config import HubConfig

KEY_ENV = "HUB_ENCRYPTION_KEY"
NEW_KEY_ENV = "HUB_NEW_ENCRYPTION_KEY"
KEY_BYTES = 32
WORKSPACE_CATALOG = "workspace"  # the name the encrypted workspace is attached under (and USEd)


class WrongKey(HubError):
    """A store cannot be opened with the key given: another key, no key for an encrypted file, or a key for a
    plain one."""


@dataclass(frozen=True)
class AtRestKey:
    """The hub's key and where it came from (`origin`, which messages may show; the key bytes never)."""

    material: bytes = field(repr=False)
    origin: str
    duckdb_crypto: str = "openssl"

    def _derive(self, purpose: bytes) -> str:
        return (
            HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=b"customer-data-hub " + purpose)
            .derive(self.material)
            .hex()
        )

    def workspace_secret(self) -> str:
        return self._derive(b"workspace")

    def store_secret(self) -> str:
        return self._derive(b"serving store")


def parse_key(text: str, origin: str) -> bytes:
    """32 bytes from 64 hex digits or base64 (standard or URL-safe); anything else is refused, naming `origin`."""
    text = text.strip()
    try:
        if len(text) == 2 * KEY_BYTES:
            raw = bytes.fromhex(text)
        else:
            b64 = text.replace("-", "+").replace("_", "/")
            raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigError(
            "encryption",
            f"the key in {origin} is not {KEY_BYTES} bytes as 64 hex digits or base64 "
            "(make one with `hub encryption keygen`)",
        )
    return raw


def new_key() -> str:
    """A fresh key, as base64."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def read_key_file(path: Path, duckdb_crypto: str = "openssl", key: str = "encryption.key_file") -> AtRestKey:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(key, f"cannot read the key file {path}: {exc.strerror or exc}") from None
    return AtRestKey(parse_key(text, f"the key file {path}"), f"key file {path}", duckdb_crypto)


# The key of the configuration this process last opened its stores for (key_for): while it is set, encryption is on
# and the in-memory DuckDB connections of `scratch_duckdb` encrypt their spill files.
_in_force: AtRestKey | None = None


def key_for(cfg: HubConfig) -> AtRestKey | None:
    """The key hub.yaml's `encryption:` block asks for (None when encryption is off). Every store and workspace is
    opened for a configuration through here, so this is also what `scratch_duckdb` follows."""
    global _in_force
    _in_force = _configured_key(cfg)
    return _in_force


def _configured_key(cfg: HubConfig) -> AtRestKey | None:
    enc = cfg.encryption
    if not enc.enabled:
        return None
    if os.environ.get(KEY_ENV, "").strip():
        return AtRestKey(parse_key(os.environ[KEY_ENV], f"${KEY_ENV}"), f"${KEY_ENV}", enc.duckdb_crypto)
    if enc.key_file is not None:
        return read_key_file(enc.key_file, enc.duckdb_crypto)
    raise ConfigError(
        "encryption",
        f"encryption is on but there is no key: set ${KEY_ENV} or name a key file in encryption.key_file",
    )


def new_key_from(path: Path | None, duckdb_crypto: str) -> AtRestKey:
    """The key a rotation moves to: --new-key-file, else $HUB_NEW_ENCRYPTION_KEY."""
    if path is not None:
        return read_key_file(path, duckdb_crypto, "--new-key-file")
    if os.environ.get(NEW_KEY_ENV, "").strip():
        return AtRestKey(parse_key(os.environ[NEW_KEY_ENV], f"${NEW_KEY_ENV}"), f"${NEW_KEY_ENV}", duckdb_crypto)
    raise ConfigError("--new-key-file", f"no new key: pass --new-key-file or set ${NEW_KEY_ENV}")


# --- the workspace (DuckDB) -----------------------------------------------------------------------------------


def connect_duckdb(
    path: Path | str, key: AtRestKey | None, catalog: str = WORKSPACE_CATALOG
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection on the workspace file at `path`: as it is without a key; with one, attached encrypted as
    `catalog` and made the default, with encrypted spill files in `<path>.tmp` (where DuckDB puts them for a plain
    file too)."""
    import duckdb

    if key is None or str(path) == ":memory:":
        try:
            return duckdb.connect(str(path))
        except duckdb.Error as exc:
            if "encrypted" in str(exc).lower():
                raise WrongKey(
                    f"the workspace {path} is encrypted and encryption is off in hub.yaml: add an `encryption:` "
                    f"block and set ${KEY_ENV} (or its key_file)"
                ) from None
            raise
    con = scratch_duckdb({"temp_directory": f"{path}.tmp"}, key)
    try:
        attach(con, path, key, catalog)
        con.execute(f"USE {catalog}")
        con.execute("DETACH memory")  # so every cursor (Splink takes one) starts in the workspace too
    except BaseException:
        con.close()
        raise
    return con


def scratch_duckdb(config: dict[str, Any] | None = None, key: AtRestKey | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection (DuckDB `config` settings), the only way the hub opens one. What does not fit
    in memory DuckDB spills to temporary files (for an in-memory database under `.tmp` in the working directory),
    plain text unless told otherwise, even beside an encrypted workspace: while encryption is on (`key`, else the
    key of the configuration in force, see key_for) they are encrypted with a key DuckDB draws for the connection,
    and written with the AES-GCM module `duckdb_crypto` names, as the workspace's are."""
    import duckdb

    key = key or _in_force
    con = duckdb.connect(config={"autoinstall_known_extensions": False, **(config or {})})
    if key is not None:
        try:
            prepare_duckdb(con, key)
        except BaseException:
            con.close()
            raise
    return con


def prepare_duckdb(con: duckdb.DuckDBPyConnection, key: AtRestKey) -> None:
    """Make `con` able to write encrypted files (the AES-GCM module `key.duckdb_crypto` names) and encrypt its
    spill files."""
    import duckdb

    con.execute("SET temp_file_encryption = true")
    if key.duckdb_crypto == "builtin":
        con.execute("SET force_mbedtls_unsafe = true")
        return
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:
        raise ConfigError(
            "encryption.duckdb_crypto",
            "'openssl' needs DuckDB's httpfs extension, which is not installed on this machine (DuckDB writes "
            "encrypted files only with its OpenSSL module); install it into the DuckDB extension directory, or "
            "accept DuckDB's built-in module with `duckdb_crypto: builtin` (see README, Encryption at rest)",
        ) from None


def attach(
    con: duckdb.DuckDBPyConnection, path: Path | str, key: AtRestKey | None, catalog: str, read_only: bool = False
) -> None:
    """ATTACH the DuckDB file at `path` as `catalog` with `key` (or none), turning DuckDB's key errors into WrongKey."""
    import duckdb

    options = ([f"ENCRYPTION_KEY '{key.workspace_secret()}'"] if key else []) + (["READ_ONLY"] if read_only else [])
    option = f" ({', '.join(options)})" if options else ""
    try:
        con.execute(f"ATTACH '{_quoted(path)}' AS {catalog}{option}")
    except duckdb.Error as exc:
        text = str(exc).lower()
        if "not encrypted" in text:
            raise WrongKey(
                f"the workspace {path} is not encrypted but hub.yaml turns encryption on: encrypt it with "
                "`hub encryption rotate --from-plain` (or remove the file to start afresh)"
            ) from None
        if key is None and "without a key" in text:
            raise WrongKey(f"the workspace {path} is encrypted and no key was given") from None
        if key is not None and "key" in text and ("wrong" in text or "incorrect" in text):
            raise WrongKey(
                f"the workspace {path} cannot be opened with the key from {key.origin}: it was encrypted with "
                "another key"
            ) from None
        if key is not None and key.workspace_secret() in str(exc):  # DuckDB quoting the statement: never the key
            raise HubError(str(exc).replace(key.workspace_secret(), "***")) from None
        raise


def _quoted(path: Path | str) -> str:
    return str(path).replace("'", "''")


# --- a SQLite serving store (SQLCipher) -----------------------------------------------------------------------


def sqlcipher() -> ModuleType:
    """The SQLCipher DB-API module (sqlcipher3), a drop-in for sqlite3."""
    from sqlcipher3 import dbapi2

    return dbapi2


def key_sqlite(dbapi_conn: object, key: AtRestKey) -> None:
    """Key a fresh SQLCipher connection: the first statement on it, before anything reads the file."""
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA cipher_log_level = NONE")  # a wrong key is reported by us, not logged to stderr
    cur.execute(f"PRAGMA key = \"x'{key.store_secret()}'\"")
    cur.close()


def check_key(dbapi_conn: object, path: str, key: AtRestKey | None) -> None:
    """Read the schema once, so a file that does not open with `key` (or without one) fails here, with a message
    that says so, instead of later as "file is not a database"."""
    try:
        dbapi_conn.execute("SELECT count(*) FROM sqlite_master").fetchall()  # type: ignore[attr-defined]
    except Exception as exc:
        if "file is not a database" not in str(exc):
            raise
        if key is None:
            raise WrongKey(
                f"the serving store {path} is encrypted (or not a SQLite file) and encryption is off in hub.yaml: "
                f"add an `encryption:` block and set ${KEY_ENV} (or its key_file)"
            ) from None
        raise WrongKey(
            f"the serving store {path} cannot be opened with the key from {key.origin}: it was encrypted with "
            "another key, or is not encrypted (`hub encryption rotate --from-plain` encrypts it)"
        ) from None


def env_key() -> AtRestKey | None:
    """The key in $HUB_ENCRYPTION_KEY, if any: for tools that have a URL but no hub.yaml (the `alembic` command)."""
    text = os.environ.get(KEY_ENV, "").strip()
    return AtRestKey(parse_key(text, f"${KEY_ENV}"), f"${KEY_ENV}") if text else None
