"""The suppression list at work in a pull: rows of an erased person are skipped before staging, set-based.

`Suppression.load(cfg)` reads the keyed hashes from the serving store (read-only, creating nothing: a store that
does not exist yet holds none); `erased(system, records)` marks the rows of a chunk one of whose identifiers hashes
to a listed one, and `drop_keys` takes erased keys out of a pull's key set so reconciliation does not ask the source
for them again. A store that lists erased people and no key to test with is an error, never a silent re-creation."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import sqlalchemy as sa

from hub import reach
from hub.catalogue import record_id_sql
from hub.config import HubConfig
from hub.encryption import scratch_duckdb
from hub.subjects.keyed import hmac_sql, identifiers_sql, require_key

ERASED_REASON = "erased subject"
_COLUMNS = ("source_system", "source_key", "email", "phone", "first_name", "last_name", "date_of_birth")


class Suppression:
    def __init__(self, key: bytes, hashes: list[str], kinds: list[str]):
        self.key, self.kinds = key, kinds
        self.con = scratch_duckdb()
        self.con.register("_hashes", pd.DataFrame({"hash": pd.Series(hashes, dtype="string")}))
        self.con.execute("CREATE TABLE _suppressed AS SELECT DISTINCT hash FROM _hashes")

    @classmethod
    def load(cls, cfg: HubConfig) -> Suppression | None:
        """The store's suppression list for `cfg`, or None when it lists nobody."""
        hashes = stored_hashes(cfg.serving_store)
        if not hashes:
            return None
        key = require_key(cfg, f"the serving store lists {len(hashes):,} identifiers of erased people: pulling")
        return cls(key, hashes, list(cfg.subjects.suppress_by))

    def erased(self, system: str, records: pd.DataFrame) -> pd.Series:
        """Per row of `records` (canonical, as a pull maps them): does it belong to an erased person?"""
        if not len(records):
            return pd.Series(False, index=records.index, dtype=bool)
        chunk = pd.DataFrame({c: records.get(c) for c in _COLUMNS}).reset_index(drop=True)
        chunk["source_system"] = system
        chunk["_row"] = range(len(chunk))
        self.con.register("_chunk", chunk)
        hit = self.con.execute(
            f"""SELECT DISTINCT _row FROM ({identifiers_sql("_chunk", self.kinds)})
                WHERE {hmac_sql(self.key, "ident")} IN (SELECT hash FROM _suppressed)"""
        ).fetchall()
        mask = pd.Series(False, index=range(len(chunk)), dtype=bool)
        mask[[r[0] for r in hit]] = True
        return pd.Series(mask.to_numpy(), index=records.index)

    def drop_keys(self, con: duckdb.DuckDBPyConnection, system: str, table: str) -> int:
        """Delete from `table` (a column source_key in DuckDB connection `con`) the keys of erased rows of `system`."""
        if "source_key" not in self.kinds:
            return 0
        hashes = self.con.execute("SELECT hash FROM _suppressed").df()
        con.register("_suppressed_hashes", hashes)
        ident = "'source_key:' || " + record_id_sql("$system", "source_key")
        gone = con.execute(
            f"""DELETE FROM {table} WHERE source_key IS NOT NULL
                AND {hmac_sql(self.key, ident)} IN (SELECT hash FROM _suppressed_hashes)""",
            {"system": system},
        ).fetchall()
        con.unregister("_suppressed_hashes")
        return int(gone[0][0]) if gone else 0


def stored_hashes(url: str) -> list[str]:
    """The suppression list of the serving store at `url`, read-only; none for a store not made yet."""
    from hub.store.engine import create_store_engine

    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
        return []
    engine = create_store_engine(url, read_only=True)
    try:
        reach.connect(engine, "serving_store")  # a pull must know whom to skip: an unreachable store is an error
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("subject_suppressions"):
                return []
            return [r[0] for r in conn.execute(sa.text("SELECT hash FROM subject_suppressions"))]
    finally:
        engine.dispose()
