"""Lineage as stored: which source record supplied each value of a golden record, kept as JSON text in the serving
store (golden_records.lineage, golden_history.lineage) and in exports.

Stored form: a list of the supplying records, each with the fields it supplied, in one order:

    [{"source_system":"crm","source_key":"17","rule":"most_recent","value_at":"2024-05-01T09:00:00",
      "fields":["email","phone"]}, ...]

One entry per (source_system, source_key, rule, value_at), ordered by those four (missing values last), `fields`
sorted. A golden record's fields mostly come from one or two records, so this is about a quarter of the size of an
entry per field, and lineage is most of what a publish writes: a first publish at a million records wrote 1.9 GB of
it per table. golden_record.run builds it in SQL and `dumps` builds the same text from Python, so the text (and its
hash, which decides whether a publish touches a record) depends only on what it says.

Readers get the per-field form, `{field: {source_system, source_key, rule, value_at}}`, from `parse`, which also
reads the per-field objects that stores written before this form hold (history rows keep them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

ENTRY = ("source_system", "source_key", "rule", "value_at")  # what an entry says of each field it supplied

PerField = dict[str, dict[str, Any]]


def parse(text: Any) -> PerField:
    """Per field, the entry that supplied it (fields in name order); {} for no lineage. Takes the stored list and
    the per-field object of older rows."""
    if not isinstance(text, str) or not text:
        return {}
    data = json.loads(text)
    if isinstance(data, dict):  # written before the stored form was a list
        return dict(sorted(data.items()))
    per_field = {f: {k: entry.get(k) for k in ENTRY} for entry in data for f in entry["fields"]}
    return dict(sorted(per_field.items()))


def dumps(per_field: Mapping[str, Mapping[str, Any]]) -> str:
    """The stored text of a per-field lineage: what golden_record.run's SQL gives for the same entries."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for field, entry in per_field.items():
        groups.setdefault(tuple(entry.get(k) for k in ENTRY), []).append(field)
    ordered = sorted(groups.items(), key=lambda g: tuple((v is None, "" if v is None else str(v)) for v in g[0]))
    entries = [{**dict(zip(ENTRY, key, strict=True)), "fields": sorted(fields)} for key, fields in ordered]
    return json.dumps(entries, separators=(",", ":"), ensure_ascii=False)
