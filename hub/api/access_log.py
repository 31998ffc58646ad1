"""Keep personal data out of `hub serve`'s access log: uvicorn logs every request line with its query
string, and GET /v1/search carries names, emails and phones there. The filter replaces the query string
of those paths with `?<hidden>`; the path, method and status stay. (POST /v1/search keeps them out of
URLs altogether.)"""

from __future__ import annotations

import logging

PRIVATE_QUERY_PATHS = frozenset({"/v1/search"})
ACCESS_LOGGER = "uvicorn.access"


class HidePrivateQueries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn: '%s - "%s %s HTTP/%s" %d' % (client, method, path with query, http version, status)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if query and path in PRIVATE_QUERY_PATHS:
                record.args = (*args[:2], f"{path}?<hidden>", *args[3:])
        return True


HIDE_PRIVATE_QUERIES = HidePrivateQueries()


def install() -> None:
    """On uvicorn's access logger (once, however many apps start)."""
    logging.getLogger(ACCESS_LOGGER).addFilter(HIDE_PRIVATE_QUERIES)
