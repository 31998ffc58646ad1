"""File sources (CSV, Parquet): pull, incremental, quarantine, and push into a separate harmonized file."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from connectors import open_connector, pull_source
from hub.config import HubConfig
from hub.workspace import Workspace

ROWS = pd.DataFrame(
    {
        "cust_id": ["007", "008", "009", "", "011"],
        "first": ["Ann", "Bob", "Cy", "Dee", "Eve"],
        "last": ["Lee", "Ray", "Orr", "Fox", "Moss"],
        "mail": ["ann@x.com", "bob@x.com", "cy@x.com", "dee@x.com", "eve@x.com"],
        "born": ["1980-01-02", "1981-02-03", "not a date", "1983-04-05", "1984-05-06"],
        "updated": ["2024-01-01T10:00:00", "2024-01-02T10:00:00", "2024-01-03T10:00:00", "2024-01-04T10:00:00",
                    "2024-01-05T10:00:00"],
        "loyalty": ["gold", "silver", "gold", "bronze", "none"],
    }
)  # fmt: skip


def write(df: pd.DataFrame, path) -> None:
    if str(path).endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)


def config(path, tmp_path) -> HubConfig:
    return HubConfig.model_validate(
        {
            "workspace": str(tmp_path / "ws.duckdb"),
            "chunk_size": 2,
            "sources": {
                "web": {
                    "kind": "file",
                    "path": str(path),
                    "primary_key": "cust_id",
                    "updated_at": "updated",
                    "fields": {"first_name": "first", "last_name": "last", "email": "mail", "date_of_birth": "born"},
                    "accepts": ["first_name", "email"],
                    "golden_id": {"column": "hub_id"},
                }
            },
        }
    )


@pytest.fixture(params=["csv", "parquet"])
def source(request, tmp_path):
    path = tmp_path / f"customers.{request.param}"
    write(ROWS, path)
    cfg = config(path, tmp_path)
    ws = Workspace.for_config(cfg)
    yield path, cfg, ws
    ws.close()


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pull_keeps_text_keys_quarantines_a_row_without_key_and_keeps_an_unreadable_date(source):
    _path, cfg, ws = source
    result = pull_source(cfg, "web", ws)
    assert (result.rows_read, result.records, result.quarantined, result.warned) == (5, 4, 1, 1)
    staged = ws.staged("web").set_index("source_key")
    assert set(staged.index) == {"007", "008", "009", "011"}  # leading zeros kept
    assert pd.isna(staged.loc["009", "date_of_birth"]) and staged.loc["009", "email"] == "cy@x.com"
    reasons = ws.quarantined("web")
    assert reasons["reason"].tolist() == ["missing primary key 'cust_id'"]
    warned = ws.con.execute('SELECT source_key, field, "column", value FROM field_warnings').fetchall()
    assert warned == [("009", "date_of_birth", "born", "not a date")]


def test_concat_constant_and_a_one_field_address_from_a_file(tmp_path):
    path = tmp_path / "people.csv"
    pd.DataFrame(
        {
            "id": ["1", "2"],
            "title": ["Dr", None],
            "given": ["Ann", "Bob"],
            "family": ["Lee", "Ray"],
            "house": ["12", None],
            "street": ["High St", "Main St"],
            "address": ["12 High St, Leeds, LS1 4AB", "123 Main St\nSpringfield IL 62704"],
        }
    ).to_csv(path, index=False)
    fields = {
        "first_name": {"concat": ["title", "given"]},
        "last_name": "family",
        "address_line1": {"concat": ["house", "street"]},
        "city": {"column": "address", "transform": "address"},
        "postal_code": {"column": "address", "transform": "address"},
        "region": {"column": "address", "transform": "address"},
        "country": {"value": "AU"},
    }
    cfg = HubConfig.model_validate(
        {"workspace": str(tmp_path / "ws.duckdb"),
         "sources": {"web": {"kind": "file", "path": str(path), "primary_key": "id", "fields": fields}}}
    )  # fmt: skip
    ws = Workspace.for_config(cfg)
    assert pull_source(cfg, "web", ws).records == 2
    got = ws.staged("web")[["first_name", "address_line1", "city", "region", "postal_code", "country"]]
    assert got.astype(object).where(got.notna(), None).values.tolist() == [
        ["Ann", "12 High St", "Leeds", None, "LS1 4AB", "AU"],
        ["Bob", "Main St", "Springfield", "IL", "62704", "AU"],
    ]
    ws.close()


def test_incremental_pull_reads_only_rows_after_the_cursor(source):
    path, cfg, ws = source
    pull_source(cfg, "web", ws)
    changed = ROWS.copy()
    changed.loc[1, ["mail", "updated"]] = ["bob@new.com", "2024-02-01T00:00:00"]
    write(changed, path)
    result = pull_source(cfg, "web", ws)
    assert result.mode == "incremental" and result.records == 1
    assert ws.staged("web").set_index("source_key").loc["008", "email"] == "bob@new.com"


def test_push_writes_a_separate_harmonized_file_and_never_the_original(source):
    path, cfg, ws = source
    pull_source(cfg, "web", ws)
    original = sha(path)
    staged = ws.staged("web").set_index("source_key")
    changes = pd.DataFrame(
        {
            "source_key": ["007", "008"],
            "expected_version": staged.loc[["007", "008"], "source_version"].values,
            "email": ["ann@harmonized.com", "bob@x.com"],
            "golden_id": ["G1", "G2"],
        }
    )
    connector = open_connector("web", cfg)
    assert connector.push(changes, dry_run=True).summary()["values_changed"] == 3
    assert not connector.harmonized_path.exists()

    report = connector.push(changes)
    assert report.summary()["values_changed"] == 3
    assert sha(path) == original
    harmonized = connector.harmonized_path
    out = pd.read_parquet(harmonized) if path.suffix == ".parquet" else pd.read_csv(harmonized, dtype=str)
    out = out.set_index("cust_id")
    assert out.loc["007", "mail"] == "ann@harmonized.com" and out.loc["007", "hub_id"] == "G1"
    assert out.loc["008", "mail"] == "bob@x.com" and out.loc["008", "loyalty"] == "silver"
    assert len(out) == len(ROWS)  # every original row, the quarantined one too

    again = connector.push(changes)
    assert again.summary()["values_changed"] == 0 and again.summary()["unchanged"] == 2


def test_push_to_file_detects_a_row_changed_since_pull(source):
    path, cfg, ws = source
    pull_source(cfg, "web", ws)
    staged = ws.staged("web").set_index("source_key")
    changed = ROWS.copy()
    changed.loc[0, ["mail", "updated"]] = ["ann@edited.com", "2024-03-01T00:00:00"]
    write(changed, path)
    changes = pd.DataFrame(
        {"source_key": ["007"], "expected_version": [staged.loc["007", "source_version"]], "email": ["a@b.com"]}
    )
    assert open_connector("web", cfg).push(changes).rows.loc[0, "status"] == "conflict"


def test_change_marker_moves_when_the_file_is_rewritten_but_not_on_write_back(source):
    path, cfg, ws = source
    connector = open_connector("web", cfg)
    quiet = connector.change_marker()
    pull_source(cfg, "web", ws)
    staged = ws.staged("web").set_index("source_key")
    connector.push(
        pd.DataFrame({"source_key": ["007"], "expected_version": [staged.loc["007", "source_version"]],
                      "email": ["ann@harmonized.com"]})
    )  # fmt: skip
    assert connector.change_marker() == quiet  # the harmonized copy is another file
    write(pd.DataFrame(ROWS).head(3), path)
    assert connector.change_marker() != quiet


def test_a_file_row_behind_the_cursor_is_pulled_and_a_removed_row_leaves_staging(source):
    path, cfg, ws = source
    pull_source(cfg, "web", ws)
    late = ROWS.iloc[[0]].assign(cust_id="012", first="Lou", updated="2023-06-01T10:00:00")  # older than the cursor
    write(pd.concat([ROWS[ROWS.cust_id != "008"], late], ignore_index=True), path)
    result = pull_source(cfg, "web", ws)
    assert (result.mode, result.behind_cursor, result.deleted) == ("incremental", 1, 1)
    staged = ws.staged("web").set_index("source_key")
    assert staged.loc["012", "first_name"] == "Lou" and "008" not in staged.index
    assert staged.loc["007", "first_name"] == "Ann"  # a text key keeps its leading zeros when read by key


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_push_to_a_file_with_a_duplicate_key_skips_that_key_and_writes_the_rest(tmp_path, suffix):
    path = tmp_path / f"customers.{suffix}"
    twin = ROWS.iloc[[0]].assign(first="Annie", mail="annie@x.com", updated="2024-01-01T11:00:00")
    write(ROWS, path)
    cfg = config(path, tmp_path)
    ws = Workspace.for_config(cfg)
    pull_source(cfg, "web", ws, full=True)
    staged = ws.staged("web").set_index("source_key")
    ws.close()
    write(pd.concat([ROWS, twin], ignore_index=True), path)  # a second row with key 007 since the pull
    changes = pd.DataFrame(
        {
            "source_key": ["007", "008"],
            "expected_version": staged.loc[["007", "008"], "source_version"].values,
            "email": ["ann@harmonized.com", "bob@harmonized.com"],
            "golden_id": ["G1", "G2"],
        }
    )
    report = open_connector("web", cfg).push(changes)
    assert report.rows.set_index("source_key")["status"].to_dict() == {"007": "ambiguous", "008": "updated"}
    assert set(report.changes["source_key"]) == {"008"}
