"""The connector contract: a stream that pulls (with a cursor) and a batch sink that pushes.

Backends (SQL, files) only read raw chunks and apply raw column updates inside a locked write
session. Everything else is shared here: mapping to canonical, quarantine, the incremental
cursor, the optimistic check, the diff, and the old -> new audit.
"""

from __future__ import annotations

import difflib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors.transforms import SHOWN, as_text, map_rows, to_canonical, to_source, values_equal
from hub.config import HubConfig, SourceConfig
from hub.errors import HubError
from hub.subjects.suppress import Suppression

GOLDEN_ID = "golden_id"


class SourceError(HubError):
    """The source does not look like its hub.yaml block says (table, column or file missing): one line per problem,
    each naming its hub.yaml key. A configuration problem: exit code 2."""

    exit_code = 2

    def __init__(self, *problems: str):
        self.problems = list(problems)
        super().__init__("; ".join(problems))


def column_problems(name: str, src: SourceConfig, have: Collection[str], where: str) -> list[str]:
    """One line per column hub.yaml names that the source lacks, naming the key that names it (with the closest
    column it has, if one is close)."""
    wanted = [(f"sources.{name}.primary_key", src.primary_key)]
    if src.updated_at:
        wanted.append((f"sources.{name}.updated_at", src.updated_at))
    for fname, m in src.fields.items():
        wanted += [(f"sources.{name}.fields.{fname}.{'column' if m.column else 'concat'}", c) for c in m.columns]
    if src.kind == "sql" and src.golden_id and src.golden_id.column:  # a file source adds it to its harmonized copy
        wanted.append((f"sources.{name}.golden_id.column", src.golden_id.column))
    problems = []
    for key, column in wanted:
        if column not in have:
            close = difflib.get_close_matches(column, list(have), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (it has {sorted(have)})"
            problems.append(f"{key}: no column '{column}' in {where}{hint}")
    return problems


class AmbiguousUpdate(Exception):
    """An UPDATE by key touched another number of rows than one: the batch must not commit."""


@dataclass
class PullBatch:
    records: pd.DataFrame  # canonical records, staged columns
    quarantined: pd.DataFrame  # source_system, source_key, reason, raw_row, pulled_at
    # Of the staged records: source_system, source_key, field, column, value, reason, source_version, pulled_at
    warnings: pd.DataFrame


class WriteSession(ABC):
    """One transaction on the source, holding locks on the rows it fetched."""

    @abstractmethod
    def fetch(self, keys: list[str]) -> pd.DataFrame:
        """Current raw rows for `keys`: column `source_key` (text), the mapped columns, the golden id
        column if any, and `source_version` (the row's version token)."""

    def versions(self, keys: list[str]) -> pd.DataFrame:
        """`source_key` and `source_version` of the rows of `keys`, as fetch computes them. A backend may read less
        than fetch does (only the updated-at column): write-back's read-back asks it of rows it gave nothing but a
        golden id, to see whether their version moved (a trigger stamping the updated-at column)."""
        return self.fetch(keys)[["source_key", "source_version"]]

    @abstractmethod
    def update(self, rows: pd.DataFrame) -> None:
        """Set the given raw columns (non-null cells only) of existing rows, by `source_key`."""

    @abstractmethod
    def write_golden_ids(self, ids: pd.DataFrame) -> pd.DataFrame:
        """Record `source_key -> golden_id` where the config says; returns the audit of changes.
        In a dry run, compute the audit without writing."""


@dataclass
class PushReport:
    source: str
    dry_run: bool
    rows: pd.DataFrame  # source_key, status (updated | unchanged | conflict | missing | ambiguous), detail
    changes: pd.DataFrame  # source_key, column, fields, old_value, new_value

    def count(self, status: str) -> int:
        return int((self.rows["status"] == status).sum()) if len(self.rows) else 0

    def summary(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("updated", "unchanged", "conflict", "missing", "ambiguous")} | {
            "values_changed": len(self.changes)
        }


def cursor_ceiling(cfg: HubConfig, pulled_at: pd.Timestamp) -> pd.Timestamp:
    """The furthest a cursor may move in a pull at `pulled_at` (naive UTC): later timestamps are not trusted."""
    return pulled_at + pd.Timedelta(seconds=cfg.pull.cursor_tolerance_seconds)


FUTURE_REASON = "in the future (after the pull + pull.cursor_tolerance_seconds): staged; the cursor stays behind it"


@dataclass
class Stream:
    """An iterable of PullBatch; after it is exhausted, `state` is the cursor to save.

    The cursor never moves past `cursor_ceiling` (the pull's time + pull.cursor_tolerance_seconds): a row stamped
    later is staged with a field warning on `source_updated_at` and counted in `future`, so one bad
    timestamp cannot hide every later edit. With `keys`, only those rows are read and the state is kept."""

    connector: Connector
    state: dict[str, Any] | None
    full: bool
    keys: list[str] | None = None
    pulled_at: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC").tz_localize(None))
    rows_read: int = 0
    future: int = 0
    erased: int = 0  # rows of erased people (the suppression list): skipped before staging, stored nowhere

    def __iter__(self) -> Iterator[PullBatch]:
        conn, src, ceiling = self.connector, self.connector.src, cursor_ceiling(self.connector.cfg, self.pulled_at)
        by_key = self.keys is not None
        state = None if self.full or by_key else self.state
        cursor = pd.Timestamp(state["cursor"]) if state else None
        boundary: dict[str, str] = dict(state.get("boundary", {})) if state else {}
        best, best_keys = cursor, dict(boundary)
        for raw in conn.read_rows(self.keys) if self.keys is not None else conn.read_chunks(cursor):
            raw = raw.reset_index(drop=True)
            self.rows_read += len(raw)
            mapped = map_rows(raw, src, conn.cfg, conn.name)
            records, reasons = mapped.records, mapped.reasons
            if cursor is not None:
                ts = records["source_updated_at"]
                seen = records["source_key"].map(boundary) == records["source_version"]
                keep = (ts > cursor) | ((ts == cursor) & ~seen.fillna(False)) | reasons.notna()
                raw, records, reasons = raw[keep], records[keep], reasons[keep]
            if conn.suppression is not None:
                gone = conn.suppression.erased(conn.name, records)
                self.erased += int(gone.sum())
                raw, records, reasons = raw[~gone], records[~gone], reasons[~gone]
            good = reasons.isna()
            recs = records[good].copy()
            recs["pulled_at"] = self.pulled_at
            future = recs["source_updated_at"] > ceiling
            self.future += int(future.sum())
            if src.updated_at and len(recs):
                top = recs.loc[~future, "source_updated_at"].max()
                if pd.notna(top) and (best is None or top >= best):
                    at_top = recs[recs["source_updated_at"] == top]
                    fresh = dict(zip(at_top["source_key"], at_top["source_version"], strict=True))
                    best_keys = (best_keys | fresh) if top == best else fresh
                    best = top
            warned = pd.concat([mapped.warnings, self._future_warnings(recs[future], raw)])
            warned = warned[warned.index.isin(recs.index)]
            warned = warned.assign(
                source_system=self.connector.name,
                source_version=recs["source_version"].reindex(warned.index),
                pulled_at=self.pulled_at,
            )
            yield PullBatch(recs, self._quarantine(raw[~good], records[~good], reasons[~good]), warned)
        if by_key:
            return
        if src.updated_at and best is not None:
            self.state = {"cursor": best.isoformat(), "boundary": best_keys}
        else:
            self.state = None

    def _future_warnings(self, recs: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
        column = self.connector.src.updated_at
        return pd.DataFrame(
            {
                "source_key": recs["source_key"],
                "field": "source_updated_at",
                "column": column,
                "value": raw.loc[recs.index, column].astype("string").str.slice(0, SHOWN) if column else pd.NA,
                "reason": FUTURE_REASON,
            },
            index=recs.index,
        ).astype("string")

    def _quarantine(self, raw: pd.DataFrame, records: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
        raw_rows = [json.dumps(r, default=str) for r in raw.astype(object).where(raw.notna(), None).to_dict("records")]
        return pd.DataFrame(
            {
                "source_system": self.connector.name,
                "source_key": records["source_key"].astype("string"),
                "reason": reasons.astype("string"),
                "raw_row": pd.Series(raw_rows, index=raw.index, dtype="string"),
                "pulled_at": self.pulled_at,
            }
        )


class Connector(ABC):
    """A configured source: `stream()` to pull, `push()` to write harmonized values back."""

    def __init__(self, name: str, src: SourceConfig, cfg: HubConfig):
        self.name, self.src, self.cfg = name, src, cfg
        self.suppression: Suppression | None = None  # a pull sets it: rows of erased people to skip

    # -- backend primitives ---------------------------------------------------------------
    @abstractmethod
    def read_chunks(self, since: pd.Timestamp | None) -> Iterator[pd.DataFrame]:
        """Raw rows with every mapped column, in chunks of `cfg.chunk_size`. With `since`, the
        backend may skip rows updated before it (rows at exactly `since` must be included)."""

    @abstractmethod
    def read_keys(self) -> Iterator[pd.Series]:
        """Every row's primary key, raw, in chunks: the cheap key set reconciliation compares with staging."""

    @abstractmethod
    def read_rows(self, keys: list[str]) -> Iterator[pd.DataFrame]:
        """Raw rows (every mapped column) with these keys (as staged text), in chunks."""

    @abstractmethod
    def column_types(self) -> dict[str, str]:
        """Per source column: 'date', 'datetime', 'integer' or 'text' (how values are written back)."""

    @abstractmethod
    def write_session(self, dry_run: bool) -> AbstractContextManager[WriteSession]:
        """A transaction that commits on success; a dry run never writes."""

    @abstractmethod
    def change_marker(self) -> str:
        """A cheap fingerprint that changes when rows are added, deleted or updated (through the
        updated-at cursor column): the pipeline's sensor compares it between ticks. Write-back
        never changes it, so the hub does not trigger itself."""

    # -- pull -----------------------------------------------------------------------------
    def stream(self, state: dict[str, Any] | None = None, full: bool = False) -> Stream:
        return Stream(self, state, full)

    def stream_keys(self, keys: list[str]) -> Stream:
        """Just the rows with these keys (rows the cursor missed), leaving the cursor alone."""
        return Stream(self, None, False, keys)

    def key_chunks(self) -> Iterator[pd.Series]:
        """The source's keys as text, exactly as a pull stages them."""
        for raw in self.read_keys():
            yield as_text(raw.reset_index(drop=True))

    # -- push -----------------------------------------------------------------------------
    def push(
        self,
        changes: pd.DataFrame,
        dry_run: bool = False,
        before_commit: Callable[[PushReport], None] | None = None,
    ) -> PushReport:
        """Apply harmonized canonical values to existing rows.

        `changes` has `source_key`, `expected_version` (the `source_version` seen at pull time) and
        one column per accepted canonical field, plus `golden_id` when the source stores one.
        Missing values are never written (write-back does not blank a field). A row whose version
        differs from `expected_version` changed in the source since the pull: it is skipped and
        reported as a conflict. Rows already holding the values are 'unchanged' (idempotence).

        A key that finds several rows (a duplicate key in a table without a unique key) is 'ambiguous' and
        not written. Every UPDATE must touch exactly one row: keys the database's collation treats as equal
        ('abc' and 'ABC ' on MariaDB) would write one person's values into another's row, so the whole batch
        is rolled back and each of its rows reported 'ambiguous' instead.

        `before_commit` is called with the report once every statement ran and before the source commits
        (not in a dry run): write-back journals the batch there, so it is on record before it is in the source.
        """
        fields = self._validate(changes)
        changes = changes.assign(source_key=changes["source_key"].astype("string")).set_index("source_key", drop=False)
        try:
            with self.write_session(dry_run) as session:
                report = self._push(session, changes, fields, dry_run)
                if before_commit is not None and not dry_run:
                    before_commit(report)
        except AmbiguousUpdate as exc:
            rows = pd.DataFrame(
                {"source_key": changes.index, "status": "ambiguous", "detail": f"batch rolled back: {exc}"}
            )
            return PushReport(self.name, dry_run, rows.reset_index(drop=True), _concat([]))
        return report

    def _push(self, session: WriteSession, changes: pd.DataFrame, fields: list[str], dry_run: bool) -> PushReport:
        fetched = session.fetch(changes["source_key"].tolist())
        several = fetched["source_key"].duplicated(keep=False)
        current = fetched[~several].set_index("source_key", drop=False)
        status = pd.Series("unchanged", index=changes.index, dtype="object")
        ambiguous = among(changes.index, fetched.loc[several, "source_key"])
        status[ambiguous] = "ambiguous"
        missing = ~among(changes.index, current.index) & ~ambiguous
        status[missing] = "missing"
        found = changes.index[status == "unchanged"]
        conflict = current.loc[found, "source_version"].astype("string") != changes.loc[
            found, "expected_version"
        ].astype("string")
        status[conflict[conflict].index] = "conflict"
        ok = changes.index[status == "unchanged"]
        audit = []
        if fields:  # only rows with a value to send can differ: the others are not even read
            ok = ok[changes.loc[ok, fields].notna().any(axis=1).to_numpy()]
        if len(ok):
            cur_raw = current.loc[ok]
            cur, _ = to_canonical(cur_raw.reset_index(drop=True), self.src, self.cfg, self.name)
            cur.index = ok
            new = changes.loc[ok, fields]
            differs = pd.DataFrame({f: new[f].notna() & ~values_equal(cur[f], new[f]) for f in fields})
            touched = differs.any(axis=1)
            if touched.any():
                rows = touched[touched].index
                merged = cur.loc[rows, self._write_fields(fields)].copy()
                for f in fields:
                    merged[f] = merged[f].where(~differs.loc[rows, f], new.loc[rows, f])
                raw_cols = self._changed_columns(differs.loc[rows])
                # Only the cells of columns being written are formatted (a phone costs ~50 us to format).
                kept = pd.DataFrame({f: raw_cols[self.src.fields[f].column] for f in merged.columns})
                raw_new = to_source(merged.where(kept), self.src, self.cfg, self.column_types())
                raw_new = raw_new.where(raw_cols, None)
                # A cell whose text would not change is not written: fields that read differently from how they
                # are written ("Mary Ann Smith" splits as "Mary Ann" + "Smith", and "Mary" + "Ann Smith" joins back
                # to it).
                old_raw = cur_raw.loc[rows]
                raw_new = raw_new.where(
                    pd.DataFrame({c: ~values_equal(raw_new[c], old_raw[c]) for c in raw_new.columns}), None
                )
                rows = rows[raw_new.notna().any(axis=1).to_numpy()]
                raw_new = raw_new.loc[rows]
                if len(rows):
                    audit.append(self._audit(old_raw.loc[rows], raw_new))
                    status[rows] = "updated"
                    session.update(raw_new.assign(source_key=rows))
        if GOLDEN_ID in changes and self.src.golden_id:
            ids = changes.loc[status.isin(["unchanged", "updated"]), ["source_key", GOLDEN_ID]]
            gid_audit = session.write_golden_ids(ids.dropna(subset=[GOLDEN_ID]).reset_index(drop=True))
            audit.append(gid_audit)
            status[among(status.index, gid_audit["source_key"]) & (status == "unchanged")] = "updated"
        detail = pd.Series("", index=status.index, dtype="object")
        detail[status == "conflict"] = "row changed in the source since it was pulled; skipped"
        detail[status == "missing"] = "no row with this key in the source"
        detail[status == "ambiguous"] = "several rows have this key in the source; skipped"
        report = pd.DataFrame({"source_key": status.index, "status": status.values, "detail": detail.values})
        return PushReport(self.name, dry_run, report.reset_index(drop=True), _concat(audit))

    def _validate(self, changes: pd.DataFrame) -> list[str]:
        for col in ("source_key", "expected_version"):
            if col not in changes:
                raise ValueError(f"push to '{self.name}': changes need a '{col}' column")
        fields = [c for c in changes.columns if c not in ("source_key", "expected_version", GOLDEN_ID)]
        refused = [f for f in fields if f not in self.src.accepts]
        if refused:
            raise ValueError(
                f"push to '{self.name}': field(s) {refused} are not in sources.{self.name}.accepts {self.src.accepts}"
            )
        if GOLDEN_ID in changes and not self.src.golden_id:
            raise ValueError(f"push to '{self.name}': golden ids given but sources.{self.name}.golden_id is not set")
        dupes = changes["source_key"][changes["source_key"].duplicated()]
        if len(dupes):
            raise ValueError(f"push to '{self.name}': duplicate source_key(s) {dupes.head(5).tolist()}")
        return fields

    def _write_fields(self, fields: list[str]) -> list[str]:
        """Fields to format together: a split column needs all of its parts."""
        cols = {self.src.fields[f].column for f in fields}
        return [f for f in self.src.accepts if self.src.fields[f].column in cols]

    def _changed_columns(self, differs: pd.DataFrame) -> pd.DataFrame:
        """Per row, which source columns must be written (any field that maps to it changed)."""
        by_col: dict[str, pd.Series] = {}
        for f in differs.columns:
            col = self.src.fields[f].column
            assert col is not None  # _not_writable: a field written back maps one column
            by_col[col] = by_col.get(col, pd.Series(False, index=differs.index)) | differs[f]
        return pd.DataFrame(by_col)

    def _audit(self, old_raw: pd.DataFrame, new_raw: pd.DataFrame) -> pd.DataFrame:
        parts = []
        for col in new_raw.columns:
            changed = new_raw[col].notna()
            if changed.any():
                fields = ",".join(f for f, m in self.src.fields.items() if m.column == col and f in self.src.accepts)
                parts.append(
                    pd.DataFrame(
                        {
                            "source_key": new_raw.index[changed],
                            "column": col,
                            "fields": fields,
                            "old_value": old_raw.loc[changed, col].astype("string").values,
                            "new_value": new_raw.loc[changed, col].astype("string").values,
                        }
                    )
                )
        return _concat(parts)


AUDIT_COLUMNS = ["source_key", "column", "fields", "old_value", "new_value"]


def among(keys: pd.Index, values: pd.Index | pd.Series) -> np.ndarray:
    """`keys.isin(values)` for text keys, in Arrow: pandas' isin on Arrow strings makes a Python scalar of every
    value (a second per 200,000 keys)."""

    def arrow(x: pd.Index | pd.Series) -> pa.Array:
        return pa.array(np.asarray(x, dtype=object), type=pa.string())

    found: np.ndarray = pc.is_in(arrow(keys), value_set=arrow(values)).to_numpy(zero_copy_only=False)
    return found


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=AUDIT_COLUMNS)
    return pd.concat(frames, ignore_index=True)[AUDIT_COLUMNS]
