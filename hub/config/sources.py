"""The `sources:` blocks: where each source is, how its columns map to canonical fields (transforms and
their options) and what write-back may put back into it."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

from pydantic import field_validator, model_validator

from hub.config.base import Strict
from hub.config.subjects import ErasureAction
from hub.model import CONSENT_FIELDS, FieldType

# Which options each transform takes; anything else is a config error.
TRANSFORM_OPTIONS: dict[str, set[str]] = {
    "text": {"case", "write_case", "write_charset", "write_format", "strip_titles"},
    "number": set(),
    "boolean": {"true", "false"},
    "date": {"format"},
    "timestamp": {"format"},
    "phone": {"region", "write_format"},
    "split_name": {"order", "part", "write_case", "write_charset", "strip_titles"},
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


class FieldMapping(Strict):
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
    write_charset: Literal["ascii", "unicode"] | None = None  # ascii: accents transliterated (default: learned)
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


class GoldenIdTarget(Strict):
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


class SourceConfig(Strict):
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
    erasure: ErasureAction = ErasureAction()  # what `hub subject erase` does here

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
        if self.erasure.action != "task" and (self.kind != "sql" or self.query is not None):
            raise ValueError(
                f"erasure action '{self.erasure.action}' writes to a table: a file or query source takes 'task'"
            )
        for f in self.erasure.fields or []:
            if f not in self.fields or self.fields[f].column is None:
                raise ValueError(f"erasure.fields: '{f}' is not a field mapped from one column of this source")
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
