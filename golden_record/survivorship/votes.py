"""Votes per key and the `common_spelling` rule: typos, nicknames and near spellings give their votes away."""

from __future__ import annotations

from golden_record.survivorship.population import VOTE, typo_units, voters
from golden_record.survivorship.units import Unit

TYPO_COMMON = 3  # golden records that must hold a spelling before a rare neighbour counts as its typo
NEAR_SHARE = 0.12  # edits per character under which two text keys are near spellings that pool their votes


def typo_sql(a: str, b: str, pop: str = "_pop") -> str:
    """Whether key `a` is a likely typo of key `b` in one golden record (both with _key, _count: its records
    there, and `pop`: golden records holding it)."""
    return f"""(damerau_levenshtein({a}._key, {b}._key) <= CASE WHEN least(length({a}._key), length({b}._key)) < 5
                                                                THEN 1 ELSE 2 END
                AND {a}._count <= {b}._count AND {b}.{pop} >= {TYPO_COMMON} AND {b}.{pop} >= 3 * {a}.{pop})"""


def votes_sql(unit: Unit) -> str:
    """`_sv_votes_<unit>` (_gid, _key, _votes, _variant): per key of a golden id with two or more keys, its votes
    and whether it is a likely typo or nickname of another key there (see `common_spelling`); elsewhere votes
    cannot separate candidates. Only candidates that compete vote (valid ones, if `valid` is a rule).

    A key's votes are its records plus those of its typos and nicknames and, for text, of near spellings
    (Damerau-Levenshtein distance at most NEAR_SHARE of the longer key: "12 high st" / "12 hihg st",
    "williamson" / "wiliamson"; not "jon" / "john") and, for names and towns, of its transliterations ("Käster" keys
    as "kaster", "KAESTER" as "kaester": one name spelled out, hub.forms "Transliteration"): records that nearly agree
    outvote one that says something else, and which of the near spellings is written is left to the other rules."""
    spelling = "common_spelling" in unit.rules
    typo = "false"
    # golden records per key: the whole population's (`_sv_pop`) where the typo test reads it
    pop = "SELECT _key, count(*) AS _pop FROM keys GROUP BY _key"
    if unit in typo_units([unit]):
        pop = f"SELECT key AS _key, n AS _pop FROM _sv_pop WHERE kind = '{VOTE}{unit.name}'"
        typo = typo_sql("a", "b")
    nickname = "false"
    if spelling and unit.nicknames:
        # the listed name, or any longer name the nickname starts ("Sam" for Samantha as well as Samuel); a longer
        # first word, not another word after it ("Robby auch" is Robby and a stray word, not a name Robby stands for)
        longer = "split_part(b._key, ' ', 1)"
        nickname = (
            "(a._nick_kind = 'nickname' AND coalesce(b._nick_kind, '') <> 'nickname' "
            "AND (a._nick_name = CASE WHEN b._nick_kind = 'variant' THEN b._nick_name ELSE b._key END"
            f" OR (starts_with({longer}, a._key) AND length({longer}) > length(a._key))))"
        )
    near, spelled = "false", "NULL::VARCHAR"
    if unit.near:
        near = f"damerau_levenshtein(a._key, b._key) <= {NEAR_SHARE} * greatest(length(a._key), length(b._key))"
    if unit.shared:  # a name or town and its transliteration: "Käster" / "KAESTER"
        # a key's spelled-out key where a member spells it with a letter to spell out (else it is the key itself)
        (column,) = unit.columns
        spelled = f"max(CASE WHEN hub_native({column}) THEN std_text(hub_spelled_out({column})) END)"
        near = f"({near} OR a._spelled = b._key OR b._spelled = a._key OR a._spelled = b._spelled)"
    return f"""
        CREATE OR REPLACE TEMP TABLE _sv_votes_{unit.name} AS
        WITH keys AS (
            SELECT _gid, {unit.key} AS _key, count(*) AS _count,
                   any_value(_nick_name) AS _nick_name, any_value(_nick_kind) AS _nick_kind, {spelled} AS _spelled
            FROM _sv_m WHERE {voters(unit)} GROUP BY ALL),
        pop AS ({pop}),
        multi AS MATERIALIZED (
            SELECT keys.*, pop._pop FROM keys JOIN pop USING (_key)
            SEMI JOIN (SELECT _gid FROM keys GROUP BY _gid HAVING count(*) > 1) USING (_gid)),
        pairs AS MATERIALIZED (  -- a gives its votes to b; a is a variant (typo, nickname) of b
            SELECT a._gid, a._key AS key_a, b._key AS key_b, a._count AS n_a, {typo} OR {nickname} AS variant
            FROM multi AS a JOIN multi AS b ON a._gid = b._gid AND a._key <> b._key
            WHERE {typo} OR {nickname} OR {near}),
        gained AS (SELECT _gid, key_b AS _key, sum(n_a) AS _n FROM pairs GROUP BY ALL),
        variants AS (SELECT DISTINCT _gid, key_a AS _key FROM pairs WHERE variant)
        SELECT m._gid, m._key, m._count + coalesce(g._n, 0) AS _votes, v._key IS NOT NULL AS _variant
        FROM multi AS m LEFT JOIN gained AS g USING (_gid, _key) LEFT JOIN variants AS v USING (_gid, _key)"""
