"""Source-system connectors: pull (a stream with a cursor) and push (an idempotent batch sink)."""

from connectors.base import Connector, PullBatch, PushReport, SourceError, Stream
from connectors.files import FileConnector
from connectors.ingest import PullResult, open_connector, pull_source
from connectors.sql import SqlConnector

__all__ = [
    "Connector",
    "FileConnector",
    "PullBatch",
    "PullResult",
    "PushReport",
    "SourceError",
    "SqlConnector",
    "Stream",
    "open_connector",
    "pull_source",
]
