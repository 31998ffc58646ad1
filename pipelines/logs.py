"""The console logger of the hub's jobs (`hub run`, `dagster dev`): Dagster's own, except that a step failing on a
hub error (hub.errors.HubError: a hub.yaml problem, a source that does not fit its block, a database that cannot be
reached, a busy workspace) is logged as that error's one line. Its stack trace would only show Dagster's and the
hub's internals to someone who has to fix a URL or a column name; any other failure keeps its full stack trace."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import dagster as dg

from hub.errors import HubError


def _hub_error_paths(cls: type[HubError] = HubError) -> Iterator[str]:
    """The dotted names of HubError's subclasses (as a Dagster error message starts with them)."""
    for sub in cls.__subclasses__():
        yield f"{sub.__module__}.{sub.__qualname__}"
        yield from _hub_error_paths(sub)


def hub_error(error: Any) -> str | None:
    """The message of the hub error behind a Dagster error (a SerializableErrorInfo chain), if one is behind it."""
    paths = set(_hub_error_paths())
    while error is not None:
        path, sep, message = error.message.partition(": ")
        if sep and path in paths:
            return message.strip()
        error = error.cause or error.context
    return None


class OneLineHubErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        error = getattr(getattr(event, "event_specific_data", None), "error", None)
        message = hub_error(error) if error is not None else None
        if message is not None:
            record.msg = f"{str(record.msg).split(chr(10) * 2)[0].rstrip('.')}: {message}"
        return True


@dg.logger(dg.colored_console_logger.config_schema, description="Dagster's console logger; hub errors in one line")
def console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = dg.colored_console_logger.logger_fn(init_context)
    for handler in logger.handlers:
        handler.addFilter(OneLineHubErrors())
    return logger
