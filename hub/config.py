"""hub.yaml: the one place a data engineer declares sources, matching and serving.

Validated with pydantic; any problem raises ConfigError naming the key path and the reason, and
the CLI turns that into exit code 2. Relative paths (and relative SQLite URLs) are resolved
against the directory of the hub.yaml file, so a config works from any working directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from sqlalchemy.engine import make_url

from hub import validity
from hub.errors import HubError
from hub.model import (
    ATTRIBUTE_NAMES,
    ATTRIBUTE_TYPES,
    CHANNELS,
    CONSENT_FIELDS,
    FieldType,
    plausible_birth_dates,
)

# Which options each transform takes; anything else is a config error.
TRANSFORM_OPTIONS: dict[str, set[str]] = {
    "text": {"case", "write_case", "write_format", "strip_titles"},
    "number": set(),
    "boolean": {"true", "false"},
    "date": {"format"},
    "timestamp": {"format"},
    "phone": {"region", "write_format"},
    "split_name": {"order", "part", "write_case", "strip_titles"},
    "consent": {"granted", "denied", "unknown"},
    "map": {"values"},
    "country": {"write_format"},
    "address": set(),  # the part read is the field's own (address_line1, city, region, postal_code, country)
}
TRANSFORMS = tuple(TRANSFORM_OPTIONS)

# Write-back formats, per field. Phone and country formats are applied by their transforms; the others say how a
# source writes a postcode, a US/CA/AU state and a street with a flat on one line, and are learned from the
# source's own values when not given (connectors/styles.py).
FIELD_WRITE_FORMATS = {
    "phone": ("e164", "national", "international", "digits"),
    "country": ("alpha2", "alpha3", "name"),
    "postal_code": ("spaced", "compact"),
    "region": ("code", "name"),
    "address_line1": ("unit_first", "unit_last", "unit_newline"),
}
WRITE_FORMATS = tuple(dict.fromkeys(f for formats in FIELD_WRITE_FORMATS.values() for f in formats))
# pydantic checks a transform or write format against the tables above; a type checker cannot evaluate a Literal
# built from a tuple at run time, so it sees them as text.
if TYPE_CHECKING:
    Transform: TypeAlias = str
    WriteFormat: TypeAlias = str
else:
    Transform = Literal[TRANSFORMS]
    WriteFormat = Literal[WRITE_FORMATS]
CASED_FIELDS = ("first_name", "last_name", "city", "address_line1", "address_line2", "region")
NAME_FIELDS = ("first_name", "last_name")

# Write-back policy per field: `fill` writes only into blanks, `correct` also replaces a source's own value that
# lost to the golden value on evidence, `never` writes nothing. `address` is the address block.
Policy = Literal["fill", "correct", "never"]
POLICIES: tuple[str, ...] = get_args(Policy)
DEFAULT_POLICY: dict[str, str] = {
    "first_name": "correct",
    "last_name": "correct",
    "date_of_birth": "correct",
    "address": "correct",
} | {c: "correct" for c in CONSENT_FIELDS}

# The transform used when a mapping names none: by field name where the model fixes a format
# (E.164 phones, alpha-2 countries, consent words), else by the field's type.
DEFAULT_TRANSFORM_BY_FIELD = {"phone": "phone", "country": "country"} | {c: "consent" for c in CONSENT_FIELDS}
DEFAULT_TRANSFORM = {
    FieldType.STRING: "text",
    FieldType.INTEGER: "number",
    FieldType.DOUBLE: "number",
    FieldType.BOOLEAN: "boolean",
    FieldType.DATE: "date",
    FieldType.TIMESTAMP: "timestamp",
}


# Transforms that can produce a valid value for a field: by name first, then by type.
ADDRESS_PARTS = ("address_line1", "city", "region", "postal_code", "country")  # what `address` reads from one field
FIELD_TRANSFORMS = {
    "phone": {"phone"},
    "country": {"country", "map", "address"},
    "first_name": {"text", "split_name"},
    "last_name": {"text", "split_name"},
    "preferred_channel": {"text", "map"},
} | {c: {"consent", "map"} for c in CONSENT_FIELDS}
FIELD_TRANSFORMS |= {f: {"text", "map", "address"} for f in ADDRESS_PARTS if f not in FIELD_TRANSFORMS}
TYPE_TRANSFORMS = {
    FieldType.STRING: {"text", "map"},
    FieldType.INTEGER: {"number", "map"},
    FieldType.DOUBLE: {"number", "map"},
    FieldType.BOOLEAN: {"boolean", "map"},
    FieldType.DATE: {"date"},
    FieldType.TIMESTAMP: {"timestamp"},
}


def default_transform(field: str, ftype: FieldType) -> str:
    return DEFAULT_TRANSFORM_BY_FIELD.get(field) or DEFAULT_TRANSFORM[ftype]


class ConfigError(HubError):
    """A hub.yaml problem: `key` is the dotted path, `reason` what is wrong with it."""

    exit_code = 2

    def __init__(self, key: str, reason: str, path: Path | None = None):
        self.key, self.reason, self.path = key, reason, path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{key or '<top level>'}: {reason}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMapping(_Strict):
    """How one canonical field is read from (and written back to) one source column.

    Instead of one `column`: `concat` joins several columns (their non-empty values, with `sep`) before the
    transform reads the result, and `value` is a constant in canonical form. Neither can be written back.
    `required: true` quarantines a row whose value is missing or unreadable; any other unreadable value is read as
    missing with a field warning."""

    column: str | None = None
    concat: list[str] | None = None
    sep: str | None = None  # between concatenated values (default one space)
    value: str | None = None
    required: bool = False
    transform: Transform | None = None
    case: Literal["upper", "lower", "title"] | None = None
    format: str | None = None
    region: str | None = None
    write_format: WriteFormat | None = None
    write_case: Literal["upper", "lower", "proper"] | None = None  # how write-back cases text (default: learned)
    strip_titles: bool | None = None  # drop "Mr", "Dr", "Jr" from names read (default: on for first/last name)
    order: Literal["first_last", "last_comma_first"] | None = None
    part: Literal["first", "last"] | None = None
    granted: list[str] | None = None
    denied: list[str] | None = None
    unknown: list[str] | None = None
    true: list[str] | None = None
    false: list[str] | None = None
    values: dict[str, str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _bool_option_names(cls, data: Any) -> Any:
        # YAML reads the option names `true:` / `false:` as booleans.
        if isinstance(data, dict):
            return {(_yaml_scalar_text(k) if isinstance(k, bool) else k): v for k, v in data.items()}
        return data

    @field_validator("granted", "denied", "unknown", "true", "false", mode="before")
    @classmethod
    def _as_strings(cls, v: Any) -> Any:
        # YAML reads Y/N/yes/1 as bools and ints; the source holds text, so compare as text.
        if isinstance(v, list):
            return [_yaml_scalar_text(x) for x in v]
        return v

    @field_validator("values", mode="before")
    @classmethod
    def _map_keys_as_strings(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {_yaml_scalar_text(k): str(val) for k, val in v.items()}
        return v

    @field_validator("value", mode="before")
    @classmethod
    def _constant_as_text(cls, v: Any) -> Any:
        # YAML reads 2020-01-01 as a date and 1 as an int; a constant is kept as text and checked per field.
        if isinstance(v, date | bool | int | float):
            return v.isoformat() if isinstance(v, date) else _yaml_scalar_text(v)
        return v

    @model_validator(mode="after")
    def _one_source_of_values(self) -> FieldMapping:
        given = [k for k in ("column", "concat", "value") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'column' (a source column), 'concat' (a list of columns) or 'value' (a constant)"
            )
        if self.concat is not None and (len(self.concat) < 2 or len(set(self.concat)) < len(self.concat)):
            raise ValueError("'concat' joins two or more different columns; for one column use 'column'")
        if self.sep is not None and self.concat is None:
            raise ValueError("'sep' goes with 'concat' (what to put between the joined values)")
        if self.value is not None:
            extra = sorted(k for k in self.model_fields_set if k != "value")
            if extra:
                raise ValueError(
                    f"a constant 'value' is given in canonical form (e.g. country: {{value: AU}}): {extra} do not apply"
                )
        if self.transform in ("split_name", "address") and self.column is None:
            raise ValueError(f"transform '{self.transform}' reads one 'column'")
        return self

    @property
    def columns(self) -> list[str]:
        """The source columns this mapping reads (none for a constant)."""
        return [self.column] if self.column is not None else list(self.concat or [])

    @model_validator(mode="after")
    def _options_fit_transform(self) -> FieldMapping:
        if self.transform is None:
            return self
        reading = ("column", "concat", "sep", "required", "transform")
        given = {k for k in self.model_fields_set if k not in reading}
        extra = given - TRANSFORM_OPTIONS[self.transform]
        if extra:
            raise ValueError(
                f"option(s) {sorted(extra)} do not apply to transform '{self.transform}' "
                f"(it takes {sorted(TRANSFORM_OPTIONS[self.transform]) or 'no options'})"
            )
        if self.transform == "split_name" and (self.order is None or self.part is None):
            raise ValueError("transform 'split_name' needs 'order' (first_last | last_comma_first) and 'part'")
        if self.transform == "map" and not self.values:
            raise ValueError("transform 'map' needs 'values' (source value -> canonical value)")
        return self


def _yaml_scalar_text(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    return str(x)


class GoldenIdTarget(_Strict):
    """Where write-back puts the golden id: a column of the source table, or a side table."""

    column: str | None = None
    table: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> GoldenIdTarget:
        if (self.column is None) == (self.table is None):
            raise ValueError("give exactly one of 'column' (in the source table) or 'table' (a side table)")
        return self


def split_table(name: str) -> tuple[str | None, str]:
    """`schema.table` -> (schema, table); a bare name -> (None, name). MariaDB/MySQL read the schema as the database."""
    schema, _, table = name.rpartition(".")
    return (schema or None), table


class SourceConfig(_Strict):
    kind: Literal["sql", "file"]
    url: str | None = None
    table: str | None = None  # `name` or `schema.name`
    query: str | None = None  # a read-only SELECT instead of a table: pulled, never written back
    path: Path | None = None
    format: Literal["csv", "parquet"] | None = None
    primary_key: str
    updated_at: str | None = None
    updated_at_format: str | None = None
    default_region: str = "US"
    fields: dict[str, FieldMapping]
    accepts: list[str] = []
    policy: dict[str, Policy] = {}  # per accepted field (or `address`): overrides writeback.policy
    golden_id: GoldenIdTarget | None = None

    @field_validator("fields", mode="before")
    @classmethod
    def _column_shorthand(cls, v: Any) -> Any:
        # `email: email_address` is shorthand for `email: {column: email_address}`.
        if isinstance(v, dict):
            return {k: ({"column": m} if isinstance(m, str) else m) for k, m in v.items()}
        return v

    @field_validator("default_region")
    @classmethod
    def _region_upper(cls, v: str) -> str:
        import phonenumbers

        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"'{v}' is not a region phonenumbers knows (ISO 3166 alpha-2, e.g. GB, US)")
        return v.upper()

    @field_validator("table")
    @classmethod
    def _table_name(cls, v: str | None) -> str | None:
        if v is not None and (v.count(".") > 1 or not all(p.strip() for p in v.split("."))):
            raise ValueError(f"'{v}': give a table name or schema.table (e.g. customers, sales.customers)")
        return v

    @field_validator("query")
    @classmethod
    def _read_only_query(cls, v: str | None) -> str | None:
        if v is None:
            return v
        # The hub only ever runs it wrapped as a subquery (SELECT ... FROM (<query>) AS hub_source), which a
        # database refuses for anything but a query.
        text = v.strip().rstrip(";").strip()
        if not re.match(r"(?is)^(select|with)\b", text):
            raise ValueError("a source query is a read-only SELECT (or WITH ... SELECT) statement")
        return text

    @model_validator(mode="after")
    def _kind_has_location(self) -> SourceConfig:
        if self.kind == "sql":
            if not self.url or (self.table is None) == (self.query is None):
                raise ValueError("a 'sql' source needs 'url' (SQLAlchemy URL) and one of 'table' or 'query'")
            if self.path or self.format:
                raise ValueError("'path'/'format' are for 'file' sources; a 'sql' source uses 'url' and 'table'")
        else:
            if not self.path:
                raise ValueError("a 'file' source needs 'path' (a .csv or .parquet file)")
            if self.url or self.table or self.query:
                raise ValueError("'url'/'table' are for 'sql' sources (so is 'query'); a 'file' source uses 'path'")
            if self.golden_id and self.golden_id.table:
                raise ValueError("a 'file' source can write the golden id to a column of its harmonized file only")
        return self

    @property
    def file_format(self) -> str:
        return self.format or ("parquet" if str(self.path).endswith(".parquet") else "csv")

    def columns(self) -> list[str]:
        """Source columns the hub reads: the key, the cursor and every mapped column, deduplicated."""
        cols = [self.primary_key]
        if self.updated_at:
            cols.append(self.updated_at)
        cols += [c for m in self.fields.values() for c in m.columns]
        return list(dict.fromkeys(cols))


class ComparisonConfig(_Strict):
    """One comparison of the match model: which of its levels (default: all the records can use) and whether
    its exact levels are term-frequency adjusted (default: as the comparison library says)."""

    levels: list[str] | None = None
    term_frequencies: bool | None = None


LinkType = Literal["dedupe_only", "link_only", "link_and_dedupe"]
BlockingRule = str | list[str]  # SQL over l. / r. standardized columns, or key expressions equal on both sides


class TrainingConfig(_Strict):
    em_blocking_rules: list[BlockingRule] | None = None  # default: chosen so every comparison is estimated
    deterministic_rules: list[BlockingRule] | None = None  # near-certain matches: where the prior starts from


class MatchingConfig(_Strict):
    """How records are matched. Comparisons, blocking and training default to a plan built from what the records
    hold (matching/plan.py; `hub config check` prints it); names and columns are checked when the plan is made."""

    auto_match_threshold: float = Field(0.95, ge=0, le=1)
    review_threshold: float = Field(0.70, ge=0, le=1)
    link_type: LinkType = "dedupe_only"
    comparisons: dict[str, ComparisonConfig | None] | None = None
    blocking_rules: list[BlockingRule] | None = None
    training: TrainingConfig = TrainingConfig()

    @field_validator("blocking_rules")
    @classmethod
    def _some_rules(cls, v: list[BlockingRule] | None) -> list[BlockingRule] | None:
        if v is not None and not v:
            raise ValueError("give at least one blocking rule, or leave the key out for the default plan")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> MatchingConfig:
        if self.review_threshold > self.auto_match_threshold:
            raise ValueError("review_threshold must not be above auto_match_threshold")
        return self


Rule = Literal[
    "source_priority", "most_recent", "most_complete", "most_frequent", "longest", "valid", "common_spelling",
    "complete",
]  # fmt: skip
RULES: tuple[str, ...] = get_args(Rule)
ADDRESS_BLOCK = ("address_line1", "address_line2", "city", "region", "postal_code", "country")

# Rules per field when hub.yaml says nothing. Names and dates are decided by evidence (how many records say it,
# and whether a spelling is a likely typo or nickname of another); values people change (email, phone, where
# they live) by the newest record; recency is the last tie-break everywhere.
DEFAULT_RULES: dict[str, list[str]] = {
    "first_name": ["common_spelling", "most_frequent", "most_recent"],
    "last_name": ["common_spelling", "most_frequent", "most_recent"],
    "date_of_birth": ["most_frequent", "most_recent"],
    "email": ["valid", "most_recent"],
    "phone": ["valid", "most_recent"],
    "address": ["complete", "most_recent"],
    "country": ["most_frequent", "most_recent"],
}


class SurvivorshipConfig(_Strict):
    """Which value becomes the golden value, per field: rules chain as tie-breakers.

    Keys of `fields` are attribute names, `address` for the address block (address_line1, address_line2, city,
    region, postal_code and country survive together from one place), or `country` for the country of a person
    no address block speaks for. Consent is not configurable: per channel, the most recent explicit choice wins.
    A pinned steward value always wins over any rule. `prefer_formal_names`: a first name that is a nickname of
    another candidate's name ("Matt" beside "Matthew") loses to it under the `common_spelling` rule."""

    source_priority: list[str] = []
    fields: dict[str, list[Rule]] = {}
    prefer_formal_names: bool = True

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, rules in v.items():
            if name in ADDRESS_BLOCK and name != "country":
                raise ValueError(f"'{name}' survives with the address block: configure 'address' instead")
            if name in CONSENT_FIELDS or name.removesuffix("_at") in CONSENT_FIELDS:
                raise ValueError(f"'{name}': consent always follows the most recent explicit choice")
            if not rules:
                raise ValueError(f"'{name}': give at least one rule ({', '.join(RULES)})")
        return v

    def rules_for(self, field: str) -> list[str]:
        return list(self.fields.get(field) or DEFAULT_RULES.get(field) or ["most_recent"])


_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/\-?]+$")


class PipelineConfig(_Strict):
    """When Dagster runs the pipeline: a cron schedule for the full run, and a sensor that starts
    a run when a source changed. Both start stopped; `autostart: true` turns them on in `dagster dev`."""

    schedule: str = "0 2 * * *"
    timezone: str = "UTC"
    sensor_interval_seconds: int = Field(300, ge=30)
    autostart: bool = False
    # Steward decisions and pins: `immediately` runs the apply_decisions job from `hub serve` after
    # each one (re-cluster, rebuild, gate, publish; no pull, no scoring, no write-back);
    # `next_run` leaves them to the next pipeline run.
    apply_decisions: Literal["immediately", "next_run"] = "immediately"
    # How long a job waits for another one holding the workspace before it gives up.
    workspace_wait_seconds: int = Field(3600, ge=0)
    # The Dagster instance (a DAGSTER_HOME folder) that `hub run`, `hub review apply` and the runs `hub serve` starts
    # are recorded in, so `dagster dev` with DAGSTER_HOME set to it shows them all. $DAGSTER_HOME wins when set;
    # with neither, runs are not kept (an ephemeral instance).
    dagster_home: Path | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        parts = v.split()
        if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
            raise ValueError(f"'{v}' is not a cron expression (five fields: minute hour day month weekday)")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"'{v}' is not an IANA time zone (e.g. UTC, Europe/London)") from None
        return v


class PullConfig(_Strict):
    """How pulls keep staging whole. A cursor never moves past now + `cursor_tolerance_seconds` (a row
    stamped in the future is staged with a warning and re-read until its time comes), and every
    `full_reconcile_every_hours` an incremental pull compares every row's values, not just the keys
    (0: only with `--reconcile`)."""

    cursor_tolerance_seconds: int = Field(300, ge=0)
    full_reconcile_every_hours: float = Field(168, ge=0)


class WritebackConfig(_Strict):
    """Defaults for every source: `policy` per canonical field or `address` (see DEFAULT_POLICY)."""

    policy: dict[str, Policy] = {}


class ApiConfig(_Strict):
    """`hub serve`: how long a steward's sign-in to the web UI lasts, and when failed sign-ins and failed API key
    checks are throttled (hub.api.throttle): `max_failures` within `failure_window_seconds` from one client
    address, or naming one key id, and further attempts get 429 until the window has moved on."""

    session_hours: float = Field(8, gt=0)
    max_failures: int = Field(10, ge=1)
    failure_window_seconds: int = Field(300, ge=1)


class HubConfig(_Strict):
    workspace: Path = Path(".hub/workspace.duckdb")
    serving_store: str = "sqlite:///.hub/serving.db"
    chunk_size: int = Field(50_000, gt=0)
    attributes: dict[str, FieldType] = {}
    matching: MatchingConfig = MatchingConfig()
    survivorship: SurvivorshipConfig = SurvivorshipConfig()
    pipeline: PipelineConfig = PipelineConfig()
    pull: PullConfig = PullConfig()
    writeback: WritebackConfig = WritebackConfig()
    api: ApiConfig = ApiConfig()
    sources: dict[str, SourceConfig]

    @field_validator("sources")
    @classmethod
    def _names(cls, v: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        if not v:
            raise ValueError("declare at least one source")
        for name in v:
            if not name.isidentifier() or name != name.lower():
                raise ValueError(f"source name '{name}' must be a lowercase identifier (letters, digits, _)")
        return v

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, v: dict[str, FieldType]) -> dict[str, FieldType]:
        for name in v:
            if name in ATTRIBUTE_NAMES or name in ("source_system", "source_key", "source_updated_at"):
                raise ValueError(f"extra attribute '{name}' clashes with a canonical field")
            if not name.isidentifier():
                raise ValueError(f"extra attribute '{name}' must be an identifier")
        return v

    def field_type(self, name: str) -> FieldType | None:
        return ATTRIBUTE_TYPES.get(name) or self.attributes.get(name)

    def transform_for(self, name: str, m: FieldMapping) -> str:
        """The transform field `name` is read with: the mapping's own, else the default for its name and type
        (every mapped field has a type once _check_fields passed)."""
        if m.transform:
            return m.transform
        ftype = self.field_type(name)
        if ftype is None:
            raise KeyError(f"'{name}' is not a canonical field nor an extra attribute")
        return default_transform(name, ftype)

    def policy_for(self, source: str, field: str) -> str:
        """Write-back policy of `field` (a canonical field, an extra attribute or `address`) in `source`: the
        source's own, else hub.yaml's `writeback.policy`, else DEFAULT_POLICY, else `fill`. A consent time follows
        its consent choice."""
        field = field.removesuffix("_at") if field.removesuffix("_at") in CONSENT_FIELDS else field
        field = "address" if field in ADDRESS_BLOCK else field
        return (
            self.sources[source].policy.get(field)
            or self.writeback.policy.get(field)
            or DEFAULT_POLICY.get(field, "fill")
        )


def _check_policy(cfg: HubConfig, key: str, policy: Mapping[str, str]) -> None:
    for name in policy:
        if name in ADDRESS_BLOCK:
            raise ConfigError(f"{key}.{name}", "the address block is written whole: set 'address' instead")
        if name.removesuffix("_at") in CONSENT_FIELDS and name.endswith("_at"):
            raise ConfigError(f"{key}.{name}", f"a consent time follows its choice: set '{name.removesuffix('_at')}'")
        if name != "address" and cfg.field_type(name) is None:
            raise ConfigError(f"{key}.{name}", "not a canonical field, 'address' or an extra attribute")


def _check_write_options(base: str, fname: str, m: FieldMapping, transform: str) -> None:
    if m.write_format is not None and m.write_format not in FIELD_WRITE_FORMATS.get(fname, ()):
        allowed = FIELD_WRITE_FORMATS.get(fname)
        reason = f"one of {', '.join(allowed)}" if allowed else "not a field with a write format"
        raise ConfigError(
            f"{base}.fields.{fname}.write_format", f"'{m.write_format}': {fname} write_format is {reason}"
        )
    if m.write_case is not None and (fname not in CASED_FIELDS or transform not in ("text", "split_name")):
        raise ConfigError(f"{base}.fields.{fname}.write_case", f"only for text fields {', '.join(CASED_FIELDS)}")
    if m.strip_titles is not None and fname not in NAME_FIELDS:
        raise ConfigError(f"{base}.fields.{fname}.strip_titles", "only for first_name and last_name")


_CONSTANT_FORMS = {
    "country": "an ISO 3166 alpha-2 code in capitals (e.g. AU, GB)",
    "phone": "a phone number in E.164 (+442079460018)",
    "preferred_channel": f"one of {', '.join(CHANNELS)}",
    **dict.fromkeys(CONSENT_FIELDS, "granted, denied or unknown"),
}


def _check_constant(key: str, fname: str, ftype: FieldType, value: str) -> None:
    """A constant is a canonical value, no transform reads it: check it is one, so a typo fails here rather than as
    a wrong value in every record."""
    expected = None
    if fname in _CONSTANT_FORMS:  # the golden values' own rules (hub.validity), phrased for a constant
        expected = _CONSTANT_FORMS[fname] if validity.problem(fname, value) else None
    elif ftype in (FieldType.DATE, FieldType.TIMESTAMP):
        try:
            when = date.fromisoformat(value) if ftype == FieldType.DATE else datetime.fromisoformat(value)
        except ValueError:
            when = None
        if when is None:
            expected = f"an ISO 8601 {ftype.value} (e.g. 1980-01-31)"
        elif fname == "date_of_birth" and validity.problem(fname, when):
            expected = f"a plausible date of birth ({plausible_birth_dates()[0]} to today)"
    elif ftype in (FieldType.INTEGER, FieldType.DOUBLE):
        number = r"-?[0-9]+" if ftype == FieldType.INTEGER else r"-?[0-9]+(\.[0-9]+)?"
        expected = None if re.fullmatch(number, value) else f"a number ({ftype.value})"
    elif ftype == FieldType.BOOLEAN:
        expected = None if value in ("true", "false") else "true or false"
    elif not value.strip():
        expected = "a value (an empty constant is no value)"
    if expected:
        raise ConfigError(key, f"'{value}' is not a canonical {fname}: a constant is given as {expected}")


def _not_writable(fname: str, m: FieldMapping, transform: str) -> str | None:
    """Why write-back cannot write `fname` back through mapping `m` (None: it can)."""
    if m.value is not None:
        return f"'{fname}' is a constant (value: {m.value}), not a source column: there is nothing to write it into"
    if m.concat is not None:
        return (
            f"'{fname}' joins the columns {m.concat}; one value cannot be split back into them safely (which words "
            "belong to which column?): leave it out of accepts"
        )
    if transform == "address":
        return (
            f"'{fname}' is parsed out of the address in column '{m.column}'; writing it back would rewrite the whole "
            "cell from parsed parts and lose what the parser could not place: map the parts to their own columns to "
            "write them back"
        )
    return None


def _check_fields(cfg: HubConfig) -> None:
    """Cross-field rules pydantic cannot see one model at a time."""
    _check_policy(cfg, "writeback.policy", cfg.writeback.policy)
    for name in cfg.survivorship.fields:
        if name != "address" and cfg.field_type(name) is None:
            raise ConfigError(f"survivorship.fields.{name}", "not a canonical field, 'address' or an extra attribute")
    for name in cfg.survivorship.source_priority:
        if name not in cfg.sources:
            raise ConfigError("survivorship.source_priority", f"'{name}' is not a configured source")
    for sname, src in cfg.sources.items():
        base = f"sources.{sname}"
        split_parts: dict[str, dict[str, str]] = {}
        for fname, m in src.fields.items():
            ftype = cfg.field_type(fname)
            if ftype is None:
                raise ConfigError(
                    f"{base}.fields.{fname}",
                    "not a canonical field nor a declared extra attribute (see README: canonical model)",
                )
            if m.value is not None:
                _check_constant(f"{base}.fields.{fname}.value", fname, ftype, m.value)
                continue
            allowed = FIELD_TRANSFORMS.get(fname) or TYPE_TRANSFORMS[ftype]
            transform = m.transform or default_transform(fname, ftype)
            if transform not in allowed:
                raise ConfigError(
                    f"{base}.fields.{fname}.transform",
                    f"'{transform}' cannot produce a {fname} ({ftype.value}); use one of {sorted(allowed)}",
                )
            _check_write_options(base, fname, m, transform)
            if transform == "split_name":
                # FieldMapping's own validators ensure split_name has a column and a part
                assert m.column is not None and m.part is not None
                parts = split_parts.setdefault(m.column, {})
                if m.part in parts:
                    raise ConfigError(f"{base}.fields.{fname}", f"'{parts[m.part]}' already takes part '{m.part}'")
                parts[m.part] = fname
        _check_policy(cfg, f"{base}.policy", src.policy)
        if src.query is not None and (src.accepts or src.golden_id):
            key = f"{base}.accepts" if src.accepts else f"{base}.golden_id"
            raise ConfigError(key, "a 'query' source is read-only: write-back needs a 'table' to update rows in")
        for fname in src.accepts:
            if fname not in src.fields:
                raise ConfigError(
                    f"{base}.accepts", f"'{fname}' is not mapped in {base}.fields, so it cannot be written back"
                )
            m = src.fields[fname]
            if reason := _not_writable(fname, m, cfg.transform_for(fname, m)):
                raise ConfigError(f"{base}.accepts", reason)
            if m.column == src.primary_key or m.column == src.updated_at:
                raise ConfigError(f"{base}.accepts", f"'{fname}' maps to the key or cursor column '{m.column}'")
            if m.transform == "split_name":
                assert m.column is not None  # FieldMapping: split_name reads one column
                partners = list(split_parts[m.column].values())
                if len(partners) < 2:
                    raise ConfigError(
                        f"{base}.accepts",
                        f"'{fname}' is one part of column '{m.column}'; map both parts (first, last) to write it back",
                    )
                if not set(partners) <= set(src.accepts):
                    raise ConfigError(
                        f"{base}.accepts",
                        f"'{fname}' shares column '{m.column}' with {sorted(partners)}; accept all of them or none",
                    )
        if src.golden_id and src.golden_id.column and src.golden_id.column in src.columns():
            raise ConfigError(f"{base}.golden_id.column", f"'{src.golden_id.column}' is already a mapped column")


def _resolve(cfg: HubConfig, base_dir: Path) -> HubConfig:
    def rel(p: Path) -> Path:
        return p if p.is_absolute() else (base_dir / p).resolve()

    sources = {}
    for name, src in cfg.sources.items():
        update: dict[str, Any] = {}
        if src.path is not None:
            update["path"] = rel(src.path)
        if src.url is not None:
            update["url"] = _resolved_url(src.url, base_dir, f"sources.{name}.url")
        sources[name] = src.model_copy(update=update)
    pipeline = cfg.pipeline
    if pipeline.dagster_home is not None:
        pipeline = pipeline.model_copy(update={"dagster_home": rel(pipeline.dagster_home)})
    return cfg.model_copy(
        update={
            "pipeline": pipeline,
            "workspace": rel(cfg.workspace),
            "serving_store": _resolved_url(cfg.serving_store, base_dir, "serving_store"),
            "sources": sources,
        }
    )


def _resolved_url(url: str, base_dir: Path, key: str) -> str:
    try:
        return resolve_sqlite_url(url, base_dir)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """Make a relative sqlite:/// URL relative to the config file, not the working directory."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with its own wording
        raise ValueError(f"not a SQLAlchemy URL: {url!r} ({exc})") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database)
        if not db.is_absolute():
            return parsed.set(database=str((base_dir / db).resolve())).render_as_string(hide_password=False)
    return url


class _Loader(yaml.SafeLoader):
    """YAML with only true/false as booleans: source values like Y, N, yes, no, on, off stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_config(path: str | Path) -> HubConfig:
    """Read, validate and resolve a hub.yaml; raise ConfigError on the first problem."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader)  # a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError("", "file not found", path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError("", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", path) from None
    if not isinstance(raw, dict):
        raise ConfigError("", "expected a mapping with at least a 'sources' key", path)
    try:
        cfg = HubConfig.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        key = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        raise ConfigError(key, _reason(err), path) from None
    try:
        _check_fields(cfg)
        return _resolve(cfg, path.parent.resolve())
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.reason, path) from None


def _reason(err: ErrorDetails) -> str:
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling against the README's configuration reference)"
    if err["type"] == "missing":
        return "required key is missing"
    return msg
