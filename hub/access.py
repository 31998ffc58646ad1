"""Field-level access: the one place that decides what a caller sees of golden records (hub.yaml `access:`).

`policy_for` resolves a caller (its API key's id, name and role, or a role alone for the command line) to a
Policy; `enforce` applies it to a frame of records (exports) and `enforce_records` to records as dicts (the
API and the web UI), both column by column over every row at once:

- `full`: the value as stored;
- `masked`: e-mail `j***@example.com`, phone `***123` (its last 3 digits), names their initial (`J.`), dates and
  times their year (`1984`), anything else `***`; a missing value stays missing;
- `hidden`: no value (a typed field of the API reads null and is listed in `hidden_fields`; an export leaves
  the column out; a free-form record leaves the key out), and its lineage entry goes too.

A policy with `sources` sees the golden records of which any source record comes from one of them (the store
answers which: hub.store.pii_reads.visible_ids) and only those sources' lineage and xref rows. Match
explanations keep a comparison unless every field it compares is hidden.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from hub import lineage
from hub.config import LEVELS, AccessPolicy, HubConfig
from hub.model import ATTRIBUTE_FIELDS, FieldType

FULL, MASKED, HIDDEN = LEVELS
NAME_FIELDS = ("first_name", "last_name")
# Comparisons of the match model that compare more than the field of their own name (matching/settings.py).
COMPARISON_FIELDS: dict[str, tuple[str, ...]] = {"name": NAME_FIELDS, "address": ("address_line1", "postal_code")}


@dataclass(frozen=True)
class Policy:
    """What one caller sees: a level and a mask kind per golden-record field, and the source systems whose
    customers it sees (None: all). `origin` says which entry of hub.yaml it came from."""

    origin: str
    levels: Mapping[str, str]
    kinds: Mapping[str, str]
    sources: frozenset[str] | None
    pii_fields: tuple[str, ...]

    @property
    def open(self) -> bool:
        """Sees everything: enforcing it changes nothing (the default without an `access:` block)."""
        return self.sources is None and all(level == FULL for level in self.levels.values())

    @property
    def filters_lineage(self) -> bool:
        """Lineage names fields and source records: it changes when a field is hidden or sources are limited."""
        return self.sources is not None or HIDDEN in self.levels.values()

    def fields_at(self, level: str) -> list[str]:
        return [f for f, lv in self.levels.items() if lv == level]

    def level(self, field: str) -> str:
        return self.levels.get(field, FULL)

    def allows_source(self, source_system: str) -> bool:
        return self.sources is None or source_system in self.sources

    def pii_read(self) -> tuple[list[str], list[str]]:
        """The PII fields a read shows this caller (full, masked): what the read log records."""
        return (
            [f for f in self.pii_fields if self.level(f) == FULL],
            [f for f in self.pii_fields if self.level(f) == MASKED],
        )

    def hidden_comparisons(self, comparisons: Iterable[str]) -> set[str]:
        """The comparisons of a match explanation every field of which is hidden."""
        return {c for c in comparisons if all(self.level(f) == HIDDEN for f in COMPARISON_FIELDS.get(c, (c,)))}


def _mask_kind(name: str, ftype: FieldType) -> str:
    if name in ("email", "phone"):
        return name
    if name in NAME_FIELDS:
        return "name"
    return "date" if ftype in (FieldType.DATE, FieldType.TIMESTAMP) else "other"


def field_types(cfg: HubConfig) -> dict[str, FieldType]:
    """Every golden-record field: the canonical attributes, then the extra attributes of hub.yaml."""
    return {**{f.name: f.type for f in ATTRIBUTE_FIELDS}, **cfg.attributes}


def _policy(cfg: HubConfig, origin: str, p: AccessPolicy) -> Policy:
    types = field_types(cfg)
    return Policy(
        origin=origin,
        levels={f: p.fields.get(f, p.default) for f in types},
        kinds={f: _mask_kind(f, t) for f, t in types.items()},
        sources=frozenset(p.sources) if p.sources is not None else None,
        pii_fields=tuple(cfg.access.pii_fields),
    )


def policy_for(cfg: HubConfig, role: str, key_id: str | None = None, key_name: str | None = None) -> Policy:
    """The policy of a caller: `access.keys` by key name, then by key id; else `access.roles` of its role; else
    `access.default`."""
    a = cfg.access
    for name in (key_name, key_id):
        if name is not None and name in a.keys:
            return _policy(cfg, f"access.keys.{name}", a.keys[name])
    if role in a.roles:
        return _policy(cfg, f"access.roles.{role}", a.roles[role])
    return _policy(cfg, "access.default", a.default)


# ------------------------------------------------------------------------------------------------- masking


def _text(values: Sequence[Any] | pd.Series) -> pa.Array:
    """Values as an Arrow array: typed when they share a type (dates stay dates), else as text."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None or v != v else str(v) for v in values], pa.string())


def _masked(arr: pa.Array, kind: str) -> pa.Array:
    """Arrow compute over the whole column at once; nulls stay null (every function below propagates them)."""
    if kind == "date" and pa.types.is_temporal(arr.type):
        return pc.cast(pc.year(arr), pa.string())
    arr = arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())
    if kind == "email":
        local = pc.replace_substring_regex(arr, r"^(.)[^@]*(@.*)$", r"\1***\2")
        return pc.if_else(pc.match_substring(arr, "@"), local, "***")
    if kind == "phone":
        digits = pc.replace_substring_regex(arr, r"\D", "")
        last = pc.binary_join_element_wise("***", pc.utf8_slice_codeunits(digits, -3), "")
        return pc.if_else(pc.greater_equal(pc.utf8_length(digits), 3), last, "***")
    if kind == "name":
        initial = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(arr), 0, 1)
        return pc.if_else(pc.greater(pc.utf8_length(initial), 0), pc.binary_join_element_wise(initial, ".", ""), "***")
    if kind == "date":  # dates as text: their year when they start with one
        year = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(arr), 0, 4)
        return pc.if_else(pc.match_substring_regex(arr, r"^\s*[0-9]{4}"), year, "***")
    return pc.if_else(pc.is_valid(arr), pa.scalar("***"), pa.scalar(None, pa.string()))


def mask_values(values: Sequence[Any] | pd.Series, kind: str) -> list[Any]:
    """Every value of a column masked the way `kind` says (see the module docstring), as one set of Arrow compute
    calls over the column; a missing value stays missing (None)."""
    if len(values) == 0:
        return []
    return _masked(_text(values), kind).to_pylist()


def mask_column(values: pd.Series, kind: str) -> pd.Series:
    """mask_values for a frame's column (same index, object dtype)."""
    return pd.Series(mask_values(values, kind), index=values.index, dtype=object)


def _json_column(
    column: pd.Series,
    change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    parse: Callable[[Any], dict[str, Any]] = lambda t: json.loads(t) if isinstance(t, str) and t else {},
    dumps: Callable[[dict[str, Any]], str] = lambda d: json.dumps(d, sort_keys=True),
) -> pd.Series:
    """A column of JSON text changed as dicts, all rows at once (`parse` and `dumps`: lineage's stored form)."""
    return pd.Series([dumps(d) for d in change([parse(t) for t in column])], index=column.index, dtype=object)


def _lineage(policy: Policy, lineages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lineage entries of hidden fields and of other sources' records left out."""
    hidden = set(policy.fields_at(HIDDEN))
    return [
        {
            f: entry
            for f, entry in (per_field or {}).items()
            if f not in hidden and policy.allows_source(str((entry or {}).get("source_system", "")))
        }
        for per_field in lineages
    ]


def enforce(frame: pd.DataFrame, policy: Policy, drop_hidden: bool = True) -> pd.DataFrame:
    """`frame` (one row per record; attributes as columns, `extra` and `lineage` as JSON text when present) as
    `policy` shows it: masked columns masked, hidden ones dropped (`drop_hidden`) or emptied. Rows are not
    filtered here: keep the visible golden ids first (hub.store.pii_reads.visible_ids)."""
    if policy.open:
        return frame
    out = frame.copy()
    in_extra = [f for f in policy.levels if policy.level(f) != FULL and f not in frame.columns]
    for field in [f for f in policy.fields_at(MASKED) if f in out.columns]:
        out[field] = mask_column(out[field], policy.kinds[field])
    hidden = [f for f in policy.fields_at(HIDDEN) if f in out.columns]
    out = out.drop(columns=hidden) if drop_hidden else out.assign(**dict.fromkeys(hidden, None))
    if "extra" in out.columns and in_extra:
        out["extra"] = _json_column(out["extra"], lambda extras: enforce_records(extras, policy, drop_hidden=True))
    if "lineage" in out.columns and policy.filters_lineage:
        out["lineage"] = _json_column(
            out["lineage"], lambda lineages: _lineage(policy, lineages), lineage.parse, lineage.dumps
        )
    return out


def enforce_records(records: list[dict[str, Any]], policy: Policy, drop_hidden: bool = False) -> list[dict[str, Any]]:
    """The same for records as dicts (changed in place and returned): a field at the top level or in the
    record's `extra` dict; hidden fields set to None (`drop_hidden`: left out), `lineage` dicts filtered."""
    if policy.open or not records:
        return records
    for field, level in policy.levels.items():
        if level == FULL:
            continue
        # (the dict holding the field, whether it is the record itself): extras are free-form, attributes typed
        holders = [(r, True) if field in r else (r.get("extra"), False) for r in records]
        rows = [(h, top) for h, top in holders if isinstance(h, dict) and field in h]
        if not rows:
            continue
        if level == HIDDEN:
            for h, top in rows:
                if top and not drop_hidden:
                    h[field] = None
                else:
                    del h[field]
            continue
        masked = mask_values([h[field] for h, _ in rows], policy.kinds[field])
        for (h, _), value in zip(rows, masked, strict=True):
            h[field] = value
    with_lineage = [r for r in records if isinstance(r.get("lineage"), dict)] if policy.filters_lineage else []
    for r, filtered in zip(with_lineage, _lineage(policy, [r["lineage"] for r in with_lineage]), strict=True):
        r["lineage"] = filtered
    return records


def explanation(policy: Policy, weights: Mapping[str, Any]) -> dict[str, Any]:
    """A review item's explanation ({comparison: weight}) without the comparisons of hidden fields."""
    hidden = policy.hidden_comparisons(weights)
    return {c: w for c, w in weights.items() if c not in hidden}


def _listed(pol: Policy, p: AccessPolicy, level: str) -> str:
    """The fields at `level`, or how many when they are those the policy does not name (its default)."""
    names = pol.fields_at(level)
    if level == p.default and len(names) > len(p.fields):
        return f"the other {len(names)} fields"
    return ", ".join(names) or "-"


def describe(cfg: HubConfig, policies: Sequence[tuple[str, AccessPolicy]] | None = None) -> str:
    """What `hub config check` prints: per policy, the fields it masks or hides and the sources it sees."""
    a = cfg.access
    named = policies or [("default", a.default)]
    named = [*named, *((f"role {r}", p) for r, p in a.roles.items()), *((f"key {k}", p) for k, p in a.keys.items())]
    lines = []
    for label, p in named:
        pol = _policy(cfg, label, p)
        if pol.open:
            lines.append(f"  {label}: every field in full, every source's customers")
            continue
        seen = ", ".join(sorted(pol.sources)) if pol.sources is not None else "every source"
        lines.append(
            f"  {label}: full: {_listed(pol, p, FULL)}; masked: {_listed(pol, p, MASKED)}; "
            f"hidden: {_listed(pol, p, HIDDEN)}; customers of: {seen}"
        )
    if not a.roles and not a.keys:
        lines.append("  (no roles: or keys: entries: every role and key gets the default)")
    log = f"PII read log: {'on' if a.log_reads else 'off'} (fields: {', '.join(a.pii_fields)})"
    return "\n".join([*lines, log])
