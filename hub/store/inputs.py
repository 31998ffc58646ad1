"""The frames a caller hands to publish, checked and brought to storage form; a bad frame is a ValueError
that names the column or the rows, before anything is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from hub import lineage
from hub.model import ATTRIBUTE_FIELDS, FieldType
from hub.store.schema import ATTRIBUTES, LINK_TYPES, VALUE_COLUMNS


def normalize_golden(golden: pd.DataFrame, db: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Storage types, JSON text, the row hash and `rn` (input position); unknown or missing columns
    are errors, because a misspelt attribute would otherwise publish as empty values."""
    required = {"golden_id", *ATTRIBUTES, "lineage", "record_count"}
    check_columns("golden", golden, required, required | {"extra"})
    out = pd.DataFrame({"rn": np.arange(len(golden)), "golden_id": _text("golden", golden, "golden_id")})
    dup = out["golden_id"].duplicated()
    if dup.any():
        raise ValueError(f"golden: {few(out['golden_id'][dup])} appear more than once")
    for f in ATTRIBUTE_FIELDS:
        out[f.name] = _column(golden[f.name], f.type)
    out["extra"] = _json_text(golden["extra"]) if "extra" in golden else object_series([None] * len(golden))
    out["lineage"] = _json_text(golden["lineage"], lineage.dumps)
    out["record_count"] = pd.to_numeric(golden["record_count"]).astype("int64").to_numpy()
    out["row_hash"] = _row_hashes(db, out, VALUE_COLUMNS)
    out["lineage_hash"] = _lineage_hashes(db, out)
    return out


def normalize_xref(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["source_system", "source_key", "golden_id", "match_probability", "link_type"]
    check_columns("xref", frame, set(cols), set(cols))
    out = pd.DataFrame({c: _text("xref", frame, c) for c in cols if c != "match_probability"})
    out["match_probability"] = pd.to_numeric(frame["match_probability"]).astype("float64").to_numpy()
    out["rn"] = np.arange(len(out))
    dup = out.duplicated(["source_system", "source_key"])
    if dup.any():
        raise ValueError(f"xref: {few(out.loc[dup, 'source_key'])} appear more than once")
    bad = ~out["link_type"].isin(LINK_TYPES)
    if bad.any():
        raise ValueError(f"xref: link_type {few(out.loc[bad, 'link_type'])} is not one of {LINK_TYPES}")
    return out


def normalize_redirects(frame: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["retired_id", "surviving_id", "reason"]
    if frame is None or (frame.empty and not {"retired_id", "surviving_id"} <= set(frame.columns)):
        return pd.DataFrame({c: object_series([]) for c in cols})
    check_columns("redirects", frame, {"retired_id", "surviving_id"}, set(cols))
    out = pd.DataFrame({"retired_id": object_series(_text("redirects", frame, "retired_id"))})
    survivor = frame["surviving_id"].reset_index(drop=True)
    out["surviving_id"] = object_series([None if pd.isna(v) else str(v) for v in survivor])
    default = np.where(out["surviving_id"].isna(), "deleted", "merge")
    given = frame["reason"].reset_index(drop=True) if "reason" in frame else pd.Series([None] * len(out))
    out["reason"] = object_series([d if pd.isna(v) else str(v) for v, d in zip(given, default, strict=True)])
    return out


def check_columns(what: str, frame: pd.DataFrame, required: set[str], allowed: set[str]) -> None:
    missing, unknown = required - set(frame.columns), set(frame.columns) - allowed
    if missing or unknown:
        raise ValueError(f"{what}: missing columns {sorted(missing)}, unknown columns {sorted(unknown)}")


def object_series(values: Any) -> pd.Series:
    """Python objects, not pandas' Arrow strings, for small id lists used with isin()/dicts."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _text(what: str, frame: pd.DataFrame, column: str) -> pd.Series:
    """A key column as text (numbers a caller left as numbers become text); never missing."""
    s = frame[column].reset_index(drop=True)
    if s.isna().any():
        raise ValueError(f"{what}: {column} is missing on some rows")
    return s if _is_text(s) else s.astype(str)


def _is_text(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.StringDtype) or pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")


def _column(s: pd.Series, ftype: FieldType) -> pd.Series:
    """One attribute column in the form the hash and the writer expect: datetime64 (UTC, naive)
    for dates and timestamps, text as given (Arrow strings stay compact), other values as objects."""
    s = s.reset_index(drop=True)
    if ftype in (FieldType.DATE, FieldType.TIMESTAMP):
        t = s if isinstance(s.dtype, pd.DatetimeTZDtype) else pd.to_datetime(s, utc=True, format="ISO8601")
        if isinstance(t.dtype, pd.DatetimeTZDtype):
            t = t.dt.tz_convert(UTC).dt.tz_localize(None)
        t = t.astype("datetime64[us]")
        return t.dt.floor("D") if ftype == FieldType.DATE else t
    if ftype == FieldType.STRING and not _is_text(s):
        return object_series([None if pd.isna(v) else str(v) for v in s])
    return s


def _json_text(s: pd.Series, dump_dict: Callable[[dict[str, Any]], str] | None = None) -> pd.Series:
    """JSON text as given; dicts (with `dump_dict` when given: lineage per field) and lists serialized with sorted
    keys."""
    s = s.reset_index(drop=True)
    if _is_text(s):
        return s

    def text(v: Any) -> str | None:
        if isinstance(v, str) or v is None:
            return v
        if isinstance(v, dict) and dump_dict is not None:
            return dump_dict(v)
        if isinstance(v, dict | list):
            return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)
        return None if pd.isna(v) else str(v)

    return object_series([text(v) for v in s.to_numpy(dtype=object)])


def _row_hashes(db: duckdb.DuckDBPyConnection, frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """md5 over the columns, computed by DuckDB (vectorized, and its text forms of dates and
    timestamps are stable, unlike pandas' internal hashing)."""
    db.register("hash_rows", frame[columns])
    parts = ", ".join(f'coalesce(CAST("{c}" AS VARCHAR), chr(0))' for c in columns)
    hashes = db.execute(f"SELECT md5(concat_ws(chr(31), {parts})) AS h FROM hash_rows").df()["h"]
    db.unregister("hash_rows")
    return hashes


def _lineage_hashes(db: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.Series:
    """md5 of the lineage text ('' when missing), as migration 0006 computed it for older rows."""
    db.register("hash_rows", frame[["lineage"]])
    hashes = db.execute("SELECT md5(coalesce(CAST(lineage AS VARCHAR), '')) AS h FROM hash_rows").df()["h"]
    db.unregister("hash_rows")
    return hashes


def few(values: Any, n: int = 5) -> str:
    distinct = list(dict.fromkeys(values))
    more = len(distinct) - n
    return ", ".join(repr(v) for v in distinct[:n]) + (f" and {more} more" if more > 0 else "")
