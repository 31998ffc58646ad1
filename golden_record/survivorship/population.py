"""The population lookups survivorship reads, as tables an incremental build can keep and diff.

Three decisions read more than one golden record's members: a `common_spelling` typo is "held by at most a third
as many golden records" as a spelling at least TYPO_COMMON hold (votes.py: golden records per key), a name or town
every member writes in one case takes "the proper-case spelling the rest of the population uses" (outputs.py:
spellings per value), and a swapped name order is told by how many records hold each name as a first and as a last
name (members.py: SWAP_ODDS). Each golden id's CONTRIBUTION to the first two is a table (`contributions_sql`:
golden_id, kind, key, n), so survivorship over some golden ids can add what the others contribute (`base`) and
decide exactly as over all of them. The swap is decided for the whole population by the caller (it needs only the
standardized names, not the cleaned values), so it is an input, not a contribution.

`lookups_sql` turns totals into the DERIVED lookups the decisions read: golden records per key (the typo test
compares two of them, so the count is what it reads) and the chosen spelling per lowered value (a count moving
1000 -> 1001 changes nothing there).

A survivorship over some golden ids reads the lookups of the keys its own members vote with and of the lowered
values its own members write, no others; `needed_sql` names those, so the rest's totals are summed for them alone
(at a million records the whole population's totals took ~0.3 s, and the spellings derived from them as much again,
in every incremental build)."""

from __future__ import annotations

from golden_record.survivorship.units import Unit

VOTE = "vote:"  # golden records holding a key of a unit whose `common_spelling` reads population frequency
SPELL = "spell:"  # records writing a value of a field in mixed case
CASE = "case:"  # the derived spelling per lowered value (golden_lookups)
PROPER_CASE_FIELDS = ("first_name", "last_name", "city", "address_line1", "address_line2")


def typo_units(units: list[Unit]) -> list[Unit]:
    """The units whose `common_spelling` weighs population frequency."""
    return [u for u in units if u.shared and "common_spelling" in u.rules]


def voters(unit: Unit) -> str:
    """The members that vote in a unit (valid ones, if `valid` is a rule)."""
    return f"{unit.present} AND {unit.valid}" if "valid" in unit.rules else unit.present


def contributions_sql(units: list[Unit], target: str) -> str:
    """`target` (golden_id, kind, key, n): per golden id of `_sv_g`, the keys its members vote with in each typo
    unit (n: its records holding the key) and the mixed-case spellings of PROPER_CASE_FIELDS (n: records)."""
    parts = [
        f"SELECT _gid, '{VOTE}{u.name}' AS kind, CAST({u.key} AS VARCHAR) AS key, count(*) AS n "
        f"FROM _sv_m WHERE {voters(u)} GROUP BY ALL"
        for u in typo_units(units)
    ]
    parts += [
        f"SELECT _gid, '{SPELL}{f}' AS kind, {f} AS key, count(*) AS n FROM _sv_m "
        f"WHERE _form_{f} = 0 AND {f} IS NOT NULL GROUP BY ALL"
        for f in PROPER_CASE_FIELDS
    ]
    return f"""CREATE OR REPLACE TABLE {target} AS
               SELECT g.golden_id, p.kind, p.key, p.n::BIGINT AS n
               FROM ({" UNION ALL ".join(parts)}) AS p JOIN _sv_g AS g USING (_gid)"""


def totals_sql(contributions: str, where: str = "true") -> str:
    """Population totals (kind, key, n) of the contributions matching `where`: golden records per voted key,
    records per spelling."""
    return f"""SELECT kind, key, sum(CASE WHEN starts_with(kind, '{VOTE}') THEN 1 ELSE n END)::BIGINT AS n
               FROM {contributions} WHERE {where} GROUP BY ALL"""


def looked_up(kind: str, key: str) -> str:
    """The key a contribution (`kind`, `key` columns) is looked up by: a voted key as it is, a spelling by its
    lowered value (the CASE lookup it feeds)."""
    return f"CASE WHEN starts_with({kind}, '{SPELL}') THEN lower({key}) ELSE {key} END"


def scoped(contributions: str, scope: str) -> str:
    """The rows of `contributions` whose lookup `scope` (kind, key as `looked_up` gives it) names, as a relation."""
    key = looked_up("c.kind", "c.key")
    return f"(SELECT c.* FROM {contributions} AS c SEMI JOIN {scope} AS s ON s.kind = c.kind AND s.key = {key})"


def needed_sql(contributions: str) -> str:
    """`_sv_need` (kind, key): the lookups this survivorship reads: the keys its members vote with (its own
    contributions) and, per PROPER_CASE_FIELDS field, every lowered value its members write in any case (a golden
    value written in one case takes the spelling of its lowered value)."""
    spelled = " UNION ".join(
        f"SELECT '{SPELL}{f}', lower({f}) FROM _sv_m WHERE {f} IS NOT NULL" for f in PROPER_CASE_FIELDS
    )
    return f"""CREATE OR REPLACE TEMP TABLE _sv_need AS
               SELECT DISTINCT kind, key FROM {contributions} WHERE starts_with(kind, '{VOTE}') UNION {spelled}"""


def population_sql(contributions: str, base: str | None) -> str:
    """`_sv_pop` (kind, key, n): the totals of this survivorship's own contributions plus those of `base` (the
    contributions, golden_id, kind, key, n, of every other golden id; None: there are none) for the lookups it reads
    (`_sv_need`, from needed_sql)."""
    own = totals_sql(contributions)
    union = f"{own} UNION ALL {totals_sql(scoped(base, '_sv_need'))}" if base else own
    return f"CREATE OR REPLACE TEMP TABLE _sv_pop AS SELECT kind, key, sum(n)::BIGINT AS n FROM ({union}) GROUP BY ALL"


def lookups_sql(totals: str) -> str:
    """The derived lookups (kind, key, n, spelling) of population totals: golden records per voted key, and per
    field and lowered value the mixed-case spelling the population uses most (`CASE` kinds)."""
    return f"""SELECT kind, key, n, NULL::VARCHAR AS spelling FROM {totals} WHERE starts_with(kind, '{VOTE}')
               UNION ALL
               SELECT '{CASE}' || substr(kind, {len(SPELL) + 1}) AS kind, lower(key) AS key, NULL::BIGINT AS n,
                      arg_max(key, (n, key)) AS spelling
               FROM {totals} WHERE starts_with(kind, '{SPELL}') GROUP BY ALL"""


def cases_sql() -> str:
    """`_sv_cases` (field, lowered, spelling): per value of a PROPER_CASE_FIELDS field, the mixed-case spelling the
    population uses most, to write a value every member of a golden record spelled in one case."""
    return f"""CREATE OR REPLACE TEMP TABLE _sv_cases AS
               SELECT substr(kind, {len(CASE) + 1}) AS field, key AS lowered, spelling
               FROM ({lookups_sql("_sv_pop")}) WHERE starts_with(kind, '{CASE}')"""
