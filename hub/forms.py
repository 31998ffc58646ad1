"""Value forms: how the hub cleans a value, compares two values, and writes a value in a source's style.

Matching, survivorship and write-back must agree on when two spellings are "the same value": if they did not,
survivorship could pick a spelling that write-back then sees as a change, or write-back could rewrite "SMITH" as
"Smith" in a system that keeps surnames in capitals. So the rules live here once, as DuckDB macros loaded on a
connection (`load`), plus a few Python helpers for what SQL cannot do well (proper case).

Keys (equal key = same value; never written, only compared):
- text (`std_text`): lower case, accents folded, apostrophes dropped, other punctuation and whitespace runs -> one
  space. Names (`std_name`) also drop titles and suffixes (NAME_AFFIXES). Street lines (`std_street`) also map
  street-type and unit words through data/street_types.csv ("Street" -> "st", "Flat"/"Apt"/"#" -> "unit").
- email (`hub_email_key`): lower case and trimmed, "+tag" dropped, Gmail's dots dropped (googlemail.com is
  gmail.com); NULL unless it looks like local@domain.tld.
- postal code (`hub_postcode_key`): upper case, letters and digits only; a US ZIP+4 (or, without a country, any
  ZIP-shaped code) compares as its ZIP5, and a US ZIP that lost its leading zeros is padded.
- region (`hub_region`): for countries whose addresses use subdivision codes (REGION_CODE_COUNTRIES), the code
  ("Wisconsin" and "WI" -> "WI"); elsewhere the cleaned text.
- address place (`hub_place_key`): the street line and the unit (flat, apartment, suite) keyed separately, so
  "Flat 3, 12 Oak Road", "12 Oak Road" + "Flat 3" and "12 Oak Road" / newline / "Flat 3" are one place.
- transliteration (`hub_spelled_out`, "Transliteration" below): a text's key with its accented letters spelled out,
  so that write-back and survivorship see "Blümel" and "Bluemel" as one spelling (the plain key already makes it
  one with "Blumel").

Clean forms (what a golden value looks like):
- `hub_clean`: trimmed, whitespace runs (line breaks included) -> one space; empty -> NULL.
- names: `hub_strip_affixes` drops title and suffix tokens ("Mr", "Dr.", "Jr") unless nothing would be left.
- `hub_postcode`: the country's written form: GB/GG/JE/IM "SW1A 1AA", CA "K1A 0B1", NL "1234 AB", US ZIP5; other
  countries upper case, cleaned.
- `hub_street` / `hub_unit`: a one-line or multi-line address split into the street line and the unit line.
- `proper_case` (Python): "O'NEILL-SMITH" -> "O'Neill-Smith", "mcdonald" -> "McDonald"; only used where every
  known spelling of a value is in one case.

Case forms (`hub_case_form`): 0 mixed case (or no letters), 1 ALL CAPS, 2 all lower. "Proper case over ALL CAPS
or all lower" is ordering by this number.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

import duckdb
import pycountry

DATA_DIR = Path(__file__).parent / "data"
NICKNAMES_CSV = DATA_DIR / "nicknames.csv"
STREET_TYPES_CSV = DATA_DIR / "street_types.csv"

# Titles, honorifics and generational suffixes: tokens that say nothing about who a person is.
# "lord"/"lady"/"master" are left out on purpose: they are real surnames as often as titles.
NAME_AFFIXES = (
    "mr", "mrs", "ms", "mx", "miss", "dr", "prof", "rev", "sir", "dame",
    "herr", "frau", "mme", "mlle", "sra", "srta", "dra", "dott",
    "jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv", "esq", "phd",
)  # fmt: skip

# Words that open a surname ("van der Dussen", "de la Cruz", "Le Goff", "dos Santos", "von Trapp"), in any case: a
# full name "Tilmann van der Dussen" is Tilmann + van der Dussen. "ben" / "bin" / "al" are left out: as often given
# or middle names ("John Ben Smith").
SURNAME_PARTICLES = (
    "van", "von", "vom", "der", "den", "ter", "ten", "de", "del", "della", "dei", "di", "da", "du", "des", "dos",
    "das", "la", "le", "lo", "zu", "zum", "zur", "af", "av", "op",
)  # fmt: skip

# Countries whose postal addresses write the state / province as its code ("WI", "ON", "NSW").
REGION_CODE_COUNTRIES = ("US", "CA", "AU")

# A unit designator and its number: "Flat 3", "Apt. 5B", "Suite 200", "Unit 4-2", "#12", "Wohnung 25", "Appartement
# 12", "Bât. 3". Without their accents, the words are the ones data/street_types.csv maps to "unit" (checked by the
# tests); the accented spellings are listed too, since the pattern reads the line as written.
UNIT_WORDS = (
    "apartment", "apartments", "appartement", "appt", "apt", "bat", "bât", "batiment", "bâtiment", "flat", "flt",
    "ste", "suite", "unit", "whg", "wohnung",
)  # fmt: skip
UNIT_PATTERN = rf"(?:(?:{'|'.join(UNIT_WORDS)})\.?\s*(?:no\.?\s*)?#?\s*|#\s*)[0-9][0-9a-z/-]*|(?:flat|apt|unit)\s+[a-z]"

# Transliteration: how a system without accented letters stores a value, and why a value and its ASCII spelling
# say the same. German writes a letter with umlaut as the letter and "e" ("Blümel" -> "Bluemel", "Straße" ->
# "Strasse"), Danish and Norwegian write "ø" and "å" as "oe" and "aa" ("Søren" -> "Soeren", "Århus" -> "Aarhus"),
# elsewhere the accent is dropped ("Hébert" -> "Hebert", "Björk" -> "Bjork"). Keys compare both ways: `std_*` of
# the value drops the accent (Blümel = Blumel), `std_*` of `hub_spelled_out` spells it out (Blümel = Bluemel), and
# two values say the same when either pair of keys is equal. `hub_ascii(x, country)` writes the value as a system
# holding no such letters does (connectors/styles.py); a value already in ASCII is returned as it is.
NATIVE_LETTER = r"[^\x00-\x7F\x{00A0}-\x{00BF}\x{2000}-\x{206F}]"  # beyond ASCII; not a space, symbol or quote
SPELLED_OUT_COUNTRIES = ("AT", "CH", "DE", "DK", "LI", "LU", "NO")
_SPELLED_OUT_LOWER = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ø", "oe"), ("å", "aa"))
_FOLD_FROM, _FOLD_TO = "øØłŁđĐðÐħĦı", "oOlLdDdDhHi"  # what strip_accents leaves, as std_chars folds it
_FOLD_MORE = (("ß", "ss"), ("ẞ", "SS"), ("æ", "ae"), ("Æ", "Ae"), ("œ", "oe"), ("Œ", "Oe"), ("þ", "th"), ("Þ", "Th"))

_LOADED = "hub_forms_loaded"


def _replace_chain(value: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for old, new in pairs:
        value = f"replace({value}, '{old}', '{new}')"
    return value


def _spelled_out_cased(value: str) -> str:
    """SQL: the spelled-out letters with their case: "Ü" -> "Ue", but "UE" inside a word in capitals ("MÜLLER")."""
    for old, new in _SPELLED_OUT_LOWER:
        upper, spelled = old.upper(), new.upper()
        value = f"regexp_replace({value}, '{upper}(\\p{{Lu}})', '{spelled}\\1', 'g')"
        value = f"replace(replace({value}, '{upper}', '{spelled.capitalize()}'), '{old}', '{new}')"
    return value


def _regions() -> tuple[dict[str, str], dict[str, str]]:
    """(country:key -> code, country:code -> name) for REGION_CODE_COUNTRIES, from pycountry (no download)."""
    codes, names = {}, {}
    for country in REGION_CODE_COUNTRIES:
        for sub in pycountry.subdivisions.get(country_code=country) or []:
            code = sub.code.split("-", 1)[1]
            codes[f"{country}:{_text_key(sub.name)}"] = code
            codes[f"{country}:{code.lower()}"] = code
            names[f"{country}:{code}"] = sub.name
    return codes, names


def _text_key(text: str) -> str:
    """Python twin of std_text for the reference data built here (ASCII names)."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower().replace("'", "")).split())


def _map_literal(entries: dict[str, str]) -> str:
    def quote(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    return "MAP {" + ", ".join(f"{quote(k)}: {quote(v)}" for k, v in sorted(entries.items())) + "}"


@cache
def _macros() -> list[str]:
    affixes = "[" + ", ".join(f"'{a}'" for a in NAME_AFFIXES) + "]"
    region_codes, region_names = _regions()
    unit = UNIT_PATTERN.replace("'", "''")
    nl = "chr(10)"
    return [
        # -- keys ---------------------------------------------------------------------------------------------
        # Letters folded to ASCII where strip_accents leaves them, quotes and apostrophes dropped, other punctuation
        # a space. One test, then every step of the slow path: a macro's argument is copied wherever its body names
        # it, and a test per step made DuckDB bind `y` eleven times (a write-back plan binds ~20 of these forms).
        r"""CREATE OR REPLACE TEMP MACRO std_chars(y) AS
            CASE WHEN regexp_matches(y, '[^a-z0-9 ]')
                 THEN regexp_replace(
                          regexp_replace(
                              replace(replace(replace(replace(translate(y, 'øłđðħı', 'oldchi'), 'ß', 'ss'), 'æ', 'ae'),
                                      'œ', 'oe'), 'þ', 'th'),
                              '[''`\x{2018}\x{2019}\x{02BC}]', '', 'g'),
                          '[^\p{L}\p{N} ]', ' ', 'g')
                 ELSE y END""",
        r"""CREATE OR REPLACE TEMP MACRO std_tokens(x) AS
            list_filter(string_split(std_chars(strip_accents(lower(x))), ' '), lambda t: t <> '')""",
        "CREATE OR REPLACE TEMP MACRO std_text(x) AS nullif(array_to_string(std_tokens(x), ' '), '')",
        # -- transliteration (see "Transliteration") -------------------------------------------------------------
        # An ASCII text is as many bytes as characters: that test is ten times cheaper than the pattern.
        f"""CREATE OR REPLACE TEMP MACRO hub_native(x) AS
            CASE WHEN strlen(x) = length(x) THEN false ELSE regexp_matches(x, '{NATIVE_LETTER}') END""",
        f"""CREATE OR REPLACE TEMP MACRO hub_native_letters(x) AS
            CASE WHEN hub_native(x) THEN length(x) - length(regexp_replace(x, '{NATIVE_LETTER}', '', 'g'))
                 ELSE 0 END""",
        f"""CREATE OR REPLACE TEMP MACRO hub_spelled_out(x) AS
            CASE WHEN hub_native(x) THEN {_replace_chain("lower(nfc_normalize(x))", _SPELLED_OUT_LOWER)} ELSE x END""",
        f"""CREATE OR REPLACE TEMP MACRO hub_ascii_letters(y) AS
            strip_accents({_replace_chain(f"translate(y, '{_FOLD_FROM}', '{_FOLD_TO}')", _FOLD_MORE)})""",
        # Not `c IN (...)`: DuckDB plans a list of constants as a join, one per copy of the macro in a query.
        f"""CREATE OR REPLACE TEMP MACRO hub_ascii(x, c) AS
            CASE WHEN NOT hub_native(x) THEN x
                 WHEN contains('|{"|".join(SPELLED_OUT_COUNTRIES)}|', '|' || CAST(c AS VARCHAR) || '|')
                 THEN hub_ascii_letters({_spelled_out_cased("nfc_normalize(x)")})
                 ELSE hub_ascii_letters(nfc_normalize(x)) END""",
        f"""CREATE OR REPLACE TEMP MACRO std_name(x) AS
            nullif(array_to_string(list_filter(std_tokens(x), lambda t: NOT list_contains({affixes}, t)), ' '), '')""",
        r"""CREATE OR REPLACE TEMP MACRO std_street(x, street_map) AS
            nullif(array_to_string(list_transform(std_tokens(replace(x, '#', ' unit ')),
                                                  lambda t: coalesce(street_map[t], t)), ' '), '')""",
        # (regexp_extract, not split_part: DuckDB 2.0 fails to bind split_part(...) = '...' on an all-NULL column)
        r"""CREATE OR REPLACE TEMP MACRO hub_email_key(x) AS
            CASE WHEN regexp_full_match(lower(trim(x)), '{email}') THEN
                 CASE WHEN regexp_full_match(lower(trim(x)), '[^@]*@(gmail|googlemail)\.com')
                      THEN nullif(replace(regexp_extract(lower(trim(x)), '^([^@+]*)', 1), '.', ''), '') || '@gmail.com'
                      ELSE nullif(regexp_extract(lower(trim(x)), '^([^@+]*)', 1), '')
                           || '@' || regexp_extract(lower(trim(x)), '@(.*)$', 1) END END""",
        r"""CREATE OR REPLACE TEMP MACRO hub_postcode_key(p, c) AS
            CASE WHEN regexp_full_match(upper(regexp_replace(p, '[^0-9A-Za-z]', '', 'g')), '[0-9]{5}([0-9]{4})?')
                      AND (c = 'US' OR c IS NULL)
                 THEN left(regexp_replace(p, '[^0-9]', '', 'g'), 5)
                 WHEN c = 'US' AND regexp_full_match(trim(p), '[0-9]{3,4}') THEN lpad(trim(p), 5, '0')
                 ELSE nullif(upper(regexp_replace(p, '[^0-9A-Za-z]', '', 'g')), '') END""",
        f"""CREATE OR REPLACE TEMP MACRO hub_region(r, c) AS
            coalesce({_map_literal(region_codes)}[c || ':' || std_text(r)], hub_clean(r))""",
        f"""CREATE OR REPLACE TEMP MACRO hub_region_name(r, c) AS
            coalesce({_map_literal(region_names)}[c || ':' || r], r)""",
        # -- clean forms --------------------------------------------------------------------------------------
        r"""CREATE OR REPLACE TEMP MACRO hub_clean(x) AS
            nullif(trim(CASE WHEN regexp_matches(x, '\s\s|[^ \S]') THEN regexp_replace(x, '\s+', ' ', 'g') ELSE x END),
                   '')""",
        r"""CREATE OR REPLACE TEMP MACRO hub_case_form(x) AS
            CASE WHEN x IS NULL THEN NULL WHEN x = upper(x) AND x <> lower(x) THEN 1
                 WHEN x = lower(x) AND x <> upper(x) THEN 2 ELSE 0 END""",
        f"""CREATE OR REPLACE TEMP MACRO hub_strip_affixes(x) AS
            coalesce(nullif(array_to_string(list_filter(string_split(hub_clean(x), ' '),
                         lambda t: NOT list_contains({affixes}, lower(trim(t, '.,')))), ' '), ''), hub_clean(x))""",
        r"""CREATE OR REPLACE TEMP MACRO hub_postcode_from(k, p, c) AS
            CASE WHEN c IN ('GB', 'GG', 'JE', 'IM') AND regexp_full_match(k, '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}')
                 THEN left(k, length(k) - 3) || ' ' || right(k, 3)
                 WHEN c = 'CA' AND regexp_full_match(k, '[A-Z][0-9][A-Z][0-9][A-Z][0-9]')
                 THEN left(k, 3) || ' ' || right(k, 3)
                 WHEN c = 'NL' AND regexp_full_match(k, '[0-9]{4}[A-Z]{2}') THEN left(k, 4) || ' ' || right(k, 2)
                 WHEN (c = 'US' OR c IS NULL) AND regexp_full_match(k, '[0-9]{5}') THEN k
                 ELSE upper(hub_clean(p)) END""",
        "CREATE OR REPLACE TEMP MACRO hub_postcode(p, c) AS hub_postcode_from(hub_postcode_key(p, c), p, c)",
        # A unit phrase standing alone on a line, before a comma at the start, or at the end of the line.
        f"""CREATE OR REPLACE TEMP MACRO hub_unit_raw(l1) AS
            CASE WHEN l1 IS NULL THEN NULL
                 WHEN contains(l1, {nl}) AND regexp_full_match(trim(split_part(l1, {nl}, 2)), '{unit}', 'i')
                 THEN split_part(l1, {nl}, 2)
                 WHEN contains(l1, {nl}) AND regexp_full_match(trim(split_part(l1, {nl}, 1)), '{unit}', 'i')
                 THEN split_part(l1, {nl}, 1)
                 WHEN contains(l1, {nl}) THEN NULL
                 ELSE nullif(coalesce(
                     nullif(regexp_extract(l1, '^\\s*({unit})\\s*,', 1, 'i'), ''),
                     nullif(regexp_extract(l1, '[\\p{{L}}\\p{{N}}.]\\s*,?\\s+({unit})\\s*$', 1, 'i'), '')), '') END""",
        # The `_from` forms take hub_unit_raw(l1) computed once. A macro argument is copied into every place the
        # macro uses it, so nested macros multiply an expression: in bulk SQL compute hub_unit_raw (and
        # hub_postcode_key) in one projection and the `_from` forms in the next, and pass std_street a column.
        "CREATE OR REPLACE TEMP MACRO hub_unit_from(l2, unit_raw) AS coalesce(hub_clean(l2), hub_clean(unit_raw))",
        f"""CREATE OR REPLACE TEMP MACRO hub_street_from(l1, l2, unit_raw) AS
            CASE WHEN hub_clean(l2) IS NOT NULL OR unit_raw IS NULL
                 THEN hub_clean(regexp_replace(trim(l1), '\\s*\\n\\s*', ', ', 'g'))
                 ELSE hub_clean(trim(replace(l1, unit_raw, ''), ' ,' || {nl})) END""",
        "CREATE OR REPLACE TEMP MACRO hub_unit(l1, l2) AS hub_unit_from(l2, hub_unit_raw(l1))",
        "CREATE OR REPLACE TEMP MACRO hub_street(l1, l2) AS hub_street_from(l1, l2, hub_unit_raw(l1))",
        r"""CREATE OR REPLACE TEMP MACRO hub_place_key(street, unit, street_map) AS
            concat_ws('|', std_street(street, street_map), std_street(unit, street_map))""",
        f"""CREATE OR REPLACE TEMP MACRO hub_one_line(street, unit, layout) AS
            CASE WHEN unit IS NULL THEN street WHEN street IS NULL THEN unit
                 WHEN layout = 'unit_first' THEN unit || ', ' || street
                 WHEN layout = 'unit_newline' THEN street || {nl} || unit
                 ELSE street || ' ' || unit END""",
    ]


@cache
def fingerprint() -> str:
    """A digest of the macros and reference data `load` puts on a connection: a plan that compares values by these
    forms (connectors/writeback_basis.py) is only still valid while this is unchanged."""
    from hub.model import EMAIL_PATTERN

    digest = hashlib.md5(usedforsecurity=False)
    for part in (*_macros(), EMAIL_PATTERN, NICKNAMES_CSV.read_text(), STREET_TYPES_CSV.read_text()):
        digest.update(part.encode())
    return digest.hexdigest()


def load(con: duckdb.DuckDBPyConnection) -> None:
    """Load the reference tables (`std_nicknames`, `std_street_types`, the one-row `std_street_map`) and the
    macros above onto `con`, once per connection (they are TEMP: they live as long as it does)."""
    loaded = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary", [_LOADED]
    ).fetchall()[0][0]
    if loaded:
        return
    con.execute(
        """CREATE OR REPLACE TEMP TABLE std_nicknames AS
           SELECT DISTINCT ON (nickname) lower(trim(nickname)) AS nickname, lower(trim(name)) AS name,
                  lower(trim(kind)) AS kind
           FROM read_csv($path, header = true,
                         columns = {'nickname': 'VARCHAR', 'name': 'VARCHAR', 'kind': 'VARCHAR'})
           ORDER BY nickname""",
        {"path": str(NICKNAMES_CSV)},
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE std_street_types AS
           SELECT DISTINCT ON (word) lower(trim(word)) AS word, lower(trim(abbreviation)) AS abbreviation
           FROM read_csv($path, header = true, columns = {'word': 'VARCHAR', 'abbreviation': 'VARCHAR'})
           ORDER BY word""",
        {"path": str(STREET_TYPES_CSV)},
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE std_street_map AS
           SELECT map(list(word), list(abbreviation)) AS street_map FROM std_street_types"""
    )
    from hub.model import EMAIL_PATTERN

    for statement in _macros():
        con.execute(statement.replace("{email}", EMAIL_PATTERN))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_LOADED} AS SELECT 1 AS loaded")


_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_MC = re.compile(r"^(Mc)([a-z])")


def proper_case(text: str | None) -> str | None:
    """A name or place written in one case, in proper case: each run of letters capitalized ("o'neill-smith" ->
    "O'Neill-Smith"), "Mc" prefixes included ("MCDONALD" -> "McDonald"). Mixed-case text is returned as it is:
    someone already chose its capitals."""
    if text is None or (text != text.upper() and text != text.lower()):
        return text

    def word(m: re.Match[str]) -> str:
        w = m.group(0).capitalize()
        if len(w) > 3:
            w = _MC.sub(lambda p: p.group(1) + p.group(2).upper(), w)
        return w

    # A letter run glued to digits ("12b") stays as it is: it is a house number, not a word.
    return re.sub(r"(?<![0-9])[^\W\d_]+", word, text.lower())
