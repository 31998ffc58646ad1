"""Data-quality suites (expectations/): good data passes, each defect fails exactly the expectation meant to
catch it with the right unexpected count, an empty workspace validates, and a real demo run passes until a
steward pins an invalid email."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

import expectations
from connectors import pull_source
from connectors.demo import init_demo
from expectations.runner import Check, gx, validate
from golden_record.run import build, build_and_publish, publish_build
from hub import store
from hub.config import HubConfig, load_config
from hub.model import plausible_birth_dates
from hub.validity import E164_DIGITS_REGEX, EMAIL_REGEX
from hub.workspace import Workspace
from matching.run import match
from matching.standardize import standardize
from pipelines.checks import pipeline_checks

pytestmark = pytest.mark.slow(seconds=40)  # the file's weight in the suite's order (tests/conftest.py)

N = 100  # records per source: 1 quarantined row is a 1% share, 2 bad emails are exactly the 2% allowed

CONFIG = HubConfig.model_validate(
    {
        "workspace": "unused.duckdb",
        "sources": {
            "billing": {
                "kind": "file",
                "path": "billing.csv",
                "primary_key": "id",
                "updated_at": "modified",
                "fields": {"email": "email"},
            },
            "web": {"kind": "file", "path": "web.csv", "primary_key": "id", "fields": {"email": "email"}},
        },
    }
)


def _workspace() -> Workspace:
    """Two sources of N records each; billing:k and web:k (k <= 50) are one person, G{k}; the rest are
    singletons. One billing row is quarantined with its key, one web row without a key."""
    ws = Workspace(":memory:")
    ws.con.execute(
        f"""INSERT INTO staged_records BY NAME
            SELECT src AS source_system, k::VARCHAR AS source_key,
                   CASE WHEN src = 'billing' THEN TIMESTAMP '2024-01-01' + INTERVAL (k) HOUR END AS source_updated_at,
                   'First' || k AS first_name, 'Last' || k AS last_name,
                   DATE '1980-01-01' + k::INTEGER AS date_of_birth,
                   'person' || k || '@example.com' AS email, '+4479009' || lpad(k::VARCHAR, 5, '0') AS phone
            FROM (VALUES ('billing'), ('web')) AS s(src), range(1, {N} + 1) AS r(k)"""
    )
    ws.con.execute(
        """INSERT INTO quarantine VALUES
             ('billing', '1000', 'date_of_birth: cannot parse', '{}', TIMESTAMP '2024-01-01'),
             ('web', NULL, 'missing primary key', '{}', TIMESTAMP '2024-01-01')"""
    )
    standardize(ws.con)
    ws.con.execute(
        """CREATE TABLE golden_members AS
           SELECT source_system || ':' || source_key AS record_id,
                  'G' || lpad((source_key::INTEGER + CASE WHEN source_system = 'web' AND source_key::INTEGER > 50
                                                          THEN 100 ELSE 0 END)::VARCHAR, 8, '0') AS golden_id
           FROM staged_records"""
    )
    ws.con.execute(
        """CREATE TABLE golden_values AS
           SELECT m.golden_id, min(s.email) AS email, min(s.phone) AS phone, count(*) AS record_count
           FROM golden_members m JOIN standardized_records s ON s.unique_id = m.record_id GROUP BY m.golden_id"""
    )
    return ws


def _run(suite: str, ws: Workspace) -> expectations.SuiteResult:
    if suite == "raw":
        return expectations.check_raw_source(ws, CONFIG, "billing")
    if suite == "standardized":
        return expectations.check_standardized(ws, CONFIG)
    return expectations.check_golden(ws)


def _failed(result: expectations.SuiteResult) -> dict[str, int | None]:
    return {o.name: o.unexpected_count for o in result.failed()}


@pytest.fixture
def ws():
    workspace = _workspace()
    yield workspace
    workspace.close()


@pytest.mark.parametrize("suite", ["raw", "standardized", "golden"])
def test_good_data_passes(ws, suite):
    result = _run(suite, ws)
    assert result.success, result.summary()
    assert result.outcomes and all(o.success for o in result.outcomes)
    assert result.summary() == f"{result.suite}: {len(result.outcomes)}/{len(result.outcomes)} passed"


def test_web_source_without_updated_at_passes_without_that_expectation(ws):
    result = expectations.check_raw_source(ws, CONFIG, "web")
    assert result.success, result.summary()
    assert "updated-at is present" not in {o.name for o in result.outcomes}
    billing = expectations.check_raw_source(ws, CONFIG, "billing")
    assert "updated-at is present" in {o.name for o in billing.outcomes}


DEFECTS = [
    # raw source (billing)
    pytest.param(
        "raw",
        "INSERT INTO staged_records SELECT * FROM staged_records WHERE source_system = 'billing' AND source_key = '7'",
        {"source keys are unique": 2},
        id="duplicate key",
    ),
    pytest.param(
        "raw",
        """INSERT INTO staged_records (source_system, source_key, source_updated_at)
           VALUES ('billing', NULL, TIMESTAMP '2024-01-01')""",
        {"source keys are present": 1},
        id="null key",
    ),
    pytest.param(
        "raw",
        """UPDATE staged_records SET source_updated_at = now()::TIMESTAMP + INTERVAL 3 DAY
           WHERE source_system = 'billing' AND source_key = '5'""",
        {"updated-at is not in the future": 1},
        id="future updated_at",
    ),
    pytest.param(
        "raw",
        """UPDATE staged_records SET source_updated_at = now()::TIMESTAMP + INTERVAL 12 HOUR
           WHERE source_system = 'billing' AND source_key = '5'""",
        {},
        id="updated_at within a day of clock skew passes",
    ),
    pytest.param(
        "raw",
        "UPDATE staged_records SET source_updated_at = NULL WHERE source_system = 'billing' AND source_key = '5'",
        {"updated-at is present": 1},
        id="missing updated_at",
    ),
    pytest.param(
        "raw",
        """UPDATE staged_records SET date_of_birth = CASE source_key WHEN '1' THEN DATE '1066-10-14'
                                                                  ELSE current_date + 30 END
           WHERE source_system = 'billing' AND source_key IN ('1', '2')""",
        {"birth dates are plausible": 2},
        id="implausible birth dates (one before datetime64[ns] can hold)",
    ),
    pytest.param(
        "raw",
        """UPDATE staged_records SET email = ['bad@', 'no-at-sign', 'two words@example.com'][source_key::INTEGER]
           WHERE source_system = 'billing' AND source_key IN ('1', '2', '3')""",
        {"emails are plausible": 3},
        id="bad email share above 2%",
    ),
    pytest.param(
        "raw",
        """UPDATE staged_records SET email = 'bad@' WHERE source_system = 'billing' AND source_key IN ('1', '2')""",
        {},
        id="bad email share of 2% passes",
    ),
    pytest.param(
        "raw",
        """INSERT INTO quarantine SELECT 'billing', (2000 + i)::VARCHAR, 'phone: cannot parse', '{}',
                                         TIMESTAMP '2024-01-01' FROM range(5) r(i)""",
        {"at most 5% of rows quarantined": 1},
        id="quarantine share above 5%",
    ),
    pytest.param(
        "raw",
        """INSERT INTO field_warnings SELECT 'billing', (1 + i % 6)::VARCHAR, 'phone', 'tel', 'n/a', 'cannot parse',
                                             NULL, TIMESTAMP '2024-01-01' FROM range(12) r(i)""",
        {"at most 5% of records hold a value read as missing": 1},
        id="share of records with field warnings above 5%",
    ),
    pytest.param(
        "raw",
        """INSERT INTO field_warnings SELECT 'billing', (1 + i)::VARCHAR, f, 'c', 'x', 'cannot parse', NULL,
                  TIMESTAMP '2024-01-01' FROM range(5) r(i), (VALUES ('phone'), ('email')) t(f)""",
        {},
        id="records with field warnings at 5% pass, however many fields",
    ),
    # standardized records
    pytest.param(
        "standardized",
        "UPDATE standardized_records SET unique_id = 'billing:1' WHERE unique_id = 'billing:2'",
        {"record ids are unique": 2},
        id="duplicate record id",
    ),
    pytest.param(
        "standardized",
        "DELETE FROM standardized_records WHERE unique_id = 'web:9'",
        {"every staged record is standardized": 1},  # the count, validated as a value
        id="staged record not standardized",
    ),
    pytest.param(
        "standardized",
        "UPDATE standardized_records SET source_system = 'legacy' WHERE unique_id = 'web:3'",
        {"source systems are known": 1},
        id="unknown source system",
    ),
    pytest.param(
        "standardized",
        "UPDATE standardized_records SET phone_std = '0790090001' WHERE unique_id = 'web:3'",
        {"standardized phones are E.164 digits": 1},
        id="standardized phone not E.164",
    ),
    pytest.param(
        "standardized",
        """UPDATE standardized_records SET name_concat_std = NULL
           WHERE source_system = 'web' AND source_key::INTEGER <= 11""",
        {"at least 95% of records have a name": 1},  # the share, validated as a value: 11 of 200 without
        id="too many records without a name",
    ),
    # golden records
    pytest.param(
        "golden",
        "UPDATE golden_values SET email = 'not-an-email' WHERE golden_id = 'G00000003'",
        {"only valid emails survive": 1},
        id="golden record with an invalid email",
    ),
    pytest.param(
        "golden",
        "UPDATE golden_values SET phone = '07700 900123' WHERE golden_id = 'G00000003'",
        {"only valid phones survive": 1},
        id="golden record with an invalid phone",
    ),
    pytest.param(
        "golden",
        "INSERT INTO golden_values SELECT * FROM golden_values WHERE golden_id = 'G00000003'",
        {"golden ids are unique": 2},
        id="duplicate golden id",
    ),
    pytest.param(
        "golden",
        "DELETE FROM golden_members WHERE record_id = 'web:4'",
        {"every source record is in exactly one golden record or in quarantine": 1},
        id="staged record in no golden record",
    ),
    pytest.param(
        "golden",
        "INSERT INTO golden_members VALUES ('web:4', 'G00000099')",
        {"every source record is in exactly one golden record or in quarantine": 1},
        id="record in two golden records",
    ),
    pytest.param(
        "golden",
        "UPDATE golden_members SET golden_id = 'G12345678' WHERE record_id = 'web:4'",
        {"every source record is in exactly one golden record or in quarantine": 1},
        id="record in a golden record that does not exist",
    ),
    pytest.param(
        "golden",
        "INSERT INTO golden_values (golden_id, email, record_count) VALUES ('G99999999', 'a@example.com', 1)",
        {"every golden record has source records": 1},
        id="golden record with no members",
    ),
    pytest.param(
        "golden",
        "UPDATE golden_values SET record_count = 0 WHERE golden_id = 'G00000003'",
        {"golden record counts are at least 1": 1},
        id="golden record count of 0",
    ),
    pytest.param(
        "golden",
        "INSERT INTO golden_members VALUES ('billing:ghost', 'G00000001')",
        {"golden members are staged records": 1},
        id="member that is no source record",
    ),
    pytest.param(
        "golden",
        "INSERT INTO golden_members VALUES ('billing:1000', 'G00000001')",
        {
            "every source record is in exactly one golden record or in quarantine": 1,
            "golden members are staged records": 1,
        },
        id="quarantined record in a golden record",
    ),
]


@pytest.mark.parametrize(("suite", "defect", "failing"), DEFECTS)
def test_each_defect_fails_exactly_its_expectation(ws, suite, defect, failing):
    ws.con.execute(defect)
    result = _run(suite, ws)
    assert _failed(result) == failing, result.summary()
    assert result.success is not failing


def test_failure_reports_counts_examples_and_markdown(ws):
    ws.con.execute("UPDATE golden_values SET email = 'not-an-email' WHERE golden_id = 'G00000003'")
    ws.con.execute("DELETE FROM golden_members WHERE record_id IN ('web:4', 'web:5')")
    result = expectations.check_golden(ws)
    email = next(o for o in result.failed() if o.name == "only valid emails survive")
    assert (email.expectation, email.column) == ("expect_column_values_to_match_regex", "email")
    assert (email.element_count, email.unexpected_count, email.unexpected_examples) == (150, 1, ["not-an-email"])
    placed = next(o for o in result.failed() if o.column == "placements")
    assert sorted(placed.unexpected_examples) == ["web:4", "web:5"]  # the records, not their count of 0
    assert result.summary() == (
        "golden: 6/8 passed; FAILED only valid emails survive (1 of 150 unexpected, e.g. 'not-an-email'); "
        "FAILED every source record is in exactly one golden record or in quarantine "
        f"(2 of 201 unexpected, e.g. {', '.join(repr(x) for x in placed.unexpected_examples)})"
    )
    table = result.as_markdown().splitlines()
    assert table[0].startswith("| expectation |") and len(table) == 2 + len(result.outcomes)
    assert any("**FAILED**" in row and "only valid emails survive" in row for row in table)


def test_times_beyond_what_pandas_holds_still_fail_and_say_so(ws):
    ws.con.execute(
        """UPDATE staged_records SET date_of_birth = DATE '1066-10-14', source_updated_at = TIMESTAMP '9999-01-01'
           WHERE source_system = 'billing' AND source_key = '1'"""
    )
    failed = {o.name: o for o in expectations.check_raw_source(ws, CONFIG, "billing").failed()}
    assert failed["birth dates are plausible"].unexpected_examples == ["at or before 1677-09-22"]
    assert failed["updated-at is not in the future"].unexpected_examples == ["at or after 2262-04-11"]
    assert set(failed) == {"birth dates are plausible", "updated-at is not in the future"}


def test_examples_are_capped_at_five_and_observed_values_are_plain(ws):
    ws.con.execute("UPDATE golden_values SET phone = 'bad' || golden_id WHERE golden_id < 'G00000020'")
    phones = next(o for o in expectations.check_golden(ws).failed() if o.name == "only valid phones survive")
    assert phones.unexpected_count == 19 and len(phones.unexpected_examples) == 5
    *_, warned, quarantine = expectations.check_raw_source(ws, CONFIG, "billing").outcomes
    assert quarantine.observed == "1 of 101 rows quarantined (1.0%)"
    assert warned.observed == "0 of 100 records (0.0%) with field warnings"
    rows, named = (
        o
        for o in expectations.check_standardized(ws, CONFIG).outcomes
        if o.column is None or o.column in ("standardized", "named_share")
    )
    assert rows.observed == "200 standardized records for 200 staged" and rows.success
    assert named.observed == "0 of 200 records without a name" and named.success


def test_empty_workspace_validates_without_crashing():
    ws = Workspace(":memory:")  # no standardized_records, golden_values or golden_members yet
    for result in (
        expectations.check_raw_source(ws, CONFIG, "billing"),
        expectations.check_standardized(ws),
        expectations.check_golden(ws),
    ):
        assert result.success, result.summary()
        assert all(o.element_count in (0, 1, None) for o in result.outcomes)
    ws.close()


def test_staged_records_without_golden_records_fail_the_gate(ws):
    ws.con.execute("DROP TABLE golden_members")
    ws.con.execute("DROP TABLE golden_values")
    assert _failed(expectations.check_golden(ws)) == {
        "every source record is in exactly one golden record or in quarantine": 2 * N
    }


def test_unknown_source_and_missing_column_are_reported_not_crashed(ws):
    with pytest.raises(ValueError, match=r"not a source in hub\.yaml"):
        expectations.check_raw_source(ws, CONFIG, "nope")
    E = gx().expectations
    [outcome] = validate(ws.con.sql("SELECT 1 AS a").df(), [Check("b is there", E.ExpectColumnToExist(column="b"))])
    assert not outcome.success
    [outcome] = validate(
        ws.con.sql("SELECT 1 AS a").df(), [Check("b not null", E.ExpectColumnValuesToNotBeNull(column="b"))]
    )
    assert not outcome.success and "does not exist" in str(outcome.observed)


def test_importing_the_package_does_not_import_great_expectations():
    code = "import sys, expectations; assert 'great_expectations' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_demo_passes_every_suite_until_an_invalid_email_is_pinned(tmp_path):
    init_demo(tmp_path, customers=300, seed=5)
    cfg = load_config(tmp_path / "hub.yaml")
    ws = Workspace.for_config(cfg)
    engine = store.open_store(cfg.serving_store)
    try:
        for name in cfg.sources:
            pull_source(cfg, name, ws)
        match(ws, cfg)
        build_and_publish(ws, cfg, engine)
        for result in (
            *(expectations.check_raw_source(ws, cfg, name) for name in cfg.sources),
            expectations.check_standardized(ws, cfg),
            expectations.check_golden(ws),
        ):
            assert result.success, result.summary()

        golden_id = ws.con.sql("SELECT min(golden_id) FROM golden_values").fetchall()[0][0]
        with store.write_transaction(engine) as conn:
            store.pin(conn, golden_id, "email", "not-an-email", "steward@example.com")
        build_and_publish(ws, cfg, engine)
        result = expectations.check_golden(ws)
        assert _failed(result) == {"only valid emails survive": 1}, result.summary()
        assert result.failed()[0].unexpected_examples == ["not-an-email"]
    finally:
        ws.close()
        engine.dispose()


def _gated(ws: Workspace, cfg: HubConfig, engine) -> expectations.SuiteResult:
    """What the pipeline does with a build: gate it, keep the verdict, and publish it only if it passed."""
    build(ws, cfg, engine)
    result = expectations.check_golden(ws)
    expectations.gate.keep(ws, result)
    if result.success:
        expectations.gate.mark_published(ws, publish_build(ws, cfg, engine).run_id)
    return result


def _rows(ws: Workspace, sql: str) -> int:
    return ws.con.sql(sql).fetchall()[0][0]


PLACEMENTS = """SELECT count(*) FROM (SELECT source_system || ':' || source_key FROM staged_records
                UNION SELECT source_system || ':' || source_key FROM quarantine WHERE source_key IS NOT NULL
                UNION SELECT record_id FROM golden_members)"""  # the record ids the gate places


@pytest.fixture
def demo_ws(tmp_path):
    init_demo(tmp_path, customers=300, seed=5)
    cfg = load_config(tmp_path / "hub.yaml")
    ws = Workspace.for_config(cfg)
    engine = store.open_store(cfg.serving_store)
    for name in cfg.sources:
        pull_source(cfg, name, ws)
    match(ws, cfg)
    yield ws, cfg, engine
    ws.close()
    engine.dispose()


def test_an_incremental_gate_validates_only_what_changed_and_blocks_a_bad_value_there(demo_ws):
    ws, cfg, engine = demo_ws
    first = _gated(ws, cfg, engine)  # a full build: every row
    golden, records = _rows(ws, "SELECT count(*) FROM golden_values"), _rows(ws, PLACEMENTS)
    assert first.success and first.scope == "all rows" and first.validated == golden + records, first.summary()

    unchanged = _gated(ws, cfg, engine)  # nothing rebuilt: nothing to validate
    assert unchanged.success and unchanged.validated == 0 and unchanged.scope.startswith("changed since")

    golden_id = _rows(ws, "SELECT min(golden_id) FROM golden_values")
    with store.write_transaction(engine) as conn:
        store.pin(conn, golden_id, "email", "not-an-email", "steward@example.com")
    blocked = _gated(ws, cfg, engine)
    members = _rows(ws, f"SELECT count(*) FROM golden_members WHERE golden_id = '{golden_id}'")
    assert _failed(blocked) == {"only valid emails survive": 1}, blocked.summary()
    assert blocked.validated == 1 + members  # the rebuilt golden record and its members' placements
    email = blocked.failed()[0]
    assert (email.element_count, email.unexpected_examples) == (1, ["not-an-email"])
    assert expectations.gate.kept(ws).summary() == blocked.without_examples().summary()  # what the check reports


def test_an_incremental_gate_still_checks_whole_table_invariants_over_every_row(demo_ws):
    ws, cfg, engine = demo_ws
    _gated(ws, cfg, engine)
    _gated(ws, cfg, engine)
    assert expectations.check_golden(ws).validated == 0
    # rows no build touched: a record dropped from its golden record, a golden id written twice
    ws.con.execute("DELETE FROM golden_members WHERE record_id = (SELECT min(record_id) FROM golden_members)")
    ws.con.execute("INSERT INTO golden_values SELECT * FROM golden_values WHERE golden_id = (SELECT max(golden_id) "
                   "FROM golden_values)")  # fmt: skip
    result = expectations.check_golden(ws)
    assert result.scope.startswith("changed since")
    assert _failed(result) == {
        "golden ids are unique": 2,
        "every source record is in exactly one golden record or in quarantine": 1,
    }, result.summary()
    golden, records = _rows(ws, "SELECT count(*) FROM golden_values"), _rows(ws, PLACEMENTS)
    assert {o.name: o.element_count for o in result.failed()} == {
        "golden ids are unique": golden,  # reported over the whole table, as a full gate does
        "every source record is in exactly one golden record or in quarantine": records,
    }


@pytest.mark.parametrize("bypass", ["hub golden", "publish after a failed gate"])
def test_a_basis_published_without_passing_the_gate_is_validated_in_full(demo_ws, bypass):
    ws, cfg, engine = demo_ws
    _gated(ws, cfg, engine)
    golden_id = _rows(ws, "SELECT min(golden_id) FROM golden_values")
    with store.write_transaction(engine) as conn:
        store.pin(conn, golden_id, "email", "not-an-email", "steward@example.com")
    if bypass == "hub golden":
        build_and_publish(ws, cfg, engine)  # publishes without the gate
    else:  # published_golden materialized alone after the gate failed
        build(ws, cfg, engine)
        failed = expectations.check_golden(ws)
        expectations.gate.keep(ws, failed)
        expectations.gate.mark_published(ws, publish_build(ws, cfg, engine).run_id)
        assert not failed.success
    build(ws, cfg, engine)  # incremental, rebuilds nothing; the bad value is in the basis
    assert _rows(ws, "SELECT count(*) FROM golden_rebuilt") == 0
    result = expectations.check_golden(ws)
    assert result.scope == "all rows" and _failed(result) == {"only valid emails survive": 1}, result.summary()


def test_checks_only_check_none_can_reach_the_serving_store_or_the_sources():
    checks = pipeline_checks(["billing", "web"])
    assert len(checks) == 4
    for check in checks:
        assert not check.required_resource_keys & {"serving_store", "sources"}, check.check_keys


def test_the_standardized_suite_finds_by_sql_every_row_gx_would_flag(ws):
    """GX is handed the rows set-based SQL found over all standardized records: on values meant to split two regex
    engines (newlines, spaces, unicode, a '+'), it reports what GX reports over every row."""
    tricky_emails = ["a@b.co", "a@b.co\\n", " a@b.co", "a@b", "ü@exämple.de", "a@@b.co", "a@b.co ", "x@y.z\\t", ""]
    tricky_phones = ["447700900123", "+447700900123", "0447700900", "44770090012\\n", "123456", "1234567", "١٢٣٤٥٦٧٨"]
    for i, email in enumerate(tricky_emails):
        ws.con.execute(f"UPDATE standardized_records SET email_std = E'{email}' WHERE unique_id = 'web:{i + 1}'")
    for i, phone in enumerate(tricky_phones):
        ws.con.execute(f"UPDATE standardized_records SET phone_std = E'{phone}' WHERE unique_id = 'web:{i + 20}'")
    ws.con.execute("UPDATE standardized_records SET unique_id = 'billing:1' WHERE unique_id = 'billing:2'")
    ws.con.execute("UPDATE standardized_records SET source_system = 'legacy' WHERE unique_id = 'web:40'")
    result = expectations.check_standardized(ws, CONFIG)
    E = gx().expectations
    every_row = ws.con.sql("SELECT unique_id, source_system, email_std, phone_std FROM standardized_records").df()
    by_gx = validate(
        every_row,
        [
            Check("ids", E.ExpectColumnValuesToBeUnique(column="unique_id")),
            Check("sources", E.ExpectColumnValuesToBeInSet(column="source_system", value_set=sorted(CONFIG.sources))),
            Check("emails", E.ExpectColumnValuesToMatchRegex(column="email_std", regex=EMAIL_REGEX)),
            Check("phones", E.ExpectColumnValuesToMatchRegex(column="phone_std", regex=E164_DIGITS_REGEX)),
        ],
    )
    outcomes = {o.name: o for o in result.outcomes}
    names = ["record ids are unique", "source systems are known", "standardized emails are plausible",
             "standardized phones are E.164 digits"]  # fmt: skip
    assert [(outcomes[n].unexpected_count, outcomes[n].element_count) for n in names] == [
        (o.unexpected_count, o.element_count) for o in by_gx
    ]
    assert all(o.unexpected_count for o in by_gx) and result.validated < len(every_row)


@pytest.mark.parametrize("bad_emails", [0, 1, 2, 3, 9])
def test_the_raw_suite_finds_by_sql_every_row_gx_would_flag(ws, bad_emails):
    """GX is handed the rows set-based SQL found over the source: each check reports what GX reports over every row,
    and the share of bad emails allowed (2% of 100 billing rows) passes or fails exactly as it does over all."""
    tricky = ["a@b", "a@b.co\\n", " a@b.co", "a@@b.co", "x@y.z\\t", "", "a b@c.de", "@b.co", "a@.co"]
    for i, email in enumerate(tricky[:bad_emails]):
        ws.con.execute(
            f"UPDATE staged_records SET email = E'{email}' WHERE source_system = 'billing' AND source_key = '{i + 1}'"
        )
    ws.con.execute(
        """UPDATE staged_records SET email = NULL, date_of_birth = DATE '1066-10-14',
                  source_updated_at = TIMESTAMP '9999-01-01'
           WHERE source_system = 'billing' AND source_key IN ('40', '41')"""
    )
    ws.con.execute(
        "UPDATE staged_records SET source_updated_at = NULL WHERE source_system = 'billing' AND source_key = '42'"
    )
    ws.con.execute("UPDATE staged_records SET source_key = '44' WHERE source_system = 'billing' AND source_key = '43'")
    ws.con.execute("UPDATE staged_records SET source_key = NULL WHERE source_system = 'billing' AND source_key = '45'")
    ws.con.execute(
        "UPDATE staged_records SET email = 'ü@exämple.de' WHERE source_system = 'billing' AND source_key = '46'"
    )
    result = expectations.check_raw_source(ws, CONFIG, "billing")
    every_row = ws.con.sql(
        "SELECT source_key, date_of_birth, source_updated_at, email FROM staged_records WHERE source_system = 'billing'"
    ).df()
    E, now = gx().expectations, datetime.now(UTC).replace(tzinfo=None)
    earliest = datetime.combine(plausible_birth_dates()[0], datetime.min.time())
    by_gx = validate(
        every_row,
        [
            Check("keys", E.ExpectColumnValuesToNotBeNull(column="source_key")),
            Check("unique", E.ExpectColumnValuesToBeUnique(column="source_key")),
            Check("born", E.ExpectColumnValuesToBeBetween(column="date_of_birth", min_value=earliest, max_value=now)),
            Check("stamped", E.ExpectColumnValuesToNotBeNull(column="source_updated_at")),
            Check("future", E.ExpectColumnValuesToBeBetween(column="source_updated_at", max_value=now + timedelta(1))),
            Check("emails", E.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_REGEX, mostly=0.98)),
        ],
    )
    outcomes = {o.name: o for o in result.outcomes}
    names = ["source keys are present", "source keys are unique", "birth dates are plausible", "updated-at is present",
             "updated-at is not in the future", "emails are plausible"]  # fmt: skip
    assert [(outcomes[n].success, outcomes[n].unexpected_count, outcomes[n].element_count) for n in names] == [
        (o.success, o.unexpected_count, o.element_count) for o in by_gx
    ]
    assert result.validated < len(every_row) + 1  # the offending rows and one row of shares
    assert outcomes["emails are plausible"].success == (bad_emails <= 2)
