"""Keyed hashes of a person's identifiers: what the suppression list and the request log hold instead of values.

A hash is HMAC-SHA256, hex, of '<kind>:<normalized value>' under the privacy key ($HUB_PRIVACY_KEY, else the file
hub.yaml's `subjects.key_file` names). Without the key nobody can test a guessed e-mail against the list. The same
hash is computed in DuckDB SQL (`hmac_sql`), so a pull tests whole chunks set-based, and in Python (`hmac_hex`) for
single values; `identifiers_sql` normalizes both sides alike (case, accents, spaces, phone punctuation)."""

from __future__ import annotations

import hashlib
import hmac
import os

from hub.catalogue import record_id_sql
from hub.config import HubConfig
from hub.config.subjects import SUPPRESS_KINDS
from hub.errors import HubError

KEY_ENV = "HUB_PRIVACY_KEY"
_BLOCK = 64  # SHA-256's block size: HMAC pads (or hashes) the key to it


class MissingKey(HubError):
    """Erasure (or a pull that must skip erased people) was asked for and there is no privacy key."""

    exit_code = 2


def privacy_key(cfg: HubConfig) -> bytes | None:
    """The key from $HUB_PRIVACY_KEY, else from `subjects.key_file`; None when neither is set."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    path = cfg.subjects.key_file
    if path is None:
        return None
    if not path.is_file():
        raise MissingKey(f"subjects.key_file: no file at '{path}' (it holds the privacy key)")
    key = path.read_bytes().strip()
    if not key:
        raise MissingKey(f"subjects.key_file: '{path}' is empty (it holds the privacy key)")
    return key


def require_key(cfg: HubConfig, why: str) -> bytes:
    key = privacy_key(cfg)
    if key is None:
        raise MissingKey(
            f"{why} needs the privacy key: set ${KEY_ENV} or name a file holding it in hub.yaml's subjects.key_file "
            "(keep it secret and keep it: the suppression list of erased people is keyed with it)"
        )
    return key


def _pads(key: bytes) -> tuple[bytes, bytes]:
    key = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_hex(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def hmac_sql(key: bytes, expr: str) -> str:
    """DuckDB SQL: the HMAC-SHA256 hex of the VARCHAR expression `expr` under `key` (equal to hmac_hex)."""
    inner, outer = _pads(key)
    return f"sha256(unhex('{outer.hex()}') || unhex(sha256(unhex('{inner.hex()}') || encode({expr}))))"


def _clean(col: str) -> str:
    return f"nullif(lower(strip_accents(trim(CAST({col} AS VARCHAR)))), '')"


# Per kind: the normalized text of a row of a relation with source_system, source_key, email, phone, first_name,
# last_name and date_of_birth (NULL when the row has no such identifier).
IDENTIFIER_SQL = {
    "source_key": "'source_key:' || " + record_id_sql("source_system", "CAST(source_key AS VARCHAR)"),
    "email": f"'email:' || {_clean('email')}",
    "phone": "'phone:' || nullif(regexp_replace(CAST(phone AS VARCHAR), '[^0-9+]', '', 'g'), '')",
    "name_dob": f"'name_dob:' || {_clean('first_name')} || '|' || {_clean('last_name')} || '|' "
    "|| strftime(CAST(date_of_birth AS DATE), '%Y-%m-%d')",
}
assert set(IDENTIFIER_SQL) == set(SUPPRESS_KINDS)


def identifiers_sql(relation: str, kinds: list[str] | tuple[str, ...] = SUPPRESS_KINDS) -> str:
    """DuckDB SQL: (`_row`, kind, ident) for each identifier of each row of `relation` (which has `_row`)."""
    parts = [
        f"SELECT _row, '{k}' AS kind, {IDENTIFIER_SQL[k]} AS ident FROM {relation} "
        f"WHERE ({IDENTIFIER_SQL[k]}) IS NOT NULL"
        for k in kinds
    ]
    return " UNION ALL ".join(parts)
