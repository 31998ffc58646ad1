"""The steward web UI under /ui: server-rendered pages (Jinja2) over the same store and API functions
as the REST endpoints, so the two cannot disagree. A steward signs in with an API key and gets a
server-side session (hub.api.sessions): the HttpOnly, SameSite=Strict cookie holds only its random id,
and signing out ends it. Failed sign-ins are throttled like failed API key checks (hub.api.throttle).
Every form carries a CSRF token derived from the session id with a secret made at start. Readers may
look; deciding, splitting, merging and pinning need the steward role. Decisions and pins reach golden
records as the API's do (hub.api.apply: at once under `hub serve`, else at the next pipeline run); the
pages say which."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from fastapi import APIRouter, BackgroundTasks, Depends, Form, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from hub import access, store
from hub.api import consent, golden, review
from hub.api.auth import engine, throttled
from hub.api.errors import invalid
from hub.api.keys import ApiKey, authenticate, live_key, role_allows
from hub.api.policy import Caller, caller_for
from hub.api.schemas import MAX_PAGE, Applies, DecisionIn, MergeIn, PinIn, SplitIn, Text
from hub.model import CANONICAL_FIELDS, CHANNELS

COOKIE = "hub_ui_session"
PAGE_SIZE = 50
MAX_POS = MAX_PAGE * PAGE_SIZE  # a position in the queue, as deep as the deepest page
_SECRET = secrets.token_bytes(32)
_TEMPLATES = Jinja2Templates(directory=FilePath(__file__).with_name("templates"))


def path_part(record_id: str) -> str:
    """A record id as one URL path segment, its ':' kept readable."""
    return quote(record_id, safe=":@")


_TEMPLATES.env.filters["path_part"] = path_part
NOTICES = {  # ?notice=<code>&applies=<when> after a redirect: fixed texts, so a link cannot put words on the page
    "match": "Stored: match.",
    "not_match": "Stored: not a match.",
    "skip": "Skipped: the pair stays in the queue.",
    "split": "Split stored: the record leaves this golden record.",
    "merge": "Merge stored: the two golden records become one.",
    "pin": "Pin stored: it wins survivorship until unpinned.",
    "unpin": "Pin removed: survivorship decides the field again.",
    "consent": "Consent stored: the golden record shows it now; sources that accept it follow at the next write-back.",
    "dnc_lifted": "Do-not-contact lifted: the golden record shows each channel's own most recent choice again now; "
    "sources that accept it follow at the next write-back.",
}
_NO_WHEN = ("skip", "consent", "dnc_lifted")
WHEN = {
    "now": "Golden records are being updated now; reload in a few seconds to see it.",
    "next_run": "Golden records follow at the next pipeline run.",
}
RecordId = Annotated[Text, Path(min_length=3, max_length=320)]
Sort = Literal["probability_desc", "probability_asc"]


def _message(exc: RequestValidationError) -> str:
    """The messages, each after the name of the field at fault (as the API's `message` reads)."""
    return "; ".join(f"{e['loc'][-1]}: {e['msg']}" if e.get("loc") else str(e["msg"]) for e in exc.errors())


def _error(request: Request, status: int, message: Any) -> Response:
    return _TEMPLATES.TemplateResponse(request, "error.html", {"status": status, "message": message}, status)


class _HtmlErrors(APIRoute):
    """Errors of /ui pages as an HTML page (a missing sign-in as a redirect), not the API's JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handle(request)
            except HTTPException as exc:
                if exc.status_code == 303 and exc.headers is not None:
                    return RedirectResponse(exc.headers["Location"], 303)
                return _error(request, exc.status_code, exc.detail)
            except RequestValidationError as exc:
                return _error(request, 422, _message(exc))

        return run


router = APIRouter(prefix="/ui", include_in_schema=False, route_class=_HtmlErrors)


# ------------------------------------------------------------------------------------ sign-in and CSRF


def csrf_token(session_id: str) -> str:
    return hmac.new(_SECRET, session_id.encode(), hashlib.sha256).hexdigest()


def signed_in(request: Request) -> ApiKey:
    """The key of the session in the cookie; no, an ended or expired session, or a key revoked since,
    sends the browser to sign in."""
    session_id = request.cookies.get(COOKIE)
    key_id = request.app.state.sessions.key_id(session_id) if session_id else None
    key = None
    if key_id:
        with engine(request).connect() as conn:
            key = live_key(conn, key_id)
    if key is None:
        raise HTTPException(303, "sign in first", headers={"Location": "/ui/login"})
    return key


Viewer = Annotated[ApiKey, Depends(signed_in)]


def _viewer(request: Request, key: Viewer, background: BackgroundTasks) -> Caller:
    """The signed-in key with its access policy (hub.access): the pages show what the API would show it."""
    return caller_for(request, key, background)


Looker = Annotated[Caller, Depends(_viewer)]


def checked_form(request: Request, key: Viewer, csrf: Annotated[Text, Form()] = "") -> ApiKey:
    """A POST of a signed-in session whose form carries the session's CSRF token."""
    if not hmac.compare_digest(csrf.encode(), csrf_token(request.cookies[COOKIE]).encode()):
        raise HTTPException(403, "The form's security token is missing or out of date: reload the page and try again.")
    return key


def steward(key: Annotated[ApiKey, Depends(checked_form)]) -> ApiKey:
    if not role_allows(key.role, "steward"):
        raise HTTPException(403, f"This needs the steward role; you are signed in with {key.name!r}, a {key.role} key.")
    return key


Steward = Annotated[ApiKey, Depends(steward)]


def _page(request: Request, name: str, key: ApiKey | None, status: int = 200, **context: Any) -> Response:
    session_id = request.cookies.get(COOKIE)
    context |= {
        "key": key,
        "csrf": csrf_token(session_id) if key and session_id else "",
        "can_write": key is not None and role_allows(key.role, "steward"),
        "notice": _notice(request.query_params.get("notice", ""), request.query_params.get("applies", "")),
        "applies_now": _applies_now(request),
    }
    return _TEMPLATES.TemplateResponse(request, name, context, status)


def _notice(code: str, applies: str) -> str | None:
    if code not in NOTICES:
        return None
    return NOTICES[code] if code in _NO_WHEN else f"{NOTICES[code]} {WHEN.get(applies, WHEN['next_run'])}"


def _applies_now(request: Request) -> bool:
    applier = request.app.state.applier
    return applier is not None and applier.mode == "immediately"


@router.get("")
def home() -> RedirectResponse:
    return RedirectResponse("/ui/review", 303)


@router.get("/login")
def login_form(request: Request) -> Response:
    return _page(request, "login.html", None)


@router.post("/login")
def login(request: Request, api_key: Annotated[Text, Form(max_length=200)] = "") -> Response:
    who, wait = throttled(request, api_key)
    if wait:
        message = f"Too many failed sign-ins from this address or with this key: try again in {wait} seconds."
        response = _page(request, "login.html", None, 429, error=message)
        response.headers["Retry-After"] = str(wait)
        return response
    with engine(request).connect() as conn:
        key = authenticate(conn, api_key)
    if key is None:
        request.app.state.throttle.failed(who)
        message = (
            "That key is not valid (unknown, mistyped or revoked): paste the whole key that hub apikey create printed."
        )
        return _page(request, "login.html", None, 401, error=message)
    sessions = request.app.state.sessions
    response = RedirectResponse("/ui/review", 303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE, sessions.start(key.key_id), max_age=int(sessions.seconds), httponly=True, samesite="strict",
        secure=secure, path="/ui",
    )  # fmt: skip
    return response


@router.post("/logout")
def logout(request: Request, _key: Annotated[ApiKey, Depends(checked_form)]) -> Response:
    """Ends the session on the server: the same cookie, replayed, no longer opens /ui."""
    request.app.state.sessions.end(request.cookies[COOKIE])
    response = RedirectResponse("/ui/login", 303)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


# ---------------------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class QueueView:
    """The queue's filters and order, carried from the queue to the pair view and back."""

    min_probability: float = 0.0
    max_probability: float = 1.0
    source: str = ""
    sort: Sort = "probability_desc"

    def page(
        self, conn: sa.Connection, limit: int, offset: int, caller: Caller
    ) -> tuple[int, Sequence[sa.Row[*tuple[Any, ...]]]]:
        """The same read as GET /v1/review (the pairs of the sources `caller` sees)."""
        if self.min_probability > self.max_probability:
            invalid("min_probability", f"must not exceed max_probability ({self.max_probability})")
        descending = review.SORTS[self.sort] == "desc"
        return store.review_page(
            conn, self.min_probability, self.max_probability, self.source or None, descending, limit, offset,
            caller.policy.sources,
        )  # fmt: skip

    def query(self, **more: Any) -> str:
        return urlencode({**asdict(self), **more})


def queue_view(
    min_probability: Annotated[float, Query(ge=0, le=1)] = 0.0,
    max_probability: Annotated[float, Query(ge=0, le=1)] = 1.0,
    source: Annotated[Text, Query(max_length=64)] = "",
    sort: Sort = "probability_desc",
) -> QueueView:
    return QueueView(min_probability, max_probability, source, sort)


def _names(caller: Caller, records_json: list[str | None]) -> list[str]:
    """The names of queued records as the caller may see them (hub.access: masked, or none)."""
    names = [{f: (json.loads(r) if r else {}).get(f) for f in access.NAME_FIELDS} for r in records_json]
    shown = caller.records(names, drop_hidden=True)
    return [" ".join(str(n[f]) for f in access.NAME_FIELDS if n.get(f)) or "(no name)" for n in shown]


@router.get("/review")
def queue(
    request: Request,
    caller: Looker,
    view: Annotated[QueueView, Depends(queue_view)],
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    offset = (page - 1) * PAGE_SIZE
    with engine(request).connect() as conn:
        total, rows = view.page(conn, PAGE_SIZE, offset, caller)
        queue_size = store.queue_size(conn)
    names_l, names_r = _names(caller, [r.record_l for r in rows]), _names(caller, [r.record_r for r in rows])
    pairs = [{"row": r, "name_l": names_l[i], "name_r": names_r[i], "pos": offset + i} for i, r in enumerate(rows)]
    caller.log([g for r in rows for g in (r.golden_id_l, r.golden_id_r)])
    return _page(
        request,
        "queue.html",
        caller.key,
        view=view,
        pairs=pairs,
        total=total,
        queue_size=queue_size,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        sources=list(request.app.state.config.sources),
    )


# ------------------------------------------------------------------------------------------ a pair


def _fields(*records: dict[str, Any] | None) -> list[str]:
    """Canonical fields in model order, then any extra attribute the records have."""
    present = {name for rec in records if rec for name in rec}
    canonical = [f.name for f in CANONICAL_FIELDS if f.name in present]
    return canonical + sorted(present - set(canonical))


def _pair_page(
    request: Request, caller: Caller, id_l: str, id_r: str, view: QueueView, pos: int, error: str = "",
    status: int = 200,
) -> Response:  # fmt: skip
    try:
        pair = review.get_pair(request, caller, id_l, id_r)
    except HTTPException:
        if not error:
            raise
        return _error(request, status, error)  # a refused decision about a pair that is neither queued nor decided
    explanation = pair.item.explanation if pair.item else {}
    scale = max((abs(w) for w in explanation.values() if w is not None), default=0.0) or 1.0
    bars = [(name, w, 0 if w is None else round(100 * abs(w) / scale, 1)) for name, w in explanation.items()]
    rows = [
        (f, (pair.record_l or {}).get(f), (pair.record_r or {}).get(f)) for f in _fields(pair.record_l, pair.record_r)
    ]
    return _page(
        request, "pair.html", caller.key, status, pair=pair, rows=rows, bars=bars, view=view, pos=pos, error=error
    )


@router.get("/review/{id_l}/{id_r}")
def pair_view(
    request: Request,
    caller: Looker,
    id_l: RecordId,
    id_r: RecordId,
    view: Annotated[QueueView, Depends(queue_view)],
    pos: Annotated[int, Query(ge=0, le=MAX_POS)] = 0,
) -> Response:
    return _pair_page(request, caller, id_l, id_r, view, pos)


def _next_pair(
    request: Request, caller: Caller, view: QueueView, offset: int, current: tuple[str, str], notice: str,
    applies: str,
) -> str:  # fmt: skip
    """The pair now at `offset` of the queue as the steward saw it (wrapping to its start), else the queue."""
    with engine(request).connect() as conn:
        _, rows = view.page(conn, 1, offset, caller)
        if not rows and offset:
            offset, (_, rows) = 0, view.page(conn, 1, 0, caller)
    if not rows or (rows[0].id_l, rows[0].id_r) == current:
        return f"/ui/review?{view.query(notice=notice, applies=applies)}"
    query = view.query(pos=offset, notice=notice, applies=applies)
    return f"/ui/review/{path_part(rows[0].id_l)}/{path_part(rows[0].id_r)}?{query}"


@router.post("/review/{id_l}/{id_r}")
def pair_decide(
    request: Request,
    key: Steward,
    background: BackgroundTasks,
    id_l: RecordId,
    id_r: RecordId,
    decision: Annotated[Literal["match", "not_match", "skip"], Form()],
    note: Annotated[Text, Form(max_length=2000)] = "",
    pos: Annotated[int, Form(ge=0, le=MAX_POS)] = 0,
    min_probability: Annotated[float, Form(ge=0, le=1)] = 0.0,
    max_probability: Annotated[float, Form(ge=0, le=1)] = 1.0,
    source: Annotated[Text, Form(max_length=64)] = "",
    sort: Annotated[Sort, Form()] = "probability_desc",
) -> Response:
    """Through the same function as POST /v1/review/decision; then on to the next pair of the queue."""
    view, caller = QueueView(min_probability, max_probability, source, sort), caller_for(request, key, background)
    try:
        body = DecisionIn(id_l=id_l, id_r=id_r, decision=decision, note=note.strip() or None)
        out = review.decide(request, key, body)
    except HTTPException as exc:
        return _pair_page(request, caller, id_l, id_r, view, pos, str(exc.detail), exc.status_code)
    except RequestValidationError as exc:
        return _pair_page(request, caller, id_l, id_r, view, pos, _message(exc), 422)
    offset = pos + 1 if decision == "skip" else pos  # a decided pair left the queue: the next one moved up
    pair = (min(id_l, id_r), max(id_l, id_r))
    return RedirectResponse(_next_pair(request, caller, view, offset, pair, decision, out.applies), 303)


# ------------------------------------------------------------------------------------ a golden record


def _pending(conn: sa.Connection, records: list[str]) -> tuple[Any, list[dict[str, Any]]]:
    """(finish of the last published run, current decisions about `records` made after it): what the
    next run will apply."""
    head = store.last_published(conn)
    since = head.finished_at if head else None
    return since, store.decisions_since(conn, records, since)


def _golden_page(request: Request, caller: Caller, golden_id: str, error: str = "", status: int = 200) -> Response:
    rec = golden.get_golden(request, caller, golden_id)
    if rec.redirected:
        query = urlencode({"retired": golden_id})
        return RedirectResponse(f"/ui/golden/{rec.golden_id}?{query}", 303)
    sources = golden.get_sources(request, caller, golden_id).sources
    with engine(request).connect() as conn:
        members = store.members(conn, rec.golden_id)
        published_at, pending = _pending(conn, members)
        overrides = store.overrides(conn, rec.golden_id)
        retired = request.query_params.get("retired", "")
        retired_into_this = bool(retired) and store.resolve(conn, retired) == rec.golden_id
        choices = store.consent.current(conn, rec.golden_id, consent.rules(request))
        consent_history = (store.consent.history(conn, rec.golden_id) or ("", []))[1]
    pins = {str(p["field"]): {str(k): v for k, v in p.items()} for p in overrides.to_dict("records")}
    pinned = caller.records([{f: p["value"] for f, p in pins.items()}], drop_hidden=True)[0]  # as the values show
    pins = {f: {**p, "value": pinned[f]} for f, p in pins.items() if f in pinned}
    values = {**rec.attributes.model_dump(), **rec.extra}
    fields = [*store.ATTRIBUTES, *sorted(set(request.app.state.config.attributes) - set(store.ATTRIBUTES))]
    shown = [f for f in fields if caller.policy.level(f) != access.HIDDEN]
    rows = [(f, values.get(f), rec.lineage.get(f), pins.get(f)) for f in shown]
    return _page(
        request,
        "golden.html",
        caller.key,
        status,
        rec=rec,
        rows=rows,
        sources=sources,
        pending=pending,
        published_at=published_at,
        retired=retired if retired_into_this else "",
        error=error,
        consent=choices,
        consent_history=consent_history[-20:][::-1],
        consent_cfg=request.app.state.config.consent,
        channels=CHANNELS,
    )


@router.get("/golden/{golden_id}")
def golden_view(request: Request, caller: Looker, golden_id: review.GoldenId) -> Response:
    return _golden_page(request, caller, golden_id)


def _golden_action(
    request: Request, caller: Caller, golden_id: str, notice: str, action: Callable[[], Applies]
) -> Response:
    """Run one API write for the golden record's page (it says when it applies); back to the page,
    with the error if it failed."""
    try:
        applies = action()
    except HTTPException as exc:
        return _golden_page(request, caller, golden_id, str(exc.detail), exc.status_code)
    except RequestValidationError as exc:
        return _golden_page(request, caller, golden_id, _message(exc), 422)
    return RedirectResponse(f"/ui/golden/{golden_id}?{urlencode({'notice': notice, 'applies': applies})}", 303)


@router.post("/golden/{golden_id}/split")
def golden_split(
    request: Request,
    key: Steward,
    background: BackgroundTasks,
    golden_id: review.GoldenId,
    source_system: Annotated[Text, Form(min_length=1, max_length=64)],
    source_key: Annotated[Text, Form(min_length=1, max_length=255)],
) -> Response:
    body = SplitIn(source_system=source_system, source_key=source_key)
    caller = caller_for(request, key, background)
    return _golden_action(
        request, caller, golden_id, "split", lambda: review.split(request, key, golden_id, body).applies
    )


@router.post("/golden/{golden_id}/merge")
def golden_merge(
    request: Request,
    key: Steward,
    background: BackgroundTasks,
    golden_id: review.GoldenId,
    other: Annotated[Text, Form(max_length=32)] = "",
) -> Response:
    def merge() -> Applies:
        if not other.strip():
            invalid("other", "type the golden id to merge with", "body", other)
        return review.merge(request, key, MergeIn(golden_ids=[golden_id, other.strip()])).applies

    return _golden_action(request, caller_for(request, key, background), golden_id, "merge", merge)


@router.post("/golden/{golden_id}/pin")
def golden_pin(
    request: Request,
    key: Steward,
    background: BackgroundTasks,
    golden_id: review.GoldenId,
    field: Annotated[Text, Form(min_length=1, max_length=64)],
    value: Annotated[Text, Form(max_length=2000)] = "",
) -> Response:
    def pin() -> Applies:
        if not value.strip():
            invalid("value", f"type the value to pin {field} to", "body", value)
        return review.pin(request, key, golden_id, PinIn(field=field, value=value.strip())).applies

    return _golden_action(request, caller_for(request, key, background), golden_id, "pin", pin)


@router.post("/golden/{golden_id}/unpin")
def golden_unpin(
    request: Request,
    key: Steward,
    background: BackgroundTasks,
    golden_id: review.GoldenId,
    field: Annotated[Text, Form(min_length=1, max_length=64)],
) -> Response:
    caller = caller_for(request, key, background)
    return _golden_action(
        request, caller, golden_id, "unpin", lambda: review.unpin(request, key, golden_id, field)["applies"]
    )


@router.post("/golden/{golden_id}/consent")
def golden_consent(
    request: Request,
    key: Steward,
    background: BackgroundTasks,
    golden_id: review.GoldenId,
    channel: Annotated[Text, Form(max_length=16)],
    purpose: Annotated[Text, Form(max_length=64)],
    value: Annotated[Text, Form(max_length=16)],
    legal_basis: Annotated[Text, Form(max_length=64)],
    note: Annotated[Text, Form(max_length=2000)] = "",
) -> Response:
    """A service agent records a person's choice ("no more SMS"): the API's code path, source 'steward'."""

    def record() -> Applies:
        fields = {"channel": channel, "purpose": purpose, "value": value, "legal_basis": legal_basis,
                  "note": note.strip() or None}  # fmt: skip
        consent.record_choice(request, golden_id, key.name, "steward", fields)
        return "now"

    return _golden_action(request, caller_for(request, key, background), golden_id, "consent", record)


@router.post("/golden/{golden_id}/do-not-contact")
def golden_do_not_contact(
    request: Request,
    key: Steward,
    background: BackgroundTasks,
    golden_id: review.GoldenId,
    flag: Annotated[Literal["set", "lift"], Form()],
    legal_basis: Annotated[Text, Form(max_length=64)] = "consent",
    note: Annotated[Text, Form(max_length=2000)] = "",
) -> Response:
    def record() -> Applies:
        fields = {"channel": store.consent.ALL, "purpose": store.consent.ALL,
                  "value": "denied" if flag == "set" else "granted", "legal_basis": legal_basis,
                  "note": note.strip() or None}  # fmt: skip
        consent.record_choice(request, golden_id, key.name, "steward", fields)
        return "now"

    notice = "consent" if flag == "set" else "dnc_lifted"
    return _golden_action(request, caller_for(request, key, background), golden_id, notice, record)
