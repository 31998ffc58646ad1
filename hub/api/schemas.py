"""Response models of the REST API (pydantic): what the OpenAPI document shows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from hub.model import ATTRIBUTE_FIELDS, FieldType

_PY_TYPES: dict[FieldType, type] = {
    FieldType.STRING: str,
    FieldType.INTEGER: int,
    FieldType.DOUBLE: float,
    FieldType.BOOLEAN: bool,
    FieldType.DATE: date,
    FieldType.TIMESTAMP: datetime,
}

# One field per attribute of the canonical model (hub.model), all optional: a golden record has
# only the values its source records had.
Attributes = create_model(
    "Attributes",
    __config__=ConfigDict(json_schema_extra={"example": {"first_name": "Amber", "last_name": "Green"}}),
    **{f.name: (_PY_TYPES[f.type] | None, Field(None, description=f.doc)) for f in ATTRIBUTE_FIELDS},
)


class Redirect(BaseModel):
    reason: str = Field(description="why the requested id was retired: 'merge' (or a steward's reason)")
    retired_at: datetime


class GoldenRecord(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "requested_id": "G00000007",
                "golden_id": "G00000003",
                "redirected": True,
                "redirect": {"reason": "merge", "retired_at": "2026-01-02T03:04:05"},
                "version": 2,
                "attributes": {"first_name": "Georgia", "last_name": "Hopkins", "email": "ghopkins66@hotmail.co.uk"},
                "extra": {},
                "lineage": {"email": {"source_system": "crm", "source_key": "17", "rule": "valid"}},
                "record_count": 5,
            }
        }
    )
    requested_id: str = Field(description="the id asked for")
    golden_id: str = Field(description="the live id answering: the survivor when the requested id was retired")
    redirected: bool = Field(description="true when the requested id was retired and its survivor answers")
    redirect: Redirect | None = Field(None, description="why and when the requested id was retired")
    version: int
    attributes: Attributes  # type: ignore[valid-type]
    extra: dict[str, Any] = Field(description="typed extra attributes of hub.yaml")
    lineage: dict[str, Any] = Field(description="per field: source_system, source_key, rule, value_at")
    record_count: int | None = Field(None, description="source records in it (current reads only)")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    valid_from: datetime | None = Field(None, description="as-of and history reads: when this version began")
    valid_to: datetime | None = Field(None, description="as-of and history reads: when it ended (null: current)")
    run_id: str


class History(BaseModel):
    golden_id: str
    versions: list[GoldenRecord] = Field(description="oldest first")


class SourceLink(BaseModel):
    source_system: str
    source_key: str
    match_probability: float | None = Field(description="null for a record alone in its golden record")
    link_type: Literal["auto", "steward", "singleton"]
    linked_at: datetime


class Sources(BaseModel):
    requested_id: str
    golden_id: str
    redirected: bool
    sources: list[SourceLink]


class SearchHit(BaseModel):
    golden_id: str
    score: float = Field(description="0-100: mean rapidfuzz similarity over the criteria given")
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    postal_code: str | None
    city: str | None
    date_of_birth: date | None


class SearchPage(BaseModel):
    total: int = Field(description="candidates ranked (at or above min_score)")
    page: int
    page_size: int
    truncated: bool = Field(description="a criterion matched more candidates than are ranked: narrow the search")
    results: list[SearchHit]


class ChangeEvent(BaseModel):
    cursor: str = Field(description="this event's position; pass it as `cursor` to continue after it")
    event: Literal["version", "retired"]
    at: datetime = Field(description="when the run that made the change published it")
    golden_id: str
    version: int | None = Field(description="version events: the new version")
    run_id: str
    surviving_id: str | None = Field(None, description="retired events: the id it went into then (null: deleted)")
    reason: str | None = Field(None, description="retired events: merge, deleted, ...")
    record: GoldenRecord | None = Field(None, description="version events: the version's values")


class ChangePage(BaseModel):
    changes: list[ChangeEvent]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; when `changes` is empty, poll again with the same cursor"
    )
    has_more: bool


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    role: Literal["reader", "steward", "admin"]
    created_at: datetime
    revoked_at: datetime | None


class NewApiKey(ApiKeyOut):
    key: str = Field(description="the key itself: shown this once, stored only hashed")


class NewApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255, examples=["billing-sync"])
    role: Literal["reader", "steward", "admin"]


class Health(BaseModel):
    status: Literal["ok"]
    last_published_run: str | None


class Problem(BaseModel):
    detail: str | list[dict[str, Any]]
    message: str | None = None


class ReviewItem(BaseModel):
    id_l: str = Field(description="record id 'source_system:source_key' (id_l < id_r)")
    id_r: str
    source_system_l: str
    source_system_r: str
    golden_id_l: str | None = Field(description="the golden record holding id_l when the queue was published")
    golden_id_r: str | None
    same_golden: bool = Field(description="both records are in one golden record already (linked through others)")
    match_probability: float
    match_weight: float | None
    explanation: dict[str, float | None] = Field(description="per comparison: its match weight (log2 Bayes factor)")


class ReviewPage(BaseModel):
    total: int = Field(description="queued pairs matching the filters")
    page: int
    page_size: int
    results: list[ReviewItem]


class Decision(BaseModel):
    decision_id: str
    id_l: str
    id_r: str
    decision: Literal["match", "not_match"]
    decided_by: str = Field(description="the name of the API key that decided")
    decided_at: datetime
    note: str | None
    superseded_at: datetime | None = Field(description="null: the pair's current decision")


class ReviewPair(BaseModel):
    id_l: str
    id_r: str
    queued: bool = Field(description="the pair is in the review queue (false once decided)")
    item: ReviewItem | None = Field(description="the queue entry: probability and explanation")
    record_l: dict[str, Any] | None = Field(description="id_l's canonical values when the queue was published")
    record_r: dict[str, Any] | None
    decisions: list[Decision] = Field(description="every decision about the pair, oldest first")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_l: str = Field(min_length=3, max_length=320, examples=["crm:0035g00001slfjeAAA"])
    id_r: str = Field(min_length=3, max_length=320, examples=["billing:100042"])
    decision: Literal["match", "not_match", "skip"]
    note: str | None = Field(None, max_length=2000)


class DecisionOut(BaseModel):
    recorded: bool = Field(description="false for 'skip': nothing is stored and the pair stays queued")
    decision: Literal["match", "not_match", "skip"]
    current: Decision | None = Field(description="the stored decision (null for 'skip')")
    queue_size: int = Field(description="pairs left in the review queue")


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(min_length=1, max_length=64, examples=["email"])
    value: str | int | float | bool | None = Field(examples=["amber.green@example.com"])


class Pin(BaseModel):
    requested_id: str
    golden_id: str = Field(description="the live id pinned (a retired id pins its survivor)")
    field: str
    value: str | None = Field(description="as stored (text); it wins survivorship from the next run until unpinned")
    pinned_by: str
    pinned_at: datetime


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_system: str = Field(min_length=1, max_length=64, examples=["web"])
    source_key: str = Field(min_length=1, max_length=255, examples=["270"])


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    golden_ids: list[str] = Field(min_length=2, max_length=2, examples=[["G00000042", "G00000107"]])


class Decisions(BaseModel):
    decisions: list[Decision] = Field(description="the decisions stored; golden records follow on the next run")
    queue_size: int = Field(description="pairs left in the review queue")
