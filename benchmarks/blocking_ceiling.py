"""The blocking ceiling: the share of true matching pairs that the blocking rules ever compare, and
how many comparisons the rules generate. No score can find a pair that blocking never compares, so
this caps recall whatever the comparisons and the model do.

Computed independently of the matcher's own run: each rule's SQL (Splink's `l.`/`r.` join
condition) is evaluated in DuckDB over the true pairs of a table of standardized records, and
over all record pairs for the comparison count. Comparisons are deduplicated the way Splink
does it: a pair counts under the first rule that generates it (rule i keeps the pairs where no
earlier rule is true, NULL counting as false), within `l.unique_id < r.unique_id` (dedupe).
What a rule is worth, whatever its place in the order: the true pairs only it compares (the ceiling
drops by these without it) and the pairs only it generates (the comparisons saved without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb


@dataclass(frozen=True)
class RuleFigures:
    sql: str
    true_pairs: int  # true pairs this rule compares (alone)
    first_true_pairs: int  # true pairs this rule is the first to compare
    only_true_pairs: int  # true pairs no other rule compares
    comparisons: int  # pairs this rule adds after the earlier rules (Splink's count)
    only_comparisons: int  # pairs no other rule generates


@dataclass(frozen=True)
class BlockingFigures:
    true_pairs: int  # true pairs among the records
    compared: int  # true pairs some rule compares
    comparisons: int  # record pairs the rules generate, each counted once
    rules: list[RuleFigures]
    source: str  # where the rules came from

    @property
    def ceiling(self) -> float:
        return self.compared / self.true_pairs if self.true_pairs else 1.0


def rule_sqls(model: dict[str, Any]) -> tuple[list[str], str]:
    """The prediction blocking rules of a saved Splink model (what predict ran with) as DuckDB join conditions,
    and where they came from."""
    rules = model.get("blocking_rules_to_generate_predictions") or []
    return [r["blocking_rule"] if isinstance(r, dict) else str(r) for r in rules], "the saved model"


def _hit(sql: str) -> str:
    return f"coalesce(({sql}), false)"


def evaluate(
    con: duckdb.DuckDBPyConnection,
    records: str,
    true_pairs: str,
    rules: list[str],
    source: str = "given",
    id_column: str = "unique_id",
) -> BlockingFigures:
    """Blocking figures for `rules` over the table `records` (one row per record, `id_column` its id)
    and the relation `true_pairs` (id_l, id_r; either order; pairs of records not in `records` are
    ignored)."""
    hits = ", ".join(f"{_hit(sql)} AS r{i}" for i, sql in enumerate(rules)) or "false AS r_none"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _blocking_truth AS
            SELECT {hits}
            FROM (SELECT DISTINCT least(id_l, id_r) AS id_l, greatest(id_l, id_r) AS id_r FROM {true_pairs}) AS p
            JOIN {records} AS l ON l.{id_column} = p.id_l
            JOIN {records} AS r ON r.{id_column} = p.id_r"""
    )
    n = len(rules)
    any_hit = " OR ".join(f"r{i}" for i in range(n)) or "false"
    firsts = [" AND ".join([f"r{i}", *(f"NOT r{j}" for j in range(i))]) for i in range(n)]
    onlys = [" AND ".join([f"r{i}", *(f"NOT r{j}" for j in range(n) if j != i)]) for i in range(n)]
    counts = ", ".join(
        [f"count(*) FILTER (WHERE r{i})" for i in range(n)] + [f"count(*) FILTER (WHERE {f})" for f in firsts + onlys]
    )
    row = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {any_hit}){', ' + counts if n else ''} FROM _blocking_truth"
    ).fetchall()[0]
    con.execute("DROP TABLE _blocking_truth")
    total, compared, alone, first, only = row[0], row[1], row[2 : 2 + n], row[2 + n : 2 + 2 * n], row[2 + 2 * n :]
    figures = [
        RuleFigures(
            sql,
            alone[i],
            first[i],
            only[i],
            comparisons(con, records, rules, i, id_column),
            comparisons(con, records, rules, i, id_column, only=True),
        )
        for i, sql in enumerate(rules)
    ]
    return BlockingFigures(total, compared, sum(f.comparisons for f in figures), figures, source)


def comparisons(
    con: duckdb.DuckDBPyConnection,
    records: str,
    rules: list[str],
    i: int,
    id_column: str = "unique_id",
    only: bool = False,
) -> int:
    """Pairs rule i generates that no earlier rule did (Splink's `AND NOT (earlier rules)`), or with `only`
    that no other rule does."""
    others = " OR ".join(_hit(sql) for j, sql in enumerate(rules) if j < i or (only and j != i))
    exclude = f"AND NOT ({others})" if others else ""
    return con.execute(
        f"""SELECT count(*) FROM {records} AS l JOIN {records} AS r ON ({rules[i]})
            WHERE l.{id_column} < r.{id_column} {exclude}"""
    ).fetchall()[0][0]


def never_compared_sql(rules: list[str]) -> str:
    """A condition over `l`/`r` that is true where no rule compares the pair (for listing misses)."""
    return "NOT (" + (" OR ".join(_hit(sql) for sql in rules) or "false") + ")"


def report(figures: BlockingFigures) -> str:
    """The figures as text: the ceiling, the comparison count, then per rule."""
    lines = [
        f"blocking ceiling {figures.ceiling:.4f}: {figures.compared:,} of {figures.true_pairs:,} true pairs compared; "
        f"{figures.comparisons:,} comparisons (rules from {figures.source})",
        f"  {'true pairs':>10} {'first':>7} {'only':>6} {'comparisons':>12} {'only':>10}  rule",
    ]
    lines += [
        f"  {r.true_pairs:>10,} {r.first_true_pairs:>7,} {r.only_true_pairs:>6,} {r.comparisons:>12,} "
        f"{r.only_comparisons:>10,}  {r.sql}"
        for r in figures.rules
    ]
    return "\n".join(lines)
