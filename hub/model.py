"""The canonical customer model every source is mapped into.

One flat record per source row. Consent is per channel, each with the time the choice was
recorded, because survivorship picks the most recent explicit choice per channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

# What the hub takes for an email address (local@domain.tld), in RE2 / Python syntax: standardization,
# survivorship's `valid` rule and match-on-entry all use this one pattern.
EMAIL_PATTERN = r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+"

ENTRY_SYSTEM = "entry"  # source_system of a record posted to match-on-entry (hub.api.match, matching.entry)

# How match-on-entry learns how common a value is, as the run that published the model counted it: given tf column ->
# the distinct values asked, answers tf column -> (scored records with a value in the column, {value: scored records
# holding it}), a value no two records share counting as held by one. A column left out gets no TF adjustment.
TermCounts = Callable[[dict[str, list[str]]], dict[str, tuple[int, dict[str, int]]]]

# The earliest date of birth the hub believes. Ingest reads a date of birth outside [EARLIEST_BIRTH, today]
# (0001-01-01, 9999-12-31, a year keyed as 2091) as missing, with a field warning: a placeholder or a typo is not a
# person's birthday and must never become a golden value. The raw expectations check the same range.
EARLIEST_BIRTH = date(1900, 1, 1)


def plausible_birth_dates(today: date | None = None) -> tuple[date, date]:
    """The range of dates of birth the hub accepts: from EARLIEST_BIRTH to today (inclusive)."""
    return EARLIEST_BIRTH, today or date.today()


class Consent(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"


class FieldType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


CHANNELS = ("email", "sms", "phone", "post")

# DuckDB column type for each field type; the workspace schema is generated from this.
DUCKDB_TYPES = {
    FieldType.STRING: "VARCHAR",
    FieldType.INTEGER: "BIGINT",
    FieldType.DOUBLE: "DOUBLE",
    FieldType.BOOLEAN: "BOOLEAN",
    FieldType.DATE: "DATE",
    FieldType.TIMESTAMP: "TIMESTAMP",
}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    doc: str


def _consent_fields() -> list[Field]:
    fields = []
    for channel in CHANNELS:
        fields.append(Field(f"consent_{channel}", FieldType.STRING, f"{channel} consent: granted/denied/unknown"))
        fields.append(Field(f"consent_{channel}_at", FieldType.TIMESTAMP, f"when the {channel} choice was recorded"))
    return fields


# Identity columns are set by the connector, not mapped from source columns.
IDENTITY_FIELDS: tuple[Field, ...] = (
    Field("source_system", FieldType.STRING, "name of the source block in hub.yaml"),
    Field("source_key", FieldType.STRING, "the source's primary key, as text"),
    Field("source_updated_at", FieldType.TIMESTAMP, "the source's own last-modified time"),
)

# Customer attributes a source can map columns to (and accept back on write-back).
ATTRIBUTE_FIELDS: tuple[Field, ...] = (
    Field("first_name", FieldType.STRING, "given name"),
    Field("last_name", FieldType.STRING, "family name"),
    Field("date_of_birth", FieldType.DATE, "date of birth"),
    Field("email", FieldType.STRING, "email address"),
    Field("phone", FieldType.STRING, "phone number in E.164"),
    Field("address_line1", FieldType.STRING, "street address"),
    Field("address_line2", FieldType.STRING, "flat, unit, building"),
    Field("city", FieldType.STRING, "city or town"),
    Field("region", FieldType.STRING, "state, county, province"),
    Field("postal_code", FieldType.STRING, "postal code"),
    Field("country", FieldType.STRING, "ISO 3166-1 alpha-2"),
    *_consent_fields(),
    Field("preferred_channel", FieldType.STRING, "email/sms/phone/post"),
)

CANONICAL_FIELDS: tuple[Field, ...] = IDENTITY_FIELDS + ATTRIBUTE_FIELDS
ATTRIBUTE_NAMES = frozenset(f.name for f in ATTRIBUTE_FIELDS)
ATTRIBUTE_TYPES = {f.name: f.type for f in ATTRIBUTE_FIELDS}
CONSENT_FIELDS = tuple(f"consent_{c}" for c in CHANNELS)


def record_fields(extra: dict[str, FieldType] | None = None) -> list[Field]:
    """Canonical fields plus the typed extra attributes a hub.yaml declares."""
    fields = list(CANONICAL_FIELDS)
    for name, ftype in (extra or {}).items():
        fields.append(Field(name, ftype, "extra attribute from hub.yaml"))
    return fields
