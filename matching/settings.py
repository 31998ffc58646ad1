"""The Splink model definition: comparisons and blocking rules over standardized records.

Columns come from matching.standardize. Why these levels:
- names are compared jointly, so a record with first and last name swapped, or a nickname
  (Bob ~ Robert via first_name_canonical), scores as the strong evidence it is rather than as
  two disagreements;
- full names, phone numbers and email usernames get term-frequency adjustments: a common name or
  a number shared by a household is weaker evidence than a rare one;
- emails compare exactly (address, or username at another provider) and never fuzzily, since
  addresses derived from the same name are similar for different people;
- the address is a house number + street + postcode block, so a move (new address, same person)
  costs one comparison, not three.
Blocking keeps recall high with several independent keys (email, phone, name + birth date,
postcode + name, ...) while no key alone produces an explosion of pairs.
"""

from __future__ import annotations

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on

RECORD_ID = "unique_id"


def _name_comparison() -> cl.CustomComparison:
    first_l, first_r = "first_name_std_l", "first_name_std_r"
    last_l, last_r = "last_name_std_l", "last_name_std_r"
    canon = "first_name_canonical_l = first_name_canonical_r"
    return cl.CustomComparison(
        output_column_name="name",
        comparison_description="first and last name, jointly",
        comparison_levels=[
            cll.CustomLevel(
                f"({first_l} IS NULL OR {first_r} IS NULL) AND ({last_l} IS NULL OR {last_r} IS NULL)"
            ).configure(is_null_level=True),
            # A common full name is weak evidence on its own: term-frequency adjusted.
            cll.CustomLevel(f"{first_l} = {first_r} AND {last_l} = {last_r}", "exact first and last").configure(
                tf_adjustment_column="name_concat_std",
                tf_adjustment_weight=1.0,
                disable_tf_exact_match_detection=True,  # this level is the exact match on the full name
            ),
            cll.CustomLevel(f"{canon} AND {last_l} = {last_r}", "nickname first, exact last"),
            cll.CustomLevel(f"{first_l} = {last_r} AND {last_l} = {first_r}", "first and last swapped"),
            cll.CustomLevel(
                f"jaro_winkler_similarity({first_l}, {first_r}) >= 0.88 AND {last_l} = {last_r}",
                "similar first, exact last",
            ),
            cll.CustomLevel(
                f"({first_l} = {first_r} OR {canon}) AND jaro_winkler_similarity({last_l}, {last_r}) >= 0.88",
                "exact first, similar last",
            ),
            cll.CustomLevel(
                f"jaro_winkler_similarity({first_l}, {first_r}) >= 0.88 "
                f"AND jaro_winkler_similarity({last_l}, {last_r}) >= 0.88",
                "similar first and last",
            ),
            cll.CustomLevel(f"{last_l} = {last_r}", "exact last only"),
            cll.CustomLevel(f"{first_l} = {first_r} OR {canon}", "first only"),
            cll.ElseLevel(),
        ],
    )


def _address_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="address",
        comparison_description="house number, street and postcode as one block",
        comparison_levels=[
            cll.CustomLevel(
                "(address_line1_std_l IS NULL OR address_line1_std_r IS NULL) "
                "AND (postal_code_std_l IS NULL OR postal_code_std_r IS NULL)"
            ).configure(is_null_level=True),
            cll.CustomLevel(
                "address_line1_std_l = address_line1_std_r AND postal_code_std_l = postal_code_std_r",
                "same street address and postcode",
            ),
            cll.CustomLevel(
                "house_number_l = house_number_r AND postal_code_std_l = postal_code_std_r",
                "same house number and postcode",
            ),
            cll.CustomLevel(
                "jaro_winkler_similarity(address_line1_std_l, address_line1_std_r) >= 0.9 "
                "AND postal_outward_l = postal_outward_r",
                "similar street address, same postal district",
            ),
            cll.CustomLevel("postal_code_std_l = postal_code_std_r", "same postcode only"),
            cll.CustomLevel("postal_outward_l = postal_outward_r", "same postal district only"),
            cll.ElseLevel(),
        ],
    )


def _email_comparison() -> cl.CustomComparison:
    """Exact address or exact username only. Fuzzy levels would re-count the name: different people
    called Lindsey Jones have lindseyjones@... and lindsey.jones@... addresses."""
    return cl.CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email_std"),
            cll.ExactMatchLevel("email_std"),
            cll.ExactMatchLevel("email_user_std").configure(
                tf_adjustment_column="email_user_std", tf_adjustment_weight=1.0
            ),
            cll.ElseLevel(),
        ],
    )


def comparisons() -> list:
    return [
        _name_comparison(),
        cl.DateOfBirthComparison("dob_std", input_is_string=False),
        _email_comparison(),
        cl.CustomComparison(
            output_column_name="phone",
            comparison_levels=[
                cll.NullLevel("phone_std"),
                cll.ExactMatchLevel("phone_std", term_frequency_adjustments=True),
                cll.DamerauLevenshteinLevel("phone_std", 1),
                cll.ElseLevel(),
            ],
        ),
        _address_comparison(),
        cl.ExactMatch("city_std").configure(term_frequency_adjustments=True),
    ]


def prediction_blocking_rules() -> list:
    """Several independent keys so a record that differs in one field is still found by another."""
    return [
        block_on("email_std"),
        block_on("phone_std", "substr(first_name_std, 1, 1)"),
        block_on("first_name_canonical", "last_name_std"),
        block_on("last_name_std", "dob_std"),
        block_on("first_name_canonical", "dob_std"),
        block_on("first_name_std", "dob_std"),
        block_on("postal_code_std", "substr(last_name_std, 1, 2)"),
        block_on("dob_std", "postal_code_std"),
        block_on("email_user_std", "dob_std"),
        block_on("phone_std", "last_name_std"),
        # first and last name swapped between systems: "Linda Cole" / "COLE, Linda" typed the wrong way
        "l.first_name_std = r.last_name_std AND l.last_name_std = r.first_name_std",
    ]


def training_blocking_rules() -> list:
    """EM sessions: each fixes some comparisons and estimates the others."""
    return [
        block_on("dob_std", "substr(last_name_std, 1, 1)"),
        block_on("email_std"),
        block_on("postal_code_std", "house_number"),
    ]


def deterministic_rules() -> list:
    """Near-certain matches, for estimating how many records match at all."""
    return [
        block_on("email_std", "dob_std"),
        block_on("first_name_std", "last_name_std", "dob_std", "postal_code_std"),
        block_on("phone_std", "dob_std", "last_name_std"),
    ]


def settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=RECORD_ID,
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=prediction_blocking_rules(),
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
    )
