"""Cross-field rules of a hub.yaml, which pydantic cannot see one model at a time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime

from hub import validity
from hub.config.access import AccessPolicy
from hub.config.base import ConfigError
from hub.config.document import HubConfig
from hub.config.sources import (
    CASED_FIELDS,
    FIELD_TRANSFORMS,
    FIELD_WRITE_FORMATS,
    NAME_FIELDS,
    TYPE_TRANSFORMS,
    FieldMapping,
    default_transform,
)
from hub.config.survivorship import ADDRESS_BLOCK
from hub.model import CHANNELS, CONSENT_FIELDS, FieldType, plausible_birth_dates


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
    if m.write_charset is not None and (fname not in CASED_FIELDS or transform not in ("text", "split_name")):
        raise ConfigError(f"{base}.fields.{fname}.write_charset", f"only for text fields {', '.join(CASED_FIELDS)}")
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


def _check_access(cfg: HubConfig) -> None:
    """Every field an access policy names is a golden-record field, every source a configured one."""
    policies: list[tuple[str, AccessPolicy]] = [("access.default", cfg.access.default)]
    policies += [(f"access.roles.{name}", p) for name, p in cfg.access.roles.items()]
    policies += [(f"access.keys.{name}", p) for name, p in cfg.access.keys.items()]
    for key, policy in policies:
        for name in policy.fields:
            if cfg.field_type(name) is None:
                raise ConfigError(f"{key}.fields.{name}", "not a canonical field nor an extra attribute")
        for source in policy.sources or []:
            if source not in cfg.sources:
                raise ConfigError(f"{key}.sources", f"'{source}' is not a configured source")
    for name in cfg.access.pii_fields:
        if cfg.field_type(name) is None:
            raise ConfigError("access.pii_fields", f"'{name}' is not a canonical field nor an extra attribute")


def check_fields(cfg: HubConfig) -> None:
    """Cross-field rules pydantic cannot see one model at a time."""
    _check_policy(cfg, "writeback.policy", cfg.writeback.policy)
    _check_access(cfg)
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
