"""Erasure in a source system: the action a source's `erasure:` block declares, run for one person's rows by
primary key (`hub subject erase` calls it through the composition root).

- `null_fields`: the columns of the chosen mapped fields (default: the personal ones, names to postcode) set to NULL;
- `statement`: the configured statement, once per row, with its key as :source_key;
- `flag`: one column set to one value;
  (these two first make sure the keys find the person's rows and no others: see _only_these_rows)
- `task` (the default): nothing is written; the report names the rows for a person to erase by hand.
The hub never deletes a source row of its own accord; a statement may, because someone wrote it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from connectors.sql import SqlConnector
from hub import reach
from hub.config import HubConfig, SourceConfig
from hub.config.subjects import PERSONAL_FIELDS
from hub.errors import HubError


class SourceErasureFailed(HubError):
    """A source refused its erasure action; nothing of the hub's own stores was erased yet."""


@dataclass
class SourceErasure:
    source: str
    action: str
    rows: int  # rows of the person in the source, by key
    changed: int  # rows the action changed (0 for a task)
    task: list[str] = field(default_factory=list)  # for a task: the keys a person must erase by hand

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _written(src: SourceConfig) -> dict[str, Any]:
    """column -> value of a `flag` or `null_fields` action."""
    action = src.erasure
    if action.action == "flag":
        assert action.column is not None
        return {action.column: action.value}
    fields = action.fields or [f for f in PERSONAL_FIELDS if f in src.fields and src.fields[f].column]
    return dict.fromkeys(sorted({c for f in fields for c in src.fields[f].columns} - {src.primary_key}))


def _only_these_rows(
    conn: sa.Connection, name: str, key_col: sa.ColumnElement[Any], params: list[object], locking: bool
) -> int:
    """How many rows the UPDATE by key will touch, once sure they are the person's own: a key the source's collation
    takes for another (MariaDB/MySQL `_ci`: "abc" and "ABC " compare equal) or a key held by two rows (a table
    without a unique key) would make it null or flag someone else's row, so the action is refused instead."""
    stmt = sa.select(key_col).where(key_col.in_(params))
    found = [str(k) for k in conn.execute(stmt.with_for_update() if locking else stmt).scalars()]
    wanted = {str(p) for p in params}
    strangers = sorted({k for k in found if k not in wanted or found.count(k) > 1})
    if strangers:
        raise SourceErasureFailed(
            f"sources.{name}.erasure: the person's keys also match rows keyed {', '.join(map(repr, strangers[:5]))} "
            "(a key held by several rows, or one the source's collation takes as equal, such as 'abc' and 'ABC ' "
            "on MariaDB): nothing was changed; erase these rows by hand or configure a statement"
        )
    return len(found)


def erase_in_source(cfg: HubConfig, name: str, keys: list[str]) -> SourceErasure:
    """Run `sources.<name>.erasure` for the rows with `keys` (as staged), in one transaction."""
    src = cfg.sources[name]
    action = src.erasure
    if action.action == "task" or not keys:
        return SourceErasure(name, action.action, len(keys), 0, sorted(keys) if action.action == "task" else [])
    connector = SqlConnector(name, src, cfg)
    table = connector.table
    assert isinstance(table, sa.Table)  # SourceConfig: only a table source takes another action than 'task'
    key_col = table.c[src.primary_key]
    params = connector._key_params(keys)
    try:
        with connector.engine.begin() as conn:
            if action.action == "statement":
                assert action.sql is not None
                result = conn.execute(sa.text(action.sql), [{"source_key": p} for p in params])
            else:
                matched = _only_these_rows(conn, name, key_col, params, locking=not connector.is_sqlite)
                result = conn.execute(sa.update(table).where(key_col.in_(params)).values(_written(src)))
                if result.rowcount is not None and result.rowcount > matched:  # a row came in since: roll back
                    raise SourceErasureFailed(
                        f"sources.{name}.erasure: the update touched {result.rowcount} rows where {matched} were "
                        "the person's; nothing was changed, ask again"
                    )
            changed = int(result.rowcount or 0) if result.rowcount is not None and result.rowcount >= 0 else 0
    except sa.exc.DBAPIError as exc:
        raise SourceErasureFailed(
            f"sources.{name}.erasure: the source refused action '{action.action}': {reach.one_line(exc)}"
        ) from None
    finally:
        connector.engine.dispose()
    return SourceErasure(name, action.action, len(keys), changed)
