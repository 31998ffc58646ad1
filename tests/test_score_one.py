"""matching.score_one scores a pair as Splink's score_pairs does: the same level of every comparison, the same
weights and term-frequency adjustments, match weights within 1e-9, on thousands of pairs of the demo's records and
of variants made to reach the model's levels (names swapped or misspelt, a nickname, a date of birth with day and
month swapped or off by a digit, another e-mail provider, a phone digit, a unit, a postcode typo, missing fields)."""

from __future__ import annotations

import copy
import zlib
from datetime import timedelta
from typing import Any

import duckdb
import pandas as pd
import pytest

from hub.catalogue import STANDARDIZED
from matching import models
from matching.backend import DuckDBSplinkBackend, tf_columns
from matching.score_one import PairScorer, Unsupported
from matching.standardize_one import Standardizer
from tests.test_matching import matched  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow(seconds=10)  # the file's weight in the suite's order (tests/conftest.py)

RAW = ["source_system", "source_key", "first_name", "last_name", "date_of_birth", "email", "phone", "address_line1",
       "address_line2", "city", "postal_code", "country"]  # fmt: skip


def _variants(r: dict[str, Any], nickname_of: dict[str, str]) -> list[dict[str, Any]]:
    def typo(s: str | None) -> str | None:
        return s[:2] + s[3:] if s and len(s) > 3 else s

    dob = r["date_of_birth"]
    out = [
        {"first_name": r["last_name"], "last_name": r["first_name"]},
        {"last_name": typo(r["last_name"])},
        {"first_name": typo(r["first_name"])},
        {"first_name": typo(r["first_name"]), "last_name": typo(r["last_name"])},
        {"first_name": nickname_of.get((r["first_name"] or "").lower(), "Sam")},
        {"first_name": None},
        {"last_name": None, "email": None, "phone": None},
        {"date_of_birth": dob.replace(day=dob.month, month=dob.day) if dob and dob.day <= 12 else dob},
        {"date_of_birth": dob + timedelta(days=1) if dob else dob},
        {"date_of_birth": dob.replace(day=28 if dob.day != 28 else 27) if dob else dob},
        {"date_of_birth": dob.replace(month=dob.month % 12 + 1, day=1) if dob else dob},
        {"email": (r["email"] or "x@y.com").split("@")[0] + "@other-provider.net"},
        {"phone": (r["phone"] or "+447700900000")[:-1] + str((int((r["phone"] or "0")[-1]) + 1) % 10)},
        {"address_line1": "99 Nowhere Road", "address_line2": "Flat 9"},
        {"address_line1": (r["address_line1"] or "1 A St").split(" ")[0] + " Other Street"},
        {"address_line2": r["address_line1"], "address_line1": r["address_line2"]},
        {"postal_code": typo(r["postal_code"]), "city": (r["city"] or "").replace(" ", "") or None},
    ]
    return [{**r, **change, "source_key": f"{r['source_key']}~{i}"} for i, change in enumerate(out)]


def _tf(value: Any, column: str) -> float | None:
    """Some term frequency in (0, 0.5) per value: both scorers read the same numbers."""
    return None if value is None else 1e-6 + (zlib.crc32(f"{column}:{value}".encode()) % 100_000) / 200_000


@pytest.fixture(scope="module")
def pairs(matched):  # noqa: F811 (the fixture)
    ws = matched[0]
    model = models.scored_with(ws.con).model
    one = Standardizer()
    cur = ws.con.execute(f"SELECT {', '.join(RAW)} FROM {STANDARDIZED} ORDER BY unique_id")
    raw = [dict(zip(RAW, row, strict=True)) for row in cur.fetchall()]
    # the records with the most fields given, from every source
    base = sorted(raw, key=lambda r: (-sum(r[c] is not None for c in RAW), r["source_key"]))[:40]
    nickname_of = {name: nick for nick, name in one.nicknames.items()}
    right_raw = [v for r in base for v in _variants(copy.deepcopy(r), nickname_of)] + raw[::7]
    tf_cols = tf_columns(model)

    def records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for r in rows:
            s = {**r, **one(r)}
            out.append({**s, **{f"tf_{c}": _tf(s[c], c) for c in tf_cols}})
        return out

    left, right = records(base), records(right_raw)
    con = duckdb.connect()
    con.register("_l", pd.DataFrame(left))
    con.register("_r", pd.DataFrame(right))
    con.execute("CREATE TABLE score_left AS SELECT * FROM _l")
    con.execute("CREATE TABLE score_right AS SELECT * FROM _r")
    splink = DuckDBSplinkBackend(con).score_pairs("score_left", "score_right", model)
    by_id = {r["unique_id"]: r for r in left + right}
    return model, splink, by_id


def test_every_pair_gets_splinks_levels_weights_and_probability(pairs):
    model, splink, by_id = pairs
    scorer = PairScorer(model)
    names = [c.name for c in scorer.comparisons]
    seen, total = set(), sum(len(c.levels) for c in scorer.comparisons)
    assert len(splink) > 20_000
    for row in splink.to_dict("records"):
        ours = scorer.score(by_id[row["unique_id_l"]], by_id[row["unique_id_r"]])
        for name in names:
            assert ours[f"gamma_{name}"] == row[f"gamma_{name}"], (name, row["unique_id_l"], row["unique_id_r"])
            assert ours[f"mw_{name}"] == pytest.approx(row[f"mw_{name}"], abs=1e-9)
            assert ours[f"mw_tf_adj_{name}"] == pytest.approx(row.get(f"mw_tf_adj_{name}", 0.0), abs=1e-9)
            seen.add((name, ours[f"gamma_{name}"]))
        assert ours["match_weight"] == pytest.approx(row["match_weight"], abs=1e-9)
        assert ours["match_probability"] == pytest.approx(row["match_probability"], abs=1e-12)
    every = {(c.name, lvl.gamma) for c in scorer.comparisons for lvl in c.levels}
    assert len(seen) >= 0.85 * total, sorted(every - seen)


def test_a_condition_it_cannot_evaluate_is_refused_when_built(pairs):
    model = copy.deepcopy(pairs[0])
    model["comparisons"][0]["comparison_levels"][2]["sql_condition"] = (
        "jaccard(first_name_std_l, first_name_std_r) > 0.9"
    )
    with pytest.raises(Unsupported, match=r"(?i)jaccard"):
        PairScorer(model)


def test_the_entry_scorer_scores_such_a_model_in_duckdb(pairs):
    """matching.entry falls back to Splink's score_pairs for a model the light path cannot evaluate."""
    from hub.api.match import FIELDS
    from hub.model import ENTRY_SYSTEM
    from matching.entry import EntryScorer

    model = copy.deepcopy(pairs[0])
    level = model["comparisons"][0]["comparison_levels"][2]
    level["sql_condition"] = "jaccard(first_name_std_l, first_name_std_r) > 0.9"
    scorer = EntryScorer(model)
    assert scorer.light is None
    person = {**dict.fromkeys(FIELDS), "first_name": "Ann", "last_name": "Lee"}
    records = [
        {"source_system": ENTRY_SYSTEM, "source_key": "new", **person},
        {"source_system": "golden", "source_key": "G1", **person},
    ]
    scored = scorer.score(records, lambda asked: {})
    light = EntryScorer(pairs[0])  # the model as trained: the same names agree exactly, above the changed level
    assert light.light is not None
    assert [row["source_key"] for row in scored] == ["G1"]
    assert scored[0]["match_weight"] == pytest.approx(
        light.score(records, lambda asked: {})[0]["match_weight"], abs=1e-9
    )
    assert [c["comparison"] for c in scored[0]["explanation"]] == list(light.labels)
