"""The international demo flavour: deterministic, each country in its own formats, and the ground truth
covering it as it covers the default demo. A few hundred people, so it stays fast."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from connectors.demo import init_demo
from connectors.demo.flavours import FLAVOURS, flavour
from connectors.demo.truth_values import COLUMNS as TRUTH_COLUMNS
from connectors.transforms import to_canonical
from hub.config import load_config
from pipelines.entry import main
from tests.test_demo import KEY, MAIN_TABLE, check_bad_rows, read, table_hashes

CUSTOMERS = 400
COUNTRIES = {"IE", "DE", "FR", "AU"}
CALLING_CODES = {"IE": "+353", "DE": "+49", "FR": "+33", "AU": "+61"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    return init_demo(tmp_path_factory.mktemp("intl"), customers=CUSTOMERS, seed=11, flavour="international")


@pytest.fixture(scope="module")
def truth(demo) -> pd.DataFrame:
    return pd.read_csv(demo.ground_truth_path, dtype={"source_key": str}, keep_default_na=False)


@pytest.fixture(scope="module")
def values(demo) -> pd.DataFrame:
    return pd.read_csv(demo.truth_values_path, dtype=str, keep_default_na=False).astype({"person_id": int})


def test_same_seed_gives_identical_data_and_another_seed_does_not(tmp_path: Path):
    first = init_demo(tmp_path / "a", customers=300, seed=3, flavour="international")
    second = init_demo(tmp_path / "b", customers=300, seed=3, flavour="international")
    other = init_demo(tmp_path / "c", customers=300, seed=4, flavour="international")
    hashes = table_hashes(first.directory)
    assert len(hashes) == 8 and hashes == table_hashes(second.directory)
    for name in ("hub.yaml", "ground_truth.csv", "truth_values.csv"):
        assert (first.directory / name).read_bytes() == (second.directory / name).read_bytes()
    assert first.truth_values_path.read_bytes() != other.truth_values_path.read_bytes()
    assert all(hashes[t] != h for t, h in table_hashes(other.directory).items())


def test_the_default_flavour_is_the_demo_as_it_was(tmp_path: Path):
    """Naming the default flavour changes nothing, and the international one is another world."""
    plain = init_demo(tmp_path / "plain", customers=200, seed=5)
    named = init_demo(tmp_path / "named", customers=200, seed=5, flavour="default")
    intl = init_demo(tmp_path / "intl", customers=200, seed=5, flavour="international")
    assert table_hashes(plain.directory) == table_hashes(named.directory)
    assert plain.config_path.read_text() == named.config_path.read_text()
    assert set(pd.read_csv(intl.truth_values_path).country) <= COUNTRIES
    with pytest.raises(ValueError, match="international"):
        flavour("nordic")


def test_the_cli_builds_the_flavour(tmp_path: Path):
    assert main(["demo", "init", "--dir", str(tmp_path), "--customers", "30", "--flavour", "international"]) == 0
    assert set(pd.read_csv(tmp_path / "truth_values.csv").country) <= COUNTRIES
    assert "default_region: IE" in (tmp_path / "hub.yaml").read_text()


def test_truth_covers_every_person_and_source_row(demo, truth, values):
    assert values.columns.tolist() == list(TRUTH_COLUMNS)
    assert values.person_id.tolist() == list(range(CUSTOMERS)) == sorted(truth.person_id.unique())
    assert set(values.country) == COUNTRIES
    for source in MAIN_TABLE:
        keys = read(demo, source)[KEY[source]].fillna("").astype(str)
        assert sorted(keys) == sorted(truth[truth.source_system == source].source_key), source
    app_people = truth[truth.source_system == "app"].person_id
    assert set(values.country[values.person_id.isin(app_people)]) <= set(FLAVOURS["international"].app_countries)


def test_each_country_writes_its_own_formats(values):
    by = {c: values[values.country == c] for c in COUNTRIES}
    assert by["DE"].postal_code.str.fullmatch(r"\d{5}").all() and by["FR"].postal_code.str.fullmatch(r"\d{5}").all()
    assert by["IE"].postal_code.str.fullmatch(r"[A-Z]\d{2} [ACDEFHKNPRTVWXY][ACDEFHKNPRTVWXY0-9]{3}").all()
    assert by["AU"].postal_code.str.fullmatch(r"\d{4}").all()
    assert set(by["AU"].region) <= {"ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA"}
    assert (values.region[values.country != "AU"] == "").all()
    assert by["DE"].address_line1.str.fullmatch(r"\D+ \d+[a-c]?").all()  # the number after the street
    assert by["FR"].address_line1.str.fullmatch(r"\d+ \D+").all()
    assert by["FR"].address_line1.str.contains(r"^\d+ (?:rue|avenue|boulevard|chemin|place) ").mean() > 0.9
    for code, prefix in CALLING_CODES.items():
        assert by[code].phone.str.startswith(prefix).all(), code
    names = pd.concat([values.first_name, values.last_name])
    assert names.str.contains(r"[äöüßéèêëàçîïôÓÁÉÍÚ]").sum() >= 10  # accents and umlauts


def test_the_hub_mapping_quarantines_or_warns_about_exactly_the_bad_rows(demo, truth):
    config = load_config(demo.config_path)
    assert {s.default_region for s in config.sources.values()} == {"IE"}
    for name, source in config.sources.items():
        check_bad_rows(read(demo, name), source, config, name, truth[truth.source_system == name])


def test_phones_countries_and_dates_read_back_as_the_truth(demo, truth, values):
    """Every national and international phone format, every country spelling: read the hub's way, each
    stored value is the person's true one (only addresses and names carry noise)."""
    config = load_config(demo.config_path)
    fields = {"billing": ("phone", "country", "date_of_birth"), "web": ("phone", "country"), "app": ("phone",)}
    fields["crm"] = ("phone", "country", "date_of_birth")
    for source, checked in fields.items():
        raw = read(demo, source)
        records, reasons = to_canonical(raw, config.sources[source], config, source)
        good = truth[(truth.source_system == source) & (truth.bad_reason == "")]
        rows = records[reasons.isna()].merge(good[["source_key", "person_id"]], on="source_key")
        rows = rows.merge(values, on="person_id", suffixes=("", "_true"))
        for field in checked:
            stored = rows[field].dropna()
            if field == "date_of_birth":
                stored = stored.dt.strftime("%Y-%m-%d")
            assert len(stored) > 20, (source, field)
            assert (stored == rows.loc[stored.index, f"{field}_true"]).all(), (source, field)


def test_billing_keeps_ascii_while_web_keeps_the_accents(demo):
    billing, web = read(demo, "billing"), read(demo, "web")
    assert billing.holder_name.str.isascii().all() and billing.billing_street.dropna().str.isascii().all()
    assert (~web.last_name.dropna().str.isascii()).sum() >= 5
