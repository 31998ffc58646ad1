"""Match-on-entry: post a customer record, get the golden records it most probably belongs to, scored by
the same saved Splink model the pipeline used, with the reason per comparison. Writes nothing.

1. the model and its term frequencies come from the serving store (match_model and
   match_term_frequencies, published with the golden records), never from the workspace;
2. candidates are found the way search finds them (hub.store.search: index range scans on email, phone,
   surname / first-name prefixes and postcode), at most MAX_PER_CRITERION per criterion, pre-ranked by
   search's rapidfuzz score and cut to MAX_SCORED; only those MAX_SCORED rows are read in full;
3. the record and the candidates are standardized and each (record, candidate) pair scored by the app's
   entry scorer (matching.entry in an in-memory DuckDB; create_app is given its factory, see EntryScoring).
"""

from __future__ import annotations

import gc
import json
import re
import threading
from collections.abc import Callable
from typing import Annotated, Any, Protocol

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request

from hub import access, store
from hub.api import search
from hub.api.auth import engine, require
from hub.api.errors import invalid
from hub.api.policy import Reader
from hub.api.schemas import MatchCandidate, MatchIn, MatchPage
from hub.model import EMAIL_PATTERN, ENTRY_SYSTEM, TermCounts

MAX_PER_CRITERION = 500
MAX_SCORED = 100
FIELDS = list(MatchIn.model_fields)  # canonical attributes a posted record may have
LOOKUP_FIELDS = ("first_name", "last_name", "email", "phone", "postal_code")
_EMAIL = re.compile(EMAIL_PATTERN)


class EntryScoring(Protocol):
    """What scores posted records with one saved model (matching.entry.EntryScorer); the app's factory makes one
    from the parsed model JSON. Called from several request threads at once."""

    def score(
        self, records: list[dict[str, Any]], counts: TermCounts, floor: float = 0.0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """`records`: source_system, source_key and canonical attributes; one of source system ENTRY_SYSTEM,
        the others candidates. Per candidate with a match probability of at least `floor` (at most `limit`, best
        first): source_key, match_probability, match_weight, explanation."""
        ...


class Scorers:
    """The scorer of the published model, per app: rebuilt (by `factory`) when a run publishes another model."""

    def __init__(self, factory: Callable[[dict[str, Any]], EntryScoring]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._current: tuple[tuple[int, str], EntryScoring] | None = None

    def get(self, published: store.PublishedModel) -> EntryScoring:
        key = (published.version, published.run_id)
        with self._lock:
            if self._current is None or self._current[0] != key:
                self._current = (key, self._factory(json.loads(published.model_json)))
                settle_heap()  # the scorer (and Splink, sqlglot, imported for it) lives on
            return self._current[1]


def settle_heap() -> None:
    """Leave what lives on (modules, the app, a scorer) out of the garbage collector's full passes (gc.freeze):
    with the hundreds of thousands of objects a served app holds, each full pass held every request thread of the
    process for 100-170 ms, once every few hundred requests: a p99 of its own (issue 16). Unfrozen and collected
    first, so cyclic garbage frozen the time before (an earlier model's scorer) is freed, not kept."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _record(body: MatchIn, region: str) -> dict[str, Any]:
    """The posted values, blanks dropped and the phone read as E.164 (as connectors store phones)."""
    record = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in body.model_dump().items()}
    if record["email"] and not _EMAIL.fullmatch(record["email"]):
        invalid("email", f"{body.email!r} is not an email address", where="body", value=body.email)
    if record["phone"]:
        e164 = search.normalize_phone(record["phone"], region)
        if e164 is None:
            invalid("phone", f"{body.phone!r} is not a phone number (with no country code it is read as {region})",
                    where="body", value=body.phone)  # fmt: skip
        record["phone"] = e164
    if record["country"]:
        record["country"] = record["country"].upper()
    return record


def _criteria(record: dict[str, Any]) -> store.SearchCriteria:
    """What search looks candidates up by; a 422 when the record gives none of it."""
    name = " ".join(str(record[f]) for f in ("first_name", "last_name") if record[f])
    criteria = store.SearchCriteria(name if store.name_words(name) else None, record["email"], record["phone"],
                               record["postal_code"])  # fmt: skip
    if not any((criteria.name, criteria.email, criteria.phone, criteria.postal_code)):
        invalid("record", f"give at least one of {', '.join(LOOKUP_FIELDS)} to find candidates by", where="body")
    return criteria


def term_counts(conn: sa.Connection, totals: dict[str, int]) -> TermCounts:
    """Counts from the published model's match_term_frequencies (the values two or more scored records share) and
    its totals; a value not listed is held by at most one record, so it counts as one."""

    def lookup(asked: dict[str, list[str]]) -> dict[str, tuple[int, dict[str, int]]]:
        shared = store.shared_values(conn, asked)
        return {
            col: (totals[col], {v: shared.get((col, v), 1) for v in values})
            for col, values in asked.items()
            if totals.get(col)
        }

    return lookup


router = APIRouter(prefix="/v1", tags=["match"], dependencies=[Depends(require("reader"))])


@router.post("/match", summary="Match a new customer record against the golden records", response_model=MatchPage)
def post_match(
    request: Request,
    caller: Reader,
    body: MatchIn,
    limit: Annotated[int, Query(ge=1, le=50, description="at most this many golden records")] = 5,
    threshold: Annotated[
        float | None, Query(ge=0, le=1, description="minimum match probability (default: the review threshold)")
    ] = None,
) -> MatchPage:
    """Give at least one of first_name, last_name, email, phone, postal_code (more fields, better scores).
    The golden records found by index lookups are scored against the record with the published match
    model; those at or above `threshold` come back, most probable first, with per comparison the level
    the pair fell in and its match weight. Nothing is written. 503 until a pipeline run published a model.
    The candidates are those the key's access policy lets it see (hub.yaml access:), their values masked or
    hidden as it says, without the comparisons of hidden fields in the explanation."""
    cfg = request.app.state.config
    record = _record(body, request.app.state.phone_region)
    criteria = _criteria(record)
    floor = cfg.matching.review_threshold if threshold is None else threshold
    with engine(request).connect() as conn:  # one read snapshot: model, candidates, term frequencies
        published = store.published_model(conn)
        if published is None:
            raise HTTPException(503, "no match model has been published yet: run the pipeline first (hub run)")
        scorer = request.app.state.match_scorers.get(published)
        found, _ = store.search_candidates(conn, criteria, MAX_PER_CRITERION, search.rank_columns(criteria))
        ranked = search.rank(found, criteria)
        if caller.policy.sources is not None:
            seen = caller.visible(conn, [g for g, _ in ranked])
            ranked = [hit for hit in ranked if hit[0] in seen]
        kept = [g for g, _ in ranked[:MAX_SCORED]]
        values = store.golden_rows(conn, kept, ["golden_id", *FIELDS])
        records = [
            {"source_system": ENTRY_SYSTEM, "source_key": "new", **record},
            *({"source_system": "golden", "source_key": g, **{f: values[g][f] for f in FIELDS}} for g in kept),
        ]
        best = scorer.score(records, term_counts(conn, published.tf_totals), floor, limit) if kept else []
    shown = caller.records(
        [{f: values[row["source_key"]][f] for f in store.SEARCH_COLUMNS if f != "golden_id"} for row in best]
    )
    results = [
        MatchCandidate(
            golden_id=row["source_key"],
            match_probability=row["match_probability"],
            match_weight=row["match_weight"],
            explanation=_explanation(caller.policy, row["explanation"]),
            **rec,
        )
        for row, rec in zip(best, shown, strict=True)
    ]
    caller.log([row["source_key"] for row in best])
    return MatchPage(
        model_version=published.version, threshold=floor, candidates_scored=len(kept), results=results,
        masked_fields=[f for f in caller.policy.fields_at(access.MASKED) if f in MatchCandidate.model_fields],
        hidden_fields=[f for f in caller.policy.fields_at(access.HIDDEN) if f in MatchCandidate.model_fields],
    )  # fmt: skip


def _explanation(policy: access.Policy, comparisons: list[Any]) -> list[Any]:
    """The scorer's explanation less the comparisons of fields the caller may not see."""
    names = [c["comparison"] if isinstance(c, dict) else c.comparison for c in comparisons]
    hidden = policy.hidden_comparisons(names)
    return [c for c, name in zip(comparisons, names, strict=True) if name not in hidden]
