"""The demo source systems: deterministic, realistic, noisy in the intended ways, and mappable."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from connectors.demo import init_demo
from connectors.demo.truth_values import COLUMNS as TRUTH_COLUMNS
from connectors.demo.vocabulary import NICKNAMES
from connectors.transforms import map_rows, to_canonical
from hub.config import load_config

CUSTOMERS = 1500
MAIN_TABLE = {"billing": "accounts", "web": "users", "app": "profiles", "crm": "contacts"}
KEY = {"billing": "account_no", "web": "id", "app": "profile_uuid", "crm": "Id"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    return init_demo(tmp_path_factory.mktemp("demo"), customers=CUSTOMERS, seed=7)


@pytest.fixture(scope="module")
def truth(demo) -> pd.DataFrame:
    return pd.read_csv(demo.ground_truth_path, dtype={"source_key": str}, keep_default_na=False)


@pytest.fixture(scope="module")
def config(demo):
    return load_config(demo.config_path)


def read(demo, source: str, table: str | None = None) -> pd.DataFrame:
    with closing(sqlite3.connect(demo.directory / f"{source}.db")) as con:
        return pd.read_sql(f"SELECT * FROM {table or MAIN_TABLE[source]} ORDER BY rowid", con)


def with_truth(demo, truth: pd.DataFrame, source: str) -> pd.DataFrame:
    """The source's good rows with their true person_id."""
    rows = read(demo, source)
    rows["source_key"] = rows[KEY[source]].astype(str)
    good = truth[(truth.source_system == source) & (truth.bad_reason == "")]
    return rows.merge(good[["source_key", "person_id"]], on="source_key")


def table_hashes(directory: Path) -> dict[str, str]:
    out = {}
    for db in sorted(directory.glob("*.db")):
        with closing(sqlite3.connect(db)) as con:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            for table in tables:
                digest = hashlib.sha256()
                for row in con.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                    digest.update(repr(row).encode())
                out[f"{db.stem}.{table}"] = digest.hexdigest()
    return out


def test_same_seed_gives_identical_data_and_another_seed_does_not(tmp_path: Path):
    first = init_demo(tmp_path / "a", customers=600, seed=3)
    second = init_demo(tmp_path / "b", customers=600, seed=3)
    other = init_demo(tmp_path / "c", customers=600, seed=4)
    hashes = table_hashes(first.directory)
    assert len(hashes) == 8
    assert hashes == table_hashes(second.directory)
    assert first.ground_truth_path.read_bytes() == second.ground_truth_path.read_bytes()
    assert first.truth_values_path.read_bytes() == second.truth_values_path.read_bytes()
    assert first.truth_values_path.read_bytes() != other.truth_values_path.read_bytes()
    assert all(hashes[t] != h for t, h in table_hashes(other.directory).items())


def test_every_table_exists_with_its_schema(demo):
    expected = {
        "billing": {
            "accounts": "account_no holder_name email_address phone billing_street billing_street2 "
            "billing_city billing_postcode billing_country date_of_birth paperless credit_limit account_status "
            "opened_on modified_on hub_customer_id",
            "invoices": "invoice_id account_no amount issued_on",
        },
        "web": {
            "users": "id username email first_name last_name phone birthday street_address city state zip "
            "country_code newsletter newsletter_changed_at password_hash last_login_ip created_at updated_at",
            "sessions": "session_id user_id started_at user_agent",
        },
        "app": {
            "profiles": "profile_uuid display_name email mobile dob email_opt_in sms_opt_in push_opt_in "
            "consent_updated_at preferred_channel app_version last_modified_ms",
            "devices": "device_id profile_uuid platform push_token last_seen",
        },
        "crm": {
            "contacts": "Id FirstName LastName Email Phone Birthdate MailingStreet MailingCity MailingState "
            "MailingPostalCode MailingCountry HasOptedOutOfEmail DoNotCall OwnerId LeadSource CreatedDate "
            "LastModifiedDate Master_Id__c",
            "activities": "Id WhoId Subject ActivityDate",
        },
    }
    for source, tables in expected.items():
        with closing(sqlite3.connect(demo.directory / f"{source}.db")) as con:
            for table, columns in tables.items():
                assert [r[1] for r in con.execute(f"PRAGMA table_info({table})")] == columns.split()
                assert demo.tables[source][table] == con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                assert demo.tables[source][table] > 0


def test_overlap_and_duplicate_rates(truth):
    share = truth.groupby("source_system").person_id.nunique() / CUSTOMERS
    assert 0.5 <= share["billing"] <= 0.7
    assert 0.45 <= share["web"] <= 0.65
    assert 0.35 <= share["app"] <= 0.55
    assert 0.4 <= share["crm"] <= 0.6
    systems_per_person = truth.groupby("person_id").source_system.nunique()
    assert len(systems_per_person) == CUSTOMERS
    assert systems_per_person.between(1, 4).all()
    assert (systems_per_person >= 2).mean() >= 0.6
    for source, rows in truth.groupby("source_system"):
        duplicates = 1 - rows.person_id.nunique() / len(rows)
        assert 0.02 <= duplicates <= 0.05, source


def test_ground_truth_covers_every_source_row(demo, truth):
    for source in MAIN_TABLE:
        keys = read(demo, source)[KEY[source]].fillna("").astype(str)
        listed = truth[truth.source_system == source].source_key
        assert sorted(keys) == sorted(listed), source
        bad = truth[(truth.source_system == source) & (truth.bad_reason != "")]
        assert 1 <= len(bad) <= max(3, 0.01 * len(keys)), source
        assert demo.bad_rows[source] == len(bad)
    missing = truth[truth.bad_reason == "missing primary key"]
    assert set(missing.source_system) == {"app", "crm"}
    assert (missing.source_key.str.strip() == "").all()


@pytest.mark.parametrize("customers", [1, 2, 3, 5, 10, 30])
def test_a_tiny_demo_is_whole(tmp_path: Path, customers: int):
    """So few people leave some system, country, noise or bad-row class empty: still a valid demo."""
    demo = init_demo(tmp_path, customers=customers, seed=customers)
    config = load_config(demo.config_path)
    truth = pd.read_csv(demo.ground_truth_path, dtype={"source_key": str}, keep_default_na=False)
    assert set(config.sources) == set(MAIN_TABLE)
    assert set(truth.person_id) == set(range(customers))  # everyone is in at least one system
    assert pd.read_csv(demo.truth_values_path).person_id.tolist() == list(range(customers))
    for name, source in config.sources.items():
        raw = read(demo, name)
        assert set(source.columns()) <= set(raw.columns), name
        expected = truth[truth.source_system == name]
        assert raw[KEY[name]].fillna("").astype(str).tolist() == expected.source_key.tolist(), name
        assert demo.tables[name][MAIN_TABLE[name]] == len(raw)
        assert demo.bad_rows[name] == (expected.bad_reason != "").sum()
        check_bad_rows(raw, source, config, name, expected)


def test_hub_yaml_validates_and_names_real_columns(demo, config):
    assert set(config.sources) == set(MAIN_TABLE)
    for name, source in config.sources.items():
        assert source.url == f"sqlite:///{demo.directory.resolve() / f'{name}.db'}"
        assert set(source.columns()) <= set(read(demo, name).columns), name
        if source.golden_id and source.golden_id.column:
            assert read(demo, name)[source.golden_id.column].isna().all()


def check_bad_rows(raw: pd.DataFrame, source, config, name: str, expected: pd.DataFrame) -> None:
    """Exactly the rows ground truth calls bad are: quarantined when they have no key; staged with the field
    missing and a warning naming it when a date or phone cannot be read."""
    mapped = map_rows(raw, source, config, name)
    bad = expected.bad_reason.tolist()
    quarantined = mapped.reasons.notna().tolist()
    assert quarantined == [b == "missing primary key" for b in bad], mapped.reasons[mapped.reasons.notna()].head()
    warned = {i: set(fields) for i, fields in mapped.warnings.groupby(level=0)["field"]}
    assert warned == {i: {b.removeprefix("unparsable ")} for i, b in enumerate(bad) if b.startswith("unparsable")}


def test_the_hub_mapping_quarantines_or_warns_about_exactly_the_bad_rows(demo, truth, config):
    for name, source in config.sources.items():
        raw = read(demo, name)
        expected = truth[truth.source_system == name]
        assert raw[source.primary_key].fillna("").astype(str).tolist() == expected.source_key.tolist()
        check_bad_rows(raw, source, config, name, expected)


def test_names_carry_nicknames_typos_and_case_noise(demo, truth):
    web = with_truth(demo, truth, "web")
    crm = with_truth(demo, truth, "crm")
    pairs = web.merge(crm, on="person_id")
    nick = sum(
        b in NICKNAMES.get(a, ()) or a in NICKNAMES.get(b, ())
        for a, b in zip(pairs.first_name.fillna(""), pairs.FirstName.fillna(""), strict=True)
    )
    assert nick >= 5
    assert (pairs.first_name.str.strip() == pairs.LastName.str.strip()).sum() >= 1  # swapped names
    assert web.first_name.dropna().str.islower().sum() >= 5
    assert read(demo, "billing").holder_name.str.match(r"^[A-Z' -]+, \S").mean() > 0.95


def test_emails_vary_between_systems_and_carry_gmail_and_case_noise(demo, truth):
    emails = pd.concat(
        with_truth(demo, truth, s)[["person_id", col]].rename(columns={col: "email"})
        for s, col in (("billing", "email_address"), ("web", "email"), ("app", "email"), ("crm", "Email"))
    ).dropna()
    norm = emails.email.str.strip().str.lower()
    assert (emails.email != norm).sum() >= 10  # upper case and stray spaces
    local = norm.str.split("@").str[0]
    gmail = norm.str.endswith("@gmail.com")
    emails["canonical"] = local.str.replace(".", "", regex=False) + "@" + norm.str.split("@").str[1]
    per_person = emails.groupby("person_id").agg(
        raw=("email", lambda s: s.str.strip().str.lower().nunique()), canon=("canonical", "nunique")
    )
    assert ((per_person.raw > 1) & (per_person.canon == 1)).sum() >= 3 and gmail.any()  # dot variants
    changed = (per_person.canon > 1).mean()
    assert 0.02 <= changed <= 0.2  # old address in one system, new in another


def test_app_consent_is_sometimes_newer_and_different_from_crm(demo, truth):
    app = with_truth(demo, truth, "app")
    crm = with_truth(demo, truth, "crm")
    both = app.merge(crm, on="person_id")
    crm_time = pd.to_datetime(both.LastModifiedDate, format="%Y-%m-%dT%H:%M:%S.%f%z").astype("int64") // 10**9
    newer = both.consent_updated_at > crm_time
    differs = (both.email_opt_in == "true") != (both.HasOptedOutOfEmail == 0)
    assert (newer & differs).sum() >= 10
    assert (both.last_modified_ms // 1000 >= both.consent_updated_at).all()


def test_some_people_moved_and_the_newer_row_has_the_new_address(demo, truth):
    billing = with_truth(demo, truth, "billing")
    crm = with_truth(demo, truth, "crm")
    pairs = billing.merge(crm, on="person_id").dropna(subset=["billing_postcode", "MailingPostalCode"])
    moved = pairs[pairs.billing_postcode.str[:5] != pairs.MailingPostalCode.str[:5]]
    assert 0.03 <= len(moved) / len(pairs) <= 0.3


@pytest.fixture(scope="module")
def true_values(demo) -> pd.DataFrame:
    return pd.read_csv(demo.truth_values_path, dtype=str, keep_default_na=False).astype({"person_id": int})


def canonical_rows(demo, truth: pd.DataFrame, config, source: str) -> pd.DataFrame:
    """The source's good rows mapped by the hub (to_canonical), with their true person_id."""
    raw = read(demo, source)
    records, reasons = to_canonical(raw, config.sources[source], config, source)
    good = truth[(truth.source_system == source) & (truth.bad_reason == "")]
    return records[reasons.isna()].merge(good[["source_key", "person_id"]], on="source_key")


def test_truth_values_cover_every_person_once_in_canonical_form(demo, truth, true_values):
    assert true_values.columns.tolist() == list(TRUTH_COLUMNS)
    assert sorted(true_values.person_id) == list(range(CUSTOMERS)) == sorted(truth.person_id.unique())
    assert true_values.first_name.str.match(r"^[A-Z][a-z]").all() and true_values.last_name.str.match(r"^[A-Z]").all()
    assert (true_values.email == true_values.email.str.lower().str.strip()).all()
    assert true_values.phone.str.match(r"^\+(44|1)\d{9,10}$").all()
    assert pd.to_datetime(true_values.date_of_birth, format="%Y-%m-%d").notna().all()
    gb, us = true_values[true_values.country == "GB"], true_values[true_values.country == "US"]
    assert len(gb) + len(us) == CUSTOMERS
    assert gb.postal_code.str.match(r"^[A-Z]{1,2}\d{1,2} \d[A-Z]{2}$").all() and (gb.region == "").all()
    assert us.postal_code.str.match(r"^\d{5}$").all() and us.region.str.match(r"^[A-Z]{2}$").all()
    assert true_values.address_line1.str.match(r"^\d+ \S").all()
    assert set(true_values.address_line2) - {""} and (true_values.address_line2 == "").mean() > 0.8
    for channel in ("email", "sms", "phone", "post"):
        assert set(true_values[f"consent_{channel}"]) == {"granted", "denied"}
    assert set(true_values.preferred_channel) == {"email", "sms", "phone", "post"}


def test_source_values_the_generator_leaves_clean_agree_with_the_truth(demo, truth, config, true_values):
    """Phones, dates of birth, countries and most consents carry no noise but blanks: every stored
    value, read the hub's way, is the person's true one."""
    exact = {
        "billing": ("phone", "date_of_birth", "country", "consent_post"),
        "web": ("phone", "date_of_birth", "country"),
        "app": ("phone", "date_of_birth", "consent_sms", "preferred_channel"),
        "crm": ("phone", "date_of_birth", "country"),
    }
    for source, fields in exact.items():
        rows = canonical_rows(demo, truth, config, source).merge(true_values, on="person_id", suffixes=("", "_true"))
        assert len(rows) > 100, source
        for field in fields:
            stored = rows[field].dropna()
            if field == "date_of_birth":
                stored = stored.dt.strftime("%Y-%m-%d")
            assert len(stored) > 50, (source, field)
            assert (stored == rows.loc[stored.index, f"{field}_true"]).all(), (source, field)
    crm = canonical_rows(demo, truth, config, "crm").merge(true_values, on="person_id", suffixes=("", "_true"))
    denied = crm.consent_phone == "denied"
    assert denied.any() and (crm.consent_phone_true[denied] == "denied").all()  # DoNotCall is a true refusal


def test_truth_values_hold_the_newest_email_consent_and_the_current_address(demo, truth, config, true_values):
    app = canonical_rows(demo, truth, config, "app")
    newest = app.sort_values("consent_email_at").groupby("person_id").tail(1)
    merged = newest.merge(true_values, on="person_id", suffixes=("", "_true"))
    assert (merged.consent_email == merged.consent_email_true).all()  # the app's later choice is the current one
    billing = canonical_rows(demo, truth, config, "billing").merge(true_values, on="person_id", suffixes=("", "_true"))
    current = billing.postal_code == billing.postal_code_true
    assert 0.8 < current.mean() < 0.99  # movers' older accounts keep the old address
    same = billing[current & billing.address_line1.notna()]
    assert (same.address_line1.str.strip() == same.address_line1_true).mean() > 0.97  # a few stray spaces
    assert (same.address_line2.fillna("") == same.address_line2_true).all()
    emails = pd.concat(canonical_rows(demo, truth, config, s) for s in MAIN_TABLE)[["person_id", "email"]].dropna()
    emails = emails.merge(true_values[["person_id", "email"]], on="person_id", suffixes=("", "_true"))
    assert 0.8 < (emails.email.str.strip().str.lower() == emails.email_true).mean() < 0.99


def test_existing_demo_needs_force(tmp_path: Path):
    lines: list[str] = []
    init_demo(tmp_path, customers=300, seed=1, progress=lines.append)
    assert any(line.startswith("billing:") for line in lines)
    before = table_hashes(tmp_path)
    with pytest.raises(FileExistsError, match="--force"):
        init_demo(tmp_path, customers=300, seed=2)
    assert table_hashes(tmp_path) == before
    init_demo(tmp_path, customers=300, seed=2, force=True)
    assert table_hashes(tmp_path) != before
    assert not list(tmp_path.glob(".*partial"))
