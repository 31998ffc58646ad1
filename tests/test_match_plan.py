"""matching/plan.py and robust training: the model follows the fields the records fill, hub.yaml can say what to
compare and how to block, training never hands a Splink exception to the user, and a trained model is sane."""

from __future__ import annotations

import copy
import math
import re

import duckdb
import pytest
import yaml

from connectors import pull_source
from connectors.demo import init_demo
from hub.config import ConfigError, load_config
from hub.workspace import Workspace
from matching import models, plan, settings
from matching.backend import TF_KEPT, U_KEPT, discount_matches, regularize, term_frequency_sql
from matching.profile import COLUMNS, Profile, profile
from matching.run import match
from matching.settings import COMPARISONS
from pipelines.entry import main

pytestmark = pytest.mark.slow(seconds=20)  # the file's weight in the suite's order (tests/conftest.py)

FIELDS = {  # canonical field -> what leaving it out of every source takes with it
    "email": "email",
    "phone": "phone",
    "date_of_birth": "date_of_birth",
    "address_line1": "address",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    directory = tmp_path_factory.mktemp("plan") / "demo"
    init_demo(directory, customers=400, seed=5)
    return directory


def without(demo, tmp_path, *fields: str, matching: dict | None = None):
    """The demo's hub.yaml with `fields` mapped by no source (and not accepted), in tmp_path."""
    raw = yaml.safe_load((demo / "hub.yaml").read_text())
    for src in raw["sources"].values():
        for f in fields:
            src["fields"].pop(f, None)
            if f == "address_line1":
                for g in ("address_line2", "city", "region", "postal_code"):
                    src["fields"].pop(g, None)
        src["accepts"] = [f for f in src.get("accepts", []) if f in src["fields"]]
        src.pop("golden_id", None)
        for key in ("url",):
            src[key] = src[key].replace("sqlite:///", f"sqlite:///{demo}/")
    if matching:
        raw["matching"] = matching
    raw["workspace"] = str(tmp_path / "ws.duckdb")
    raw["serving_store"] = f"sqlite:///{tmp_path / 'store.db'}"
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


def pulled(cfg) -> Workspace:
    ws = Workspace.for_config(cfg)
    for name in cfg.sources:
        pull_source(cfg, name, ws)
    return ws


@pytest.mark.parametrize("field", list(FIELDS))
def test_a_data_set_without_a_field_trains_and_matches(demo, tmp_path, field):
    cfg = without(demo, tmp_path, field)
    ws = pulled(cfg)
    try:
        lines: list[str] = []
        result = match(ws, cfg, progress=lines.append)
        assert result.trained and result.pairs_scored > 0 and result.multi_record_clusters > 100
        model = models.load(ws.con).model
        assert FIELDS[field] not in {c["output_column_name"] for c in model["comparisons"]}
        assert any(f"comparison {FIELDS[field]} left out" in line for line in lines), lines
        prior = model["probability_two_random_records_match"]
        assert 0 < prior < 0.01
        check_pair_out_term_frequencies(ws, model)
    finally:
        ws.close()


def test_hub_config_check_prints_the_plan_and_names_a_bad_matching_key(demo, tmp_path, capsys):
    cfg = without(demo, tmp_path, "email")
    assert main(["config", "check", "--config", str(tmp_path / "hub.yaml")]) == 0
    out = capsys.readouterr().out
    assert "comparisons:" in out and "  name: exact, nickname, swapped" in out and "  email:" not in out
    assert "blocking rules:" in out and "note: comparison email left out" in out
    del cfg

    bad = {"comparisons": {"name": {"levels": ["exact", "spelled_backwards"]}}}
    without(demo, tmp_path, matching=bad)
    assert main(["config", "check", "--config", str(tmp_path / "hub.yaml")]) == 2
    err = capsys.readouterr().err
    assert "matching.comparisons.name.levels" in err and "spelled_backwards" in err


@pytest.mark.parametrize(
    ("matching", "key", "fragment"),
    [
        ({"comparisons": {"shoe_size": {}}}, "matching.comparisons.shoe_size", "unknown comparison"),
        ({"blocking_rules": [["shoe_size"]]}, "matching.blocking_rules[0]", "unknown column(s) ['shoe_size']"),
        ({"blocking_rules": ["dob_std = dob_std"]}, "matching.blocking_rules[0]", "l.<column> and r.<column>"),
        ({"training": {"deterministic_rules": ["l.nope = r.nope"]}}, "matching.training.deterministic_rules[0]",
         "unknown column(s) ['nope']"),
    ],
)  # fmt: skip
def test_impossible_matching_choices_are_one_clear_error(demo, tmp_path, matching, key, fragment):
    cfg = without(demo, tmp_path, matching=matching)
    with pytest.raises(ConfigError) as err:
        plan.for_config(cfg)
    assert err.value.key == key and fragment in err.value.reason


def test_a_swapped_birth_date_is_a_comparison_level_not_a_blocking_key(demo, tmp_path):
    """Keys that compared no true pair the other keys miss, at a real comparison cost, are not in the library:
    the date of birth with day and month swapped, and surname with town (benchmarks/blocking_ceiling.py)."""
    made = plan.for_config(without(demo, tmp_path))
    assert not [r.name for r in made.blocking if "dob_swapped" in r.condition()]
    assert not [r.name for r in made.blocking if set(r.columns) == {"last_name_std", "city_std"}]
    assert "keying_slip" in next(c.levels for c in made.comparisons if c.name == "date_of_birth")


def test_hub_yaml_says_what_to_compare_and_how_to_block(demo, tmp_path):
    matching = {
        "link_type": "link_only",
        "comparisons": {"name": {"levels": ["exact", "similar_both"], "term_frequencies": False}, "date_of_birth": {}},
        "blocking_rules": [["dob_std"], "l.last_name_std = r.last_name_std AND l.city_std = r.city_std"],
        "training": {"em_blocking_rules": [["dob_std"], ["last_name_std"]]},
    }
    cfg = without(demo, tmp_path, matching=matching)
    made = plan.for_config(cfg)
    assert [c.name for c in made.comparisons] == ["name", "date_of_birth"]
    assert (made.comparisons[0].levels, made.comparisons[0].term_frequencies) == (("exact", "similar_both"), False)
    assert [r.name for r in made.blocking] == ["blocking_1", "blocking_2"]
    ws = pulled(cfg)
    try:
        match(ws, cfg)
        model = models.load(ws.con).model
        assert model["link_type"] == "link_only"
        assert [c["output_column_name"] for c in model["comparisons"]] == ["name", "date_of_birth"]
        same_source = ws.con.execute(
            "SELECT count(*) FROM scored_pairs WHERE split_part(unique_id_l, ':', 1) = split_part(unique_id_r, ':', 1)"
        ).fetchall()[0][0]
        assert same_source == 0  # linked across sources only
    finally:
        ws.close()


def test_a_training_session_splink_cannot_run_is_skipped_with_a_warning(demo, tmp_path):
    # blocked on a column no two records share: Splink has no pairs to estimate from and raises
    cfg = without(demo, tmp_path, matching={"training": {"em_blocking_rules": [["unique_id"], ["dob_std"]]}})
    ws = pulled(cfg)
    try:
        lines: list[str] = []
        result = match(ws, cfg, progress=lines.append)
        assert result.trained and result.multi_record_clusters > 100
        assert any(line.startswith("warning: EM session training_1 skipped") for line in lines), lines
    finally:
        ws.close()


def _model(levels: list[tuple[float, float]]) -> dict:
    return {
        "comparisons": [
            {
                "output_column_name": "name",
                "comparison_levels": [{"is_null_level": True, "sql_condition": "x"}]
                + [{"label_for_charts": f"l{i}", "m_probability": m, "u_probability": u, "sql_condition": "x"}
                   for i, (m, u) in enumerate(levels)],
            }
        ]
    }  # fmt: skip


def test_a_weaker_level_never_outweighs_a_stronger_one_and_probabilities_stay_representable():
    exact, swapped, other = (0.8, 4e-5), (0.004, 8e-8), (2e-305, 0.99)  # swapped: more bits than exact
    fixed = regularize(_model([exact, swapped, other]))
    levels = fixed["comparisons"][0]["comparison_levels"][1:]
    weight = [math.log2(lvl["m_probability"] / lvl["u_probability"]) for lvl in levels]
    assert weight[1] <= weight[0] + 1e-9
    assert levels[2]["m_probability"] >= 1e-3  # a disagreement never seen in training is not impossible
    original = _model([exact, swapped, other])
    kept = copy.deepcopy(original)
    regularize(original)
    assert original == kept  # a new model: the trained one is left as it was


def test_a_disagreement_no_match_in_training_shows_weighs_against_and_an_unseen_agreement_stays_untrained():
    """No EM session's pairs fell in the else level (Splink leaves its m out): matches never disagree there, so it gets
    the smallest m; an agreement level without an m keeps weight 0 (the smallest m would make it strong evidence)."""
    model = _model([(0.9, 0.3)])
    levels = model["comparisons"][0]["comparison_levels"]
    levels += [{"label_for_charts": "rare", "u_probability": 1e-7, "sql_condition": "x"},
               {"label_for_charts": "else", "u_probability": 0.7, "sql_condition": "ELSE"}]  # fmt: skip
    said: list[str] = []
    fixed = regularize(model, said.append)["comparisons"][0]["comparison_levels"]
    assert fixed[3]["m_probability"] == 1e-3 and "name: no match in training disagrees" in said[0]
    assert "m_probability" not in fixed[2]


def test_sampled_u_is_discounted_by_the_matches_among_the_sampled_pairs():
    # one pair in a thousand matches: the sampled u of an exact name (5e-4) is mostly those matches (1e-3 * 0.45)
    prior, exact, other = 1e-3, (0.45, 5e-4), (0.05, 0.99)
    fixed = discount_matches(_model([exact, other]), prior)
    u = [lvl["u_probability"] for lvl in fixed["comparisons"][0]["comparison_levels"][1:]]
    assert u[0] == pytest.approx((5e-4 - prior * 0.45) / (1 - prior))
    assert u[1] == pytest.approx(0.99, rel=1e-3)  # disagreement: almost all non-matches, barely moves
    # u never drops below what the estimates can tell apart from zero
    assert discount_matches(_model([(0.9, 5e-4)]), prior)["comparisons"][0]["comparison_levels"][1][
        "u_probability"
    ] == pytest.approx(U_KEPT * 5e-4)
    with_tf = _model([exact, other])
    with_tf["comparisons"][0]["comparison_levels"][1]["tf_adjustment_column"] = "name_concat_std"
    assert discount_matches(with_tf, prior)["comparisons"][0]["comparison_levels"][1]["u_probability"] == 5e-4


def _level(comparison: str, left: dict, right: dict) -> str:
    """The first level of a library comparison a pair of standardized values falls into ('else' when none)."""
    spec = COMPARISONS[comparison]
    columns = {c for lvl in spec.levels for c in lvl.columns} | {
        c for lvl in spec.levels for c in re.findall(r"\b([a-z_0-9]+)_[lr]\b", lvl.sql)
    }
    values = ", ".join(
        f"{v!r}::VARCHAR AS {c}_{side}" if (v := row.get(c)) is not None else f"NULL::VARCHAR AS {c}_{side}"
        for side, row in (("l", left), ("r", right))
        for c in sorted(columns)
    )
    cases = " ".join(f"WHEN {lvl.sql} THEN '{lvl.name}'" for lvl in spec.levels)
    return duckdb.sql(f"SELECT CASE {cases} ELSE 'else' END FROM (SELECT {values})").fetchall()[0][0]


def test_a_name_part_missing_on_one_side_is_its_own_level_not_a_disagreement():
    durr = {"last_name_std": "durr", "first_name_canonical": None}
    assert _level("name", durr, {**durr, "first_name_std": "john", "first_name_canonical": "john"}) == (
        "last_first_missing"
    )
    assert _level("name", {**durr, "first_name_std": "ann"}, {**durr, "first_name_std": "zoe"}) == "last_only"
    amelia = {"first_name_std": "amelia", "first_name_canonical": "amelia"}
    assert _level("name", amelia, {**amelia, "last_name_std": "cole"}) == "first_last_missing"


def test_an_address_line_written_on_the_other_line_is_its_own_level():
    left = {"address_line1_std": "oyster farm", "address_line2_std": "basedow st"}
    right = {"address_line1_std": "basedow st", "address_line2_std": "oyster farm"}
    assert _level("address_line2", left, right) == "other_line"
    assert _level("address_line2", left, {**right, "address_line1_std": "mann pl", "address_line2_std": "x"}) == "else"


def test_an_email_user_name_holding_the_surname_at_another_provider_is_no_evidence():
    """Namesakes share john.smith@ at different providers: scored as the null level, not as the name again."""
    levels = (
        settings.comparison(COMPARISONS["email"], COMPARISONS["email"].level_names(), True)
        .get_comparison("duckdb")
        .comparison_levels
    )
    null = next(lvl.sql_condition for lvl in levels if lvl.is_null_level)

    def neutral(left: tuple[str, str, str], right: tuple[str, str, str]) -> bool:
        cols = ("email_std", "email_user_std", "last_name_std")
        sides = (("l", left), ("r", right))
        row = ", ".join(f"{v!r} AS {c}_{side}" for side, vals in sides for c, v in zip(cols, vals, strict=True))
        return bool(duckdb.sql(f"SELECT coalesce({null}, false) FROM (SELECT {row})").fetchall()[0][0])

    smith = ("johnsmith@gmail.com", "johnsmith", "smith")
    assert neutral(smith, ("johnsmith@yahoo.com", "johnsmith", "smith"))
    assert not neutral(smith, smith)  # the same address is still evidence
    assert not neutral(("jsx77@gmail.com", "jsx77", "smith"), ("jsx77@yahoo.com", "jsx77", "smith"))
    assert not neutral(smith, ("jane.doe@yahoo.com", "janedoe", "smith"))


def check_pair_out_term_frequencies(ws: Workspace, model: dict) -> None:
    """Predict scores an exact name with the pair-out lookup (term_frequency_sql), not Splink's own count."""
    name = next(c for c in model["comparisons"] if c["output_column_name"] == "name")
    exact = name["comparison_levels"][1]
    lookup = term_frequency_sql("standardized_records", "name_concat_std", exact["m_probability"],
                                model["probability_two_random_records_match"])  # fmt: skip
    got = ws.con.execute(
        f"""SELECT p.mw_tf_adj_name, log2(?) - log2(t.tf_name_concat_std) FROM scored_pairs AS p
            JOIN standardized_records AS r ON r.unique_id = p.unique_id_l
            JOIN ({lookup}) AS t USING (name_concat_std)
            WHERE p.gamma_name = (SELECT max(gamma_name) FROM scored_pairs)""",
        [exact["u_probability"]],
    ).fetchall()
    assert len(got) > 50
    assert all(a == pytest.approx(b) for a, b in got)


def test_term_frequencies_leave_the_pair_out():
    """A name held by two records is mostly one person's duplicates: the chance a non-matching record holds it is
    far below its share of the records; a common name keeps about its share."""
    con = duckdb.connect()
    names = ["durr"] * 2 + ["smith"] * 200 + [f"name{i}" for i in range(798)]
    con.execute("CREATE TABLE r AS SELECT unnest(?) AS last_name_std", [names])
    prior, m = 2e-3, 0.9
    tf = dict(con.execute(term_frequency_sql("r", "last_name_std", m, prior)).fetchall())
    assert tf["durr"] == pytest.approx(TF_KEPT * 2 / 1000)  # (1/999 - 0.0018) / 0.998 is below zero: the floor
    assert tf["smith"] == pytest.approx((199 / 999 - prior * m) / (1 - prior))


def test_another_country_weighs_against_a_pair_and_the_same_country_counts_nothing(demo, tmp_path):
    """Namesakes share a country (names are national), so the same country would count the name twice: its weight
    stays 0 through training; another country (the record's, else its phone's calling code) is evidence against."""
    cfg = without(demo, tmp_path)
    ws = pulled(cfg)
    try:
        match(ws, cfg)
        country = next(c for c in models.load(ws.con).model["comparisons"] if c["output_column_name"] == "country")
        same, other = (lvl for lvl in country["comparison_levels"] if not lvl.get("is_null_level"))
        assert same["m_probability"] == same["u_probability"] == 0.5
        assert math.log2(other["m_probability"] / other["u_probability"]) < -3
    finally:
        ws.close()
    assert _level("country", {"dialling_code": "44"}, {"dialling_code": "44"}) == "same"
    assert _level("country", {"dialling_code": "44"}, {"dialling_code": "1"}) == "else"


def test_a_column_every_record_holds_one_value_in_is_no_evidence(demo, tmp_path):
    """FEBRL: every record's country is AU. A comparison on it would have nothing to weigh (and no disagreement to
    train on): the plan leaves it out and says why."""
    con = duckdb.connect()
    con.execute("CREATE TABLE r AS SELECT 'x' || i AS email_std, '61' AS dialling_code FROM range(50) AS t(i)")
    prof = profile(con, "r")
    assert prof.constant == {"dialling_code"}
    assert not prof.has("dialling_code") and prof.has("email_std")
    everything = Profile(1000, dict.fromkeys(COLUMNS, 1.0), frozenset({"dialling_code"}))
    made = plan.make_plan(without(demo, tmp_path), everything)
    assert "country" not in {c.name for c in made.comparisons}
    assert "comparison country left out: every record holds the same value in dialling_code" in made.notes
