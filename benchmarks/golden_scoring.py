"""How right the golden records are, field by field, against each person's true values, next to what
simple rules would have picked from the same member records and to the best any rule could do.

Each golden record stands for the person most of its member records belong to (xref + ground truth).
Baselines and the oracle see the member records as pulled before any write-back (canonical values
from the hub's own mapping), so the hub's echoes of its own earlier choices cannot help them:
- newest: the value of the member with the latest source_updated_at that has one;
- most frequent: the most common exact value, ties to the one seen most recently;
- oracle: right when some member holds the true value exactly.
Consent 'unknown' is no value. The scoring is one DuckDB query over a long (golden, field, value) table.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd
from truth_keys import EXPLICIT_CONSENT, as_text

from connectors.demo.truth_values import COLUMNS

SCORED_FIELDS = COLUMNS[1:]  # every canonical field truth_values.csv holds (after person_id)


@dataclass(frozen=True)
class FieldScore:
    field: str
    counted: int  # golden records whose person has a true value
    exact: int  # golden value == truth
    loose: int  # equal ignoring case and whitespace
    blank: int  # golden value missing
    newest: int
    most_frequent: int
    oracle: int
    spurious: int  # golden value where the truth is blank

    def rate(self, n: int) -> float:
        return n / self.counted if self.counted else float("nan")


def person_of_golden(xref: pd.DataFrame, ground_truth: pd.DataFrame) -> pd.Series:
    """golden_id -> the person most of its member records belong to (ties: the lowest person_id)."""
    members = xref.merge(ground_truth, on=["source_system", "source_key"])
    counts = members.groupby(["golden_id", "person_id"]).size().rename("n").reset_index()
    counts = counts.sort_values(["golden_id", "n", "person_id"], ascending=[True, False, True])
    return counts.drop_duplicates("golden_id").set_index("golden_id")["person_id"]


def _values(frame: pd.DataFrame, field: str) -> pd.Series:
    text = as_text(frame[field]) if field in frame.columns else pd.Series(pd.NA, index=frame.index, dtype="string")
    return text.where(text.isin(EXPLICIT_CONSENT)) if field.startswith("consent_") else text


def _long(frame: pd.DataFrame, ids: list[str], fields: tuple[str, ...]) -> pd.DataFrame:
    """(ids..., field, value) rows for every field, blanks dropped."""
    parts = [frame[ids].assign(field=f, value=_values(frame, f)) for f in fields]
    out = pd.concat(parts, ignore_index=True)
    return out[out["value"].notna()]


def score(
    golden: pd.DataFrame,
    xref: pd.DataFrame,
    members: pd.DataFrame,
    ground_truth: pd.DataFrame,
    truth: pd.DataFrame,
) -> list[FieldScore]:
    """`golden`: current golden records; `xref`: source record -> golden_id; `members`: canonical
    records as pulled before write-back (source_system, source_key, source_updated_at, fields);
    `ground_truth`: source record -> person_id; `truth`: truth_values (person_id, fields)."""
    person = person_of_golden(xref, ground_truth).rename("person_id").reset_index()
    g = _long(golden, ["golden_id"], SCORED_FIELDS)
    t = _long(truth, ["person_id"], SCORED_FIELDS)
    m = _long(
        members.merge(xref[["source_system", "source_key", "golden_id"]]),
        ["golden_id", "source_system", "source_key", "source_updated_at"],
        SCORED_FIELDS,
    )
    fields = pd.DataFrame({"field": list(SCORED_FIELDS), "ord": range(len(SCORED_FIELDS))})
    con = duckdb.connect()
    for name, frame in (("person", person), ("g", g), ("t", t), ("m", m), ("fields", fields)):
        con.register(name, frame)
    rows = con.execute(
        r"""
        WITH grid AS (SELECT p.golden_id, p.person_id, f.field, f.ord FROM person p CROSS JOIN fields f),
        newest AS (
            SELECT golden_id, field, value FROM (
                SELECT *, row_number() OVER (PARTITION BY golden_id, field
                    ORDER BY source_updated_at DESC NULLS LAST, source_system DESC, source_key DESC) AS rn
                FROM m) WHERE rn = 1),
        counted AS (
            SELECT golden_id, field, value, count(*) AS n, max(source_updated_at) AS last_at
            FROM m GROUP BY ALL),
        frequent AS (
            SELECT golden_id, field, value FROM (
                SELECT *, row_number() OVER (PARTITION BY golden_id, field
                    ORDER BY n DESC, last_at DESC NULLS LAST, value) AS rn
                FROM counted) WHERE rn = 1),
        held AS (
            SELECT DISTINCT m.golden_id, m.field FROM m
            JOIN person p ON p.golden_id = m.golden_id
            JOIN t ON t.person_id = p.person_id AND t.field = m.field AND t.value = m.value),
        judged AS (
            SELECT grid.field, grid.ord, t.value AS truth, g.value AS golden, nw.value AS newest,
                   fr.value AS frequent, held.golden_id IS NOT NULL AS oracle
            FROM grid
            LEFT JOIN t ON t.person_id = grid.person_id AND t.field = grid.field
            LEFT JOIN g ON g.golden_id = grid.golden_id AND g.field = grid.field
            LEFT JOIN newest nw ON nw.golden_id = grid.golden_id AND nw.field = grid.field
            LEFT JOIN frequent fr ON fr.golden_id = grid.golden_id AND fr.field = grid.field
            LEFT JOIN held ON held.golden_id = grid.golden_id AND held.field = grid.field)
        SELECT field,
               count(truth) AS counted,
               count(*) FILTER (truth IS NOT NULL AND golden = truth) AS exact,
               count(*) FILTER (truth IS NOT NULL
                   AND lower(regexp_replace(golden, '\s', '', 'g')) = lower(regexp_replace(truth, '\s', '', 'g')))
                   AS loose,
               count(*) FILTER (truth IS NOT NULL AND golden IS NULL) AS blank,
               count(*) FILTER (truth IS NOT NULL AND newest = truth) AS newest,
               count(*) FILTER (truth IS NOT NULL AND frequent = truth) AS most_frequent,
               count(*) FILTER (truth IS NOT NULL AND oracle) AS oracle,
               count(*) FILTER (truth IS NULL AND golden IS NOT NULL) AS spurious
        FROM judged GROUP BY field, ord ORDER BY ord
        """
    ).fetchall()
    con.close()
    return [FieldScore(*r) for r in rows]
