"""Evidence that is not independent counted once: an e-mail built from a full name weighed among namesakes, and a
move (another street address, postcode and town) counted by the address comparison alone."""

from __future__ import annotations

import re

import duckdb
import pytest

from matching import backend, settings
from matching.backend import NAMESAKES_MIN, namesake_u
from matching.settings import COMPARISONS, NAME_BUILT_LABEL


def _level(comparison: str, left: dict, right: dict, levels: tuple[str, ...] | None = None) -> str:
    """The label of the level Splink puts a pair in ('null' for the null level, 'else' when none applies), with the
    comparison built as the plan builds it (`levels`: all of the library's by default)."""
    spec = COMPARISONS[comparison]
    built = settings.comparison(spec, levels or spec.level_names(), True).get_comparison("duckdb").comparison_levels
    sqls = [("null" if lvl.is_null_level else lvl.label_for_charts, lvl.sql_condition) for lvl in built]
    columns = sorted({c for _, sql in sqls for c in re.findall(r"\b([a-z_0-9]+)_[lr]\b", sql)})
    values = ", ".join(
        f"{v!r}::VARCHAR AS {c}_{side}" if (v := row.get(c)) is not None else f"NULL::VARCHAR AS {c}_{side}"
        for side, row in (("l", left), ("r", right))
        for c in columns
    )
    cases = " ".join(f"WHEN {sql} THEN '{label}'" for label, sql in sqls if sql != "ELSE")
    return duckdb.sql(f"SELECT CASE {cases} ELSE 'else' END FROM (SELECT {values})").fetchall()[0][0]


JOHN = {"email_std": "john.smith@gmail.com", "email_user_std": "johnsmith", "first_name_std": "john",
        "last_name_std": "smith"}  # fmt: skip


def test_the_same_address_built_from_the_same_full_name_is_its_own_email_level():
    assert _level("email", JOHN, JOHN) == NAME_BUILT_LABEL
    # a name typo, a missing first name, an address not built from the surname: the address is evidence of its own
    assert _level("email", JOHN, {**JOHN, "first_name_std": "jhon"}) == "exact"
    assert _level("email", JOHN, {**JOHN, "first_name_std": None}) == "exact"
    kt = {**JOHN, "email_std": "kt1984@gmail.com", "email_user_std": "kt1984"}
    assert _level("email", kt, kt) == "exact"
    # a plan without the level scores those pairs as exact, not as a disagreement
    assert _level("email", JOHN, JOHN, levels=("exact", "same_user")) == "exact"


def _records(con: duckdb.DuckDBPyConnection, namesakes: int, sharing: int) -> None:
    """`namesakes` pairs of people of one full name with other dates of birth, `sharing` of them with one address;
    plus a person's two records (same date of birth) that must not count as namesakes."""
    rows = []
    for i in range(namesakes):
        first, email = f"ann{i}", f"ann{i}.lee@x.com"
        for side, dob in (("a", "1980-01-01"), ("b", "1990-07-15")):
            own = email if i < sharing else f"{side}{i}@x.com"
            rows.append((f"{side}{i}", first, "lee", own, own.split("@")[0].replace(".", ""), dob))
    rows += [("p1", "bo", "lee", "bo.lee@x.com", "bolee", "1970-03-03"), ("p2", "bo", "lee", "bo.lee@x.com", "bolee",
             "1970-03-03")]  # fmt: skip
    con.execute(
        "CREATE TABLE r (unique_id VARCHAR, first_name_std VARCHAR, last_name_std VARCHAR, email_std VARCHAR, "
        "email_user_std VARCHAR, dob_str VARCHAR)"
    )
    con.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE records AS SELECT *, dob_str::DATE AS dob_std, NULL::DATE AS dob_swapped FROM r")


def _model(u: float) -> dict:
    levels = [{"is_null_level": True}, {"label_for_charts": "exact", "m_probability": 0.1, "u_probability": 1e-7},
              {"label_for_charts": NAME_BUILT_LABEL, "m_probability": 0.8, "u_probability": u}]  # fmt: skip
    return {"comparisons": [{"output_column_name": "email", "comparison_levels": levels}]}


def _u(model: dict) -> float:
    return float(model["comparisons"][0]["comparison_levels"][2]["u_probability"])


def test_a_name_built_address_is_weighed_by_how_often_namesakes_share_one():
    """A father and son of one name and address: Splink's u (random pairs) would make the address outweigh a date of
    birth that disagrees. Among namesakes (same name, other date of birth) 2 of 100 share it: u is that share."""
    con = duckdb.connect()
    _records(con, namesakes=100, sharing=2)
    said: list[str] = []
    model = namesake_u(con, "records", _model(1e-7), said.append)
    assert _u(model) == pytest.approx(2.5 / 101)
    assert "2 of 100 namesakes" in said[0]
    assert _u(_model(1e-7)) == 1e-7  # a new model: the given one is left as it was
    assert _u(namesake_u(con, "records", _model(0.5))) == 0.5  # never stronger than the sampled u


def test_too_few_namesakes_leave_the_sampled_u():
    con = duckdb.connect()
    _records(con, namesakes=NAMESAKES_MIN - 1, sharing=5)
    assert _u(namesake_u(con, "records", _model(1e-7))) == 1e-7
    assert backend.namesake_u(con, "records", {"comparisons": []}) == {"comparisons": []}  # no such level


HOME = {"address_line1_std": "12 high st", "postal_code_std": "LS14AB", "city_std": "leeds"}


def test_another_town_after_a_move_is_counted_by_the_address_alone():
    moved = {"address_line1_std": "3 mill ln", "postal_code_std": "M11AA", "city_std": "manchester"}
    assert _level("city", HOME, moved) == "null"  # no evidence either way: the address comparison counts the move
    assert _level("city", HOME, {**HOME, "city_std": "manchester"}) == "else"  # same street address, another town
    assert _level("city", HOME, {"city_std": "manchester"}) == "else"  # no address to tell a move: the town counts
    typo = {**moved, "city_std": "leeds"}
    assert _level("city", HOME, typo) == "exact"  # the same town still counts for the pair
    assert _level("city", HOME, {**HOME, "postal_code_std": "LS14AX", "city_std": "manchester"}) == "else"
