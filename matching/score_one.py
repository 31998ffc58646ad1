"""Score a handful of record pairs with a saved Splink model in Python, the way Splink's SQL scores them.

Splink's score for a pair is a sum: the prior's match weight, and per comparison the weight of the first level
whose SQL condition holds (log2 m/u, read from Splink's own level objects) plus its term-frequency adjustment
(weight * (log2 u of the exact level - log2 of the larger term frequency of the two values)). Here each level's
condition (parsed by sqlglot, as Splink parses it) is compiled once into a Python function of the two records, with
SQL's three-valued logic (None is NULL), and the functions Splink's comparison library writes: jaro_winkler_similarity
and damerau_levenshtein (rapidfuzz's, the algorithms DuckDB's come from), levenshtein, year, month, contains,
replace, regexp_extract, try_cast, lower, upper, substring. A model with a condition outside that raises
Unsupported when the scorer is built (matching.entry then scores in DuckDB). tests/test_score_one.py checks the
weights, levels and probabilities against Splink's score_pairs on thousands of pairs within 1e-9.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlglot
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein
from splink.internals.misc import prob_to_match_weight
from splink.internals.settings_creator import SettingsCreator
from sqlglot import exp

Record = dict[str, Any]


class Unsupported(ValueError):
    """A level's SQL uses something this evaluator does not implement."""


def _jaro_winkler(a: str, b: str) -> float:
    return 0.0 if not a or not b else float(JaroWinkler.similarity(a, b))


def _try_bigint(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except ValueError:
        return None


def _regexp_extract(s: str, pattern: str, group: int = 0) -> str:
    m = re.search(pattern, s)
    return (m.group(group) or "") if m else ""


def _substring(s: str, start: int, length: int | None = None) -> str:
    begin = max(start - 1, 0)
    return s[begin:] if length is None else s[begin : begin + length]


# name -> (function of non-NULL arguments; NULL in gives NULL out)
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "jarowinklersimilarity": _jaro_winkler,
    "jaro_winkler_similarity": _jaro_winkler,
    "damerau_levenshtein": lambda a, b: DamerauLevenshtein.distance(a, b),
    "levenshtein": lambda a, b: Levenshtein.distance(a, b),
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "contains": lambda a, b: b in a,
    "replace": lambda s, a, b: s.replace(a, b),
    "regexpextract": _regexp_extract,
    "lower": str.lower,
    "upper": str.upper,
    "substring": _substring,
}
# the arguments each function takes, by sqlglot's names for them (an Anonymous function's are its expressions)
_ARGS = {"regexpextract": ("this", "expression", "group"), "replace": ("this", "expression", "replacement"),
         "substring": ("this", "start", "length")}  # fmt: skip
_COMPARE: dict[type[exp.Expression], str] = {exp.EQ: "==", exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<",
                                              exp.LTE: "<="}  # fmt: skip


class _Source:
    """A comparison's levels as the source of one Python function `choose(l, r)` -> the index of the first level
    whose condition is TRUE: one call per comparison instead of a closure per SQL node (issue 16's profile). An
    expression's value is its SQL value, None for NULL; the temporaries (_0, _1, ...) hold operands once."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"_try_bigint": _try_bigint}
        self._temps = 0

    def _temp(self) -> str:
        self._temps += 1
        return f"_{self._temps}"

    def _nulls(self, operands: list[str]) -> tuple[str, list[str]]:
        """`None if <any operand is NULL, evaluated left to right, stopping at the first>` and the temporaries."""
        temps = [self._temp() for _ in operands]
        if not operands:
            return "False", temps
        test = " or ".join(f"({t} := {o}) is None" for t, o in zip(temps, operands, strict=True))
        return test, temps

    def expr(self, node: Any) -> str:
        """`node` (a sqlglot expression) as a Python expression of the records `l` and `r`."""
        if isinstance(node, exp.Paren):
            return self.expr(node.this)
        if isinstance(node, exp.Column):
            name = node.name
            if name.endswith("_l") or name.endswith("_r"):
                return f"{name[-1]}.get({name[:-2]!r})"
            raise Unsupported(f"column {name} is neither _l nor _r")
        if isinstance(node, exp.Literal):
            value: Any = node.this if node.is_string else (float(node.this) if "." in node.this else int(node.this))
            return repr(value)
        if isinstance(node, exp.Null):
            return "None"
        if isinstance(node, exp.Boolean):
            return repr(bool(node.this))
        if isinstance(node, exp.And | exp.Or):
            a, b = self.expr(node.left), self.expr(node.right)
            x, y = self._temp(), self._temp()
            # AND: FALSE if either side is; OR: TRUE if either side is; else NULL if either is NULL
            decided, other = ("False", "True") if isinstance(node, exp.And) else ("True", "False")
            return (
                f"({decided} if ({x} := {a}) is {decided} else ({decided} if ({y} := {b}) is {decided} "
                f"else (None if {x} is None or {y} is None else {other})))"
            )
        if isinstance(node, exp.Not):
            t = self._temp()
            return f"(None if ({t} := {self.expr(node.this)}) is None else not {t})"
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            return f"({self.expr(node.this)} is None)"
        if type(node) in _COMPARE:
            test, (x, y) = self._nulls([self.expr(node.this), self.expr(node.expression)])
            return f"(None if {test} else {x} {_COMPARE[type(node)]} {y})"
        if isinstance(node, exp.TryCast):
            target = node.to.this
            if target not in (exp.DataType.Type.BIGINT, exp.DataType.Type.INT):
                raise Unsupported(f"try_cast to {target}")
            t = self._temp()
            return f"(None if ({t} := {self.expr(node.this)}) is None else _try_bigint({t}))"
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else type(node).__name__).lower()
            if name not in _FUNCTIONS:
                raise Unsupported(f"function {node.sql(dialect='duckdb')}")
            if isinstance(node, exp.Anonymous):
                given = list(node.expressions)
            else:
                names = _ARGS.get(name, ("this", "expression"))
                extra = [k for k, v in node.args.items() if isinstance(v, exp.Expression) and k not in names]
                if extra:
                    raise Unsupported(f"{node.sql(dialect='duckdb')}: arguments {extra}")
                given = [node.args.get(k) for k in names]
                while given and given[-1] is None:
                    given.pop()
            self.names[f"_fn_{name}"] = _FUNCTIONS[name]
            test, temps = self._nulls([self.expr(a) for a in given])
            return f"(None if {test} else _fn_{name}({', '.join(temps)}))"
        raise Unsupported(f"SQL construct {type(node).__name__}: {node.sql(dialect='duckdb')}")


@dataclass(frozen=True)
class Level:
    gamma: int
    weight: float
    tf_column: str | None  # the level's term-frequency adjustment: column, weight, log2 u of the exact level, floor
    tf_weight: float
    tf_log2_u: float
    tf_min_u: float


@dataclass(frozen=True)
class Comparison:
    name: str
    levels: list[Level]  # in Splink's CASE order: the null level first, then from the strongest down
    choose: Callable[[Record, Record], int]  # the index in `levels` of the level a pair falls in
    keys: tuple[str, str, str]  # the names of its gamma_, mw_ and mw_tf_adj_ columns


class PairScorer:
    """One saved model's comparisons, compiled once."""

    def __init__(self, model: dict[str, Any]):
        settings = SettingsCreator.from_path_or_dict(model).get_settings("duckdb")
        self.prior_weight = prob_to_match_weight(model["probability_two_random_records_match"])
        self.comparisons = []
        for cc in settings.comparisons:
            levels, source = [], _Source()
            lines = ["def choose(l, r):"]
            for i, lvl in enumerate(cc.comparison_levels):
                weight = lvl._match_weight
                if weight is None:
                    raise Unsupported(f"{cc.output_column_name}: a level without m and u")
                tf = lvl._has_tf_adjustments and lvl._tf_adjustment_weight != 0 and not lvl._is_else_level
                tf = tf and not lvl.is_null_level
                if lvl._is_else_level:
                    lines.append(f"    return {i}")
                else:
                    sql = sqlglot.parse_one(lvl.sql_condition, read="duckdb")
                    lines.append(f"    if {source.expr(sql)} is True:\n        return {i}")
                levels.append(
                    Level(
                        gamma=lvl.comparison_vector_value,
                        weight=float(weight),
                        tf_column=lvl._tf_adjustment_column if tf else None,
                        tf_weight=float(lvl._tf_adjustment_weight) if tf else 0.0,
                        tf_log2_u=math.log2(lvl._u_probability_corresponding_to_exact_match(cc.comparison_levels))
                        if tf
                        else 0.0,
                        tf_min_u=float(lvl._tf_minimum_u_value) if tf else 0.0,
                    )
                )
            exec("\n".join(lines), source.names)  # column names and literals are quoted by _Source
            name = cc.output_column_name
            keys = (f"gamma_{name}", f"mw_{name}", f"mw_tf_adj_{name}")
            self.comparisons.append(Comparison(name, levels, source.names["choose"], keys))

    def score(self, left: Record, right: Record) -> dict[str, Any]:
        """match_weight, match_probability, and per comparison gamma_, mw_ and mw_tf_adj_ (Splink's column names).
        The records hold the standardized columns and tf_<column> term frequencies."""
        return self.weigh(left, right, self.levels(left, right))

    def levels(self, left: Record, right: Record) -> list[Level]:
        """The level the pair falls in, per comparison: what `weigh` needs, and which of them read a term
        frequency (Level.tf_column), so that only those values need looking up."""
        return [c.levels[c.choose(left, right)] for c in self.comparisons]

    def weigh(self, left: Record, right: Record, levels: list[Level]) -> dict[str, Any]:
        """`score` of a pair whose `levels` are known: the records need tf_<column> only for the levels that
        have a term-frequency adjustment."""
        out: dict[str, Any] = {}
        total = self.prior_weight
        for c, level in zip(self.comparisons, levels, strict=True):
            tf_adj = 0.0
            if level.tf_column is not None:
                tf_l, tf_r = left.get(f"tf_{level.tf_column}"), right.get(f"tf_{level.tf_column}")
                if tf_l is not None or tf_r is not None:
                    tf = max(v for v in (tf_l, tf_r, level.tf_min_u) if v is not None)
                    tf_adj = level.tf_weight * (level.tf_log2_u - math.log2(tf))
            gamma, mw, mw_tf = c.keys
            out[gamma], out[mw], out[mw_tf] = level.gamma, level.weight, tf_adj
            total += level.weight  # in the order Splink's SQL adds them
            total += tf_adj
        out["match_weight"] = total
        out["match_probability"] = (
            1.0 / (1.0 + math.pow(2.0, -total)) if total >= 0 else math.pow(2.0, total) / (1.0 + math.pow(2.0, total))
        )
        return out


def as_date(value: Any) -> date | None:
    """A date of birth as the standardizer takes it (a date, a datetime or pandas' Timestamp; NaT/None: None)."""
    if value is None or value != value:  # NaN / NaT
        return None
    return value.date() if hasattr(value, "date") and callable(value.date) else value
