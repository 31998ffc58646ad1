"""What one pipeline run did to the cells of one source: every changed cell of a column write-back may
write, judged against the person's true values and against the column's own convention.

A changed cell is one class: filled right / filled wrong (it was blank), improved (wrong -> right),
degraded (right -> wrong), sideways (wrong -> wrong), right -> right (rewritten, still right) or
blanked. "Right" means the cell, read by the hub's own transform for its field, has the meaning of the
truth (truth_keys.key: case, whitespace, accents, address punctuation and word order, state names, ZIP+4 vs
ZIP5 ignored). A column holding two fields (a "SMITH, John" name) is right when both parts are; each
part is reported too. A source without a line-2 column keeps the flat in line 1, so its line 1 is
compared to street and unit together. Separately, a change whose before and after differ only in
form (case, whitespace, punctuation, the written form of a phone, date, country or state:
truth_keys.form_free) is a format-only rewrite, whichever class it is in, and a written value that
breaks the column's convention (source_conventions) is a format violation. Everything is
whole-column pandas; no per-row loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from source_conventions import violations
from source_tables import SourceSnapshot, canonical, cell_text
from truth_keys import form_free, key, tokens

from hub.config import HubConfig, SourceConfig

CLASSES = ("filled_right", "filled_wrong", "improved", "degraded", "sideways", "right_to_right", "blanked")
EXAMPLE_CLASSES = ("degraded", "sideways", "filled_wrong", "right_to_right")
EXAMPLES_PER_CLASS = 4


@dataclass
class ColumnStats:
    """One report row: a written column (part=None) or one field of a two-field column."""

    source: str
    column: str
    fields: tuple[str, ...]  # canonical fields the column (or part) holds
    part: str | None
    has_truth: bool
    changed: int = 0
    classes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    format_only: int = 0
    written: int = 0  # changed cells holding a value afterwards
    violations: int | None = None  # of those, breaking the column's convention (None: no convention)
    untouched: int = 0  # cells not changed, holding a value
    untouched_violations: int | None = None


@dataclass
class SourceChanges:
    source: str
    columns: list[ColumnStats]
    golden_ids_written: int  # golden-id column or side-table cells set or changed
    other_changed: int  # cells changed outside the written columns: must be 0 (sources stay intact)
    rows_added_or_removed: int
    examples: list[dict[str, str]]


def written_columns(src: SourceConfig) -> dict[str, list[str]]:
    """Source column -> the canonical fields it holds, for every column write-back may change."""
    columns = dict.fromkeys(src.fields[f].column for f in src.accepts)
    return {c: [f for f, m in src.fields.items() if m.column == c] for c in columns}


def _truth_keys(src: SourceConfig, fields: list[str], people: pd.DataFrame) -> dict[str, pd.Series]:
    """Per field, the key of each row's true value (<NA> where the truth is blank or unknown)."""
    out = {}
    for f in fields:
        if f not in people.columns:
            continue
        if f == "address_line1" and "address_line2" not in src.fields:
            both = people["address_line1"].fillna("") + " " + people["address_line2"].fillna("")
            out[f] = tokens(both)
        else:
            out[f] = key(f, people[f])
    return out


def _classify(
    before_blank: pd.Series, after_blank: pd.Series, before_right: pd.Series, after_right: pd.Series
) -> np.ndarray:
    conditions = [
        before_blank & ~after_blank & after_right,
        before_blank & ~after_blank & ~after_right,
        ~before_blank & after_blank,
        ~before_right & after_right,
        before_right & ~after_right,
        ~before_right & ~after_right,
        before_right & after_right,
    ]
    names = ["filled_right", "filled_wrong", "blanked", "improved", "degraded", "sideways", "right_to_right"]
    return np.select([c.to_numpy(dtype=bool) for c in conditions], names, default="blanked")


def _blank(text: pd.Series) -> pd.Series:
    return (text.isna() | (text.str.strip() == "")).fillna(True).astype(bool)


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    """Null-safe equality of two key columns."""
    return ((a == b).fillna(False) | (a.isna() & b.isna())).astype(bool)


def diff_source(
    cfg: HubConfig,
    source: str,
    before: SourceSnapshot,
    after: SourceSnapshot,
    person: pd.Series,
    truth: pd.DataFrame,
) -> SourceChanges:
    """Judge every cell `source` changed between two snapshots. `person`: source_key -> person_id;
    `truth`: truth_values by person_id."""
    src = cfg.sources[source]
    keys = before.rows.index.intersection(after.rows.index)
    added_removed = len(before.rows.index.symmetric_difference(after.rows.index))
    b_rows, a_rows = before.rows.loc[keys], after.rows.loc[keys]
    b_can, a_can = canonical(cfg, source, b_rows), canonical(cfg, source, a_rows)
    people = truth.reindex(person.reindex(keys).to_numpy())
    people.index = keys
    b_country = b_can["country"] if "country" in b_can else pd.Series(pd.NA, index=keys, dtype="string")
    a_country = a_can["country"] if "country" in a_can else pd.Series(pd.NA, index=keys, dtype="string")

    gid_column = src.golden_id.column if src.golden_id else None
    columns = written_columns(src)
    stats, examples = [], []
    for column, fields in columns.items():
        b_text, a_text = cell_text(b_rows[column]), cell_text(a_rows[column])
        changed = ~_same(b_text, a_text)
        truth_keys = _truth_keys(src, fields, people)
        has_truth = len(truth_keys) == len(fields)
        b_keys = {f: _field_key(src, f, b_can[f]) for f in fields}
        a_keys = {f: _field_key(src, f, a_can[f]) for f in fields}
        row = ColumnStats(source, column, tuple(fields), None, has_truth, changed=int(changed.sum()))
        b_blank, a_blank = _blank(b_text), _blank(a_text)
        same_meaning = pd.Series(True, index=keys)
        for f in fields:
            same_meaning &= _same(form_free(f, b_can[f]), form_free(f, a_can[f]))
        row.format_only = int((changed & ~b_blank & ~a_blank & same_meaning).sum())
        if has_truth:
            b_right = pd.Series(True, index=keys)
            a_right = pd.Series(True, index=keys)
            for f in fields:
                b_right &= _same(b_keys[f], truth_keys[f])
                a_right &= _same(a_keys[f], truth_keys[f])
            cls = pd.Series(_classify(b_blank, a_blank, b_right, a_right), index=keys)[changed]
            row.classes.update(cls.value_counts().to_dict())
            examples += _examples(source, column, cls, b_text, a_text, people, fields, person)
        _conventions(row, source, column, changed, b_text, a_text, b_blank, a_blank, b_country, a_country, examples)
        stats.append(row)
        if len(fields) > 1 and has_truth:
            for f in fields:
                part = ColumnStats(source, column, (f,), f, True)
                b_part, a_part = b_can[f].astype("string"), a_can[f].astype("string")
                part_changed = changed & ~_same(b_part, a_part)
                part.changed = int(part_changed.sum())
                pb_blank, pa_blank = _blank(b_part), _blank(a_part)
                same = _same(form_free(f, b_can[f]), form_free(f, a_can[f]))
                part.format_only = int((part_changed & ~pb_blank & ~pa_blank & same).sum())
                cls = _classify(pb_blank, pa_blank, _same(b_keys[f], truth_keys[f]), _same(a_keys[f], truth_keys[f]))
                part.classes.update(pd.Series(cls, index=keys)[part_changed].value_counts().to_dict())
                stats.append(part)

    gid_written = 0
    if gid_column:
        gid_written = int((~_same(cell_text(b_rows[gid_column]), cell_text(a_rows[gid_column]))).sum())
    if len(after.golden_ids):
        old = before.golden_ids["golden_id"].astype("string").reindex(after.golden_ids.index)
        gid_written += int((~_same(old, after.golden_ids["golden_id"].astype("string"))).sum())
    others = [c for c in b_rows.columns if c not in columns and c != gid_column]
    other_changed = sum(int((~_same(cell_text(b_rows[c]), cell_text(a_rows[c]))).sum()) for c in others)
    return SourceChanges(source, stats, gid_written, other_changed, added_removed, examples)


def _field_key(src: SourceConfig, f: str, values: pd.Series) -> pd.Series:
    """A source value's key; line 1 of a source without a line-2 column holds street and flat together."""
    if f == "address_line1" and "address_line2" not in src.fields:
        return tokens(values)
    return key(f, values)


def _conventions(
    row: ColumnStats,
    source: str,
    column: str,
    changed: pd.Series,
    b_text: pd.Series,
    a_text: pd.Series,
    b_blank: pd.Series,
    a_blank: pd.Series,
    b_country: pd.Series,
    a_country: pd.Series,
    examples: list[dict[str, str]],
) -> None:
    written = changed & ~a_blank
    untouched = ~changed & ~b_blank
    row.written, row.untouched = int(written.sum()), int(untouched.sum())
    bad_new = violations(source, column, a_text[written], a_country[written])
    if bad_new is None:
        return
    row.violations = int(bad_new.sum())
    bad_old = violations(source, column, b_text[untouched], b_country[untouched])
    row.untouched_violations = int(bad_old.sum()) if bad_old is not None else None
    for k in bad_new[bad_new].index[:EXAMPLES_PER_CLASS]:
        examples.append(
            {
                "source": source,
                "column": column,
                "class": "format_violation",
                "key": str(k),
                "before": _show(b_text[k]),
                "after": _show(a_text[k]),
                "truth": "",
            }
        )


def _examples(
    source: str,
    column: str,
    cls: pd.Series,
    b_text: pd.Series,
    a_text: pd.Series,
    people: pd.DataFrame,
    fields: list[str],
    person: pd.Series,
) -> list[dict[str, str]]:
    out = []
    for name in EXAMPLE_CLASSES:
        for k in cls[cls == name].index[:EXAMPLES_PER_CLASS]:
            truth = " | ".join(_show(people.at[k, f]) for f in fields if f in people.columns)
            if "address_line1" in fields and "address_line2" in people.columns:
                truth += " | " + _show(people.at[k, "address_line2"])
            out.append(
                {
                    "source": source,
                    "column": column,
                    "class": name,
                    "key": str(k),
                    "person": str(person.get(k)),
                    "before": _show(b_text[k]),
                    "after": _show(a_text[k]),
                    "truth": truth,
                }
            )
    return out


def _show(v: object) -> str:
    return "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else repr(str(v))
