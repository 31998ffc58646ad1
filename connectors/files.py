"""File sources: CSV and Parquet.

The original file is only ever read. Push writes a separate harmonized copy beside it
(`<name>.harmonized.<ext>`): every original row and column, with the accepted columns (and the
golden id column) holding the harmonized values, plus `_hub_source_version`, the version of the
original row those values were computed against. A later push starts from that copy for rows
whose original is unchanged, and from the original for rows that changed since.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from connectors.base import GOLDEN_ID, Connector, SourceError, WriteSession, column_problems
from connectors.transforms import as_text, row_version
from hub.config import HubConfig, SourceConfig

VERSION_COL = "_hub_source_version"


class FileConnector(Connector):
    def __init__(self, name: str, src: SourceConfig, cfg: HubConfig):
        super().__init__(name, src, cfg)
        assert src.path is not None  # SourceConfig: a file source has a path
        self.path = Path(src.path)
        if not self.path.exists():
            raise SourceError(f"sources.{name}.path: file '{self.path}' not found")
        problems = column_problems(name, src, self._columns(), f"'{self.path}'")
        if problems:
            raise SourceError(*problems)

    @property
    def harmonized_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.harmonized{self.path.suffix}")

    def _columns(self) -> list[str]:
        if self.src.file_format == "parquet":
            return pq.read_schema(self.path).names
        return pd.read_csv(self.path, nrows=0).columns.tolist()

    def column_types(self) -> dict[str, str]:
        if self.src.file_format != "parquet":
            return {}
        kinds = {}
        for f in pq.read_schema(self.path):
            if pa.types.is_timestamp(f.type):
                kinds[f.name] = "datetime"
            elif pa.types.is_date(f.type):
                kinds[f.name] = "date"
            elif pa.types.is_integer(f.type):
                kinds[f.name] = "integer"
        return kinds

    def _read(self, path: Path, columns: list[str] | None) -> Iterator[pd.DataFrame]:
        size = self.cfg.chunk_size
        if self.src.file_format == "parquet":
            for batch in pq.ParquetFile(path).iter_batches(batch_size=size, columns=columns):
                yield batch.to_pandas(types_mapper=_nullable)
        else:
            # Text as text: no type guessing, so '007' keys and '01/02/2000' dates arrive as written.
            yield from pd.read_csv(
                path, usecols=columns, chunksize=size, dtype="string", keep_default_na=False, na_values=[""]
            )

    def change_marker(self) -> str:
        stat = self.path.stat()
        return f"size={stat.st_size};mtime_ns={stat.st_mtime_ns}"

    def read_chunks(self, since: pd.Timestamp | None) -> Iterator[pd.DataFrame]:
        # A file has no index to filter on; the stream drops rows at or before the cursor.
        yield from self._read(self.path, self.src.columns())

    def read_keys(self) -> Iterator[pd.Series]:
        for chunk in self._read(self.path, [self.src.primary_key]):
            yield chunk[self.src.primary_key]

    def read_rows(self, keys: list[str]) -> Iterator[pd.DataFrame]:
        wanted = set(keys)
        for chunk in self._read(self.path, self.src.columns()):
            yield chunk[as_text(chunk[self.src.primary_key]).isin(wanted).to_numpy()]

    @contextmanager
    def write_session(self, dry_run: bool) -> Iterator[WriteSession]:
        session = _FileSession(self)
        yield session
        if not dry_run:
            session.commit()


class _FileSession(WriteSession):
    def __init__(self, c: FileConnector):
        self.c = c
        src = c.src
        original = pd.concat(list(c._read(c.path, None)), ignore_index=True)
        original["source_version"] = row_version(original, src)
        self.gid_col = src.golden_id.column if src.golden_id else None
        writable = [src.fields[f].column for f in src.accepts] + ([self.gid_col] if self.gid_col else [])
        self.writable = list(dict.fromkeys(writable))
        for col in self.writable:
            if col not in original:
                original[col] = pd.Series(pd.NA, index=original.index, dtype="string")
        self.current = original.copy()
        if c.harmonized_path.exists():
            prev = pd.concat(list(c._read(c.harmonized_path, None)), ignore_index=True)
            prev = prev.set_index(prev[src.primary_key].astype("string"))
            keys = self.current[src.primary_key].astype("string")
            same = keys.map(prev[VERSION_COL]) == self.current["source_version"]
            for col in self.writable:
                self.current[col] = (
                    self.current[col].astype("string").where(~same.fillna(False), keys.map(prev[col].astype("string")))
                )
        self.current["source_key"] = self.current[src.primary_key].astype("string")
        self.current = self.current.set_index("source_key", drop=False)

    def fetch(self, keys: list[str]) -> pd.DataFrame:
        return self.current.loc[self.current.index.intersection(keys)].reset_index(drop=True)

    def update(self, rows: pd.DataFrame) -> None:
        rows = rows.set_index("source_key")
        for col in rows.columns:
            values = rows[col].dropna()
            if col not in self.current:
                raise SourceError(f"sources.{self.c.name}: column '{col}' is not in the file")
            self.current[col] = self.current[col].astype("object")
            self.current.loc[values.index, col] = values.values

    def write_golden_ids(self, ids: pd.DataFrame) -> pd.DataFrame:
        held = self.current[self.gid_col]
        held = held[~held.index.duplicated(keep=False)]  # a duplicate key is never written (push: 'ambiguous')
        old = held.reindex(ids["source_key"]).astype("string").values
        changed = pd.Series(old, dtype="string").fillna("") != ids[GOLDEN_ID].astype("string").values
        todo = ids[changed.to_numpy()]
        self.update(pd.DataFrame({"source_key": todo["source_key"], self.gid_col: todo[GOLDEN_ID]}))
        return pd.DataFrame(
            {
                "source_key": todo["source_key"].values,
                "column": self.gid_col,
                "fields": GOLDEN_ID,
                "old_value": pd.Series(old[changed.to_numpy()], dtype="string"),
                "new_value": todo[GOLDEN_ID].astype("string").values,
            }
        )

    def commit(self) -> None:
        out = self.current.drop(columns=["source_key"]).rename(columns={"source_version": VERSION_COL})
        out = out.reset_index(drop=True)
        target = self.c.harmonized_path
        tmp = target.with_name(target.name + ".tmp")
        if self.c.src.file_format == "parquet":
            pq.write_table(pa.Table.from_pandas(out, preserve_index=False), tmp)
        else:
            out.to_csv(tmp, index=False)
        os.replace(tmp, target)  # atomic: readers see the old copy or the new one, never half


def _nullable(t: pa.DataType) -> object:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pd.StringDtype()
    if pa.types.is_integer(t):
        return pd.Int64Dtype()
    return None
