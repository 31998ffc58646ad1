"""Search golden records by name, email, phone and postal code, ranked by fuzzy similarity.

Two steps, so a million golden records cost what the candidates cost, never a table scan:
1. candidates in SQL, each criterion an index range scan (migration 0003's expression indexes):
   for a name of one word, its 3-letter prefix on lower(last_name) or lower(first_name); of several
   words, the 3-letter prefix of each word on lower(last_name) with a first name starting with the
   initial of another word, or the first word's prefix on lower(first_name) with a surname starting
   like the last word; the email (a prefix when it has no '@') on lower(email); the phone as E.164
   on phone; the postcode prefix on upper(postal_code). At most MAX_CANDIDATES per criterion;
2. ranking with rapidfuzz over the candidate arrays at once (process.cdist): per criterion given a
   0-100 similarity (WRatio for names, ratio otherwise; a missing value scores 0), the score is
   their mean.
A name misspelt inside the first three letters of the surname and of the first name, or in both
initials, is not found by name alone: add another criterion.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import pandas as pd
import phonenumbers
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from rapidfuzz import fuzz, process, utils

from hub import store
from hub.api.auth import engine, require
from hub.api.errors import invalid
from hub.api.schemas import SearchHit, SearchIn, SearchPage, SearchQuery

MAX_CANDIDATES = 5000
PREFIX = 3
COLUMNS = ["golden_id", "first_name", "last_name", "email", "phone", "postal_code", "city", "date_of_birth"]


@dataclass(frozen=True)
class Criteria:
    name: str | None = None
    email: str | None = None
    phone: str | None = None  # E.164 (see normalize_phone)
    postal_code: str | None = None


def normalize_phone(text: str, region: str) -> str | None:
    """E.164 as golden records hold phones; None when it is not a possible number."""
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def default_region(regions: list[str]) -> str:
    """The region a phone without a country code is read in: the one most sources use."""
    return Counter(regions).most_common(1)[0][0] if regions else "US"


def _postcode(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().upper())


def name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", name.lower()) if w]


def _starts(expr: sa.ColumnElement, prefix: str) -> sa.ColumnElement[bool]:
    """`expr` starts with `prefix`, as a range an index on `expr` answers (open-ended after the last
    character Unicode has, which has no successor)."""
    if ord(prefix[-1]) == sys.maxunicode:
        return expr >= prefix
    return sa.and_(expr >= prefix, expr < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def _conditions(c: Criteria) -> list[sa.ColumnElement[bool]]:
    g = store.golden_records.c
    last, first = sa.func.lower(g.last_name), sa.func.lower(g.first_name)
    out: list[sa.ColumnElement[bool]] = []
    if c.name:
        words = list(dict.fromkeys(name_words(c.name)))
        if len(words) == 1:
            out += [_starts(last, words[0][:PREFIX]), _starts(first, words[0][:PREFIX])]
        else:  # a surname prefix (any word, in either order) with a first name starting like another word
            # (initials compared with substr(), which no index serves, so the planner scans the prefix range)
            initial = lambda e: sa.func.substr(e, 1, 1)  # noqa: E731
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
        out.append(_starts(sa.func.upper(g.postal_code), _postcode(c.postal_code)))
    return out


def candidates(
    conn: sa.Connection, c: Criteria, limit: int = MAX_CANDIDATES, columns: list[str] = COLUMNS
) -> tuple[pd.DataFrame, bool]:
    """Candidate rows (distinct golden ids; `columns` of golden_records, golden_id and those `rank`
    reads among them) and whether some criterion hit `limit`."""
    g = store.golden_records.c
    cols = [g[n] for n in columns]
    frames, truncated = [], False
    for cond in _conditions(c):
        rows = conn.execute(sa.select(*cols).where(cond).limit(limit + 1)).all()
        truncated |= len(rows) > limit
        frames.append(pd.DataFrame(rows[:limit], columns=columns, dtype=object))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return frame.drop_duplicates("golden_id", ignore_index=True), truncated


def _similarity(
    query: str, choices: pd.Series, scorer, processor=utils.default_process, prefix: bool = False
) -> np.ndarray:
    """0-100 per choice (missing: 0); with `prefix`, a choice that starts with the query scores 100."""
    values = [v if isinstance(v, str) else "" for v in choices]
    scores = process.cdist([query], values, scorer=scorer, processor=processor, dtype=np.float32)[0]
    if prefix:
        q = processor(query) if processor else query
        text = pd.Series([processor(v) if processor else v for v in values], dtype=object)
        scores = np.where(text.str.startswith(q).to_numpy(dtype=bool), 100.0, scores)
    return np.where([bool(v) for v in values], scores, 0.0)


def rank(frame: pd.DataFrame, c: Criteria) -> pd.DataFrame:
    """`frame` with a `score` column, best first (ties: golden id)."""
    parts = []
    if c.name:
        full = frame["first_name"].fillna("").astype(str) + " " + frame["last_name"].fillna("").astype(str)
        parts.append(_similarity(c.name, full.str.strip(), fuzz.WRatio))
    if c.email:
        parts.append(_similarity(c.email.strip().lower(), frame["email"], fuzz.ratio, str.lower, prefix=True))
    if c.phone:
        parts.append(_similarity(c.phone, frame["phone"], fuzz.ratio, None))
    if c.postal_code:
        parts.append(_similarity(_postcode(c.postal_code), frame["postal_code"], fuzz.ratio, _postcode, prefix=True))
    scores = np.mean(parts, axis=0) if len(frame) else np.zeros(0)
    out = frame.assign(score=np.round(scores.astype(float), 1))
    return out.sort_values(["score", "golden_id"], ascending=[False, True], ignore_index=True)


def search(conn: sa.Connection, c: Criteria, min_score: float = 0) -> tuple[pd.DataFrame, bool]:
    frame, truncated = candidates(conn, c)
    ranked = rank(frame, c)
    return ranked[ranked["score"] >= min_score].reset_index(drop=True), truncated


# -------------------------------------------------------------------------------------------- route

router = APIRouter(prefix="/v1", tags=["search"], dependencies=[Depends(require("reader"))])


@router.post("/search", summary="Search golden records, fuzzy-ranked (criteria in the body)", response_model=SearchPage)
def post_search(request: Request, body: SearchIn) -> SearchPage:
    """The same search as GET /v1/search with the criteria in a JSON body, so names, emails and phones stay
    out of URLs (access logs, proxies, browser history). Give at least one of name, email, phone,
    postal_code."""
    return _search(request, body, "body")


@router.get("/search", summary="Search golden records, fuzzy-ranked", response_model=SearchPage)
def get_search(request: Request, query: Annotated[SearchQuery, Query()]) -> SearchPage:
    """Give at least one of name, email, phone, postal_code. Candidates come from index range scans
    (see hub/api/search.py), are ranked by the mean rapidfuzz similarity over the criteria given
    (`score`, 0-100), and paginated; `total` counts every ranked candidate. Prefer POST /v1/search:
    criteria in a URL end up in logs (`hub serve` keeps them out of its own access log)."""
    return _search(request, query, "query")


def _search(request: Request, asked: SearchIn, where: str) -> SearchPage:
    raw = {"name": asked.name, "email": asked.email, "phone": asked.phone, "postal_code": asked.postal_code}
    given = {k: (v.strip() or None) if v else None for k, v in raw.items()}
    if not any(given.values()):
        invalid("name", "give at least one of name, email, phone, postal_code", where)
    if given["name"] is not None and not name_words(given["name"]):
        invalid("name", "no letters to search for", where, asked.name)
    e164 = None
    if given["phone"]:
        e164 = normalize_phone(given["phone"], request.app.state.phone_region)
        if e164 is None:
            invalid("phone", f"{asked.phone!r} is not a phone number (with no country code it is read as "
                    f"{request.app.state.phone_region})", where, asked.phone)  # fmt: skip
    criteria = Criteria(given["name"], given["email"], e164, given["postal_code"])
    with engine(request).connect() as conn:
        ranked, truncated = search(conn, criteria, asked.min_score)
    start = (asked.page - 1) * asked.page_size
    shown = ranked.iloc[start : start + asked.page_size]
    hits = shown.astype(object).where(shown.notna(), None)
    return SearchPage(
        total=len(ranked),
        page=asked.page,
        page_size=asked.page_size,
        truncated=truncated,
        results=[SearchHit(**row) for row in hits.to_dict("records")],
    )
