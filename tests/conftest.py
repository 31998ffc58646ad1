"""Shared fixtures: real database servers as source systems, one fresh database per test.

Server tests skip with a reason naming the URL when a server is not reachable, except where
HUB_REQUIRE_SERVERS=1 (CI sets it): there a missing server fails the test instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import settings

# Property tests draw the same examples on every run and machine (derived from each test's name, no example
# database), and a slow example on a busy CI machine is not a failure.
settings.register_profile("house", derandomize=True, database=None, deadline=None)
settings.load_profile("house")

POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("HUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _server_or_skip(url: str, what: str) -> sa.Engine:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except Exception as exc:
        message = f"{what} not reachable at {url} ({type(exc).__name__}); set HUB_TEST_{what.upper()}_URL"
        if os.environ.get("HUB_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{message} — HUB_REQUIRE_SERVERS=1, so server tests must not be skipped")
        pytest.skip(message)
    return engine


def _fresh_database(url: str, what: str, quote: str, drop_suffix: str = "") -> Iterator[str]:
    """A new, empty database on the server for one test, dropped afterwards."""
    admin = _server_or_skip(url, what)
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {quote}{name}{quote}")
    yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{drop_suffix}")
    admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _fresh_database(POSTGRES_URL, "postgres", '"', " WITH (FORCE)")


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    yield from _fresh_database(MARIADB_URL, "mariadb", "`")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'source.db'}"


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def source_url(request) -> str:
    """The same test against each SQL backend the hub supports."""
    if request.param != "sqlite":
        request.applymarker(getattr(pytest.mark, request.param))
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(params=["sqlite", "postgres"])
def store_engine(request, tmp_path) -> Iterator[sa.Engine]:
    """A new, migrated serving store on each backend the store supports."""
    from hub import store

    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'serving.db'}"
    engine = store.open_store(url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _sigterm_restored() -> Iterator[None]:
    """SIGTERM as it was before each test, after it. Dagster maps SIGTERM to SIGINT's handler when an in-process run
    ends (pipelines/run.py puts it back for the runs it starts): a test running a job directly would otherwise leave
    SIGTERM ignored (SIGINT is, in a suite started in the background) for every later test in its process, whose
    Dagster log capture then waits 30 s per step for a `tail` it cannot stop."""
    from pipelines.run import sigterm_kept

    with sigterm_kept():
        yield


@pytest.fixture(autouse=True)
def _no_hub_config(monkeypatch) -> None:
    """`hub` takes --config's default from $HUB_CONFIG: one set in the developer's shell must not steer the tests."""
    monkeypatch.delenv("HUB_CONFIG", raising=False)


_HUB_YAML_INSTANCE: list = []  # pipelines.run.instance_for as the hub has it, while the session replaces it


@pytest.fixture(scope="session", autouse=True)
def _runs_recorded_in_memory() -> Iterator[None]:
    """Pipeline runs in this process record their Dagster events in memory, not in the instance hub.yaml names (the
    demo's SQLite instance commits each event on its own: ~1.3 s of a small demo's ~5 s run). A module that reads
    what runs leave in the instance uses `hub_yaml_dagster_instance`. Runs in other processes (`hub run` killed at a
    fault point, `make demo`) are untouched."""
    import dagster as dg

    from pipelines import run

    _HUB_YAML_INSTANCE.append(run.instance_for)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run, "instance_for", lambda _cfg: dg.DagsterInstance.ephemeral())
        yield


@pytest.fixture(scope="module")
def hub_yaml_dagster_instance() -> Iterator[None]:
    """Runs recorded where the hub records them ($DAGSTER_HOME, else hub.yaml's `pipeline.dagster_home`)."""
    from pipelines import run

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run, "instance_for", _HUB_YAML_INSTANCE[0])
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files first: `make test` hands whole files to its workers in this order (pytest-xdist,
    --dist loadfile --no-loadscope-reorder), so the longest start early and the workers end together. A file's weight
    is the largest `seconds` of its `slow` marks (`pytest.mark.slow(seconds=90)`: about how long it takes on a quiet
    core; a bare `slow` counts as 10); files without one follow in collection order, each file's tests in theirs."""
    weight: dict[object, float] = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark is not None:
            weight[item.path] = max(weight.get(item.path, 0.0), float(mark.kwargs.get("seconds", 10)))
    items.sort(key=lambda item: -weight.get(item.path, 0.0))
