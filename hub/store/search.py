"""Search candidates: golden records found by name, email, phone and postal code with index range scans
(migration 0003's expression indexes), so a million golden records cost what the candidates cost, never a
table scan. hub.api.search ranks them, from the columns ranking reads; the rows it shows or scores are read after,
by golden id (golden_rows), so the other columns of the candidates ranked out are never read.

For a name of one word: its 3-letter prefix on lower(last_name) or lower(first_name); of several words, the
3-letter prefix of each word on lower(last_name) with a first name starting with the initial of another word,
or the first word's prefix on lower(first_name) with a surname starting like the last word; the email (a prefix
when it has no '@') on lower(email); the phone as E.164 on phone; the postcode prefix on upper(postal_code).
At most MAX_CANDIDATES per criterion.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub.store.schema import golden_records

MAX_CANDIDATES = 5000
PREFIX = 3
SEARCH_COLUMNS = ["golden_id", "first_name", "last_name", "email", "phone", "postal_code", "city", "date_of_birth"]


@dataclass(frozen=True)
class SearchCriteria:
    name: str | None = None
    email: str | None = None
    phone: str | None = None  # E.164 (hub.api.search.normalize_phone)
    postal_code: str | None = None


def postcode(text: str) -> str:
    """Upper case, whitespace runs as one space, none at the ends (str.split's whitespace is re's \\s)."""
    return " ".join(text.upper().split())


def name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", name.lower()) if w]


def _starts(expr: sa.ColumnElement[Any], prefix: str) -> sa.ColumnElement[bool]:
    """`expr` starts with `prefix`, as a range an index on `expr` answers (open-ended after the last
    character Unicode has, which has no successor)."""
    if ord(prefix[-1]) == sys.maxunicode:
        return expr >= prefix
    return sa.and_(expr >= prefix, expr < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def _conditions(c: SearchCriteria) -> list[sa.ColumnElement[bool]]:
    g = golden_records.c
    last, first = sa.func.lower(g.last_name), sa.func.lower(g.first_name)
    out: list[sa.ColumnElement[bool]] = []
    if c.name:
        words = list(dict.fromkeys(name_words(c.name)))
        if len(words) == 1:
            out += [_starts(last, words[0][:PREFIX]), _starts(first, words[0][:PREFIX])]
        else:  # a surname prefix (any word, in either order) with a first name starting like another word
            # (initials compared with substr(), which no index serves, so the planner scans the prefix range)
            def initial(e: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
                return sa.func.substr(e, 1, 1)

            for w in words:
                others = sorted({o[0] for o in words if o != w})
                out.append(sa.and_(_starts(last, w[:PREFIX]), initial(first).in_(others)))
            out.append(sa.and_(_starts(first, words[0][:PREFIX]), initial(last) == words[-1][0]))
    if c.email:
        e = c.email.strip().lower()
        out.append(sa.func.lower(g.email) == e if "@" in e else _starts(sa.func.lower(g.email), e))
    if c.phone:
        out.append(g.phone == c.phone)
    if c.postal_code:
        out.append(_starts(sa.func.upper(g.postal_code), postcode(c.postal_code)))
    return out


def candidate_queries(
    c: SearchCriteria, limit: int = MAX_CANDIDATES, columns: list[str] = SEARCH_COLUMNS
) -> list[sa.Select[Any]]:
    """One statement per criterion, each an index range scan (tests/test_search_plans.py checks the plans on SQLite
    and PostgreSQL), at most `limit` + 1 rows each (the one over says the criterion hit the limit)."""
    g = golden_records.c
    return [sa.select(*[g[n] for n in columns]).where(cond).limit(limit + 1) for cond in _conditions(c)]


def search_candidates(
    conn: sa.Connection, c: SearchCriteria, limit: int = MAX_CANDIDATES, columns: list[str] = SEARCH_COLUMNS
) -> tuple[dict[str, list[Any]], bool]:
    """Candidates as columns (name -> values; distinct golden ids, in the order the criteria found them): `columns`
    of golden_records, golden_id first, and whether some criterion hit `limit`."""
    if columns[0] != "golden_id":
        raise ValueError(f"golden_id must be the first column, not {columns[0]}")
    found: dict[str, Any] = {}
    truncated = False
    for query in candidate_queries(c, limit, columns):
        rows = conn.execute(query).all()
        truncated |= len(rows) > limit
        for row in rows[:limit]:
            found.setdefault(row[0], row)
    rows = list(found.values())
    return {name: [r[i] for r in rows] for i, name in enumerate(columns)}, truncated


def rows_query(golden_ids: list[str], columns: list[str]) -> sa.Select[Any]:
    """`columns` of the golden records `golden_ids` (primary-key lookups)."""
    g = golden_records.c  # one expanding parameter: a statement cached once, not a bind parameter per id
    return sa.select(*[g[n] for n in columns]).where(g.golden_id.in_(sa.bindparam("ids", golden_ids, expanding=True)))


def golden_rows(conn: sa.Connection, golden_ids: list[str], columns: list[str]) -> dict[str, dict[str, Any]]:
    """golden id -> `columns` (golden_id among them) of those golden records; an id not live is left out."""
    if not golden_ids:
        return {}
    return {row["golden_id"]: dict(row) for row in conn.execute(rows_query(golden_ids, columns)).mappings()}
