"""Survivorship units and the rule engine: what survives together (one field, the address block, the country,
a consent channel) and how a unit's rule chain becomes one packed rank key per candidate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.config import ADDRESS_BLOCK, SurvivorshipConfig
from hub.model import ATTRIBUTE_FIELDS, CHANNELS, CONSENT_FIELDS, DUCKDB_TYPES, Consent

_CONSENT_AT = tuple(f"{c}_at" for c in CONSENT_FIELDS)
PROFILE_FIELDS = tuple(f.name for f in ATTRIBUTE_FIELDS if f.name not in CONSENT_FIELDS + _CONSENT_AT)
TYPES = {f.name: DUCKDB_TYPES[f.type] for f in ATTRIBUTE_FIELDS}
_CANONICAL_TEXT = ("phone", "preferred_channel")  # one written form already: nothing to choose
COUNTRY_FALLBACK = "_country_any"  # the country unit's column: every member's country, block or not
SHARED_VALUE_FIELDS = ("first_name", "last_name", "city")  # typos are told by population frequency


# Packed rank key layout: each rule's bit field (0 = best) above the 32-bit (source_system, source_key) rank,
# and one bit (126) the runner-up search sets on candidates with the winner's key.
_ORD_BITS = 32
ORD_MASK = "4294967295"
_WIDTH = {
    "valid": 1,
    "common_spelling": 1,
    "complete": 1,
    "source_priority": 8,
    "most_recent": 32,
    "most_complete": 8,
    "most_frequent": 20,
    "longest": 20,
}
SAME_FORM_BIT = 126


@dataclass(frozen=True)
class Unit:
    """What survives together, one field or the address block. SQL expressions are over `_sv_m` columns."""

    name: str
    columns: tuple[str, ...]
    rules: tuple[str, ...] = ()  # the chain, `valid` first
    present: str = "true"  # is a candidate
    valid: str = "true"  # passes the `valid` rule
    key: str = "''"  # the value's key: votes, spelling choice, and "another value" for the runner-up
    spelled: tuple[str, ...] = ()  # columns written in the best-formed spelling among members with the winning key
    shared: bool = False  # values people share: `common_spelling` looks for typos by population frequency
    near: bool = False  # near spellings pool their votes (names, towns, addresses; not emails, which differ by one)
    nicknames: bool = False  # `common_spelling` also lets a nickname lose to the name it stands for
    complete: str = "_complete"
    usable: str = "true"  # the `complete` rule
    length: str = "0"
    value_at: str = "source_updated_at"

    def shifts(self) -> dict[str, int]:
        """Bit offset of each rule's field; the chain's first rule is the most significant."""
        out, shift = {}, _ORD_BITS
        for rule in reversed(self.rules):
            out[rule] = shift
            shift += _WIDTH[rule]
        return out

    def component(self, rule: str) -> str:
        """This unit's value for one rule's bit field, in [0, 2**width): 0 is best."""
        top = (1 << _WIDTH[rule]) - 1
        return {
            "valid": f"(NOT {self.valid})::INTEGER",
            "common_spelling": f"coalesce(v_{self.name}._variant, false)::INTEGER",
            "complete": f"(NOT {self.usable})::INTEGER",
            "source_priority": f"least(_prio, {top})",
            "most_recent": "_recency",
            "most_complete": f"{top} - least({self.complete}, {top})",
            "most_frequent": f"{top} - least(coalesce(v_{self.name}._votes, 1), {top})",
            "longest": f"{top} - least(coalesce({self.length}, 0), {top})",
        }[rule]

    def voted(self) -> bool:
        return bool({"most_frequent", "common_spelling"} & set(self.rules))

    def rank_key(self) -> str:
        """The packed rank key of a candidate; NULL for a record that is no candidate."""
        parts = [f"(({self.component(r)})::HUGEINT << {s})" for r, s in self.shifts().items()]
        return f"CASE WHEN {self.present} THEN {' + '.join([*parts, 'm._ord'])} END"

    def won(self, best: str) -> str:
        """Whether the best key belongs to a valid candidate (there is one, and `valid` passed if it is a rule)."""
        if "valid" in self.rules:
            return f"coalesce((({best} >> {self.shifts()['valid']}) & 1) = 0, false)"
        return f"({best} IS NOT NULL)"

    def rule(self, best: str, other: str) -> str:
        """The rule that decided, from the winner's and another candidate's keys (NULL: there is no other)."""
        shifts = self.shifts()
        whens = "".join(f" WHEN ({best} >> {shifts[r]}) <> ({other} >> {shifts[r]}) THEN '{r}'" for r in self.rules)
        return f"CASE WHEN {other} IS NULL THEN 'only_candidate'{whens} ELSE 'tie_break' END"


@dataclass(frozen=True)
class ConsentUnit(Unit):
    """One consent channel: the newest explicit choice, with the time it was made."""

    def rank_key(self) -> str:
        value, at = self.columns
        return (
            f"CASE WHEN {value} IN ('{Consent.GRANTED.value}', '{Consent.DENIED.value}') THEN "
            f"((({at} IS NULL)::HUGEINT) << 97) + (coalesce(9223372036854775807::HUGEINT - epoch_us({at}), 0) << 33)"
            f" + (({value} = '{Consent.GRANTED.value}')::HUGEINT << 32) + m._ord END"
        )

    def won(self, best: str) -> str:
        return f"({best} IS NOT NULL)"

    def rule(self, best: str, other: str) -> str:
        return f"CASE WHEN {other} IS NULL THEN 'only_candidate' ELSE 'consent_most_recent' END"


def _chain(rules: Sequence[str]) -> tuple[str, ...]:
    """The configured chain without repeats; `valid` is a filter, so it goes first."""
    chain = list(dict.fromkeys(rules))
    if "valid" in chain:
        chain.remove("valid")
        chain.insert(0, "valid")
    return tuple(chain)


def units_for(cfg: SurvivorshipConfig, extras: list[str], types: dict[str, str]) -> list[Unit]:
    """Every survivorship unit: the single fields, the address block, the country, then one per consent channel."""
    units: list[Unit] = []
    for f in [*PROFILE_FIELDS, *extras]:
        if f in ADDRESS_BLOCK:
            continue
        text = types[f] == "VARCHAR"
        units.append(
            Unit(
                name=f,
                columns=(f,),
                rules=_chain(cfg.rules_for(f)),
                present=f"{f} IS NOT NULL",
                valid={"email": "_valid_email", "phone": "_valid_phone"}.get(f, "true"),
                key=f"_key_{f}",
                spelled=(f,) if text and f not in _CANONICAL_TEXT else (),
                shared=f in SHARED_VALUE_FIELDS,
                near=f in SHARED_VALUE_FIELDS,
                nicknames=f == "first_name" and cfg.prefer_formal_names,
                length=f"length({f})" if text else f"length(CAST({f} AS VARCHAR))",
            )
        )
    units.append(
        Unit(
            name="address",
            columns=ADDRESS_BLOCK,
            rules=_chain(cfg.rules_for("address")),
            present="_has_address",
            key="_key_address",
            near=True,
            spelled=tuple(c for c in ADDRESS_BLOCK if c != "country"),
            complete="_block_complete",
            usable="_block_usable",
            length=f"length(concat_ws(', ', {', '.join(ADDRESS_BLOCK)}))",
        )
    )
    units.append(
        Unit(
            name="country",
            columns=(COUNTRY_FALLBACK,),
            rules=_chain(cfg.rules_for("country")),
            present=f"{COUNTRY_FALLBACK} IS NOT NULL",
            key=COUNTRY_FALLBACK,
            length="0",
        )
    )
    for ch in CHANNELS:  # keyed by the choice: a member whose choice differs lost (golden_contested)
        units.append(ConsentUnit(name=f"consent_{ch}", columns=(f"consent_{ch}", f"consent_{ch}_at"),
                                  key=f"consent_{ch}", value_at=f"consent_{ch}_at"))  # fmt: skip
    return units
