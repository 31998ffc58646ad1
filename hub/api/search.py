"""Search golden records by name, email, phone and postal code, ranked by fuzzy similarity.

Two steps, so a million golden records cost what the candidates cost, never a table scan:
1. candidates in SQL, each criterion an index range scan (hub.store.search; at most
   MAX_CANDIDATES per criterion);
2. ranking with rapidfuzz over the candidate arrays at once (process.cdist): per criterion given a
   0-100 similarity (WRatio for names, ratio otherwise; a missing value scores 0), the score is
   their mean.
A name misspelt inside the first three letters of the surname and of the first name, or in both
initials, is not found by name alone: add another criterion.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import numpy as np
import pandas as pd
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


def rank(frame: pd.DataFrame, c: store.SearchCriteria) -> pd.DataFrame:
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
        parts.append(
            _similarity(store.postcode(c.postal_code), frame["postal_code"], fuzz.ratio, store.postcode, prefix=True)
        )
    scores = np.mean(parts, axis=0) if len(frame) else np.zeros(0)
    out = frame.assign(score=np.round(scores.astype(float), 1))
    return out.sort_values(["score", "golden_id"], ascending=[False, True], ignore_index=True)


def search(conn: sa.Connection, c: store.SearchCriteria, min_score: float = 0) -> tuple[pd.DataFrame, bool]:
    frame, truncated = store.search_candidates(conn, c)
    ranked = rank(frame, c)
    return ranked[ranked["score"] >= min_score].reset_index(drop=True), truncated


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
    with engine(request).connect() as conn:
        ranked, truncated = search(conn, criteria, asked.min_score)
        if caller.policy.sources is not None:
            ranked = ranked[ranked["golden_id"].isin(caller.visible(conn, ranked["golden_id"]))]
    start = (asked.page - 1) * asked.page_size
    shown = ranked.iloc[start : start + asked.page_size]
    rows: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in shown.astype(object).where(shown.notna(), None).to_dict("records")
    ]
    hits = caller.records(rows)
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
