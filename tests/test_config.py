"""hub.yaml: what a data engineer can write, how it resolves, and how a bad file is reported.

A bad file must fail with the dotted key that is wrong and a reason a person can act on; the CLI
turns that into exit code 2.
"""

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from sqlalchemy.engine import make_url

from hub.config import ConfigError, FieldMapping, GoldenIdTarget, load_config
from hub.model import FieldType
from pipelines.entry import main

VALID_YAML = """\
workspace: state/workspace.duckdb
serving_store: sqlite:///state/serving.db
chunk_size: 1000
attributes:
  loyalty_tier: string
  vip: boolean
  lifetime_value: double
matching:
  auto_match_threshold: 0.9
  review_threshold: 0.6
sources:
  billing:
    kind: sql
    url: sqlite:///data/billing.db
    table: customers
    primary_key: customer_id
    updated_at: modified_at
    updated_at_format: "%Y-%m-%d %H:%M:%S"
    default_region: gb
    fields:
      email: email_address
      first_name: {column: full_name, transform: split_name, order: last_comma_first, part: first}
      last_name: {column: full_name, transform: split_name, order: last_comma_first, part: last}
      date_of_birth: {column: dob, transform: date, format: "%d/%m/%Y"}
      phone: {column: tel, transform: phone, region: GB, write_format: national}
      country: {column: country, transform: country, write_format: alpha3}
      consent_email: {column: email_optin, transform: consent, granted: [1, Y], denied: [0, N]}
      preferred_channel: {column: channel, transform: map, values: {E: email, S: sms, 3: post}}
      loyalty_tier: {column: tier, case: upper}
      vip: {column: is_vip, transform: boolean, "true": [J], "false": [N]}
    accepts: [email, first_name, last_name, phone]
    golden_id: {table: hub_golden_ids}
  web:
    kind: file
    path: exports/web_users.csv
    primary_key: uid
    fields:
      email: mail
      lifetime_value: ltv
      consent_email_at: {column: optin_at, transform: timestamp, format: epoch}
    accepts: [email]
    golden_id: {column: hub_id}
"""

# Smallest valid file the bad-file cases below are patched from.
BASE: dict[str, Any] = {
    "sources": {
        "billing": {
            "kind": "sql",
            "url": "sqlite:///billing.db",
            "table": "customers",
            "primary_key": "id",
            "updated_at": "modified_at",
            "fields": {
                "email": "email_address",
                "first_name": {
                    "column": "full_name",
                    "transform": "split_name",
                    "order": "first_last",
                    "part": "first",
                },
                "last_name": {"column": "full_name", "transform": "split_name", "order": "first_last", "part": "last"},
                "phone": {"column": "tel", "transform": "phone", "region": "GB"},
            },
        },
        "web": {"kind": "file", "path": "web.csv", "primary_key": "uid", "fields": {"email": "mail"}},
    }
}

DELETE = object()  # in a patch: remove this key


def patched(patch: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    out = copy.deepcopy(BASE if base is None else base)
    for key, value in patch.items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = patched(value, out[key])
        else:
            out[key] = copy.deepcopy(value)
    return out


def write(tmp_path: Path, text: str, name: str = "hub.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def config_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


# -- a valid file ------------------------------------------------------------------------------


def test_valid_file_loads_with_every_kind_of_mapping(tmp_path):
    cfg = load_config(write(tmp_path, VALID_YAML))

    assert list(cfg.sources) == ["billing", "web"]
    assert cfg.chunk_size == 1000
    assert cfg.attributes == {
        "loyalty_tier": FieldType.STRING,
        "vip": FieldType.BOOLEAN,
        "lifetime_value": FieldType.DOUBLE,
    }
    assert (cfg.matching.auto_match_threshold, cfg.matching.review_threshold) == (0.9, 0.6)

    billing = cfg.sources["billing"]
    assert billing.kind == "sql"
    assert billing.table == "customers"
    assert (billing.primary_key, billing.updated_at) == ("customer_id", "modified_at")
    assert billing.default_region == "GB"  # upper-cased
    assert billing.fields["email"] == FieldMapping(column="email_address")  # shorthand
    first = billing.fields["first_name"]
    assert (first.column, first.transform, first.order, first.part) == (
        "full_name",
        "split_name",
        "last_comma_first",
        "first",
    )
    assert billing.fields["date_of_birth"].format == "%d/%m/%Y"
    phone = billing.fields["phone"]
    assert (phone.transform, phone.region, phone.write_format) == ("phone", "GB", "national")
    assert billing.fields["country"].write_format == "alpha3"
    # YAML reads 1/0 as ints; the lists hold text because source values are compared as text.
    assert billing.fields["consent_email"].granted == ["1", "Y"]
    assert billing.fields["consent_email"].denied == ["0", "N"]
    assert billing.fields["preferred_channel"].values == {"E": "email", "S": "sms", "3": "post"}
    assert billing.fields["loyalty_tier"].case == "upper"
    assert (billing.fields["vip"].true, billing.fields["vip"].false) == (["J"], ["N"])
    assert billing.accepts == ["email", "first_name", "last_name", "phone"]
    assert billing.golden_id == GoldenIdTarget(table="hub_golden_ids")
    # The columns the hub reads: key, cursor, then each mapped column once.
    assert billing.columns() == [
        "customer_id",
        "modified_at",
        "email_address",
        "full_name",
        "dob",
        "tel",
        "country",
        "email_optin",
        "channel",
        "tier",
        "is_vip",
    ]

    web = cfg.sources["web"]
    assert web.kind == "file"
    assert web.file_format == "csv"
    assert web.golden_id == GoldenIdTarget(column="hub_id")
    assert web.fields["consent_email_at"].format == "epoch"
    assert web.default_region == "US"


REAL_SCHEMAS_YAML = """\
attributes: {brand: string, joined: date}
sources:
  erp:
    kind: sql
    url: postgresql+psycopg://hub@db/erp
    table: sales.customers
    primary_key: id
    fields:
      address_line1: {concat: [street_number, street], sep: " "}
      first_name: {concat: [title, given_name]}  # "Mr" + "John" -> "John": titles are stripped
      country: {value: AU}
      brand: {value: 7}
      joined: {value: 2020-01-31}
      email: {column: mail, required: true}
    accepts: [email]
    golden_id: {table: sales.hub_golden_ids}
  shop:
    kind: sql
    url: sqlite:///shop.db
    query: |
      SELECT c.id, c.name, a.line AS address, max(o.placed_at) AS last_order
      FROM customers c JOIN addresses a ON a.customer_id = c.id LEFT JOIN orders o ON o.customer_id = c.id
      GROUP BY c.id, c.name, a.line;
    primary_key: id
    updated_at: last_order
    fields:
      last_name: name
      address_line1: {column: address, transform: address}
      city: {column: address, transform: address}
      postal_code: {column: address, transform: address}
"""


def test_sources_shaped_like_real_schemas_load(tmp_path):
    cfg = load_config(write(tmp_path, REAL_SCHEMAS_YAML))
    erp, shop = cfg.sources["erp"], cfg.sources["shop"]
    assert erp.table == "sales.customers" and erp.golden_id == GoldenIdTarget(table="sales.hub_golden_ids")
    assert erp.fields["address_line1"] == FieldMapping(concat=["street_number", "street"], sep=" ")
    assert erp.fields["email"].required and not erp.fields["first_name"].required
    assert (erp.fields["country"].value, erp.fields["brand"].value, erp.fields["joined"].value) == (
        "AU", "7", "2020-01-31"
    )  # fmt: skip
    # The columns the hub reads: every concatenated column, no column for a constant.
    assert erp.columns() == ["id", "street_number", "street", "title", "given_name", "mail"]
    assert shop.table is None and shop.query.startswith("SELECT c.id") and not shop.query.endswith(";")
    assert shop.columns() == ["id", "last_order", "name", "address"]


def test_minimal_file_gets_defaults(tmp_path):
    cfg = load_config(write(tmp_path, yaml.safe_dump(BASE)))
    assert cfg.chunk_size == 50_000
    assert (cfg.matching.auto_match_threshold, cfg.matching.review_threshold) == (0.95, 0.70)
    assert cfg.attributes == {}
    assert cfg.sources["billing"].accepts == []
    assert cfg.sources["billing"].golden_id is None
    assert (cfg.pipeline.schedule, cfg.pipeline.timezone, cfg.pipeline.sensor_interval_seconds) == (
        "0 2 * * *",
        "UTC",
        300,
    )
    assert cfg.pipeline.autostart is False
    assert cfg.workspace_memory_limit is None  # DuckDB's own default


def test_the_workspace_memory_limit_reaches_duckdb(tmp_path):
    from hub.workspace import Workspace

    cfg = load_config(write(tmp_path, yaml.safe_dump({**BASE, "workspace_memory_limit": " 2.5GiB "})))
    assert cfg.workspace_memory_limit == "2.5GiB"
    ws = Workspace.for_config(cfg)
    try:
        assert ws.con.execute("SELECT current_setting('memory_limit')").fetchall() == [("2.5 GiB",)]
    finally:
        ws.close()


# -- paths resolve against the hub.yaml directory --------------------------------------------------


def test_relative_paths_resolve_against_the_config_directory_not_the_cwd(tmp_path, monkeypatch):
    conf_dir = tmp_path / "project" / "conf"
    conf_dir.mkdir(parents=True)
    path = write(conf_dir, VALID_YAML)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    cfg = load_config(Path("..") / "project" / "conf" / "hub.yaml")

    base = conf_dir.resolve()
    assert cfg.sources["web"].path == base / "exports" / "web_users.csv"
    billing_url = make_url(cfg.sources["billing"].url)
    assert billing_url.get_backend_name() == "sqlite"
    assert Path(billing_url.database) == base / "data" / "billing.db"
    assert cfg.workspace == base / "state" / "workspace.duckdb"
    assert Path(make_url(cfg.serving_store).database) == base / "state" / "serving.db"
    # Same answer when loaded by absolute path from yet another directory.
    monkeypatch.chdir(tmp_path)
    assert load_config(path) == cfg


def test_a_relative_key_file_resolves_against_the_config_directory(tmp_path):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    cfg = load_config(write(conf_dir, yaml.safe_dump(patched({"encryption": {"key_file": "secrets/hub.key"}}))))
    assert cfg.encryption.enabled and cfg.encryption.key_file == conf_dir.resolve() / "secrets" / "hub.key"
    assert not load_config(write(tmp_path, VALID_YAML)).encryption.enabled  # no block: off


def test_parent_relative_paths_are_normalised(tmp_path):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    data = patched(
        {"sources": {"billing": {"url": "sqlite:///../data/billing.db"}, "web": {"path": "../data/web.csv"}}}
    )
    cfg = load_config(write(conf_dir, yaml.safe_dump(data)))
    assert Path(make_url(cfg.sources["billing"].url).database) == (tmp_path / "data" / "billing.db").resolve()
    assert cfg.sources["web"].path == (tmp_path / "data" / "web.csv").resolve()


def test_absolute_and_non_file_urls_are_left_alone(tmp_path):
    absolute_db = (tmp_path / "abs" / "billing.db").resolve()
    absolute_csv = (tmp_path / "abs" / "web.parquet").resolve()
    data = patched(
        {
            "serving_store": "postgresql+psycopg://hub:s3cret@db.example:5432/hub",
            "sources": {
                "billing": {"url": f"sqlite:///{absolute_db}"},
                "web": {"path": str(absolute_csv)},
                "memory": {
                    "kind": "sql",
                    "url": "sqlite:///:memory:",
                    "table": "t",
                    "primary_key": "id",
                    "fields": {"email": "e"},
                },
            },
        }
    )
    cfg = load_config(write(tmp_path, yaml.safe_dump(data)))
    assert Path(make_url(cfg.sources["billing"].url).database) == absolute_db
    assert cfg.sources["web"].path == absolute_csv
    assert cfg.sources["web"].file_format == "parquet"
    assert cfg.sources["memory"].url == "sqlite:///:memory:"
    # A server URL (with its password) is kept exactly as written.
    assert cfg.serving_store == "postgresql+psycopg://hub:s3cret@db.example:5432/hub"


# -- bad files: exact key and a meaningful reason ----------------------------------------------------

BILLING = "sources.billing"


def case(case_id: str, patch: dict[str, Any], key: str, fragment: str) -> Any:
    """One bad file: the patch applied to BASE, the expected ConfigError.key and a fragment of its reason."""
    return pytest.param(patch, key, fragment, id=case_id)


BAD_CASES = [
    case("missing-sources", {"sources": DELETE}, "sources", "required key is missing"),
    case("empty-sources", {"sources": {"billing": DELETE, "web": DELETE}}, "sources", "at least one source"),
    case("unknown-top-level-key", {"matchng": {"review_threshold": 0.5}}, "matchng", "unknown key"),
    case(
        "misspelt-sources",
        {"sources": DELETE, "sourcez": BASE["sources"]},
        "sourcez",
        "unknown key",
    ),
    case("unknown-key-in-source", {"sources": {"billing": {"tabel": "customers"}}}, f"{BILLING}.tabel", "unknown key"),
    case(
        "misspelt-primary-key",
        {"sources": {"billing": {"primary_key": DELETE, "primary_kye": "id"}}},
        f"{BILLING}.primary_kye",
        "unknown key",
    ),
    case(
        "unknown-key-in-field-mapping",
        {"sources": {"billing": {"fields": {"phone": {"colunm": "tel2"}}}}},
        f"{BILLING}.fields.phone.colunm",
        "unknown key",
    ),
    case("missing-primary-key", {"sources": {"billing": {"primary_key": DELETE}}}, f"{BILLING}.primary_key", "missing"),
    case("missing-fields", {"sources": {"web": {"fields": DELETE}}}, "sources.web.fields", "missing"),
    case("source-not-a-mapping", {"sources": {"web": "web.csv"}}, "sources.web", "valid dictionary"),
    case("unknown-kind", {"sources": {"billing": {"kind": "api"}}}, f"{BILLING}.kind", "'sql' or 'file'"),
    case("sql-without-url", {"sources": {"billing": {"url": DELETE}}}, BILLING, "needs 'url'"),
    case("sql-without-table", {"sources": {"billing": {"table": DELETE}}}, BILLING, "'table'"),
    case("sql-with-path", {"sources": {"billing": {"path": "x.csv"}}}, BILLING, "'path'/'format' are for 'file'"),
    case("file-without-path", {"sources": {"web": {"path": DELETE}}}, "sources.web", "needs 'path'"),
    case(
        "file-with-url", {"sources": {"web": {"url": "sqlite:///w.db"}}}, "sources.web", "'url'/'table' are for 'sql'"
    ),
    case("file-with-table", {"sources": {"web": {"table": "users"}}}, "sources.web", "'url'/'table' are for 'sql'"),
    case(
        "unknown-transform",
        {"sources": {"billing": {"fields": {"phone": {"transform": "telephone"}}}}},
        f"{BILLING}.fields.phone.transform",
        "should be 'text'",
    ),
    case(
        "option-not-for-transform",
        {"sources": {"billing": {"fields": {"phone": {"format": "%d/%m/%Y"}}}}},
        f"{BILLING}.fields.phone",
        "['format'] do not apply to transform 'phone'",
    ),
    case(
        "country-write-format-on-phone",
        {"sources": {"billing": {"fields": {"phone": {"write_format": "alpha3"}}}}},
        f"{BILLING}.fields.phone.write_format",
        "phone write_format is one of e164, national, international",
    ),
    case(
        "postcode-format-on-email",
        {"sources": {"billing": {"fields": {"email": {"column": "email_address", "write_format": "compact"}}}}},
        f"{BILLING}.fields.email.write_format",
        "not a field with a write format",
    ),
    case(
        "unknown-postcode-format",
        {"sources": {"web": {"fields": {"postal_code": {"column": "zip", "write_format": "unit_first"}}}}},
        "sources.web.fields.postal_code.write_format",
        "postal_code write_format is one of spaced, compact",
    ),
    case(
        "write-case-on-email",
        {"sources": {"web": {"fields": {"email": {"column": "mail", "write_case": "upper"}}}}},
        "sources.web.fields.email.write_case",
        "only for text fields",
    ),
    case(
        "write-charset-on-email",
        {"sources": {"web": {"fields": {"email": {"column": "mail", "write_charset": "ascii"}}}}},
        "sources.web.fields.email.write_charset",
        "only for text fields",
    ),
    case(
        "unknown-write-charset",
        {"sources": {"web": {"fields": {"city": {"column": "town", "write_charset": "latin1"}}}}},
        "sources.web.fields.city.write_charset",
        "ascii",
    ),
    case(
        "strip-titles-on-city",
        {"sources": {"web": {"fields": {"city": {"column": "town", "strip_titles": False}}}}},
        "sources.web.fields.city.strip_titles",
        "only for first_name and last_name",
    ),
    case(
        "unknown-policy",
        {"sources": {"web": {"policy": {"email": "overwrite"}}}},
        "sources.web.policy.email",
        "Input should be 'fill', 'correct' or 'never'",
    ),
    case(
        "policy-on-a-block-field",
        {"writeback": {"policy": {"city": "fill"}}},
        "writeback.policy.city",
        "set 'address' instead",
    ),
    case(
        "policy-on-a-consent-time",
        {"sources": {"web": {"policy": {"consent_email_at": "never"}}}},
        "sources.web.policy.consent_email_at",
        "a consent time follows its choice",
    ),
    case(
        "split-name-without-part",
        {"sources": {"billing": {"fields": {"first_name": {"part": DELETE}}}}},
        f"{BILLING}.fields.first_name",
        "needs 'order' (first_last | last_comma_first) and 'part'",
    ),
    case(
        "split-name-without-order",
        {"sources": {"billing": {"fields": {"last_name": {"order": DELETE}}}}},
        f"{BILLING}.fields.last_name",
        "needs 'order'",
    ),
    case(
        "map-without-values",
        {"sources": {"billing": {"fields": {"preferred_channel": {"column": "ch", "transform": "map"}}}}},
        f"{BILLING}.fields.preferred_channel",
        "'map' needs 'values'",
    ),
    case(
        "unknown-canonical-field",
        {"sources": {"billing": {"fields": {"emial": "email2"}}}},
        f"{BILLING}.fields.emial",
        "not a canonical field nor a declared extra attribute",
    ),
    case(
        "consent-with-wrong-transform",
        {"sources": {"billing": {"fields": {"consent_sms": {"column": "sms", "transform": "phone"}}}}},
        f"{BILLING}.fields.consent_sms.transform",
        "['consent', 'map']",
    ),
    case(
        "transform-does-not-fit-field-type",
        {"sources": {"billing": {"fields": {"date_of_birth": {"column": "dob", "transform": "phone"}}}}},
        f"{BILLING}.fields.date_of_birth.transform",
        "date",
    ),
    case(
        "accepts-unmapped-field",
        {"sources": {"billing": {"accepts": ["email", "city"]}}},
        f"{BILLING}.accepts",
        "'city' is not mapped in sources.billing.fields",
    ),
    case(
        "accepts-one-part-of-split-column",
        {"sources": {"billing": {"accepts": ["first_name"]}}},
        f"{BILLING}.accepts",
        "shares column 'full_name' with ['first_name', 'last_name']; accept all of them or none",
    ),
    case(
        "accepts-split-part-whose-partner-is-unmapped",
        {"sources": {"billing": {"fields": {"last_name": DELETE}, "accepts": ["first_name"]}}},
        f"{BILLING}.accepts",
        "full_name",
    ),
    case(
        "accepts-key-column",
        {"sources": {"billing": {"fields": {"city": "id"}, "accepts": ["city"]}}},
        f"{BILLING}.accepts",
        "maps to the key or cursor column 'id'",
    ),
    case(
        "golden-id-column-and-table",
        {"sources": {"billing": {"golden_id": {"column": "hub_id", "table": "hub_ids"}}}},
        f"{BILLING}.golden_id",
        "exactly one of 'column'",
    ),
    case("golden-id-empty", {"sources": {"billing": {"golden_id": {}}}}, f"{BILLING}.golden_id", "exactly one"),
    case(
        "golden-id-table-on-file-source",
        {"sources": {"web": {"golden_id": {"table": "hub_ids"}}}},
        "sources.web",
        "a 'file' source can write the golden id to a column",
    ),
    case(
        "golden-id-column-already-mapped",
        {"sources": {"billing": {"golden_id": {"column": "tel"}}}},
        f"{BILLING}.golden_id.column",
        "'tel' is already a mapped column",
    ),
    case(
        "review-threshold-above-auto-match",
        {"matching": {"auto_match_threshold": 0.8, "review_threshold": 0.9}},
        "matching",
        "review_threshold must not be above auto_match_threshold",
    ),
    case(
        "threshold-above-one",
        {"matching": {"auto_match_threshold": 1.5}},
        "matching.auto_match_threshold",
        "less than or equal to 1",
    ),
    case("chunk-size-zero", {"chunk_size": 0}, "chunk_size", "greater than 0"),
    case(
        "bad-default-region",
        {"sources": {"billing": {"default_region": "XX"}}},
        f"{BILLING}.default_region",
        "'XX' is not a region",
    ),
    case(
        "uppercase-source-name",
        {"sources": {"Billing": BASE["sources"]["billing"]}},
        "sources",
        "source name 'Billing' must be a lowercase identifier",
    ),
    case(
        "source-name-with-dash",
        {"sources": {"web-shop": BASE["sources"]["web"]}},
        "sources",
        "'web-shop' must be a lowercase identifier",
    ),
    case(
        "attribute-clashes-with-canonical-field",
        {"attributes": {"email": "string"}},
        "attributes",
        "extra attribute 'email' clashes with a canonical field",
    ),
    case(
        "attribute-clashes-with-identity-field",
        {"attributes": {"source_key": "string"}},
        "attributes",
        "'source_key' clashes with a canonical field",
    ),
    case("attribute-unknown-type", {"attributes": {"tier": "text"}}, "attributes.tier", "should be 'string'"),
    case("attribute-not-identifier", {"attributes": {"loyalty tier": "string"}}, "attributes", "must be an identifier"),
    case(
        "unparsable-source-url",
        {"sources": {"billing": {"url": "not a url"}}},
        f"{BILLING}.url",
        "not a SQLAlchemy URL",
    ),
    case(
        "unparsable-serving-store-url",
        {"serving_store": "nope"},
        "serving_store",
        "not a SQLAlchemy URL",
    ),
    case("cron-with-four-fields", {"pipeline": {"schedule": "0 2 * *"}}, "pipeline.schedule", "not a cron expression"),
    case("cron-with-words", {"pipeline": {"schedule": "every day"}}, "pipeline.schedule", "not a cron expression"),
    case("unknown-timezone", {"pipeline": {"timezone": "Mars/Olympus"}}, "pipeline.timezone", "IANA time zone"),
    case("unknown-duckdb-crypto", {"encryption": {"duckdb_crypto": "fast"}}, "encryption.duckdb_crypto", "'openssl'"),
    case("key-in-hub-yaml", {"encryption": {"key": "abc"}}, "encryption.key", "unknown key"),
    case(
        "sensor-too-eager",
        {"pipeline": {"sensor_interval_seconds": 5}},
        "pipeline.sensor_interval_seconds",
        "greater than or equal to 30",
    ),
    case("unknown-pipeline-key", {"pipeline": {"cron": "0 2 * * *"}}, "pipeline.cron", "unknown key"),
    case(
        "negative-cursor-tolerance",
        {"pull": {"cursor_tolerance_seconds": -1}},
        "pull.cursor_tolerance_seconds",
        "greater than or equal to 0",
    ),
    case("unknown-pull-key", {"pull": {"reconcile_every": 7}}, "pull.reconcile_every", "unknown key"),
    # -- how a field is read: column, concat, constant, required; tables and queries --
    case(
        "column-and-concat",
        {"sources": {"web": {"fields": {"address_line1": {"column": "a", "concat": ["no", "street"]}}}}},
        "sources.web.fields.address_line1",
        "give exactly one of 'column' (a source column), 'concat' (a list of columns) or 'value' (a constant)",
    ),
    case(
        "no-column-at-all",
        {"sources": {"web": {"fields": {"city": {"transform": "text"}}}}},
        "sources.web.fields.city",
        "give exactly one of 'column'",
    ),
    case(
        "concat-of-one-column",
        {"sources": {"web": {"fields": {"address_line1": {"concat": ["street"]}}}}},
        "sources.web.fields.address_line1",
        "'concat' joins two or more different columns",
    ),
    case(
        "concat-of-the-same-column-twice",
        {"sources": {"web": {"fields": {"address_line1": {"concat": ["street", "street"]}}}}},
        "sources.web.fields.address_line1",
        "two or more different columns",
    ),
    case(
        "sep-without-concat",
        {"sources": {"web": {"fields": {"city": {"column": "town", "sep": " "}}}}},
        "sources.web.fields.city",
        "'sep' goes with 'concat'",
    ),
    case(
        "split-name-of-a-concat",
        {
            "sources": {
                "web": {
                    "fields": {
                        "first_name": {
                            "concat": ["a", "b"],
                            "transform": "split_name",
                            "order": "first_last",
                            "part": "first",
                        }
                    }
                }
            }
        },
        "sources.web.fields.first_name",
        "transform 'split_name' reads one 'column'",
    ),
    case(
        "constant-with-a-transform",
        {"sources": {"web": {"fields": {"country": {"value": "Australia", "transform": "country"}}}}},
        "sources.web.fields.country",
        "a constant 'value' is given in canonical form (e.g. country: {value: AU}): ['transform'] do not apply",
    ),
    case(
        "required-constant",
        {"sources": {"web": {"fields": {"country": {"value": "AU", "required": True}}}}},
        "sources.web.fields.country",
        "['required'] do not apply",
    ),
    case(
        "constant-country-not-alpha-2",
        {"sources": {"web": {"fields": {"country": {"value": "Australia"}}}}},
        "sources.web.fields.country.value",
        "'Australia' is not a canonical country: a constant is given as an ISO 3166 alpha-2 code in capitals",
    ),
    case(
        "constant-country-lower-case",
        {"sources": {"web": {"fields": {"country": {"value": "au"}}}}},
        "sources.web.fields.country.value",
        "alpha-2 code in capitals",
    ),
    case(
        "constant-phone-not-e164",
        {"sources": {"web": {"fields": {"phone": {"value": "020 7946 0018"}}}}},
        "sources.web.fields.phone.value",
        "E.164",
    ),
    case(
        "constant-consent-word",
        {"sources": {"web": {"fields": {"consent_post": {"value": "Y"}}}}},
        "sources.web.fields.consent_post.value",
        "granted, denied or unknown",
    ),
    case(
        "constant-channel",
        {"sources": {"web": {"fields": {"preferred_channel": {"value": "fax"}}}}},
        "sources.web.fields.preferred_channel.value",
        "one of email, sms, phone, post",
    ),
    case(
        "constant-implausible-birth-date",
        {"sources": {"web": {"fields": {"date_of_birth": {"value": "0001-01-01"}}}}},
        "sources.web.fields.date_of_birth.value",
        "a plausible date of birth (1900-01-01 to today)",
    ),
    case(
        "constant-date-not-iso",
        {"sources": {"web": {"fields": {"date_of_birth": {"value": "31/12/1980"}}}}},
        "sources.web.fields.date_of_birth.value",
        "an ISO 8601 date",
    ),
    case(
        "constant-empty",
        {"sources": {"web": {"fields": {"city": {"value": " "}}}}},
        "sources.web.fields.city.value",
        "an empty constant is no value",
    ),
    case(
        "address-transform-on-email",
        {"sources": {"web": {"fields": {"email": {"column": "addr", "transform": "address"}}}}},
        "sources.web.fields.email.transform",
        "'address' cannot produce a email",
    ),
    case(
        "address-transform-with-a-part",
        {"sources": {"web": {"fields": {"city": {"column": "addr", "transform": "address", "part": "first"}}}}},
        "sources.web.fields.city",
        "['part'] do not apply to transform 'address'",
    ),
    case(
        "required-not-a-boolean",
        {"sources": {"web": {"fields": {"email": {"column": "mail", "required": "sometimes"}}}}},
        "sources.web.fields.email.required",
        "valid boolean",
    ),
    case(
        "table-with-two-dots",
        {"sources": {"billing": {"table": "db.sales.customers"}}},
        f"{BILLING}.table",
        "give a table name or schema.table",
    ),
    case(
        "table-with-empty-schema",
        {"sources": {"billing": {"table": ".customers"}}},
        f"{BILLING}.table",
        "give a table name or schema.table",
    ),
    case(
        "table-and-query",
        {"sources": {"billing": {"query": "SELECT * FROM customers"}}},
        BILLING,
        "one of 'table' or 'query'",
    ),
    case(
        "query-that-is-not-a-select",
        {"sources": {"billing": {"table": DELETE, "query": "DELETE FROM customers"}}},
        f"{BILLING}.query",
        "a source query is a read-only SELECT",
    ),
    case(
        "query-on-a-file-source",
        {"sources": {"web": {"query": "SELECT 1"}}},
        "sources.web",
        "(so is 'query')",
    ),
    # -- write-back of what cannot be written back --
    case(
        "query-source-accepts",
        {"sources": {"billing": {"table": DELETE, "query": "SELECT * FROM customers", "accepts": ["email"]}}},
        f"{BILLING}.accepts",
        "a 'query' source is read-only: write-back needs a 'table' to update rows in",
    ),
    case(
        "query-source-golden-id",
        {"sources": {"billing": {"table": DELETE, "query": "SELECT * FROM c", "golden_id": {"column": "gid"}}}},
        f"{BILLING}.golden_id",
        "a 'query' source is read-only",
    ),
    case(
        "accepts-a-concat",
        {"sources": {"web": {"fields": {"address_line1": {"concat": ["no", "street"]}}, "accepts": ["address_line1"]}}},
        "sources.web.accepts",
        "'address_line1' joins the columns ['no', 'street']; one value cannot be split back into them safely",
    ),
    case("memory-no-unit", {"workspace_memory_limit": "3"}, "workspace_memory_limit", "'3' is not a memory size"),
    case(
        "memory-too-little",
        {"workspace_memory_limit": "100MB"},
        "workspace_memory_limit",
        "'100MB' is too little for the workspace: give it at least 256MiB",
    ),
    case(
        "accepts-a-constant",
        {"sources": {"web": {"fields": {"country": {"value": "AU"}}, "accepts": ["country"]}}},
        "sources.web.accepts",
        "'country' is a constant (value: AU), not a source column: there is nothing to write it into",
    ),
    case(
        "accepts-an-address-part",
        {"sources": {"web": {"fields": {"city": {"column": "addr", "transform": "address"}}, "accepts": ["city"]}}},
        "sources.web.accepts",
        "'city' is parsed out of the address in column 'addr'; writing it back would rewrite the whole cell",
    ),
]


@pytest.mark.parametrize(("patch", "key", "fragment"), BAD_CASES)
def test_bad_file_names_the_key_and_the_reason(tmp_path, patch, key, fragment):
    path = write(tmp_path, yaml.safe_dump(patched(patch)))
    err = config_error(path)
    assert err.key == key
    assert fragment in err.reason
    assert err.path == path
    assert f"{key}: " in str(err) and str(path) in str(err)


def test_writeback_policy_resolves_source_then_hub_then_default(tmp_path):
    patch = {"writeback": {"policy": {"email": "correct", "address": "fill"}},
             "sources": {"web": {"policy": {"email": "never"}}}}  # fmt: skip
    cfg = load_config(write(tmp_path, yaml.safe_dump(patched(patch))))
    assert cfg.policy_for("web", "email") == "never"  # the source's own
    assert cfg.policy_for("billing", "email") == "correct"  # hub.yaml's default for every source
    assert cfg.policy_for("billing", "city") == "fill"  # a block field follows `address`
    assert cfg.policy_for("billing", "last_name") == "correct"  # DEFAULT_POLICY
    assert cfg.policy_for("billing", "phone") == "fill"  # not listed anywhere
    assert cfg.policy_for("billing", "consent_email_at") == "correct"  # follows consent_email


def test_invalid_yaml_names_the_line(tmp_path):
    text = "sources:\n  billing:\n    kind: sql\n   url: sqlite:///x.db\n"  # line 4 is mis-indented
    path = write(tmp_path, text)
    err = config_error(path)
    assert err.key == ""
    assert "not valid YAML" in err.reason
    assert "line 4" in err.reason
    assert str(path) in str(err)


def test_unclosed_flow_sequence_is_invalid_yaml(tmp_path):
    err = config_error(write(tmp_path, "sources:\n  web: {kind: file, path: [a.csv\n"))
    assert err.key == ""
    assert "not valid YAML at line" in err.reason


def test_file_not_found(tmp_path):
    path = tmp_path / "missing" / "hub.yaml"
    err = config_error(path)
    assert (err.key, err.reason, err.path) == ("", "file not found", path)
    assert str(path) in str(err)


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "- sources\n", "just a string\n"])
def test_file_that_is_not_a_mapping(tmp_path, text):
    err = config_error(write(tmp_path, text))
    assert err.key == ""
    assert "expected a mapping with at least a 'sources' key" in err.reason


def test_yes_no_on_off_in_value_lists_match_the_source_text(tmp_path):
    from connectors.transforms import to_canonical

    text = """\
sources:
  crm:
    kind: file
    path: crm.csv
    primary_key: id
    fields:
      consent_email: {column: optin, transform: consent, granted: [yes], denied: [no]}
      preferred_channel: {column: channel, transform: map, values: {on: email, off: post}}
"""
    cfg = load_config(write(tmp_path, text))
    src = cfg.sources["crm"]
    raw = pd.DataFrame({"id": ["1", "2"], "optin": ["yes", "no"], "channel": ["on", "off"]})
    records, reasons = to_canonical(raw, src, cfg, "crm")
    assert reasons.isna().all(), list(reasons)
    assert list(records["consent_email"]) == ["granted", "denied"]
    assert list(records["preferred_channel"]) == ["email", "post"]


def test_boolean_true_false_options_can_be_written_unquoted(tmp_path):
    text = """\
attributes: {vip: boolean}
sources:
  crm:
    kind: file
    path: crm.csv
    primary_key: id
    fields:
      vip: {column: is_vip, transform: boolean, true: [J], false: [N]}
"""
    vip = load_config(write(tmp_path, text)).sources["crm"].fields["vip"]
    assert (vip.true, vip.false) == (["J"], ["N"])


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_config_check_bad_file_exits_2_and_names_the_key(tmp_path, capsys):
    path = write(tmp_path, yaml.safe_dump(patched({"sources": {"billing": {"tabel": "x"}}})), "bad.yaml")
    code = main(["config", "check", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "sources.billing.tabel" in err
    assert "unknown key" in err
    assert out == ""


def test_cli_config_check_missing_file_exits_2(tmp_path, capsys):
    code = main(["config", "check", "--config", str(tmp_path / "nope.yaml")])
    assert code == 2
    assert "file not found" in capsys.readouterr().err


def test_cli_config_check_good_file_exits_0(tmp_path, capsys, monkeypatch):
    write(tmp_path, VALID_YAML)
    monkeypatch.chdir(tmp_path)  # --config defaults to ./hub.yaml
    code = main(["config", "check", "--offline"])  # its sources do not exist: tests/test_config_check.py connects
    out, err = capsys.readouterr()
    assert code == 0
    assert "ok" in out and "billing" in out and "web" in out and "not connected" in out
    assert "memory: DuckDB's default" in out
    assert err == ""
    write(tmp_path, "workspace_memory_limit: 3GB\n" + VALID_YAML)
    assert main(["config", "check", "--offline"]) == 0
    assert "(memory: 3GB;" in capsys.readouterr().out
