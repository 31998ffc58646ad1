"""Response models of the REST API (pydantic): what the OpenAPI document shows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, field_validator

from hub import store
from hub.model import ATTRIBUTE_FIELDS, FieldType

MAX_PAGE = 1_000_000  # deepest page of a paged list: keeps offsets within every database's integers
MAX_PIN_TEXT = 2000


def _storable(text: str) -> str:
    """Text any serving store can compare and keep: PostgreSQL refuses NUL characters, and a lone surrogate
    (JSON's "\\ud800") is not UTF-8 at all."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text (it holds a lone surrogate)") from None
    return text


def _utc(t: datetime) -> datetime:
    """`t` as the store keeps times (naive UTC); a time that would leave the calendar once moved to UTC
    (0001-01-01T00:00:00+01:00) is refused."""
    try:
        return store.utc_naive(t)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


# Every text an API client sends (body, query, path): see _storable.
Text = Annotated[str, AfterValidator(_storable)]
# Every time a client sends, as naive UTC.
UtcTime = Annotated[datetime, AfterValidator(_utc)]

_PY_TYPES: dict[FieldType, type] = {
    FieldType.STRING: str,
    FieldType.INTEGER: int,
    FieldType.DOUBLE: float,
    FieldType.BOOLEAN: bool,
    FieldType.DATE: date,
    FieldType.TIMESTAMP: datetime,
}

# One field per attribute of the canonical model (hub.model), all optional: a golden record has
# only the values its source records had. A value the caller's access policy masks is text (hub.access: a date
# as its year), whatever the field's type.
_ATTRIBUTE_DEFINITIONS: dict[str, Any] = {  # Any: mypy checks ** values against create_model's own keywords too
    f.name: (_PY_TYPES[f.type] | None if f.type == FieldType.STRING else _PY_TYPES[f.type] | str | None,
             Field(None, description=f.doc))
    for f in ATTRIBUTE_FIELDS
}  # fmt: skip
MASKED_FIELDS: Any = Field(
    default_factory=list, description="fields shown masked to this API key (hub.yaml access:): e.g. j***@example.com"
)
HIDDEN_FIELDS: Any = Field(
    default_factory=list, description="fields this API key may not see (hub.yaml access:): null whatever their value"
)
Attributes = create_model(
    "Attributes",
    __config__=ConfigDict(json_schema_extra={"example": {"first_name": "Amber", "last_name": "Green"}}),
    **_ATTRIBUTE_DEFINITIONS,
)


# When a steward action reaches golden records: 'now' (hub serve is applying it), or the next pipeline run.
Applies = Annotated[
    Literal["now", "next_run"], Field(description="'now': hub serve is applying it; 'next_run': the next pipeline run")
]


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
    attributes: Attributes
    extra: dict[str, Any] = Field(description="typed extra attributes of hub.yaml")
    lineage: dict[str, Any] = Field(
        description=(
            "per field: source_system, source_key, rule, value_at; kept up to date by every run without a new "
            "version when only the source of a value changed"
        )
    )
    record_count: int | None = Field(None, description="source records in it (current reads only)")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    valid_from: datetime | None = Field(None, description="as-of and history reads: when this version began")
    valid_to: datetime | None = Field(None, description="as-of and history reads: when it ended (null: current)")
    changed_fields: list[str] | None = Field(
        None,
        description=(
            "as-of and history reads: the fields this version changed against the previous one (a first version: "
            "the fields with a value; extra attributes by name); null for versions published before the hub "
            "recorded them"
        ),
    )
    run_id: str = Field(description="the run that published this version's values")
    masked_fields: list[str] = MASKED_FIELDS
    hidden_fields: list[str] = HIDDEN_FIELDS


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
    date_of_birth: date | str | None = Field(description="a date; its year (text) when masked")


class SearchIn(BaseModel):
    """Search criteria: give at least one of name, email, phone, postal_code."""

    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(None, max_length=200, examples=["Georgia Hopkins"])
    email: Text | None = Field(None, max_length=320, examples=["ghopkins66@hotmail.co.uk"])
    phone: Text | None = Field(None, max_length=40, description="any format; read as E.164")
    postal_code: Text | None = Field(None, max_length=20, description="whole or a prefix (outward code)")
    min_score: float = Field(50, ge=0, le=100, description="leave out candidates scoring less")
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(20, ge=1, le=100)


class SearchQuery(SearchIn):
    model_config = ConfigDict(extra="ignore")  # a URL may carry other parameters (cache busters)


class SearchPage(BaseModel):
    total: int = Field(description="candidates ranked (at or above min_score)")
    page: int
    page_size: int
    truncated: bool = Field(description="a criterion matched more candidates than are ranked: narrow the search")
    results: list[SearchHit]
    masked_fields: list[str] = MASKED_FIELDS
    hidden_fields: list[str] = HIDDEN_FIELDS


class ChangeEvent(BaseModel):
    cursor: str = Field(description="this event's position; pass it as `cursor` to continue after it")
    event: Literal["version", "retired"]
    at: datetime = Field(description="when the run that made the change published it")
    golden_id: str
    version: int | None = Field(description="version events: the new version")
    changed_fields: list[str] | None = Field(
        None,
        description=(
            "version events: the fields whose value changed against the previous version (a first version: the "
            "fields with a value; extra attributes by name); null for retired events and for versions published "
            "before the hub recorded them"
        ),
    )
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
    role: Literal["reader", "steward", "privacy", "admin"]
    created_at: datetime
    revoked_at: datetime | None


class NewApiKey(ApiKeyOut):
    key: str = Field(description="the key itself: shown this once, stored only hashed")


class NewApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=255, examples=["billing-sync"])
    role: Literal["reader", "steward", "privacy", "admin"]


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
    id_l: Text = Field(min_length=3, max_length=320, examples=["crm:0035g00001slfjeAAA"])
    id_r: Text = Field(min_length=3, max_length=320, examples=["billing:100042"])
    decision: Literal["match", "not_match", "skip"]
    note: Text | None = Field(None, max_length=2000)


class DecisionOut(BaseModel):
    recorded: bool = Field(description="false for 'skip': nothing is stored and the pair stays queued")
    decision: Literal["match", "not_match", "skip"]
    current: Decision | None = Field(description="the stored decision (null for 'skip')")
    queue_size: int = Field(description="pairs left in the review queue")
    applies: Applies = "next_run"


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: Text = Field(min_length=1, max_length=64, examples=["email"])
    value: str | int | float | bool | None = Field(examples=["amber.green@example.com"])

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        """Checked before the union picks a type, so an error names `value` alone."""
        if isinstance(value, str) and len(_storable(value)) > MAX_PIN_TEXT:
            raise ValueError(f"must be at most {MAX_PIN_TEXT} characters")
        return value


class Pin(BaseModel):
    requested_id: str
    golden_id: str = Field(description="the live id pinned (a retired id pins its survivor)")
    field: str
    value: str | None = Field(description="as stored (text); it wins survivorship until unpinned")
    pinned_by: str
    pinned_at: datetime
    applies: Applies = "next_run"


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_system: Text = Field(min_length=1, max_length=64, examples=["web"])
    source_key: Text = Field(min_length=1, max_length=255, examples=["270"])


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    golden_ids: list[Annotated[Text, Field(max_length=32)]] = Field(
        min_length=2, max_length=2, examples=[["G00000042", "G00000107"]]
    )


class Decisions(BaseModel):
    decisions: list[Decision] = Field(description="the decisions stored; golden records follow once applied")
    queue_size: int = Field(description="pairs left in the review queue")
    applies: Applies = "next_run"


class ApplyRun(BaseModel):
    dagster_run_id: str | None = Field(description="the apply_decisions run (in the Dagster UI with DAGSTER_HOME)")
    success: bool
    published_run: str | None = Field(description="the serving-store run it published, if it got that far")
    started_at: datetime
    finished_at: datetime
    error: str | None = Field(description="why it did not publish: a failed step or a blocking quality check")


class ApplyStatus(BaseModel):
    mode: Literal["immediately", "next_run"] = Field(description="pipeline.apply_decisions of hub.yaml")
    enabled: bool = Field(description="whether this server can run the job (it was given its hub.yaml path)")
    state: Literal["idle", "running"]
    pending: bool = Field(description="actions since the current run started, for the run after it")
    last: ApplyRun | None = Field(description="the most recent finished run")


class MatchIn(BaseModel):
    """A customer record to match, in the canonical model's fields (all optional; give what you have)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "first_name": "Georgia",
                "last_name": "Hopkins",
                "date_of_birth": "1984-03-12",
                "email": "ghopkins66@hotmail.co.uk",
                "phone": "07700 900123",
                "postal_code": "LS1 4AP",
            }
        },
    )
    first_name: Text | None = Field(None, max_length=200)
    last_name: Text | None = Field(None, max_length=200)
    date_of_birth: date | None = None
    email: Text | None = Field(None, max_length=320)
    phone: Text | None = Field(None, max_length=40, description="any format; read as E.164")
    address_line1: Text | None = Field(None, max_length=500)
    address_line2: Text | None = Field(None, max_length=500)
    city: Text | None = Field(None, max_length=200)
    region: Text | None = Field(None, max_length=200)
    postal_code: Text | None = Field(None, max_length=20)
    country: Text | None = Field(None, pattern="^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")


class ComparisonExplanation(BaseModel):
    comparison: str = Field(description="the model's comparison (name, date_of_birth, email, phone, address, ...)")
    level: str = Field(description="the comparison level the pair fell in")
    match_weight: float = Field(description="its match weight (log2 Bayes factor), term-frequency adjustment included")
    tf_adjustment: float = Field(description="the part of match_weight from how common the shared value is")


class MatchCandidate(BaseModel):
    golden_id: str
    match_probability: float
    match_weight: float
    first_name: str | None
    last_name: str | None
    date_of_birth: date | str | None = Field(description="a date; its year (text) when masked")
    email: str | None
    phone: str | None
    postal_code: str | None
    city: str | None
    explanation: list[ComparisonExplanation] = Field(description="per comparison; none of fields hidden to this key")


class MatchPage(BaseModel):
    model_version: int = Field(description="the published match model that scored the pairs")
    threshold: float
    candidates_scored: int = Field(description="golden records scored (found by the index lookups)")
    results: list[MatchCandidate] = Field(description="at or above threshold, most probable first")
    masked_fields: list[str] = MASKED_FIELDS
    hidden_fields: list[str] = HIDDEN_FIELDS


class PiiRead(BaseModel):
    request_id: str = Field(description="the request (or command) that read them")
    golden_id: str
    read_at: datetime
    key_id: str = Field(description="the API key's id; 'cli' for a command run without --key")
    route: str = Field(description="method and route template (no query string), or the command")
    fields: list[str] = Field(description="PII fields it returned in full")
    masked_fields: list[str] = Field(description="PII fields it returned masked")


class PiiReads(BaseModel):
    reads: list[PiiRead] = Field(description="newest first")
