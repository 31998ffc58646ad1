"""The comparisons, blocking keys and training rules the hub can match with, over standardized records.

A library, not a fixed model: matching/plan.py picks from it by what the records populate and what hub.yaml
says, and `MatchPlan.splink_settings()` turns the pick into Splink settings. Every level names the columns it
reads, so a level over a column nobody filled is dropped rather than left untrained.

Why these comparisons:
- names are compared jointly, so a record with first and last name swapped, or a nickname (Bob ~ Robert via
  first_name_canonical), scores as the evidence it is rather than as two disagreements; a full name gets a
  term-frequency adjustment (a common name is weak evidence); a name part missing on one side is not a
  disagreement, so the part both have is its own level (without a term-frequency adjustment: Splink weighs a value's
  frequency against the level's u, and this level's u is also the chance that a name part is missing);
- emails compare exactly (address, or username at another provider, term-frequency adjusted) and never fuzzily:
  addresses derived from one name are alike for different people; for the same reason a user name at another
  provider that holds the surname (john.smith@ one, john.smith@ another) is no evidence either way: namesakes share
  it, so it would count the name a second time;
- a country (the record's, else its phone's calling code) counts only when it differs: people who share a full name
  share a country far more often than two random records do (names are national), so the same country would count
  the name a second time, while another country is evidence against the pair that the name does not carry;
- dates of birth tolerate one keying slip (one character, or day and month swapped) before falling to the same
  month or year;
- the address is one block (house number, street, postcode), so a move costs one comparison, not three; postcodes
  and towns get typo levels that work for any country (one edit; a town's spelling without spaces or nearly the
  same), and a second address line (building, estate) is compared too, with a level for the same value written on
  the other line (a building name in line 1 in one system, in line 2 in another).
Blocking keys are independent, and several tolerate typos (a date of birth with the start of either name, a postcode
with the house number, swapped names), so a record with errors in several fields is still compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import block_on
from splink.blocking_rule_library import CustomRule

if TYPE_CHECKING:  # splink exports these types only from its internals
    from splink.internals.blocking_rule_creator import BlockingRuleCreator
    from splink.internals.comparison_level_creator import ComparisonLevelCreator


RECORD_ID = "unique_id"
SOURCE = "source_system"
JW_NAME = 0.88


@dataclass(frozen=True)
class Level:
    """One comparison level: `sql` over `<col>_l` / `<col>_r`, usable only where every column in `columns` is."""

    name: str
    label: str
    sql: str
    columns: tuple[str, ...]
    tf_column: str | None = None  # a term-frequency adjustment on this level
    no_evidence: bool = False  # weight 0, fixed (m = u): pairs here count neither way, while the else level is weighed


@dataclass(frozen=True)
class ComparisonSpec:
    name: str
    description: str
    key_columns: tuple[str, ...]  # the comparison is made when any of these is filled; null when all are
    levels: tuple[Level, ...]
    neutral: str | None = None  # pairs for which the comparison is no evidence either way: scored as the null level

    def level_names(self) -> tuple[str, ...]:
        return tuple(lvl.name for lvl in self.levels)


def _both(a: str, b: str) -> str:
    return f"{a}_l = {b}_r"


_FIRST, _LAST, _CANON = "first_name_std", "last_name_std", "first_name_canonical"
_SAME_FIRST = f"({_both(_FIRST, _FIRST)} OR {_both(_CANON, _CANON)})"

COMPARISONS: dict[str, ComparisonSpec] = {
    spec.name: spec
    for spec in (
        ComparisonSpec(
            "name",
            "first and last name, jointly",
            (_FIRST, _LAST),
            (
                Level("exact", "exact first and last", f"{_both(_FIRST, _FIRST)} AND {_both(_LAST, _LAST)}",
                      (_FIRST, _LAST), tf_column="name_concat_std"),
                Level("nickname", "nickname first, exact last", f"{_both(_CANON, _CANON)} AND {_both(_LAST, _LAST)}",
                      (_FIRST, _LAST)),
                Level("swapped", "first and last swapped", f"{_FIRST}_l = {_LAST}_r AND {_LAST}_l = {_FIRST}_r",
                      (_FIRST, _LAST)),
                Level("swapped_similar", "first and last swapped, nearly",
                      f"jaro_winkler_similarity({_FIRST}_l, {_LAST}_r) >= {JW_NAME} "
                      f"AND jaro_winkler_similarity({_LAST}_l, {_FIRST}_r) >= {JW_NAME}", (_FIRST, _LAST)),
                Level("similar_first", "similar first, exact last",
                      f"jaro_winkler_similarity({_FIRST}_l, {_FIRST}_r) >= {JW_NAME} AND {_both(_LAST, _LAST)}",
                      (_FIRST, _LAST)),
                Level("similar_last", "exact first, similar last",
                      f"{_SAME_FIRST} AND jaro_winkler_similarity({_LAST}_l, {_LAST}_r) >= {JW_NAME}",
                      (_FIRST, _LAST)),
                Level("similar_both", "similar first and last",
                      f"jaro_winkler_similarity({_FIRST}_l, {_FIRST}_r) >= {JW_NAME} "
                      f"AND jaro_winkler_similarity({_LAST}_l, {_LAST}_r) >= {JW_NAME}", (_FIRST, _LAST)),
                Level("last_first_missing", "exact last, first name missing on one side",
                      f"{_both(_LAST, _LAST)} AND ({_FIRST}_l IS NULL OR {_FIRST}_r IS NULL)", (_LAST,)),
                Level("first_last_missing", "first, last name missing on one side",
                      f"{_SAME_FIRST} AND ({_LAST}_l IS NULL OR {_LAST}_r IS NULL)", (_FIRST,)),
                Level("last_only", "exact last only", _both(_LAST, _LAST), (_LAST,)),
                Level("first_only", "first only", _SAME_FIRST, (_FIRST,)),
            ),
        ),
        ComparisonSpec(
            "date_of_birth",
            "date of birth, with one keying slip",
            ("dob_std",),
            (
                Level("exact", "exact", _both("dob_std", "dob_std"), ("dob_std",)),
                Level("keying_slip", "one character, or day and month swapped",
                      "damerau_levenshtein(dob_str_l, dob_str_r) <= 1 OR dob_swapped_l = dob_std_r", ("dob_std",)),
                Level("same_month", "same year and month",
                      "year(dob_std_l) = year(dob_std_r) AND month(dob_std_l) = month(dob_std_r)", ("dob_std",)),
                Level("same_year", "same year", "year(dob_std_l) = year(dob_std_r)", ("dob_std",)),
            ),
        ),
        ComparisonSpec(
            "email",
            "email address, or its user name at another provider",
            ("email_std",),
            (
                Level("exact", "exact", _both("email_std", "email_std"), ("email_std",)),
                Level("same_user", "same user name", _both("email_user_std", "email_user_std"), ("email_std",),
                      tf_column="email_user_std"),
            ),
            neutral=f"email_std_l <> email_std_r AND {_both('email_user_std', 'email_user_std')} "
                    f"AND contains(email_user_std_l, {_LAST}_l)",
        ),
        ComparisonSpec(
            "phone",
            "phone number (E.164 digits)",
            ("phone_std",),
            (
                Level("exact", "exact", _both("phone_std", "phone_std"), ("phone_std",), tf_column="phone_std"),
                Level("one_edit", "one digit off", "damerau_levenshtein(phone_std_l, phone_std_r) <= 1",
                      ("phone_std",)),
            ),
        ),
        ComparisonSpec(
            "address",
            "house number, street and postcode as one block",
            ("address_line1_std", "postal_code_std"),
            (
                Level("exact", "same street address and postcode",
                      f"{_both('address_line1_std', 'address_line1_std')} "
                      f"AND {_both('postal_code_std', 'postal_code_std')}",
                      ("address_line1_std", "postal_code_std")),
                Level("house_postcode", "same house number and postcode",
                      f"{_both('house_number', 'house_number')} AND {_both('postal_code_std', 'postal_code_std')}",
                      ("house_number", "postal_code_std")),
                Level("similar", "similar street address, postcode within one edit",
                      "jaro_winkler_similarity(address_line1_std_l, address_line1_std_r) >= 0.9 "
                      "AND damerau_levenshtein(postal_code_std_l, postal_code_std_r) <= 1",
                      ("address_line1_std", "postal_code_std")),
                Level("street", "same street address", _both("address_line1_std", "address_line1_std"),
                      ("address_line1_std",)),
                Level("house_number", "same house number, similar street",
                      "try_cast(regexp_extract(house_number_l, '^[0-9]+') AS BIGINT)"
                      " = try_cast(regexp_extract(house_number_r, '^[0-9]+') AS BIGINT)"
                      " AND jaro_winkler_similarity(address_line1_std_l, address_line1_std_r) >= 0.8",
                      ("house_number", "address_line1_std")),
                Level("postcode", "same postcode only", _both("postal_code_std", "postal_code_std"),
                      ("postal_code_std",)),
                Level("postcode_slip", "postcode within one edit",
                      "damerau_levenshtein(postal_code_std_l, postal_code_std_r) <= 1", ("postal_code_std",)),
            ),
        ),
        ComparisonSpec(
            "address_line2",
            "second address line (building, estate, flat)",
            ("address_line2_std",),
            (
                Level("exact", "exact", _both("address_line2_std", "address_line2_std"), ("address_line2_std",)),
                Level("similar", "similar",
                      "jaro_winkler_similarity(address_line2_std_l, address_line2_std_r) >= 0.9",
                      ("address_line2_std",)),
                Level("other_line", "the same value on the other address line",
                      "address_line2_std_l = address_line1_std_r OR address_line1_std_l = address_line2_std_r",
                      ("address_line2_std", "address_line1_std")),
            ),
        ),
        ComparisonSpec(
            "city",
            "town, any spelling without spaces or nearly the same",
            ("city_std",),
            (
                Level("exact", "exact", _both("city_std", "city_std"), ("city_std",), tf_column="city_std"),
                Level("similar", "same letters, or nearly",
                      "replace(city_std_l, ' ', '') = replace(city_std_r, ' ', '') "
                      "OR jaro_winkler_similarity(city_std_l, city_std_r) >= 0.92", ("city_std",)),
            ),
        ),
        ComparisonSpec(
            "country",
            "country (the record's, else its phone's calling code): another one is evidence against",
            ("dialling_code",),
            (Level("same", "the same country: no evidence (namesakes share one)",
                   _both("dialling_code", "dialling_code"), ("dialling_code",), no_evidence=True),),
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """A blocking or training rule: equal keys (`keys`, SQL expressions over one record) or, where `sql` is set,
    a condition over `l.` / `r.`; usable where every column in `columns` is filled."""

    name: str
    columns: tuple[str, ...]
    keys: tuple[str, ...] = ()
    sql: str | None = None

    def condition(self) -> str:
        if self.sql:
            return self.sql
        return " AND ".join(f"{_side(k, 'l')} = {_side(k, 'r')}" for k in self.keys)

    def splink(self) -> BlockingRuleCreator:
        return CustomRule(self.sql) if self.sql else block_on(*self.keys)


def _side(expr: str, side: str) -> str:
    """A key expression over one record's columns, on one side of a pair."""
    return re.sub(r"\b([a-z_][a-z0-9_]*)\b(?!\s*\()", lambda m: f"{side}.{m.group(1)}", expr)


_L1 = "substr(last_name_std, 1, 1)"
_F2, _L2 = "substr(first_name_std, 1, 2)", "substr(last_name_std, 1, 2)"

# Candidate blocking keys, most selective and most telling first. plan.py keeps those whose columns the records
# fill and whose pair count stays within its budget; Splink scores each pair once, by the first key that finds it.
# A key earns its place by true pairs no other key compares (benchmarks/blocking_ceiling.py, "only"): the date of birth
# with day and month swapped and surname with town found none on FEBRL1-4 and the 20,000-people demos, at up to a
# quarter of the comparisons (a swapped date of birth is still a comparison level: the other keys find those pairs).
# The date of birth goes with a name's first two letters, not its initial: on the 1M-record demo, where the date of
# birth alone is over the budget, initials paired 1.87M records for 442 true pairs no other key found; two letters pair
# 0.54M, and the plan compares all but 3 of the 773,404 true pairs it compared (a slip in the first two letters of
# both names is left to the other keys).
BLOCKING: tuple[Rule, ...] = (
    Rule("email", ("email_std",), ("email_std",)),
    Rule("phone", ("phone_std",), ("phone_std",)),
    Rule("name", (_FIRST, _LAST), (_CANON, _LAST)),
    Rule("birth_date_first_letters", ("dob_std", _FIRST), ("dob_std", _F2)),
    Rule("birth_date_last_letters", ("dob_std", _LAST), ("dob_std", _L2)),
    Rule("swapped_names", (_FIRST, _LAST),
         sql="l.first_name_std = r.last_name_std AND l.last_name_std = r.first_name_std"),
    Rule("last_name_postcode", (_LAST, "postal_code_std"), (_LAST, "postal_code_std")),
    Rule("postcode_house_number", ("postal_code_std", "house_number"), ("postal_code_std", "house_number")),
    Rule("street_address", ("address_line1_std",), ("address_line1_std",)),
    Rule("first_name_postcode", (_FIRST, "postal_code_std"), (_FIRST, "postal_code_std")),
    Rule("first_name_city", (_FIRST, "city_std"), (_FIRST, "city_std")),
    Rule("name_prefixes_birth_year", (_FIRST, _LAST, "dob_std"),
         (_F2, _L2, "year(dob_std)")),
    Rule("email_user_birth_date", ("email_user_std", "dob_std"), ("email_user_std", "dob_std")),
    Rule("birth_date", ("dob_std",), ("dob_std",)),
    Rule("postcode", ("postal_code_std",), ("postal_code_std",)),
    Rule("last_name", (_LAST,), (_LAST,)),
)  # fmt: skip

# EM sessions: each estimates m for the comparisons its rule does not use; plan.py picks enough to estimate each.
TRAINING: tuple[Rule, ...] = (
    Rule("birth_date_last_initial", ("dob_std", _LAST), ("dob_std", _L1)),
    Rule("email", ("email_std",), ("email_std",)),
    Rule("postcode_house_number", ("postal_code_std", "house_number"), ("postal_code_std", "house_number")),
    Rule("name", (_FIRST, _LAST), (_CANON, _LAST)),
    Rule("phone", ("phone_std",), ("phone_std",)),
    Rule("birth_date", ("dob_std",), ("dob_std",)),
)

# Near-certain matches: where the share of matching pairs starts from (plan.py, backend.py).
DETERMINISTIC: tuple[Rule, ...] = (
    Rule("email_birth_date", ("email_std", "dob_std"), ("email_std", "dob_std")),
    Rule("name_birth_date_postcode", (_FIRST, _LAST, "dob_std", "postal_code_std"),
         (_FIRST, _LAST, "dob_std", "postal_code_std")),
    Rule("phone_birth_date_last_name", ("phone_std", "dob_std", _LAST), ("phone_std", "dob_std", _LAST)),
    Rule("name_birth_date", (_FIRST, _LAST, "dob_std"), (_FIRST, _LAST, "dob_std")),
    Rule("name_street_postcode", (_FIRST, _LAST, "address_line1_std", "postal_code_std"),
         (_FIRST, _LAST, "address_line1_std", "postal_code_std")),
    Rule("name_email", (_FIRST, _LAST, "email_std"), (_FIRST, _LAST, "email_std")),
    Rule("name_phone", (_FIRST, _LAST, "phone_std"), (_FIRST, _LAST, "phone_std")),
)  # fmt: skip


def comparison(spec: ComparisonSpec, levels: tuple[str, ...], term_frequencies: bool) -> cl.CustomComparison:
    """The Splink comparison of `spec` with the named `levels` (in the spec's order), a null level over its key
    columns and an else level."""
    null = " AND ".join(f"({c}_l IS NULL OR {c}_r IS NULL)" for c in spec.key_columns)
    if spec.neutral:
        null = f"({null}) OR ({spec.neutral})"
    built: list[ComparisonLevelCreator | dict[str, Any]] = [cll.CustomLevel(null).configure(is_null_level=True)]
    for level in spec.levels:
        if level.name not in levels:
            continue
        custom: ComparisonLevelCreator = cll.CustomLevel(level.sql, level.label)
        if level.tf_column and term_frequencies:
            # the exact level of a column is its own exact-match detection; a joint level reads another column
            custom = custom.configure(
                tf_adjustment_column=level.tf_column, tf_adjustment_weight=1.0, disable_tf_exact_match_detection=True
            )
        if level.no_evidence:
            custom = custom.configure(m_probability=0.5, u_probability=0.5, fix_m_probability=True,
                                      fix_u_probability=True)  # fmt: skip
        built.append(custom)
    built.append(cll.ElseLevel())
    return cl.CustomComparison(output_column_name=spec.name, comparison_description=spec.description,
                               comparison_levels=built)  # fmt: skip
