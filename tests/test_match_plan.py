"""matching/plan.py and robust training: the model follows the fields the records fill, hub.yaml can say what to
compare and how to block, training never hands a Splink exception to the user, and a trained model is sane."""

from __future__ import annotations

import copy
import math

import pytest
import yaml

from connectors import pull_source
from connectors.demo import init_demo
from hub.cli import main
from hub.config import ConfigError, load_config
from hub.workspace import Workspace
from matching import models, plan
from matching.backend import regularize
from matching.run import match

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
