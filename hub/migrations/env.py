"""Alembic environment of the serving store.

hub.store.upgrade runs it in code and hands over an open connection (config.attributes["connection"]),
so the migration shares the caller's transaction, pragmas and locks. Without one (e.g. the `alembic`
command line with `-x url=...` or `sqlalchemy.url`), it opens the store the same way the hub does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from hub.encryption import env_key
from hub.store import create_store_engine, metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no serving store: run hub.store.upgrade(engine), or pass -x url=<SQLAlchemy URL>")
    return url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    engine = create_store_engine(_url(), key=env_key())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()
