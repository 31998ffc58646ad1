"""Column mapping between a source's own formats and the canonical model, in both directions.

Forward (pull) works on a whole chunk of raw rows at once. A value a transform cannot read (or a date of birth
outside the plausible range, or a text longer than MAX_TEXT) is read as missing, with a field warning, so the record
is still matched on its other fields; only a missing key, or a field hub.yaml marks `required` that is missing or
unreadable, quarantines the row (with every reason). Reverse (push) formats canonical values the way the source
stores them. Per-value work (phone and country parsing) runs once per distinct value, never once per row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import phonenumbers
import pycountry

from connectors.address_split import split_address
from hub.config import NAME_FIELDS, FieldMapping, HubConfig, SourceConfig, default_transform
from hub.forms import NAME_AFFIXES, SURNAME_PARTICLES
from hub.model import CONSENT_FIELDS, EARLIEST_BIRTH, Consent, FieldType, plausible_birth_dates

TRUE_WORDS = ["1", "true", "t", "y", "yes", "on", "granted", "opt_in", "opted_in", "subscribed"]
FALSE_WORDS = ["0", "false", "f", "n", "no", "off", "denied", "opt_out", "opted_out", "unsubscribed"]
PHONE_PUNCTUATION = r"[\s().\-/]"
COUNTRY_ALIASES = {"UK": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB", "SCOTLAND": "GB", "WALES": "GB"}


UNREADABLE = "cannot parse"
IMPLAUSIBLE_BIRTH = f"implausible date of birth (before {EARLIEST_BIRTH} or after today)"
SHOWN = 40  # characters of a raw value kept in a reason or a warning
# No real name, address or e-mail is longer; a longer text is no evidence for anything, and comparing it costs
# matching time in proportion to its length (a 100 kB "name" takes ~10 ms per string comparison).
MAX_TEXT = 1000
TOO_LONG = f"longer than {MAX_TEXT:,} characters"
WARNING_COLUMNS = ["source_key", "field", "column", "value", "reason"]


@dataclass
class Mapped:
    """A chunk of source rows read into the canonical model."""

    records: pd.DataFrame
    reasons: pd.Series  # per row, why it is quarantined (every reason), or <NA>
    warnings: pd.DataFrame  # WARNING_COLUMNS, one row per record and field read as missing; index: the row's label


class Reasons:
    """Every problem found in a row, so a quarantined row says all that is wrong with it."""

    def __init__(self, index: pd.Index):
        self.values = pd.Series(pd.NA, index=index, dtype="string")

    def add(self, bad: pd.Series, reason: str | pd.Series) -> None:
        bad = bad.fillna(False).astype(bool)
        if bad.any():
            text = reason[bad] if isinstance(reason, pd.Series) else pd.Series(reason, index=bad[bad].index)
            prev = self.values[bad]
            self.values[bad] = (prev + "; " + text).where(prev.notna(), text)


def as_text(s: pd.Series) -> pd.Series:
    """Raw values as trimmed text; empty strings become missing."""
    if pd.api.types.is_float_dtype(s) and (s.dropna() % 1 == 0).all():
        s = s.astype("Int64")
    t = s.astype("string").str.strip()
    return t.mask(t == "")


def _per_distinct(text: pd.Series, fn: Callable[[str], str | None]) -> pd.Series:
    """Apply a scalar parser once per distinct value; None from `fn` means unparsable."""
    distinct = text.dropna().unique()
    lookup = {v: fn(v) for v in distinct}
    return text.map(lookup, na_action="ignore").astype("string")


# Distinct numbers remembered across calls: write-back parses a batch's rows when it locks them and again when it
# reads them back, where most numbers are the ones it just parsed. ~250 bytes each.
PHONE_CACHE = 1 << 18


@functools.lru_cache(maxsize=PHONE_CACHE)
def parse_phone(v: str, region: str) -> str | None:
    """A phone number (punctuation removed) as E.164, read in `region` unless it says its country; None: not a
    possible number."""
    try:
        num = phonenumbers.parse(v, region)
    except phonenumbers.NumberParseException:
        # Digits-only numbers that start with a country code ("447700900123") parse with a '+'.
        if not v.isdigit():
            return None
        try:
            num = phonenumbers.parse("+" + v, None)
        except phonenumbers.NumberParseException:
            return None
    if not phonenumbers.is_possible_number(num):
        if v.isdigit() and not v.startswith("+"):
            try:
                alt = phonenumbers.parse("+" + v, None)
            except phonenumbers.NumberParseException:
                return None
            if phonenumbers.is_possible_number(alt):
                return phonenumbers.format_number(alt, phonenumbers.PhoneNumberFormat.E164)
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def parse_country(v: str) -> str | None:
    key = v.strip().upper()
    if key in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[key]
    try:
        return pycountry.countries.lookup(v.strip()).alpha_2
    except LookupError:
        return None


def to_timestamp(s: pd.Series, fmt: str | None) -> tuple[pd.Series, pd.Series]:
    """Parse raw values to naive-UTC timestamps; returns (values, unparsable mask)."""
    present = s.notna() & (s.astype("string").str.strip() != "")
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s
        return out.astype("datetime64[us]"), pd.Series(False, index=s.index)
    if fmt in ("epoch", "epoch_ms"):
        num = pd.to_numeric(s, errors="coerce")
        out = pd.to_datetime(num, unit="s" if fmt == "epoch" else "ms", errors="coerce")
    elif s.dtype == object and s.dropna().map(lambda v: isinstance(v, (date, datetime))).all():
        out = pd.to_datetime(s, errors="coerce", utc=True).dt.tz_localize(None)
    else:
        text = as_text(s)
        if fmt in (None, "iso"):
            out = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True).dt.tz_localize(None)
        else:
            with_offset = "%z" in fmt or "%Z" in fmt  # offsets may differ per row (summer time)
            out = pd.to_datetime(text, format=fmt, errors="coerce", utc=with_offset)
            if with_offset:
                out = out.dt.tz_localize(None)
    out = out.astype("datetime64[us]")
    return out, present & out.isna()


def flag_words(m: FieldMapping, transform: str) -> dict[bool | str, list[str]]:
    """Canonical value -> the source words that mean it. A list given in hub.yaml replaces the
    default, and an empty list means no word: an opt-out flag can say `granted: []`,
    `denied: ["1"]`, `unknown: ["0"]` (not opted out is no recorded choice)."""

    def given(words: list[str] | None, default: list[str]) -> list[str]:
        return default if words is None else words

    if transform == "boolean":
        return {True: given(m.true, TRUE_WORDS), False: given(m.false, FALSE_WORDS)}
    return {
        Consent.GRANTED.value: given(m.granted, TRUE_WORDS),
        Consent.DENIED.value: given(m.denied, FALSE_WORDS),
        Consent.UNKNOWN.value: given(m.unknown, []),
    }


def _forward(
    name: str, ftype: FieldType, m: FieldMapping, raw: pd.Series, region: str, addresses: dict[str, pd.DataFrame]
) -> tuple[pd.Series, list[tuple[pd.Series, str]]]:
    """One field: (canonical values, [(rows, why they were read as missing)]). Names lose titles and suffixes unless
    `strip_titles: false`; a date of birth outside plausible_birth_dates() is missing."""
    values, bad = _read(name, ftype, m, raw, region, addresses)
    issues = [(bad, UNREADABLE)]
    if ftype == FieldType.STRING:
        too_long = values.str.len().gt(MAX_TEXT).fillna(False)
        issues.append((too_long, TOO_LONG))
        values = values.mask(too_long)
    if name in NAME_FIELDS and m.strip_titles is not False:
        values = strip_titles_column(values)
    if name == "date_of_birth":
        earliest, latest = (pd.Timestamp(d) for d in plausible_birth_dates())
        implausible = (values < earliest) | (values > latest)
        issues.append((implausible.fillna(False), IMPLAUSIBLE_BIRTH))
        values = values.mask(implausible.fillna(False))
    return values, issues


def _raw(raw: pd.DataFrame, m: FieldMapping) -> pd.Series:
    """What the mapping reads: its column, or the non-empty values of its `concat` columns joined with `sep`."""
    if m.concat is None:
        return raw[m.column]
    sep = " " if m.sep is None else m.sep
    joined = as_text(raw[m.concat[0]])
    for col in m.concat[1:]:
        part = as_text(raw[col])
        joined = (joined + sep + part).fillna(joined).fillna(part)
    return joined


def _constant(value: str, ftype: FieldType, index: pd.Index) -> pd.Series:
    """A constant (canonical form, checked by hub.config) as a column of the field's type."""
    if ftype in (FieldType.DATE, FieldType.TIMESTAMP):
        return pd.Series(pd.Timestamp(value), index=index).astype("datetime64[us]")
    if ftype in (FieldType.INTEGER, FieldType.DOUBLE):
        return pd.Series(pd.to_numeric(value), index=index)
    if ftype == FieldType.BOOLEAN:
        return pd.Series(value == "true", index=index, dtype="boolean")
    return pd.Series(value, index=index, dtype="string")


def strip_titles(name: str) -> str:
    """ "Mr John" -> "John", "Smith Jr." -> "Smith": titles and suffixes (hub.forms.NAME_AFFIXES) are not part of
    who someone is. A name that is nothing but such words ("Mr") is kept as it is."""
    kept = [t for t in name.split() if t.lower().strip(".,") not in NAME_AFFIXES]
    return " ".join(kept) if kept else name


# What str.split() splits on besides ' ' (Unicode whitespace), and a token strip_titles drops (any case, with dots
# or commas around it) between single spaces or the ends. A name holding neither comes out of strip_titles as it is.
_OTHER_SPACE = "\t\n\x0b\x0c\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_UNEVEN_SPACE = f"[{_OTHER_SPACE}]|  |^ | $"
_AFFIX_TOKEN = rf"(?i)(?:^| )[.,]*(?:{'|'.join(NAME_AFFIXES)})[.,]*(?: |$)"


def strip_titles_column(names: pd.Series) -> pd.Series:
    """strip_titles on a column, called only for the names it may change (a title or suffix among their words, or
    uneven spacing, found by two vectorized regexes; str.lower() makes an affix only of ASCII letters, which the
    case-insensitive match covers): most names have neither."""
    text = names.astype("string")
    maybe = (text.str.contains(_AFFIX_TOKEN) | text.str.contains(_UNEVEN_SPACE)).fillna(False).astype(bool)
    out = text.copy()
    out[maybe] = _per_distinct(text[maybe], strip_titles)
    return out


def _read(
    name: str, ftype: FieldType, m: FieldMapping, raw: pd.Series, region: str, addresses: dict[str, pd.DataFrame]
) -> tuple[pd.Series, pd.Series]:
    transform = m.transform or default_transform(name, ftype)
    never = pd.Series(False, index=raw.index)
    if transform in ("date", "timestamp"):
        values, bad = to_timestamp(raw, m.format)
        return (values.dt.normalize().astype("datetime64[us]") if transform == "date" else values), bad
    text = as_text(raw)
    if transform == "text":
        if m.case:
            text = {"upper": text.str.upper, "lower": text.str.lower, "title": text.str.title}[m.case]()
        return text, never
    if transform == "number":
        values = _number(text, ftype)
        return values, text.notna() & values.isna()
    if transform in ("boolean", "consent"):
        words = flag_words(m, transform)
        low = text.str.lower()
        if transform == "boolean":
            flags: pd.Series = pd.Series(pd.NA, index=raw.index, dtype="boolean")
        else:  # consent is never missing: no value recorded is 'unknown'
            flags = pd.Series(Consent.UNKNOWN.value, index=raw.index, dtype="string")
        known = pd.Series(False, index=raw.index)
        for value, listed in words.items():
            hit = low.isin([w.lower() for w in listed]).fillna(False)
            flags[hit] = value
            known |= hit
        return flags, text.notna() & ~known
    if transform == "map":
        assert m.values is not None  # FieldMapping: transform 'map' needs 'values'
        values = text.map(m.values, na_action="ignore").astype("string")
        return values, text.notna() & values.isna()
    if transform == "phone":
        # The parser ignores punctuation and spacing, so parse each number once, not each way of writing it.
        key = text.str.replace(PHONE_PUNCTUATION, "", regex=True)
        home = m.region or region
        values = _per_distinct(key, lambda v: parse_phone(v, home))
        return values, text.notna() & values.isna()
    if transform == "country":
        values = _per_distinct(text, parse_country)
        return values, text.notna() & values.isna()
    if transform == "split_name":
        first, last = split_name(text)
        return (first if m.part == "first" else last), never
    if transform == "address":  # parsed once per column and chunk, whichever parts are mapped
        assert m.column is not None  # FieldMapping: transform 'address' reads one column
        if m.column not in addresses:
            addresses[m.column] = split_address(text, lambda t: _per_distinct(t, parse_country))
        return addresses[m.column][name], never
    raise AssertionError(f"unhandled transform {transform}")


def _number(text: pd.Series, ftype: FieldType) -> pd.Series:
    """Numbers as the field's type holds them; infinities, NaN, and for an integer a fraction or a value beyond
    64 bits are unreadable (missing) rather than a value the workspace cannot store."""
    values = pd.to_numeric(text, errors="coerce").astype("Float64")
    fits = values.notna() & values.abs().lt(float("inf"))
    if ftype == FieldType.INTEGER:
        fits &= values.mod(1).eq(0) & values.abs().lt(2.0**63)
    return values.where(fits.fillna(False))


# A particle that may open a surname, as a word between two others ("Tilmann van der Dussen", not "Van Morrison").
_PARTICLE = rf"(?i)\S\s+(?:{'|'.join(SURNAME_PARTICLES)})\s+\S"
# Where there is one: the first name as short as it can be while the rest is particles and one word ("Tilmann" +
# "van der Dussen", "Mary Ann" + "de la Cruz"); a first name keeps one word at least.
_FIRST_PARTICLES_LAST = rf"(?is)^\s*(.+?)\s+((?:(?:{'|'.join(SURNAME_PARTICLES)})\s+)*\S+)\s*$"


def split_name(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'First Middle Last' (the surname with the particles that open it, hub.forms.SURNAME_PARTICLES), or 'LAST,
    First' whenever there is a comma (whatever the configured order, which only decides how names are written
    back)."""
    use_comma = text.str.contains(",", regex=False).fillna(False)
    comma = text.str.split(",", n=1, expand=True).reindex(columns=[0, 1])
    space = text.str.rsplit(" ", n=1, expand=True).reindex(columns=[0, 1])
    particle = text.str.contains(_PARTICLE).fillna(False).astype(bool) & ~use_comma
    if particle.any():
        space.loc[particle, [0, 1]] = text[particle].str.extract(_FIRST_PARTICLES_LAST).to_numpy()
    first = comma[1].where(use_comma, space[0].where(space[1].notna(), pd.NA))
    last = comma[0].where(use_comma, space[1].where(space[1].notna(), space[0]))
    clean = lambda s: s.astype("string").str.strip().replace("", pd.NA)  # noqa: E731
    return clean(first), clean(last)


def row_version(raw: pd.DataFrame, src: SourceConfig) -> pd.Series:
    """A token that changes whenever the source row changes: its updated-at value, or a hash of
    every mapped column where the source has no updated-at column. Push compares it to the
    token seen at pull time (optimistic concurrency)."""
    cols = [src.updated_at] if src.updated_at else src.columns()
    # Values as text (so an int read back as Int64 hashes like before), hashed row-wise in C.
    text = raw[cols].astype("string").fillna("\x00")
    return pd.util.hash_pandas_object(text, index=False).astype("string")


def map_rows(raw: pd.DataFrame, src: SourceConfig, cfg: HubConfig, source_name: str) -> Mapped:
    """Map a chunk of raw source rows to canonical records, with quarantine reasons and field warnings (Mapped).

    An unreadable value is missing in the record and a warning names the field, the column and the value; an
    unreadable updated-at is a warning on `source_updated_at`. The row is quarantined only for a missing key or a
    `required` field that is missing or unreadable."""
    reasons = Reasons(raw.index)
    warnings: list[pd.DataFrame] = []
    out = pd.DataFrame(index=raw.index)
    out["source_system"] = source_name
    out["source_key"] = as_text(raw[src.primary_key])
    reasons.add(out["source_key"].isna(), f"missing primary key '{src.primary_key}'")

    def warn(field: str, column: str, bad: pd.Series, text: pd.Series, why: str) -> None:
        if bad.any():
            warnings.append(
                pd.DataFrame(
                    {"field": field, "column": column, "value": text[bad].str.slice(0, SHOWN), "reason": why},
                    index=bad.index[bad],
                )
            )

    if src.updated_at:
        out["source_updated_at"], bad = to_timestamp(raw[src.updated_at], src.updated_at_format)
        warn("source_updated_at", src.updated_at, bad, as_text(raw[src.updated_at]), UNREADABLE)
    else:
        out["source_updated_at"] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
    addresses: dict[str, pd.DataFrame] = {}
    for name, m in src.fields.items():
        ftype = cfg.field_type(name)
        assert ftype is not None  # _check_fields: every mapped field is canonical or a declared attribute
        if m.value is not None:
            out[name] = _constant(m.value, ftype, raw.index)
            continue
        values = _raw(raw, m)
        text, column = as_text(values), "+".join(m.columns)
        out[name], issues = _forward(name, ftype, m, values, src.default_region, addresses)
        if m.required:
            for bad, why in issues:
                reasons.add(bad, f"{name} (column '{column}'): {why} " + text.str.slice(0, SHOWN).fillna("").map(repr))
            unread = pd.concat([bad for bad, _ in issues], axis=1).any(axis=1)
            reasons.add((out[name].isna() | text.isna()) & ~unread, f"{name} (column '{column}'): required but missing")
        else:
            for bad, why in issues:
                warn(name, column, bad, text, why)
    for consent in CONSENT_FIELDS:
        # Without its own timestamp column, a consent choice counts as recorded when the row was.
        if consent in src.fields and f"{consent}_at" not in src.fields:
            known = out[consent] != Consent.UNKNOWN.value
            out[f"{consent}_at"] = out["source_updated_at"].where(known)
    out["source_version"] = row_version(raw, src)
    frame = pd.concat(warnings) if warnings else pd.DataFrame(columns=WARNING_COLUMNS[1:], dtype="string")
    frame.insert(0, "source_key", out["source_key"].reindex(frame.index))
    return Mapped(out, reasons.values, frame.astype("string"))


def to_canonical(
    raw: pd.DataFrame, src: SourceConfig, cfg: HubConfig, source_name: str
) -> tuple[pd.DataFrame, pd.Series]:
    """Canonical records and quarantine reasons, without the field warnings: for readers that keep no warnings
    (push's view of the current rows, write-back's read-back)."""
    mapped = map_rows(raw, src, cfg, source_name)
    return mapped.records, mapped.reasons


def to_source(values: pd.DataFrame, src: SourceConfig, cfg: HubConfig, column_types: dict[str, str]) -> pd.DataFrame:
    """Format canonical values the way the source stores them, one output column per source column.

    `column_types` says per source column whether it holds 'date'/'datetime' objects natively;
    text columns get the mapping's format.
    """
    out = pd.DataFrame(index=values.index)
    done_split: set[str] = set()
    for name in values.columns:
        m = src.fields[name]
        v = values[name]
        transform = cfg.transform_for(name, m)
        assert m.column is not None  # _not_writable: a field written back maps one column
        native = column_types.get(m.column, "text")
        if transform == "split_name":
            if m.column in done_split:
                continue
            done_split.add(m.column)
            parts = {src.fields[n].part: values[n] for n in values.columns if src.fields[n].column == m.column}
            first, last = parts["first"].astype("string"), parts["last"].astype("string")
            if m.order == "last_comma_first":
                joined = last.str.cat(first, sep=", ", na_rep="").str.strip(", ")
            else:
                joined = first.str.cat(last, sep=" ", na_rep="").str.strip()
            out[m.column] = joined.mask(joined == "")
        elif transform in ("date", "timestamp"):
            ts = pd.to_datetime(v)
            if native in ("date", "datetime"):
                as_date = native == "date"
                out[m.column] = ts.map(
                    lambda t, as_date=as_date: None if pd.isna(t) else (t.date() if as_date else t.to_pydatetime())
                )
            elif m.format in ("epoch", "epoch_ms"):
                unit = pd.Timedelta(seconds=1) if m.format == "epoch" else pd.Timedelta(milliseconds=1)
                out[m.column] = ((ts - pd.Timestamp(0)) // unit).astype("Int64")
            else:
                fmt = (
                    m.format
                    if m.format not in (None, "iso")
                    else ("%Y-%m-%d" if transform == "date" else "%Y-%m-%dT%H:%M:%S")
                )
                out[m.column] = ts.dt.strftime(fmt).astype("string")
        elif transform in ("boolean", "consent"):
            # Each value is written as its first listed word; a value with no word is not written.
            col = pd.Series(pd.NA, index=v.index, dtype="object")
            text = v.astype("string").str.lower()
            for value, listed in flag_words(m, transform).items():
                if listed:
                    col[(text == str(value).lower()).fillna(False)] = _native_flag(listed[0], native)
            out[m.column] = col
        elif transform == "map":
            inverse = {canon: raw for raw, canon in reversed(list((m.values or {}).items()))}
            out[m.column] = v.astype("string").map(inverse, na_action="ignore")
        elif transform == "phone":
            writer = _phone_writer(m.write_format or "e164", m.region or src.default_region)
            out[m.column] = _per_distinct(v.astype("string"), writer)
        elif transform == "country":
            out[m.column] = _per_distinct(v.astype("string"), _country_writer(m.write_format or "alpha2"))
        else:
            out[m.column] = v
    return out


def _native_flag(word: str, native: str) -> object:
    return int(word) if native == "integer" and word.lstrip("-").isdigit() else word


def _phone_writer(fmt: str, region: str) -> Callable[[str], str | None]:
    """National format only for numbers of the source's own country: a foreign number written
    nationally would read back as a different number."""
    style = {
        "digits": phonenumbers.PhoneNumberFormat.E164,
        "e164": phonenumbers.PhoneNumberFormat.E164,
        "national": phonenumbers.PhoneNumberFormat.NATIONAL,
        "international": phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    }[fmt]

    home = phonenumbers.country_code_for_region(region)

    def write(v: str) -> str:
        num = phonenumbers.parse(v, None)
        if fmt == "digits":  # country code and number, no '+': 447700900123
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164).removeprefix("+")
        if style == phonenumbers.PhoneNumberFormat.NATIONAL and num.country_code != home:
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        return phonenumbers.format_number(num, style)

    return write


def _country_writer(fmt: str) -> Callable[[str], str | None]:
    def write(v: str) -> str | None:
        c = pycountry.countries.get(alpha_2=v)
        if c is None:
            return v
        return {"alpha2": c.alpha_2, "alpha3": c.alpha_3, "name": c.name}[fmt]

    return write


def values_equal(a: pd.Series, b: pd.Series) -> pd.Series:
    """Null-safe equality of two canonical columns (missing equals missing)."""
    eq = (a.astype("string") == b.astype("string")).fillna(False)
    return (a.isna() & b.isna()) | eq
