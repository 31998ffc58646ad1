"""Lineage's stored form (hub/lineage.py): the SQL that builds it at publish and the Python that rebuilds it (a
consent choice recorded through the hub) give the same text for the same entries, so the text's hash changes only
when what it says changes; readers get every field's entry back, from this form and from the older per-field one."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import duckdb
import pandas as pd
import pytest

from golden_record.run import _LINEAGE_SQL
from hub import lineage

FIELDS = ["first_name", "last_name", "email", "phone", "city", "consent_email", "consent_email_at", "preferred_channel"]
SYSTEMS = ["crm", "web", "billing", "hub", "api", None]
KEYS = ["17", "8", 'a"b', "Zoë/ø", "k\\1", "tab\there", None]
RULES = ["most_recent", "only_candidate", "pinned", "consent_most_recent"]


def _rows(rng: random.Random, golden_ids: int) -> pd.DataFrame:
    """Lineage rows as survivorship leaves them (golden_lineage): a field's supplier, rule and time."""
    base = datetime(2024, 5, 1, 9, 0, 0)
    rows = []
    for g in range(golden_ids):
        suppliers = [
            (
                rng.choice(SYSTEMS),
                rng.choice(KEYS),
                rng.choice(RULES),
                # the same second with other microseconds: one value_at in the text, so one entry
                None
                if rng.random() < 0.2
                else base + timedelta(seconds=rng.randrange(3), microseconds=rng.randrange(9)),
            )
            for _ in range(rng.randint(1, 3))
        ]
        for field in rng.sample(FIELDS, rng.randint(1, len(FIELDS))):
            system, key, rule, at = rng.choice(suppliers)
            rows.append((f"G{g}", field, system, key, rule, at))
    return pd.DataFrame(rows, columns=["golden_id", "field", "source_system", "source_key", "rule", "value_at"])


def _per_field(rows: pd.DataFrame) -> dict[str, dict[str, dict[str, object]]]:
    """The oracle: every golden id's entry per field, as readers see it."""
    out: dict[str, dict[str, dict[str, object]]] = {}
    for r in rows.itertuples(index=False):
        at = None if pd.isna(r.value_at) else r.value_at.strftime("%Y-%m-%dT%H:%M:%S")
        out.setdefault(r.golden_id, {})[r.field] = {
            "source_system": None if pd.isna(r.source_system) else r.source_system,
            "source_key": None if pd.isna(r.source_key) else r.source_key,
            "rule": r.rule,
            "value_at": at,
        }
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_and_python_give_the_same_text_and_readers_get_every_field_back(seed: int) -> None:
    rows = _rows(random.Random(seed), 60)
    con = duckdb.connect()
    con.register("lineage_rows", rows)
    built = dict(con.execute(_LINEAGE_SQL.replace("{lineage}", "lineage_rows")).fetchall())
    expected = _per_field(rows)
    assert set(built) == set(expected)
    for golden_id, text in built.items():
        assert text == lineage.dumps(expected[golden_id]), golden_id
        assert lineage.parse(text) == dict(sorted(expected[golden_id].items()))
        # entries in one order, each supplier once with its fields sorted
        entries = json.loads(text)
        assert [e["fields"] for e in entries] == [sorted(e["fields"]) for e in entries]
        suppliers = [tuple(e[k] for k in lineage.ENTRY) for e in entries]
        assert len(set(suppliers)) == len(suppliers)


def test_text_depends_only_on_what_it_says() -> None:
    a = {"email": {"source_system": "crm", "source_key": "1", "rule": "most_recent", "value_at": None},
         "phone": {"source_system": "web", "source_key": "2", "rule": "most_recent", "value_at": "2024-01-01T00:00:00"},
         "city": {"source_system": "crm", "source_key": "1", "rule": "most_recent", "value_at": None}}  # fmt: skip
    shuffled = dict(reversed(list(a.items())))
    assert lineage.dumps(a) == lineage.dumps(shuffled)
    assert json.loads(lineage.dumps(a)) == [
        {"source_system": "crm", "source_key": "1", "rule": "most_recent", "value_at": None,
         "fields": ["city", "email"]},
        {"source_system": "web", "source_key": "2", "rule": "most_recent", "value_at": "2024-01-01T00:00:00",
         "fields": ["phone"]},
    ]  # fmt: skip


def test_the_older_per_field_form_and_no_lineage_still_read() -> None:
    old = '{"email":{"source_system":"crm","source_key":"1","rule":"most_recent","value_at":null}}'
    assert lineage.parse(old) == {
        "email": {"source_system": "crm", "source_key": "1", "rule": "most_recent", "value_at": None}
    }
    assert lineage.parse(None) == lineage.parse("") == {}
    assert lineage.dumps({}) == "[]" and lineage.parse("[]") == {}
