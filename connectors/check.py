"""`hub config check` against the live systems: every source hub.yaml declares is opened the way a pull opens it, so
a wrong host, port, database, table, query, key, column, updated-at column or golden-id target is found before a run,
each as one line naming its hub.yaml key."""

from __future__ import annotations

from connectors.base import SourceError
from connectors.ingest import open_connector
from connectors.sql import SqlConnector
from hub.config import HubConfig
from hub.reach import Unreachable


def source_problems(cfg: HubConfig, name: str) -> list[str]:
    """Every problem of `sources.<name>` that opening it finds (none: a pull can read it)."""
    try:
        connector = open_connector(name, cfg)
    except SourceError as exc:
        return exc.problems
    except Unreachable as exc:
        return [str(exc)]
    if not isinstance(connector, SqlConnector):
        return []
    try:
        return connector.golden_id_problems()
    finally:
        connector.engine.dispose()
