"""Consent and preferences of a golden record: the choice in force per channel and purpose, every choice ever
recorded (with its source and legal basis), and recording a choice or the do-not-contact flag (steward role).

A choice of the purpose the sources record (hub.yaml `consent.source_purpose`) changes the golden record at once
(a new version: reads and the change feed see it) and reaches every source that accepts the field on the next
write-back. The most recent choice wins; an opt-out is never overwritten by an older opt-in (hub.store.consent)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from hub import access, store
from hub.api.auth import engine, require
from hub.api.errors import invalid
from hub.api.keys import ApiKey
from hub.api.policy import Caller, not_found
from hub.api.policy import Reader as Looker
from hub.api.schemas import Problem, Text, UtcTime

router = APIRouter(prefix="/v1", tags=["consent"])
Steward = Annotated[ApiKey, Depends(require("steward"))]
GoldenId = Annotated[Text, Path(max_length=32, examples=["G00000042"], description="a golden id, live or retired")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "no live golden record"}}
Value = Literal["granted", "denied", "unknown"]


class ConsentEvent(BaseModel):
    event_id: str
    golden_id: str = Field(description="the golden record it was recorded on (a merged id's events follow it)")
    channel: str = Field(description="email, sms, phone, post; 'all' for the do-not-contact flag")
    purpose: str = Field(description="one of hub.yaml's consent.purposes; 'all' for the do-not-contact flag")
    value: Value
    legal_basis: str | None
    recorded_at: datetime = Field(description="when the person made the choice (UTC)")
    source: str = Field(description="a source system, 'api' or 'steward'")
    source_key: str | None = Field(description="the source record, for a source's choice")
    recorded_by: str | None = Field(description="the API key or steward who recorded it")
    note: str | None
    run_id: str | None = Field(description="the publish that saw a source's change")
    created_at: datetime = Field(description="when the hub stored it (UTC)")


class ConsentChoice(BaseModel):
    channel: str
    purpose: str
    value: Value = Field(description="the most recent explicit choice; 'unknown': none")
    effective: Value = Field(description="what it comes to: 'denied' while do-not-contact covers the purpose")
    recorded_at: datetime | None
    source: str | None
    legal_basis: str | None
    event_id: str | None


class ConsentState(BaseModel):
    requested_id: str
    golden_id: str
    do_not_contact: bool
    do_not_contact_since: datetime | None = Field(description="when the flag was set (None: not set)")
    choices: list[ConsentChoice] = Field(description="one per channel x purpose")


class ConsentHistory(BaseModel):
    requested_id: str
    golden_id: str
    events: list[ConsentEvent] = Field(description="every recorded choice, oldest first")


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Text = Field(max_length=16, examples=["sms"])
    purpose: Text = Field(max_length=64, examples=["marketing"])
    value: Value = Field(examples=["denied"])
    legal_basis: Text = Field(max_length=64, examples=["consent"])
    recorded_at: UtcTime | None = Field(None, description="when the person made the choice (default: now)")
    note: Text | None = Field(None, max_length=2000, examples=["customer called: no more SMS"])


class DoNotContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    set: bool = Field(description="true: contact nobody on any channel for the covered purposes; false: lift it")
    legal_basis: Text = Field("consent", max_length=64)
    recorded_at: UtcTime | None = None
    note: Text | None = Field(None, max_length=2000)


class ConsentRecorded(BaseModel):
    requested_id: str
    golden_id: str
    event: ConsentEvent
    version: int = Field(description="the golden record's version now (a new one if its consent fields changed)")


def rules(request: Request) -> store.consent.Rules:
    return store.consent.Rules.of(request.app.state.config.consent)


@router.get(
    "/golden/{golden_id}/consent",
    summary="The consent in force per channel and purpose",
    response_model=ConsentState,
    responses=_NOT_FOUND,
)
def get_consent(request: Request, caller: Looker, golden_id: GoldenId) -> ConsentState:
    """Per channel x purpose, the most recent explicit choice (at the same time, 'denied'), and the do-not-contact
    flag; a retired id answers with its survivor's. A channel whose consent field the caller's access policy hides
    is left out; a record of sources the caller may not see is not found."""
    with engine(request).connect() as conn:
        state = store.consent.current(conn, golden_id, rules(request))
        if state is not None and not caller.sees(conn, state["golden_id"]):
            raise not_found(golden_id)
    if state is None:
        raise HTTPException(404, f"no live golden record {golden_id!r}")
    dnc = state["do_not_contact"]
    return ConsentState(
        requested_id=golden_id,
        golden_id=state["golden_id"],
        do_not_contact=dnc is not None,
        do_not_contact_since=dnc["recorded_at"] if dnc else None,
        choices=[ConsentChoice(**c) for c in state["choices"] if _shown(caller, c["channel"])],
    )


@router.get(
    "/golden/{golden_id}/consent/history",
    summary="Every consent choice recorded for a golden record",
    response_model=ConsentHistory,
    responses=_NOT_FOUND,
)
def get_consent_history(request: Request, caller: Looker, golden_id: GoldenId) -> ConsentHistory:
    """Oldest first: the sources' changes (seen at publish), the choices recorded through the API and the steward
    UI, and the do-not-contact flag (channel and purpose 'all': 'denied' sets it, 'granted' lifts it)."""
    with engine(request).connect() as conn:
        found = store.consent.history(conn, golden_id)
        if found is not None and not caller.sees(conn, found[0]):
            raise not_found(golden_id)
    if found is None:
        raise HTTPException(404, f"no live golden record {golden_id!r}")
    live, events = found
    shown = [ConsentEvent(**e) for e in events if _shown(caller, e["channel"])]
    return ConsentHistory(requested_id=golden_id, golden_id=live, events=shown)


def _shown(caller: Caller, channel: str) -> bool:
    """A channel's choices are shown unless the caller's policy hides its consent field (the flag, 'all', always)."""
    return channel == store.consent.ALL or caller.policy.level(f"consent_{channel}") != access.HIDDEN


def record_choice(
    request: Request, golden_id: str, who: str, source: str, fields: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """Store one choice (the API's and the UI's one code path); (event, the golden record's version now)."""
    with store.write_transaction(engine(request)) as conn:
        try:
            event = store.consent.record(conn, rules(request), golden_id, source=source, recorded_by=who, **fields)
        except KeyError:
            raise HTTPException(404, f"no live golden record {golden_id!r}") from None
        except store.consent.BadChoice as exc:
            invalid(exc.field, str(exc), "body", fields.get(exc.field))
        rec = store.golden_by_id(conn, event["golden_id"])
    assert rec is not None  # resolved live in this transaction
    return event, rec["version"]


@router.post(
    "/golden/{golden_id}/consent",
    summary="Record a consent choice",
    response_model=ConsentRecorded,
    responses=_NOT_FOUND,
)
def post_consent(request: Request, key: Steward, golden_id: GoldenId, body: ConsentIn) -> ConsentRecorded:
    """A person's choice for one channel and purpose, with its legal basis (hub.yaml `consent.legal_bases`). A
    choice of the sources' purpose takes effect on the golden record at once when it is the most recent one, and
    reaches every source that accepts the field with the next write-back."""
    event, version = record_choice(request, golden_id, key.name, "api", body.model_dump())
    return ConsentRecorded(requested_id=golden_id, golden_id=event["golden_id"], event=ConsentEvent(**event),
                           version=version)  # fmt: skip


@router.post(
    "/golden/{golden_id}/do-not-contact",
    summary="Set or lift the do-not-contact flag",
    response_model=ConsentRecorded,
    responses=_NOT_FOUND,
)
def post_do_not_contact(request: Request, key: Steward, golden_id: GoldenId, body: DoNotContactIn) -> ConsentRecorded:
    """While set, every channel reads denied for the purposes hub.yaml's `consent.do_not_contact_purposes` names,
    on the golden record at once and in the sources after the next write-back. Lifting it gives each channel its
    own most recent choice back the same way: a new version at once, the sources after the next write-back."""
    fields = {"channel": store.consent.ALL, "purpose": store.consent.ALL, "value": "denied" if body.set else "granted",
              "legal_basis": body.legal_basis, "recorded_at": body.recorded_at, "note": body.note}  # fmt: skip
    event, version = record_choice(request, golden_id, key.name, "api", fields)
    return ConsentRecorded(requested_id=golden_id, golden_id=event["golden_id"], event=ConsentEvent(**event),
                           version=version)  # fmt: skip
