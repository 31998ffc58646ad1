"""The `survivorship:` block: which rules decide each golden value (golden_record/survivorship)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import field_validator

from hub.config.base import Strict
from hub.model import CONSENT_FIELDS

Rule = Literal[
    "source_priority", "most_recent", "most_complete", "most_frequent", "longest", "valid", "common_spelling",
    "complete",
]  # fmt: skip
RULES: tuple[str, ...] = get_args(Rule)
ADDRESS_BLOCK = ("address_line1", "address_line2", "city", "region", "postal_code", "country")

# Rules per field when hub.yaml says nothing. Names and dates are decided by evidence (how many records say it,
# and whether a spelling is a likely typo or nickname of another); values people change (email, phone, where
# they live) by the newest record; recency is the last tie-break everywhere.
DEFAULT_RULES: dict[str, list[str]] = {
    "first_name": ["common_spelling", "most_frequent", "most_recent"],
    "last_name": ["common_spelling", "most_frequent", "most_recent"],
    "date_of_birth": ["most_frequent", "most_recent"],
    "email": ["valid", "most_recent"],
    "phone": ["valid", "most_recent"],
    "address": ["complete", "most_recent"],
    "country": ["most_frequent", "most_recent"],
}


class SurvivorshipConfig(Strict):
    """Which value becomes the golden value, per field: rules chain as tie-breakers.

    Keys of `fields` are attribute names, `address` for the address block (address_line1, address_line2, city,
    region, postal_code and country survive together from one place), or `country` for the country of a person
    no address block speaks for. Consent is not configurable: per channel, the most recent explicit choice wins.
    A pinned steward value always wins over any rule. `prefer_formal_names`: a first name that is a nickname of
    another candidate's name ("Matt" beside "Matthew") loses to it under the `common_spelling` rule."""

    source_priority: list[str] = []
    fields: dict[str, list[Rule]] = {}
    prefer_formal_names: bool = True

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, rules in v.items():
            if name in ADDRESS_BLOCK and name != "country":
                raise ValueError(f"'{name}' survives with the address block: configure 'address' instead")
            if name in CONSENT_FIELDS or name.removesuffix("_at") in CONSENT_FIELDS:
                raise ValueError(f"'{name}': consent always follows the most recent explicit choice")
            if not rules:
                raise ValueError(f"'{name}': give at least one rule ({', '.join(RULES)})")
        return v

    def rules_for(self, field: str) -> list[str]:
        return list(self.fields.get(field) or DEFAULT_RULES.get(field) or ["most_recent"])
