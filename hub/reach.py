"""Reaching a database hub.yaml names (a source or the serving store), with a one-line reason when it cannot be.

A wrong host, port, database or password is a configuration problem: it is reported like one (the key, the URL
without its password, the driver's reason on one line) and never as a driver traceback.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.config import ConfigError


class Unreachable(ConfigError):
    """The database at the URL under `key` refused the connection or does not answer."""

    def __init__(self, key: str, url: sa.URL, reason: str):
        super().__init__(key, f"cannot connect to {url.render_as_string(hide_password=True)}: {reason}")


def one_line(exc: BaseException) -> str:
    """The driver's own message (not SQLAlchemy's wrapper with its SQL and background link), on one line."""
    orig = getattr(exc, "orig", None) or exc
    return " ".join(str(orig).split()) or type(orig).__name__


def connect(engine: sa.Engine, key: str) -> None:
    """Open and close one connection; raise Unreachable naming `key` when that fails."""
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        raise Unreachable(key, engine.url, one_line(exc)) from None
