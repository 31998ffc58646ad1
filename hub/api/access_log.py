"""Keep personal data out of `hub serve`'s access log: uvicorn logs every request line with its query
string, and GET /v1/search carries names, emails and phones there. The filter replaces the query string
of those paths with `?<hidden>`; on every other path it hides the values of parameters named after personal
fields, and anywhere in the request target (a source key in a path may be an e-mail address) whatever reads
as an e-mail address or a phone number. The method and status stay. (POST /v1/search keeps them out of
URLs altogether.)"""

from __future__ import annotations

import logging
import re

PRIVATE_QUERY_PATHS = frozenset({"/v1/search"})
PRIVATE_PARAMS = ("name", "first_name", "last_name", "email", "phone", "postal_code", "date_of_birth")
ACCESS_LOGGER = "uvicorn.access"
HIDDEN = "<hidden>"
_PARAM = re.compile(rf"(?i)(^|&)({'|'.join(PRIVATE_PARAMS)})=[^&]*")
# e-mail (also %40-encoded); an international number (+ or %2B, then 7+ digits with separators); 10+ digits
# (single spaces between them allowed): dates and golden ids stay readable
_PII = re.compile(
    r"[^\s/?&=@%]+(?:@|%40)[^\s/?&=]+"
    r"|(?:\+|%2B)\d(?:[\d\-. ()]|%20|%28|%29){6,}\d"
    r"|\d(?:(?: |%20)?\d){9,}",
    re.IGNORECASE,
)


def redact(target: str) -> str:
    """A request target (path and query) as the access log may keep it."""
    path, sep, query = target.partition("?")
    if query and path in PRIVATE_QUERY_PATHS:
        return f"{_PII.sub(HIDDEN, path)}?{HIDDEN}"
    query = _PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}={HIDDEN}", query)
    return _PII.sub(HIDDEN, path) + sep + _PII.sub(HIDDEN, query)


class HidePrivateQueries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn: '%s - "%s %s HTTP/%s" %d' % (client, method, path with query, http version, status)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


HIDE_PRIVATE_QUERIES = HidePrivateQueries()


def install() -> None:
    """On uvicorn's access logger (once, however many apps start)."""
    logging.getLogger(ACCESS_LOGGER).addFilter(HIDE_PRIVATE_QUERIES)
