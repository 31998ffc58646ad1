"""Search golden records by name, email, phone and postal code, ranked by fuzzy similarity.

Three steps, so a million golden records cost what the candidates cost, never a table scan:
1. candidates in SQL, each criterion an index range scan (hub.store.search; at most
   MAX_CANDIDATES per criterion), reading only golden_id and the columns ranking compares;
2. ranking with rapidfuzz over the candidate arrays at once (process.cdist): per criterion given a
   0-100 similarity (WRatio for names, ratio otherwise; a missing value scores 0), the score is
   their mean;
3. the rows of the page asked for, by golden id.
A name misspelt inside the first three letters of the surname and of the first name, or in both
initials, is not found by name alone: add another criterion.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
import phonenumbers
import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from rapidfuzz import fuzz, process, utils

from hub import access, store
from hub.api.auth import engine, require
from hub.api.errors import invalid
from hub.api.policy import Caller, Reader
from hub.api.schemas import SearchHit, SearchIn, SearchPage, SearchQuery


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


def _similarity(
    query: str, values: list[Any], scorer: Any, processor: Callable[[str], str] | None = None, prefix: bool = False
) -> np.ndarray:
    """0-100 per value (missing: 0), both sides through `processor`; with `prefix`, a value that starts with the
    query scores 100."""
    raw = [v if isinstance(v, str) else "" for v in values]
    text = raw if processor is None else [processor(v) for v in raw]
    query = query if processor is None else processor(query)
    scores = process.cdist([query], text, scorer=scorer, dtype=np.float32)[0]
    if prefix:
        scores = np.where([v.startswith(query) for v in text], 100.0, scores)
    return np.where([bool(v) for v in raw], scores, 0.0)


def rank_columns(c: store.SearchCriteria) -> list[str]:
    """golden_id and the columns rank reads for these criteria."""
    given = {"name": c.name, "email": c.email, "phone": c.phone, "postal_code": c.postal_code}
    return ["golden_id", *(col for k, cols in _RANKED.items() if given[k] for col in cols)]


_RANKED = {"name": ("first_name", "last_name"), "email": ("email",), "phone": ("phone",),
           "postal_code": ("postal_code",)}  # fmt: skip


def rank(found: dict[str, list[Any]], c: store.SearchCriteria) -> list[tuple[str, float]]:
    """(golden id, score) of the candidates `found` (columns: rank_columns(c)), best first (ties: golden id)."""
    parts = []
    if c.name:
        names = zip(found["first_name"], found["last_name"], strict=True)
        full = [f"{first or ''} {last or ''}".strip() for first, last in names]
        parts.append(_similarity(c.name, full, fuzz.WRatio, utils.default_process))
    if c.email:
        parts.append(_similarity(c.email.strip().lower(), found["email"], fuzz.ratio, str.lower, prefix=True))
    if c.phone:
        parts.append(_similarity(c.phone, found["phone"], fuzz.ratio))
    if c.postal_code:
        parts.append(_similarity(c.postal_code, found["postal_code"], fuzz.ratio, store.postcode, prefix=True))
    ids = found["golden_id"]
    scores = np.round(np.mean(parts, axis=0).astype(float), 1).tolist() if ids else []
    return sorted(zip(ids, scores, strict=True), key=lambda hit: (-hit[1], hit[0]))


def search(conn: sa.Connection, c: store.SearchCriteria, min_score: float = 0) -> tuple[list[tuple[str, float]], bool]:
    """(golden id, score) of the candidates scoring at least `min_score`, best first, and whether some criterion
    hit the candidate limit."""
    found, truncated = store.search_candidates(conn, c, columns=rank_columns(c))
    return [hit for hit in rank(found, c) if hit[1] >= min_score], truncated


# -------------------------------------------------------------------------------------------- route

router = APIRouter(prefix="/v1", tags=["search"], dependencies=[Depends(require("reader"))])


@router.post("/search", summary="Search golden records, fuzzy-ranked (criteria in the body)", response_model=SearchPage)
def post_search(request: Request, caller: Reader, body: SearchIn) -> SearchPage:
    """The same search as GET /v1/search with the criteria in a JSON body, so names, emails and phones stay
    out of URLs (access logs, proxies, browser history). Give at least one of name, email, phone,
    postal_code."""
    return _search(request, caller, body, "body")


@router.get("/search", summary="Search golden records, fuzzy-ranked", response_model=SearchPage)
def get_search(request: Request, caller: Reader, query: Annotated[SearchQuery, Query()]) -> SearchPage:
    """Give at least one of name, email, phone, postal_code. Candidates come from index range scans
    (see hub/api/search.py), are ranked by the mean rapidfuzz similarity over the criteria given
    (`score`, 0-100), and paginated; `total` counts every ranked candidate. Prefer POST /v1/search:
    criteria in a URL end up in logs (`hub serve` keeps them out of its own access log)."""
    return _search(request, caller, query, "query")


CRITERION_FIELDS = {"name": access.NAME_FIELDS, "email": ("email",), "phone": ("phone",),
                    "postal_code": ("postal_code",)}  # fmt: skip


def refuse_hidden(policy: access.Policy, given: dict[str, str | None]) -> None:
    """403 for a criterion on a field the caller may not see: its answers would tell the hidden value."""
    for criterion, fields in CRITERION_FIELDS.items():
        if given.get(criterion) and any(policy.level(f) == access.HIDDEN for f in fields):
            raise HTTPException(403, f"this API key may not search by {criterion}: {policy.origin} hides it")


def _search(request: Request, caller: Caller, asked: SearchIn, where: str) -> SearchPage:
    raw = {"name": asked.name, "email": asked.email, "phone": asked.phone, "postal_code": asked.postal_code}
    given = {k: (v.strip() or None) if v else None for k, v in raw.items()}
    if not any(given.values()):
        invalid("name", "give at least one of name, email, phone, postal_code", where)
    refuse_hidden(caller.policy, given)
    if given["name"] is not None and not store.name_words(given["name"]):
        invalid("name", "no letters to search for", where, asked.name)
    e164 = None
    if given["phone"]:
        e164 = normalize_phone(given["phone"], request.app.state.phone_region)
        if e164 is None:
            invalid("phone", f"{asked.phone!r} is not a phone number (with no country code it is read as "
                    f"{request.app.state.phone_region})", where, asked.phone)  # fmt: skip
    criteria = store.SearchCriteria(given["name"], given["email"], e164, given["postal_code"])
    start = (asked.page - 1) * asked.page_size
    with engine(request).connect() as conn:  # one read snapshot: candidates and the page's rows
        ranked, truncated = search(conn, criteria, asked.min_score)
        if caller.policy.sources is not None:
            seen = caller.visible(conn, [g for g, _ in ranked])
            ranked = [hit for hit in ranked if hit[0] in seen]
        shown = ranked[start : start + asked.page_size]
        values = store.golden_rows(conn, [g for g, _ in shown], store.SEARCH_COLUMNS)
    hits = caller.records([{**values[g], "score": score} for g, score in shown])
    caller.log([h["golden_id"] for h in hits])
    return SearchPage(
        total=len(ranked),
        page=asked.page,
        page_size=asked.page_size,
        truncated=truncated,
        results=[SearchHit.model_validate(row) for row in hits],
        masked_fields=[f for f in caller.policy.fields_at(access.MASKED) if f in SearchHit.model_fields],
        hidden_fields=[f for f in caller.policy.fields_at(access.HIDDEN) if f in SearchHit.model_fields],
    )
