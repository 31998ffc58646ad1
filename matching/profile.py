"""What the records actually hold: per standardized column, the share of records with a value.

The match plan (matching/plan.py) is built from it, so a data set without e-mails, phones or addresses gets a model
without those comparisons, blocking keys and training sessions instead of a Splink error about a column nobody
filled. `from_config` is the same picture drawn from hub.yaml alone (a field some source maps counts as present),
for `hub config check` before anything was pulled.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from hub.config import HubConfig

MIN_SHARE = 0.01  # a column fewer than 1% of records fill carries no evidence worth a parameter

# canonical field -> the standardized columns derived from it (matching/standardize.py)
DERIVED = {
    "first_name": ("first_name_std", "first_name_canonical"),
    "last_name": ("last_name_std",),
    "date_of_birth": ("dob_std", "dob_str", "dob_swapped"),
    "email": ("email_std", "email_user_std"),
    "phone": ("phone_std", "dialling_code"),
    "address_line1": ("address_line1_std", "house_number"),
    "address_line2": ("address_line2_std",),
    "postal_code": ("postal_code_std", "postal_outward"),
    "city": ("city_std",),
    "country": ("dialling_code",),
}
COLUMNS = tuple(dict.fromkeys(c for cols in DERIVED.values() for c in cols))


@dataclass(frozen=True)
class Profile:
    records: int | None  # None: drawn from hub.yaml, no records seen
    filled: dict[str, float]  # standardized column -> share of records with a value
    constant: frozenset[str] = frozenset()  # filled columns holding one value (every record the same country)

    def has(self, *columns: str) -> bool:
        """Whether every column carries evidence (filled by at least MIN_SHARE of the records, with more than one
        value: a column every record holds the same value in tells no two records apart)."""
        return all(self.filled.get(c, 0.0) >= MIN_SHARE and c not in self.constant for c in columns)

    def missing(self) -> list[str]:
        return [c for c in COLUMNS if not self.has(c)]


def profile(con: duckdb.DuckDBPyConnection, table: str) -> Profile:
    """The share of `table`'s records (standardized) with a value in each standardized column, in one scan."""
    present = {r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()}
    cols = [c for c in COLUMNS if c in present]
    counts = ", ".join(f"count({c}), min({c}) IS NOT DISTINCT FROM max({c})" for c in cols)
    row = con.execute(f"SELECT count(*), {counts} FROM {table}").fetchall()[0]
    n = row[0]
    filled = {c: (row[1 + 2 * i] / n if n else 0.0) for i, c in enumerate(cols)}
    return Profile(n, filled, frozenset(c for i, c in enumerate(cols) if row[1 + 2 * i] and row[2 + 2 * i]))


def from_config(cfg: HubConfig) -> Profile:
    """Every standardized column of a field that at least one source maps, as if always filled."""
    mapped = {f for src in cfg.sources.values() for f in src.fields}
    filled = dict.fromkeys(COLUMNS, 0.0)
    for field, cols in DERIVED.items():
        if field in mapped:
            filled.update(dict.fromkeys(cols, 1.0))
    return Profile(None, filled)
