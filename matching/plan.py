"""The match plan: which comparisons, blocking keys and training rules a model is built from.

Built from what the records populate (matching/profile.py) and from hub.yaml's `matching:` block, so data without
e-mails (or phones, or addresses) gets a model without them instead of a training error, and a user can say
exactly what to compare. Rules:
1. Comparisons: those hub.yaml lists (with the levels it names), else every comparison in the library
   (matching/settings.py) whose key columns the records fill (MIN_SHARE); a level is kept only where its columns
   are filled. Term frequencies follow the library unless hub.yaml says otherwise.
2. Blocking: hub.yaml's rules, else the library's candidate keys whose columns are filled, in order, while their
   estimated candidate pairs stay within the budget (PAIRS_PER_RECORD per record, at least MIN_PAIRS): small data
   sets afford broad keys (a date of birth alone) that large ones leave out. What is left out is said.
3. Training: hub.yaml's EM rules, else the library's, chosen so that every comparison is estimated by at least two
   sessions whose rule does not use it (one where only one exists); a session with too few pairs is skipped.
   Deterministic rules (where the share of matching pairs starts from): hub.yaml's, else the library's whose
   columns are filled.
An impossible choice (an unknown comparison, level or column) is a ConfigError naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
from splink import SettingsCreator

from hub.config import ConfigError, HubConfig, LinkType
from hub.model import CANONICAL_FIELDS
from matching import settings
from matching.profile import Profile, from_config, profile
from matching.settings import COMPARISONS, Rule
from matching.standardize import STD_COLUMNS

if TYPE_CHECKING:  # splink exports these types only from its internals
    from splink.internals.blocking_rule_creator import BlockingRuleCreator
    from splink.internals.comparison_creator import ComparisonCreator

PAIRS_PER_RECORD = 5  # candidate pairs per record the blocking keys may generate together
MIN_PAIRS = 2_000_000  # below this, any number of keys: small data sets afford broad ones
MIN_TRAINING_PAIRS = 50  # an EM session on fewer pairs estimates nothing
SESSIONS_PER_COMPARISON = 2
COLUMNS = frozenset([*STD_COLUMNS, *(f.name for f in CANONICAL_FIELDS)])


@dataclass(frozen=True)
class PlannedComparison:
    name: str
    levels: tuple[str, ...]
    term_frequencies: bool


@dataclass(frozen=True)
class MatchPlan:
    link_type: LinkType
    comparisons: tuple[PlannedComparison, ...]
    blocking: tuple[Rule, ...]
    training: tuple[Rule, ...]
    deterministic: tuple[Rule, ...]
    prior: float = 0.0001  # the share of matching pairs to start from; training estimates the real one
    notes: tuple[str, ...] = ()  # what was left out, and why
    pairs: dict[str, int] = field(default_factory=dict)  # estimated candidate pairs per blocking rule

    def describe(self) -> str:
        """The plan as `hub config check` prints it."""
        lines = [f"link type: {self.link_type}", "comparisons:"]
        lines += [f"  {c.name}: {', '.join(c.levels)}" + (" (term frequencies)" if c.term_frequencies else "")
                  for c in self.comparisons]  # fmt: skip
        lines.append("blocking rules:")
        for r in self.blocking:
            n = f"  (~{self.pairs[r.name]:,} pairs)" if r.name in self.pairs else ""
            lines.append(f"  {r.name}: {r.condition()}{n}")
        lines.append("training (EM sessions): " + ", ".join(r.name for r in self.training))
        lines.append("deterministic rules: " + ", ".join(r.name for r in self.deterministic))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def splink_settings(self) -> SettingsCreator:
        """Splink settings for this plan."""
        comparisons: list[ComparisonCreator | dict[str, Any]] = [
            settings.comparison(COMPARISONS[c.name], c.levels, c.term_frequencies) for c in self.comparisons
        ]
        # Across sources only: Splink tells the sides apart by the source column (one table, no composite ids needed
        # for deduplication).
        sources: dict[str, Any] = (
            {"source_dataset_column_name": settings.SOURCE} if self.link_type != "dedupe_only" else {}
        )
        blocking: list[BlockingRuleCreator | dict[str, Any]] = [r.splink() for r in self.blocking]
        return SettingsCreator(
            link_type=self.link_type,
            unique_id_column_name=settings.RECORD_ID,
            **sources,
            comparisons=comparisons,
            blocking_rules_to_generate_predictions=blocking,
            probability_two_random_records_match=self.prior,
            retain_intermediate_calculation_columns=True,
            retain_matching_columns=True,
        )


def for_config(cfg: HubConfig) -> MatchPlan:
    """The plan as hub.yaml alone draws it (a field some source maps counts as filled): `hub config check`."""
    return make_plan(cfg, from_config(cfg))


def for_records(cfg: HubConfig, con: duckdb.DuckDBPyConnection, table: str) -> MatchPlan:
    """The plan for the standardized records in `table`: profiled, and blocking keys sized by their pairs."""
    return make_plan(cfg, profile(con, table), lambda rule: _pairs(con, table, rule))


def make_plan(cfg: HubConfig, prof: Profile, pairs: Callable[[Rule], int | None] | None = None) -> MatchPlan:
    m = cfg.matching
    notes: list[str] = []
    comparisons = _comparisons(m.comparisons, prof, notes)
    if not comparisons:
        raise ConfigError("matching.comparisons", "no comparison has data: map at least names, a date of birth, "
                          "an email, a phone or an address")  # fmt: skip
    counted: dict[str, int] = {}
    blocking = _blocking(m.blocking_rules, prof, pairs, counted, notes)
    if not blocking:
        raise ConfigError("matching.blocking_rules", "no blocking rule can be used with the fields the records fill")
    training = _training(m.training.em_blocking_rules, comparisons, prof, pairs, notes)
    deterministic = _rules(m.training.deterministic_rules, "matching.training.deterministic_rules", "deterministic")
    if deterministic is None:
        deterministic = tuple(r for r in settings.DETERMINISTIC if prof.has(*r.columns))
    return MatchPlan(m.link_type, comparisons, blocking, training, deterministic, notes=tuple(notes), pairs=counted)


def _comparisons(given: dict | None, prof: Profile, notes: list[str]) -> tuple[PlannedComparison, ...]:
    out = []
    if given is None:
        for spec in COMPARISONS.values():
            if not any(prof.has(c) for c in spec.key_columns):
                one_value = set(spec.key_columns) <= prof.constant
                why = "every record holds the same value in" if one_value else "no record fills"
                notes.append(f"comparison {spec.name} left out: {why} {', '.join(spec.key_columns)}")
                continue
            levels = tuple(lvl.name for lvl in spec.levels if prof.has(*lvl.columns))
            out.append(PlannedComparison(spec.name, levels, any(lvl.tf_column for lvl in spec.levels)))
        return tuple(out)
    for name, options in given.items():
        key = f"matching.comparisons.{name}"
        if name not in COMPARISONS:
            raise ConfigError(key, f"unknown comparison (one of {', '.join(COMPARISONS)})")
        spec = COMPARISONS[name]
        wanted = tuple(options.levels) if options and options.levels else spec.level_names()
        if unknown := [lvl for lvl in wanted if lvl not in spec.level_names()]:
            raise ConfigError(f"{key}.levels", f"unknown level(s) {unknown} (one of {', '.join(spec.level_names())})")
        levels = tuple(lvl.name for lvl in spec.levels if lvl.name in wanted and prof.has(*lvl.columns))
        if not levels:
            raise ConfigError(key, f"the records fill none of {', '.join(spec.key_columns)}")
        tf = options.term_frequencies if options and options.term_frequencies is not None else any(
            lvl.tf_column for lvl in spec.levels)  # fmt: skip
        out.append(PlannedComparison(name, levels, tf))
    return tuple(out)


def _rules(given: Sequence[str | list[str]] | None, key: str, kind: str) -> tuple[Rule, ...] | None:
    """Rules written in hub.yaml: a list of key expressions (equal on both sides) or a SQL condition over l. / r."""
    if given is None:
        return None
    out = []
    for i, rule in enumerate(given):
        where = f"{key}[{i}]"
        if isinstance(rule, str):
            used = set(re.findall(r"\b[lr]\.([A-Za-z_][A-Za-z0-9_]*)", rule))
            if not used:
                raise ConfigError(where, "a SQL rule compares columns of both records: l.<column> and r.<column>")
            _check_columns(where, used)
            out.append(Rule(f"{kind}_{i + 1}", tuple(sorted(used)), sql=rule))
        else:
            used = {c for expr in rule for c in re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()", expr)}
            _check_columns(where, used)
            out.append(Rule(f"{kind}_{i + 1}", tuple(sorted(used)), keys=tuple(rule)))
    return tuple(out)


def _check_columns(key: str, used: set[str]) -> None:
    if unknown := sorted(used - COLUMNS):
        raise ConfigError(key, f"unknown column(s) {unknown}: use standardized columns ({', '.join(STD_COLUMNS)})")


def _budget(prof: Profile) -> int | None:
    return None if prof.records is None else max(MIN_PAIRS, PAIRS_PER_RECORD * prof.records)


def _blocking(
    given: Sequence[str | list[str]] | None,
    prof: Profile,
    pairs: Callable[[Rule], int | None] | None,
    counted: dict[str, int],
    notes: list[str],
) -> tuple[Rule, ...]:
    rules = _rules(given, "matching.blocking_rules", "blocking")
    if rules is not None:
        return rules
    budget, used = _budget(prof), 0
    out: list[Rule] = []
    for rule in settings.BLOCKING:
        if not prof.has(*rule.columns):
            continue
        n = pairs(rule) if pairs else None
        if n is not None:
            if budget is not None and out and used + n > budget:
                notes.append(f"blocking key {rule.name} left out: ~{n:,} more pairs would exceed the budget of "
                             f"{budget:,} ({PAIRS_PER_RECORD} per record)")  # fmt: skip
                continue
            counted[rule.name] = n
            used += n
        out.append(rule)
    return tuple(out)


def _training(
    given: Sequence[str | list[str]] | None,
    comparisons: tuple[PlannedComparison, ...],
    prof: Profile,
    pairs: Callable[[Rule], int | None] | None,
    notes: list[str],
) -> tuple[Rule, ...]:
    rules = _rules(given, "matching.training.em_blocking_rules", "training")
    if rules is not None:
        return rules
    estimated = dict.fromkeys((c.name for c in comparisons), 0)
    out = []
    for rule in settings.TRAINING:
        if not prof.has(*rule.columns):
            continue
        n = pairs(rule) if pairs else None
        if n is not None and n < MIN_TRAINING_PAIRS:
            notes.append(f"training session {rule.name} skipped: only {n} pairs")
            continue
        trains = [c for c in estimated if not _uses(c, rule)]
        if not any(estimated[c] < SESSIONS_PER_COMPARISON for c in trains):
            continue
        out.append(rule)
        for c in trains:
            estimated[c] += 1
    if missing := [c for c, k in estimated.items() if k == 0]:
        notes.append(f"no training session can estimate {', '.join(missing)}: their m probabilities stay at "
                     "Splink's defaults")  # fmt: skip
    return tuple(out)


def _uses(comparison: str, rule: Rule) -> bool:
    """Whether a training rule fixes a comparison (uses one of its columns), so it cannot estimate it."""
    spec = COMPARISONS[comparison]
    columns = {c for lvl in spec.levels for c in lvl.columns} | set(spec.key_columns)
    return bool(columns & set(rule.columns))


def _pairs(con: duckdb.DuckDBPyConnection, table: str, rule: Rule) -> int | None:
    """Candidate pairs of an equal-keys rule (None for a SQL rule: not estimated)."""
    if rule.sql:
        return None
    keys = ", ".join(rule.keys)
    present = " AND ".join(f"({k}) IS NOT NULL" for k in rule.keys)
    return int(
        con.execute(
            f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT {keys}, count(*) AS n FROM {table} "
            f"WHERE {present} GROUP BY ALL)"
        ).fetchall()[0][0]
    )
