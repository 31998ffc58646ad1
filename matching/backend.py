"""The one seam between the hub and the probabilistic matcher.

Everything the hub needs from Splink goes through MatcherBackend: train a model on a table of
standardized records, score the pairs of that table with a saved model into another table, and score
given pairs (match-on-entry: a posted record against candidate golden records).
Models are plain Splink JSON, so the same model can be loaded by another Splink backend (Spark
for data beyond one machine) by adding a second implementation here.

Training never hands a user a Splink exception: it follows a match plan (matching/plan.py) built from the fields
the records fill, each step starts from the last good model (a step Splink fails on is skipped with a warning
naming it: Splink may have changed its settings before raising, so the linker is rebuilt from the checkpoint),
and the trained model is made sane before it is saved (see `regularize`, `discount_matches` and `estimate_prior`).
"""

from __future__ import annotations

import json
import logging
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import duckdb
import pandas as pd
from splink import DuckDBAPI, Linker

from hub.errors import HubError
from hub.workspace import scalar
from matching.plan import MatchPlan

Model = dict[str, Any]
# Predict in chunks only above this many records: each chunk re-runs the blocking joins and materialises its
# records again, so 2 chunks cost twice the CPU of one pass (1M records: 54 s vs 25 s), while one pass over 1M
# records peaks at 1.9 GiB.
RECORDS_PER_CHUNK = 2_000_000
M_RANGE = (1e-3, 1 - 1e-9)  # an m under 0.1%: disagreement among matches unseen in training, not impossible
U_RANGE = (1e-9, 1 - 1e-9)  # u probabilities outside this are estimation artefacts
PRIOR_PAIRS_FLOOR = 1e-3  # pairs scored below this probability add nothing to the expected number of matches
PRIOR_SAMPLE_RECORDS = 200_000  # the prior is estimated on a random sample of this many records beyond it
U_KEPT = 0.1  # discount_matches keeps at least this share of a sampled u: the prior it subtracts by is an estimate
# term_frequency_sql keeps at least this share of a value's count. Where records average a duplicate or more, a value
# only the pair holds (one person's two records) leaves the pair-out count at or below zero, so this floor alone sets
# its weight: it stands for the chance that a person not in the data holds the value too.
TF_KEPT = 0.03


class TrainingError(HubError):
    """Training cannot produce a model at all (no u estimate: the records cannot be sampled)."""


def regularize(model: Model, say: Callable[[str], None] = lambda _line: None) -> Model:
    """Make a trained model sane: m inside M_RANGE and u inside U_RANGE (EM on rare levels drifts towards 0 or 1,
    and Splink refuses probabilities it cannot represent; a data set where matching records never disagree on,
    say, a phone must not make a changed phone veto every match elsewhere), and within each comparison no weaker
    level outweighing a stronger one above it (levels are ordered from the strongest evidence down, so first and
    last name swapped never outweighs the same names in order): a level's m is lowered until its Bayes factor is
    at most the best one above it. The else level (a disagreement) with a u but no m — no EM session's pairs fell in
    it: matches never disagree there — gets the smallest m, not the weight 0 of a level never seen."""
    out: Model = json.loads(json.dumps(model))
    ranges = {"m_probability": M_RANGE, "u_probability": U_RANGE}
    for comparison in out["comparisons"]:
        best = math.inf
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            trained = [isinstance(level.get(p), (int, float)) for p in ("m_probability", "u_probability")]
            if level.get("sql_condition") == "ELSE" and trained == [False, True]:
                say(f"{comparison['output_column_name']}: no match in training disagrees: m {M_RANGE[0]}")
                level["m_probability"] = M_RANGE[0]
            for p, (low, high) in ranges.items():
                if isinstance(level.get(p), (int, float)):
                    level[p] = min(high, max(low, float(level[p])))
            m, u = level.get("m_probability"), level.get("u_probability")
            if not isinstance(m, float) or not isinstance(u, float):
                continue
            if m / u > best:
                say(f"{comparison['output_column_name']}: level '{level.get('label_for_charts')}' capped at the "
                    "weight of a stronger level above it")  # fmt: skip
                level["m_probability"] = best * u
            best = min(best, level["m_probability"] / u)
    return out


def discount_matches(model: Model, prior: float) -> Model:
    """u as the share of non-matching pairs at each level. Random sampling estimates u over all pairs, and a share
    `prior` of them match: where records have many duplicates (one in a thousand pairs match, not one in a
    million), the pairs agreeing on a name or an e-mail are mostly matches, and the sampled u caps every strong
    level near -log2(prior) bits. Since u_sampled = prior * m + (1 - prior) * u, u is (u_sampled - prior * m) /
    (1 - prior), kept at U_KEPT of the sampled value at least (the prior is an estimate, and so is m). A level with a
    term-frequency adjustment keeps its u: its weight is m / (the value's frequency), which u does not enter."""
    out: Model = json.loads(json.dumps(model))
    for comparison in out["comparisons"]:
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if level.get("is_null_level") or level.get("tf_adjustment_column"):
                continue
            if not isinstance(m, float) or not isinstance(u, float):
                continue
            level["u_probability"] = max((u - prior * m) / (1 - prior), U_KEPT * u)
    return out


def tf_columns(model: Model) -> list[str]:
    """The columns the model's term-frequency adjustments read, in model order."""
    cols = [lvl.get("tf_adjustment_column") for c in model["comparisons"] for lvl in c["comparison_levels"]]
    return list(dict.fromkeys(c for c in cols if c))


def tf_levels(model: Model) -> dict[str, float]:
    """tf column -> m, for each comparison whose exact (first) level has a term-frequency adjustment: there the value
    is the whole field compared, so a match agrees on it with chance m (term_frequency_sql). A level on a part of a
    field (an e-mail's user name at another provider) keeps Splink's own count: namesakes share the parts built from
    their names far more often than a pair-out count of the part says."""
    out: dict[str, float] = {}
    for comparison in model["comparisons"]:
        exact = next(lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level"))
        column, m = exact.get("tf_adjustment_column"), exact.get("m_probability")
        if column and isinstance(m, float):
            out[column] = m
    return out


def term_frequency_sql(records_table: str, column: str, m: float, prior: float) -> str:
    """A term-frequency lookup for `column` (`column`, tf_`column`) that leaves the pair out. Splink weighs agreeing
    on a value by m / tf, tf standing for the chance that a non-matching record holds it, and counts tf as the
    value's share of the records (c / n). A value held by few records is mostly held by one person's duplicates,
    so that share is mostly the pair's own match: another record holds it with chance (c - 1) / (n - 1), of which
    prior * m is that record being the same person. tf = ((c - 1) / (n - 1) - prior * m) / (1 - prior), at least
    TF_KEPT of c / n (the prior and m are estimates); for a common value it is the share Splink counts."""
    return f"""SELECT {column}, {pair_out_tf("c", "n", m, prior)} AS tf_{column}
               FROM (SELECT {column}, count(*)::DOUBLE AS c, sum(count(*)) OVER ()::DOUBLE AS n
                     FROM {records_table} WHERE {column} IS NOT NULL GROUP BY {column})"""


def pair_out_tf(c: str, n: str, m: float, prior: float) -> str:
    """The SQL of term_frequency_sql's rule over the DOUBLE expressions `c` (records holding the value) and `n`
    (records holding a value): match-on-entry weighs a value with the very expression predict does."""
    share = f"(({c} - 1) / greatest({n} - 1, 1) - {prior!r} * {m!r}) / (1 - {prior!r})"
    return f"greatest({TF_KEPT} * {c} / {n}, {share})"


_SAME_COLUMN = re.compile(r'\(?\s*l\.("?)(\w+)\1\s*=\s*r\.\1\2\1\s*\)?')


def _symmetric(condition: str) -> bool:
    """Whether a blocking condition is equalities of one column on both sides only (l.x = r.x AND ...): it then
    pairs r with l exactly when it pairs l with r, and one direction finds every partner."""
    return all(_SAME_COLUMN.fullmatch(part.strip()) for part in re.split(r"\s+AND\s+", condition, flags=re.IGNORECASE))


SCRATCH = "hub_scratch"  # an in-memory database beside the workspace, for scratch tables Splink's cursor must see
TOUCHING = "_touching_records"  # the view Splink scores an incremental run's candidates from
_SIDE_COLUMN = re.compile(r'\b[lr]\.(?:"([^"]+)"|([A-Za-z_]\w*))')


def _blocking_columns(conditions: list[str]) -> str:
    """The select list of unique_id and every column the blocking `conditions` read on either side (l.x, r."x")."""
    named = {m.group(1) or m.group(2) for c in conditions for m in _SIDE_COLUMN.finditer(c)} - {"unique_id"}
    return ", ".join(["unique_id", *(f'"{c}"' for c in sorted(named))])


def _touching_rules(model: Model) -> Model:
    """`model` with each blocking rule keeping only the pairs with a touched record on one side at least."""
    out: Model = json.loads(json.dumps(model))
    for rule in out["blocking_rules_to_generate_predictions"]:
        rule["blocking_rule"] = f"({rule['blocking_rule']}) AND (l._touched OR r._touched)"
    return out


def _reason(exc: Exception) -> str:
    """Splink's message, first line only: what went wrong, without its advice about its own API."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _all_pairs(con: duckdb.DuckDBPyConnection, table: str, link_type: str) -> int:
    rows = con.execute(f"SELECT count(*) AS n FROM {table} GROUP BY source_system").fetchall()
    n = sum(r[0] for r in rows)
    within = sum(r[0] * (r[0] - 1) // 2 for r in rows)
    return int(n * (n - 1) // 2 - (within if link_type == "link_only" else 0))


def _deterministic_pairs(con: duckdb.DuckDBPyConnection, table: str, plan: MatchPlan) -> int:
    """Distinct pairs any deterministic rule finds."""
    if not plan.deterministic:
        return 0
    across = " AND l.source_system <> r.source_system" if plan.link_type == "link_only" else ""
    found = " UNION ".join(
        f"SELECT l.unique_id AS a, r.unique_id AS b FROM {table} AS l JOIN {table} AS r "
        f"ON {rule.condition()} AND l.unique_id < r.unique_id{across}"
        for rule in plan.deterministic
    )
    return int(scalar(con, f"SELECT count(*) FROM ({found})"))


def _self_consistent_prior(
    con: duckdb.DuckDBPyConnection, scored: str, start: float, total: int, rounds: int = 60
) -> tuple[float, float]:
    """Iterate prior <- (sum of match probabilities at that prior) / total over the scored pairs' weights, which
    move by the change in prior log-odds; returns (prior, expected matches)."""

    def logit(p: float) -> float:
        return math.log2(p / (1 - p))

    prior, expected = start, 0.0
    for _ in range(rounds):
        shift = logit(prior) - logit(start)
        expected = scalar(con, f"SELECT coalesce(sum(1 / (1 + pow(2, -(match_weight + ?)))), 0) FROM {scored}", [shift])
        new = min(0.5, max(1 / total, expected / total))
        if abs(new - prior) <= 1e-4 * prior:
            return new, expected
        prior = new
    return prior, expected


def untrained_levels(model: Model) -> list[str]:
    """'comparison: level' for each non-null level without an m or u estimate (too rare in the data)."""
    return [
        f"{c['output_column_name']}: {level.get('label_for_charts', level['sql_condition'])}"
        for c in model["comparisons"]
        for level in c["comparison_levels"]
        if not level.get("is_null_level") and not {"m_probability", "u_probability"} <= level.keys()
    ]


class MatcherBackend(ABC):
    @abstractmethod
    def train(self, records_table: str, plan: MatchPlan, progress: Callable[[str], None] | None = None) -> Model:
        """Estimate a new model from the records with the plan's comparisons and rules: u by random sampling, m by
        EM, the share of matching pairs self-consistently; warnings (a skipped step, an untrained level) go to
        `progress`, never an exception from the matcher."""

    @abstractmethod
    def predict(
        self,
        records_table: str,
        model: Model,
        threshold: float,
        output_table: str,
        tf_lookups: dict[str, str] | None = None,
        touched: str | None = None,
        temporary: bool = False,
    ) -> int:
        """Score candidate pairs with `model`, keep those with match_probability >= threshold in
        `output_table` (unique_id_l, unique_id_r, match_weight, match_probability, mw_* per
        comparison, gamma_* levels) and return how many were kept. `tf_lookups`: column -> table
        (column, tf_column) of the term frequencies to weigh with (matching.term_frequencies); None:
        counted over `records_table`. `touched`: a table of unique_id (a TEMP table will do); only the
        candidate pairs with one of them on a side at least are scored (an incremental run: the pairs its
        changes touch). `temporary`: `output_table` is a TEMP table (only this connection reads it)."""

    @abstractmethod
    def score_pairs(self, left_table: str, right_table: str, model: Model) -> pd.DataFrame:
        """Score every (left, right) record pair with `model`, unblocked: unique_id_l, unique_id_r,
        match_weight, match_probability, gamma_* levels and mw_* weights (mw_tf_adj_* for the term
        frequencies, read from the records' tf_* columns)."""


class DuckDBSplinkBackend(MatcherBackend):
    """Splink on the workspace's own DuckDB connection: records never leave the database."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._scoring: tuple[Model, tuple[str, str], str] | None = None  # score_pairs: model, tables, Splink's SQL

    def _linker(
        self, records_table: str, model: Model | Any, tf_lookups: dict[str, str] | None = None, scratch: bool = False
    ) -> Linker:
        """A linker over `records_table`, with term-frequency lookup tables (column -> table) where given. `scratch`
        (SCRATCH attached): Splink's own tables go into that in-memory database, not the workspace file."""
        # Its own cursor on the same database: Splink's queries never meet a half-read result of ours.
        cursor = self.con.cursor()
        if scratch:
            workspace = scalar(self.con, "SELECT current_database()")
            cursor.execute(f"USE {SCRATCH}")
            cursor.execute(f"SET search_path = '{SCRATCH}.main,{workspace}.main'")
        api = DuckDBAPI(connection=cursor)
        # Splink's chatter would drown the hub's own progress lines; train() reports what matters. Its settings check
        # only logs warnings, which that level drops, after parsing every comparison's SQL (seconds per linker): off.
        linker = Linker(api.register(records_table), model, log_level=logging.ERROR, validate_settings=False)
        for column, table in (tf_lookups or {}).items():
            linker.table_management.register_term_frequency_lookup(api.register(table), column)
        return linker

    def train(self, records_table: str, plan: MatchPlan, progress: Callable[[str], None] | None = None) -> Model:
        # Splink's sampled and blocked pairs and comparison vectors (millions of rows, some left behind by Splink)
        # go into the scratch database: never written into the workspace file.
        say = progress or (lambda _line: None)
        with self._scratch():
            model = self._estimate(records_table, plan, say)
        # u without the matches among the sampled pairs, then the prior again with the stronger weights
        prior = self.estimate_prior(records_table, model, plan, lambda _line: None)
        model = regularize(discount_matches(model, prior), say)
        model["probability_two_random_records_match"] = self.estimate_prior(records_table, model, plan, say)
        return model

    def _estimate(self, records_table: str, plan: MatchPlan, say: Callable[[str], None]) -> Model:
        """u by random sampling, m by EM per training rule (a session Splink cannot run is skipped, and said)."""
        linker = self._linker(records_table, plan.splink_settings(), scratch=True)
        say("estimating u probabilities by random sampling")
        try:
            linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
        except Exception as exc:  # Splink's own errors: the records cannot be sampled into pairs
            raise TrainingError(f"cannot estimate u probabilities from {records_table}: {_reason(exc)}") from None
        checkpoint = linker.misc.save_model_to_json()
        for rule in plan.training:
            say(f"estimating m probabilities by EM, blocked on {rule.name} ({rule.condition()})")
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule.splink(), estimate_without_term_frequencies=True, record_sample_proportion=1.0
                )
                checkpoint = linker.misc.save_model_to_json()
            except Exception as exc:  # a session Splink cannot run leaves the model as it was before it
                say(f"warning: EM session {rule.name} skipped: {_reason(exc)}")
                linker = self._linker(records_table, checkpoint, scratch=True)
        model = regularize(checkpoint)
        missing = untrained_levels(model)
        if missing:
            say(f"warning: {len(missing)} level(s) never seen in training, weight 0: {', '.join(missing)}")
        return model

    def estimate_prior(self, records_table: str, model: Model, plan: MatchPlan, say: Callable[[str], None]) -> float:
        """The share of record pairs that match, as the trained model itself sees it: start from the pairs the
        deterministic rules find (as if they found a tenth of all matches: an upper bound), score the candidate
        pairs once, then move the prior until it equals the expected number of matches (the sum of the pairs'
        match probabilities) over all pairs, shifting the scored weights instead of scoring again. A deterministic
        rule's recall is never assumed: it only sets where the search starts. Beyond PRIOR_SAMPLE_RECORDS records,
        on a random sample of them: the share of matching pairs among the sample's pairs is the same."""
        n = scalar(self.con, f"SELECT count(*) FROM {records_table}")
        if n > PRIOR_SAMPLE_RECORDS:  # a random share of the records keeps each pair, matching or not, with equal odds
            sampled = "_prior_records"
            self.con.execute(
                f"""CREATE OR REPLACE TABLE {sampled} AS SELECT * FROM {records_table}
                    WHERE hash(unique_id) % {n} < {PRIOR_SAMPLE_RECORDS}"""
            )
            try:
                return self.estimate_prior(sampled, model, plan, say)
            finally:
                self.con.execute(f"DROP TABLE IF EXISTS {sampled}")
        total = _all_pairs(self.con, records_table, plan.link_type)
        if total == 0:
            return 0.5
        found = _deterministic_pairs(self.con, records_table, plan)
        prior, expected = min(0.5, max(1 / total, 10 * found / total)), 0.0
        for _ in range(2):  # a second pass only when the matches turn out more than the start allowed
            start = prior
            scored = "_prior_pairs"
            self.predict(records_table, dict(model, probability_two_random_records_match=start), PRIOR_PAIRS_FLOOR,
                         scored)  # fmt: skip
            prior, expected = _self_consistent_prior(self.con, scored, start, total)
            self.con.execute(f"DROP TABLE IF EXISTS {scored}")
            if prior <= start:
                break
        say(f"share of matching pairs {prior:.3g}: ~{expected:,.0f} matching pairs expected among {total:,} "
            f"(deterministic rules found {found:,})")  # fmt: skip
        return prior

    def predict(
        self,
        records_table: str,
        model: Model,
        threshold: float,
        output_table: str,
        tf_lookups: dict[str, str] | None = None,
        touched: str | None = None,
        temporary: bool = False,
    ) -> int:
        made = {}
        if tf_lookups is None:
            prior = model["probability_two_random_records_match"]
            for column, m in tf_levels(model).items():
                made[column] = f"_tf_lookup_{column}"
                self.con.execute(
                    f"CREATE OR REPLACE TABLE {made[column]} AS {term_frequency_sql(records_table, column, m, prior)}"
                )
        candidates = nullcontext(records_table) if touched is None else self._touching(records_table, model, touched)
        try:
            with candidates as records_table:
                model = model if touched is None else _touching_rules(model)
                linker = self._linker(records_table, model, tf_lookups or made, scratch=touched is not None)
                n = scalar(self.con, f"SELECT count(*) FROM {records_table}")
                chunks = max(1, math.ceil(n / RECORDS_PER_CHUNK))
                scored = linker.inference.predict(
                    threshold_match_probability=threshold,
                    num_chunks_left=chunks if chunks > 1 else None,
                    num_chunks_right=1 if chunks > 1 else None,
                )
                made_by_splink = f"{SCRATCH}.{scored.physical_name}" if touched is not None else scored.physical_name
                described = self.con.execute(f"SELECT column_name FROM (DESCRIBE {made_by_splink})").fetchall()
                keep = ["unique_id_l", "unique_id_r", "match_weight", "match_probability"]
                keep += [c for (c,) in described if c.startswith(("mw_", "gamma_"))]
                self.con.execute(
                    f"""CREATE OR REPLACE {"TEMP " if temporary else ""}TABLE {output_table} AS
                        SELECT {", ".join(keep)} FROM {made_by_splink}"""
                )
                linker.table_management.delete_tables_created_by_splink_from_db()  # predictions and tf tables alike
        finally:
            for table in made.values():
                self.con.execute(f"DROP TABLE IF EXISTS {table}")
        return int(scalar(self.con, f"SELECT count(*) FROM {output_table}"))

    @contextmanager
    def _scratch(self) -> Iterator[None]:
        """SCRATCH attached for a block (`_linker(scratch=True)` puts Splink's tables there), then detached with every
        table in it, those Splink leaves behind included: whatever the block does, nothing stays."""
        self.con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {SCRATCH}")
        try:
            yield
        finally:
            self.con.execute(f"DETACH DATABASE IF EXISTS {SCRATCH}")

    @contextmanager
    def _touching(self, records_table: str, model: Model, touched: str) -> Iterator[str]:
        """For a block, a view of the records that can pair with a touched one (the touched, and every record a
        blocking rule puts beside one of them), flagged `_touched`: Splink then reads a few records, not all of them,
        for the same pairs. Where a rule is not a plain condition (Splink's exploded arrays), all records. Three
        statements, not one: the touched records' blocking columns, the candidates' ids, then the candidates' rows. As
        one statement (every column of the touched, the ids as an IN over the union) it took 1.2-1.8 s at a million
        records, this way 0.8 s, most of it the last scan, which reads every column of every record. The rows go into
        the in-memory SCRATCH, not the workspace file: Splink reads them through its own cursor, which sees none of
        our TEMP tables, and there they cost no disk write (110,000 candidates: 0.35 s there, 0.9-1.0 s in the file).
        The view and SCRATCH go after the block, however it ends."""
        rules = model["blocking_rules_to_generate_predictions"]
        plain = all(set(r) <= {"blocking_rule", "sql_dialect"} for r in rules)
        with self._scratch():
            try:
                if plain:
                    self._candidates(records_table, [rule["blocking_rule"] for rule in rules], touched)
                    view = f"SELECT * FROM {SCRATCH}.touching_records"
                else:  # every record, flagged from a copy of the ids Splink's cursor can read
                    self.con.execute(f"CREATE TABLE {SCRATCH}.touched AS SELECT unique_id FROM {touched}")
                    flag = f"unique_id IN (SELECT unique_id FROM {SCRATCH}.touched) AS _touched"
                    view = f"SELECT *, {flag} FROM {records_table}"
                # Splink looks a table's columns up by its bare name: a view in the workspace names it
                self.con.execute(f"CREATE OR REPLACE VIEW {TOUCHING} AS {view}")
                yield TOUCHING
            finally:
                self.con.execute(f"DROP VIEW IF EXISTS {TOUCHING}")

    def _candidates(self, records_table: str, conditions: list[str], touched: str) -> None:
        """SCRATCH.touching_records: the records the blocking `conditions` put beside a record of `touched` (and
        those), flagged `_touched`."""
        partners = " ".join(
            f"UNION SELECT r.unique_id FROM _touched_keys AS l JOIN {records_table} AS r ON {condition}"
            + ("" if _symmetric(condition) else
               f" UNION SELECT l.unique_id FROM {records_table} AS l JOIN _touched_keys AS r ON {condition}")
            for condition in conditions
        )  # fmt: skip
        try:
            self.con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _touched_keys AS SELECT {_blocking_columns(conditions)}
                    FROM {records_table} WHERE unique_id IN (SELECT unique_id FROM {touched})"""
            )
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE _touching_ids AS SELECT unique_id FROM _touched_keys {partners}"
            )
            self.con.execute(
                f"""CREATE TABLE {SCRATCH}.touching_records AS
                    SELECT *, unique_id IN (SELECT unique_id FROM {touched}) AS _touched
                    FROM {records_table} WHERE unique_id IN (SELECT unique_id FROM _touching_ids)"""
            )
        finally:
            self.con.execute("DROP TABLE IF EXISTS _touched_keys")
            self.con.execute("DROP TABLE IF EXISTS _touching_ids")

    def score_pairs(self, left_table: str, right_table: str, model: Model) -> pd.DataFrame:
        # Building Splink's SQL (settings parsed, every expression through sqlglot) costs several times
        # more than running it on a few rows, so the first call keeps the SQL score_pairs ran and later
        # calls with the same model and tables rerun it, as Splink's own realtime SQL cache does.
        key = (left_table, right_table)
        if self._scoring is not None and self._scoring[0] is model and self._scoring[1] == key:
            return self.con.execute(self._scoring[2]).df()
        api = DuckDBAPI(connection=self.con)
        linker = Linker(api.register(right_table), model, log_level=logging.ERROR)
        left, right = (api.table_to_splink_dataframe(t, t) for t in key)
        scored = linker.inference.score_pairs(left, right)
        try:
            self._scoring = (model, key, scored.sql_used_to_create)
            pairs: pd.DataFrame = scored.as_pandas_dataframe()
            return pairs
        finally:
            scored.drop_table_from_database_and_remove_from_cache()
