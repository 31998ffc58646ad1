"""hub.catalogue: the workspace's table names, their columns and the record id, owned once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from connectors import writeback_basis
from connectors.writeback_plan import ensure_state
from hub import catalogue, echoes
from hub.workspace import Workspace
from matching import models
from matching.run import standardize_records

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("hub", "connectors", "matching", "golden_record", "pipelines", "expectations", "benchmarks")
# Not scanned: the catalogue itself; the serving store and the CLI, which other changes are reshaping (they hold no
# workspace SQL); the store's migrations (serving-store tables).
SKIPPED = ("hub/catalogue.py", "hub/migrations/")
# golden_record/ids.py runs its SQL on a private in-memory connection whose `clusters` is its own argument.
PRIVATE_SQL = ("golden_record/ids.py",)

KEYS = ["1", "a:b", "::", "x:", "Zoë:Ørsted", "名前:キー", " spaced ", "tab\tand'quote"]


@pytest.mark.parametrize("key", KEYS)
def test_a_record_id_round_trips_any_key(key):
    rid = catalogue.record_id("web", key)
    assert rid == f"web:{key}" and catalogue.split_record_id(rid) == ("web", key)


@pytest.mark.parametrize("text", ["web", "web:", ":key", ""])
def test_text_that_is_no_record_id_is_refused(text):
    with pytest.raises(ValueError, match="not a record id"):
        catalogue.split_record_id(text)


def test_the_sql_and_vectorized_forms_agree_with_python():
    con = duckdb.connect()
    frame = pd.DataFrame({"source_system": ["web"] * len(KEYS), "source_key": KEYS})
    con.register("k", frame)
    parts = [catalogue.system_sql("rid"), catalogue.key_sql("rid")]
    parts += [catalogue.of_system_sql("rid", "'web'"), catalogue.of_system_sql("rid", "'we'")]
    rows = con.execute(
        f"SELECT rid, {', '.join(parts)} FROM (SELECT {catalogue.record_id_sql()} AS rid FROM k)"
    ).fetchall()
    assert [r[0] for r in rows] == [catalogue.record_id("web", k) for k in KEYS]
    assert [(r[1], r[2]) for r in rows] == [("web", k) for k in KEYS]
    assert all(r[3] and not r[4] for r in rows)
    ids = catalogue.record_ids(frame["source_system"], frame["source_key"])
    assert ids.tolist() == [r[0] for r in rows]
    assert catalogue.keys_of(ids).tolist() == KEYS


def _declared(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {c: t for c, t, *_ in con.execute(f"DESCRIBE {table}").fetchall()}


def test_the_tables_stages_create_have_the_catalogued_columns():
    ws = Workspace(":memory:")
    try:
        echoes.ensure(ws.con, ws.fields)
        ensure_state(ws)
        writeback_basis.ensure(ws)
        models.versions(ws.con)
        standardize_records(ws)
        for table in (
            catalogue.STAGED,
            catalogue.QUARANTINE,
            catalogue.FIELD_WARNINGS,
            catalogue.CONNECTOR_STATE,
            catalogue.ECHOES,
            catalogue.WRITEBACK_STATE,
            catalogue.WRITEBACK_BASIS,
            catalogue.MATCH_MODELS,
            catalogue.STANDARDIZED,
        ):
            actual = _declared(ws.con, table)
            assert {c: actual.get(c) for c in catalogue.COLUMNS[table]} == catalogue.COLUMNS[table], table
    finally:
        ws.close()


# ------------------------------------------------------------------------------ no module retypes a name

_NAMES = "|".join(re.escape(t) for t in catalogue.TABLES)
_IN_SQL = re.compile(rf"\b(?:FROM|JOIN|INTO|TABLE|UPDATE|DESCRIBE|EXISTS|VIEW)\s+(?:IF NOT EXISTS\s+)?({_NAMES})\b")
_ID_SQL = re.compile(r"source_system\s*\|\|\s*':'|split_part\([^,]+,\s*':'")


def _modules() -> list[Path]:
    paths = [p for stage in STAGES for p in sorted((ROOT / stage).rglob("*.py"))]
    return [p for p in paths if not str(p.relative_to(ROOT)).startswith(SKIPPED)]


def _docstrings(tree: ast.AST) -> set[int]:
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))]
    return {
        id(n.body[0].value)
        for n in nodes
        if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
    }


def _is_separator(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == catalogue.SEPARATOR


def _retyped(path: Path) -> list[str]:
    """Workspace table names and record-id building spelled out in `path`'s code (docstrings and comments aside)."""
    tree = ast.parse(path.read_text())
    docs, found = _docstrings(tree), []
    private = str(path.relative_to(ROOT)) in PRIVATE_SQL
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if not private and (m := _IN_SQL.search(node.value)):
                found.append(f"line {node.lineno}: {m.group(0)!r}")
            if m := _ID_SQL.search(node.value):
                found.append(f"line {node.lineno}: record id built in SQL: {m.group(0)!r}")
        named = [node.value] if isinstance(node, ast.Assign | ast.AnnAssign) else []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            named = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "has_table":
            named = node.args
        found += [f"line {v.lineno}: {v.value!r} as a name" for v in named
                  if isinstance(v, ast.Constant) and v.value in catalogue.TABLES]  # fmt: skip
        sides = (node.left, node.right) if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) else ()
        if any(_is_separator(s) for s in sides):
            found.append(f"line {node.lineno}: record id built with +")
        splits = isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("split", "partition", "rsplit")
        if splits and node.args and _is_separator(node.args[0]):
            found.append(f"line {node.lineno}: record id split by hand")
    return found


def test_the_scan_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        'T = "golden_members"\n'
        'q = f"SELECT * FROM staged_records WHERE x = {1}"\n'
        "r = \"SELECT source_system || ':' || source_key\"\n"
        'i = a + ":" + b\n'
        'k = rid.split(":", 1)\n'
        'def f(t="clusters"): ...\n'
    )
    global ROOT
    root, ROOT = ROOT, tmp_path
    try:
        assert len(_retyped(bad)) == 6
    finally:
        ROOT = root


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_spells_out_a_workspace_table_or_a_record_id(path):
    assert _retyped(path) == []
