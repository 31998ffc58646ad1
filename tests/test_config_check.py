"""`hub config check` connects: a wrong table, column, key, updated-at column, golden-id target, host, port, database
or serving store is one line naming its hub.yaml key (exit code 2), on SQLite, PostgreSQL and MariaDB; and a
connection failure is one line, never a traceback, in `hub pull`, `hub run` and `hub serve` too."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

import tests.source_fixture as fx
from pipelines.entry import main


def write_config(tmp_path: Path, url: str, **block: object) -> Path:
    """A hub.yaml for the fixture's `customers` table at `url`; `block` overrides keys of its source block
    (`fields` entries are merged), `serving_store` the store."""
    cfg = fx.hub_config(url, tmp_path, golden_id={"column": "golden_ref"}).model_dump(mode="json", exclude_unset=True)
    src = cfg["sources"]["crm"]
    store = block.pop("serving_store", f"sqlite:///{tmp_path / 'serving.db'}")
    src["fields"] |= block.pop("fields", {})
    src |= block
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({**cfg, "serving_store": store}))
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["config", "check", "--config", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.splitlines()


def unreachable(url: str) -> dict[str, str]:
    """The same server with a closed port, a database that does not exist, and (MariaDB: a wrong password,
    PostgreSQL: a role that does not exist; the test server trusts every password)."""
    u = sa.make_url(url)
    return {
        "port": u.set(port=1).render_as_string(hide_password=False),
        "database": u.set(database="no_such_db").render_as_string(hide_password=False),
        "credentials": (u.set(password="wrong") if u.get_backend_name() == "mysql" else u.set(username="nobody"))
        .render_as_string(hide_password=False),
    }  # fmt: skip


def test_a_source_that_fits_its_block_is_ok(source_url, tmp_path, capsys):
    fx.create_source(source_url).dispose()
    assert main(["config", "check", "--config", str(write_config(tmp_path, source_url))]) == 0
    assert "every source and the serving store connected" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("block", "key", "fragment"),
    [
        ({"table": "custmers"}, "sources.crm.table", "table 'custmers' not found"),
        ({"primary_key": "ident"}, "sources.crm.primary_key", "no column 'ident' in table 'customers'"),
        ({"updated_at": "modified"}, "sources.crm.updated_at", "(did you mean 'modified_at'?)"),
        ({"fields": {"email": "e_mail"}}, "sources.crm.fields.email.column", "no column 'e_mail' in table 'customers'"),
        ({"golden_id": {"column": "hub_id"}}, "sources.crm.golden_id.column", "no column 'hub_id'"),
        ({"golden_id": {"table": "orders"}}, "sources.crm.golden_id.table", "is not a hub golden-id table"),
        ({"table": None, "accepts": [], "golden_id": None, "query": "SELECT * FROM nowhere"}, "sources.crm.query",
         "the database refused it"),
    ],
)  # fmt: skip
def test_each_mismatch_is_one_line_naming_its_key(source_url, tmp_path, capsys, block, key, fragment):
    fx.create_source(source_url).dispose()
    code, lines = check(write_config(tmp_path, source_url, **block), capsys)
    assert code == 2
    [line] = lines
    assert line.startswith(f"error: {tmp_path / 'hub.yaml'}: {key}: ") and fragment in line


def test_every_problem_gets_its_own_line(sqlite_url, tmp_path, capsys):
    fx.create_source(sqlite_url).dispose()
    path = write_config(tmp_path, sqlite_url, primary_key="ident", fields={"email": "e_mail", "phone": "tel"})
    code, lines = check(path, capsys)
    assert code == 2
    assert [line.split(": ")[2] for line in lines] == [
        "sources.crm.primary_key", "sources.crm.fields.email.column", "sources.crm.fields.phone.column",
    ]  # fmt: skip


@pytest.mark.parametrize("server", ["postgres", "mariadb"])
@pytest.mark.parametrize("wrong", ["port", "database", "credentials"])
def test_a_server_that_cannot_be_reached_is_one_line(request, tmp_path, capsys, server, wrong):
    url = request.getfixturevalue(f"{server}_url")
    fx.create_source(url).dispose()
    code, lines = check(write_config(tmp_path, unreachable(url)[wrong]), capsys)
    assert code == 2
    [line] = lines
    assert f"sources.crm.url: cannot connect to {sa.make_url(url).get_backend_name()}" in line
    assert "password=" not in line and ":wrong@" not in line


def test_a_sqlite_source_that_is_not_there_is_named_and_not_created(tmp_path, capsys):
    missing = tmp_path / "nowhere.db"
    code, [line] = check(write_config(tmp_path, f"sqlite:///{missing}"), capsys)
    assert code == 2 and f"sources.crm.url: no SQLite database at '{missing}'" in line
    assert not missing.exists()


@pytest.mark.postgres
def test_an_unreachable_serving_store_is_one_line(sqlite_url, postgres_url, tmp_path, capsys):
    fx.create_source(sqlite_url).dispose()
    store = unreachable(postgres_url)["database"]
    code, [line] = check(write_config(tmp_path, sqlite_url, serving_store=store), capsys)
    assert code == 2 and "serving_store: cannot connect to postgresql" in line and "no_such_db" in line


@pytest.mark.postgres
def test_other_commands_report_a_connection_failure_in_one_line(sqlite_url, postgres_url, tmp_path, capsys):
    fx.create_source(sqlite_url).dispose()
    bad_source = write_config(tmp_path, unreachable(postgres_url)["port"])
    assert main(["pull", "--config", str(bad_source)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "sources.crm.url: cannot connect to postgresql" in line

    (tmp_path / "store").mkdir()
    store = sa.make_url(unreachable(postgres_url)["port"]).set(password="s3cret").render_as_string(hide_password=False)
    bad_store = write_config(tmp_path / "store", sqlite_url, serving_store=store)
    assert main(["serve", "--config", str(bad_store), "--port", "1"]) == 2  # fails before it listens
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: serving_store: cannot connect to postgresql+psycopg://postgres:***@")
    assert "s3cret" not in err

    assert (
        main(
            ["run", "--config", str(write_config(tmp_path, unreachable(postgres_url)["port"])), "--log-level", "ERROR"]
        )
        == 1
    )
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Stack Trace" not in captured.err
    failures = [line for line in captured.err.splitlines() if "STEP_FAILURE" in line]
    assert len(failures) == 1 and "sources.crm.url: cannot connect to postgresql" in failures[0]
    assert "error in raw_crm: sources.crm.url: cannot connect to postgresql" in captured.out
