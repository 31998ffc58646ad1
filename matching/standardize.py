"""Standardize staged canonical records into the comparison-ready form the matcher reads.

Sources spell the same person differently ("Bob O'Brien" / "ROBERT OBRIEN", "12 High Street, Flat 3" /
"12 High St" + "Flat 3"); matching compares these `*_std` columns instead of the raw ones, which are kept
unchanged beside them for survivorship and lineage. Everything is one set-based DuckDB statement: the
reference data (nicknames, street types) is loaded once per run into temp tables and joined, with no
per-row Python, so 2M rows take seconds (benchmarks/standardize_speed.py).

Rules (the tests in tests/test_standardize.py pin each one):
- text: lowercase, accents stripped (strip_accents, plus ø/ł/đ/ß/æ/œ/þ folded by hand), apostrophes
  removed ("O'Brien" -> "obrien"), every other run of punctuation or whitespace -> one space
  ("Smith-Jones" -> "smith jones"), trimmed; empty -> NULL. The same rule for names, address and city,
  so a hyphen never decides a match.
- names: title/suffix tokens (NAME_AFFIXES) dropped. `first_name_canonical` maps the first token through
  data/nicknames.csv (nickname -> name; one hop, each nickname one name); an unknown token stays itself.
  Ambiguous nicknames take the name most common in UK/US records: alex -> alexander, sam -> samuel,
  chris -> christopher, pat -> patricia, fred -> frederick, ted/ed -> edward, harry -> henry,
  bert -> albert, jerry -> gerald, terry -> terence, charlie -> charles, frank -> francis, jack -> john,
  jon -> jonathan, nat -> nathaniel, mel -> melanie, sandy -> sandra, nicky -> nicholas, lou -> louis;
  spelling variants share a group (catherine/kathryn -> katherine, steven -> stephen, mohammed -> muhammad).
  Too-ambiguous short forms (jo, al, max) are not mapped.
- email: lowercase and trimmed; "+tag" dropped; gmail.com/googlemail.com also drop dots and become
  gmail.com. NULL unless it looks like local@domain.tld.
- address: line1 text-cleaned, "#" read as "unit", each token mapped through data/street_types.csv
  (street -> st, flat/apt/suite -> unit, north -> n, ...). A unit in line2 ("Flat 3") is folded in, and
  the first "unit X" is moved to the end, so "Flat 3, 12 High Street", "12 High St, Apt 3" and line1
  "12 High St" + line2 "Flat 3" all give "12 high st unit 3". `house_number` is the first number token
  (optionally one letter: "221b") of the part without the unit.
- postal code: uppercase, whitespace removed; US (or, without a country, anything shaped like a ZIP)
  becomes ZIP5, and a US code that lost its leading zeros (3-4 digits) is padded. `postal_outward`:
  GB-style outward code (all but the last 3 chars), US ZIP3, Canadian FSA; NULL otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from hub.model import EMAIL_PATTERN
from hub.workspace import scalar

DATA_DIR = Path(__file__).parent / "data"
NICKNAMES_CSV = DATA_DIR / "nicknames.csv"
STREET_TYPES_CSV = DATA_DIR / "street_types.csv"

# Titles, honorifics and generational suffixes: tokens that say nothing about who a person is.
# "lord"/"lady"/"master" are left out on purpose: they are real surnames as often as titles.
NAME_AFFIXES = (
    "mr", "mrs", "ms", "mx", "miss", "dr", "prof", "rev", "sir", "dame",
    "jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv", "esq", "phd",
)  # fmt: skip

# The columns standardize() adds, in order, after every source column.
STD_COLUMNS = (
    "unique_id",
    "first_name_std",
    "last_name_std",
    "first_name_canonical",
    "name_concat_std",
    "email_std",
    "email_user_std",
    "phone_std",
    "dob_std",
    "dob_str",
    "address_line1_std",
    "house_number",
    "postal_code_std",
    "postal_outward",
    "city_std",
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")

# Text cleaning as DuckDB macros, so every column follows the same rule. Each costly step runs only on
# values that need it (a regexp_matches guard is several times cheaper than a regexp_replace), and runs
# of spaces are dropped while splitting into tokens rather than by a slower `+` regex: 2M rows stay fast.
_MACROS = r"""
CREATE OR REPLACE TEMP MACRO std_fold(y) AS
    CASE WHEN regexp_matches(y, '[^\x00-\x7F]')
         THEN replace(replace(replace(replace(translate(y, 'øłđðħı', 'oldchi'), 'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'),
                      'þ', 'th')
         ELSE y END;
CREATE OR REPLACE TEMP MACRO std_unquote(y) AS
    CASE WHEN regexp_matches(y, '[''`\x{2018}\x{2019}\x{02BC}]')
         THEN regexp_replace(y, '[''`\x{2018}\x{2019}\x{02BC}]', '', 'g') ELSE y END;
CREATE OR REPLACE TEMP MACRO std_chars(y) AS
    CASE WHEN regexp_matches(y, '[^a-z0-9 ]') THEN regexp_replace(std_unquote(std_fold(y)), '[^\p{L}\p{N} ]', ' ', 'g')
         ELSE y END;
CREATE OR REPLACE TEMP MACRO std_tokens(x) AS
    list_filter(string_split(std_chars(strip_accents(lower(x))), ' '), lambda t: t <> '');
CREATE OR REPLACE TEMP MACRO std_text(x) AS nullif(array_to_string(std_tokens(x), ' '), '');
CREATE OR REPLACE TEMP MACRO std_name(x) AS
    nullif(array_to_string(list_filter(std_tokens(x), lambda t: NOT list_contains({affixes}, t)), ' '), '');
CREATE OR REPLACE TEMP MACRO std_street(x, street_map) AS
    nullif(array_to_string(list_transform(
        std_tokens(CASE WHEN contains(x, '#') THEN replace(x, '#', ' unit ') ELSE x END),
        lambda t: coalesce(street_map[t], t)), ' '), '');
"""


# Names and cities repeat a lot, so each distinct value is cleaned once and joined back (3-5x cheaper
# than cleaning every row); addresses, emails and postcodes are nearly unique and are cleaned in place.
_STANDARDIZE_SQL = r"""
CREATE OR REPLACE TABLE {target} AS
WITH first_names AS (
    SELECT f.raw, f.std, coalesce(nick.name, split_part(f.std, ' ', 1)) AS canonical
    FROM (SELECT raw, std_name(raw) AS std
          FROM (SELECT DISTINCT first_name AS raw FROM {source} WHERE first_name IS NOT NULL)) AS f
    LEFT JOIN std_nicknames AS nick ON nick.nickname = split_part(f.std, ' ', 1)
),
last_names AS (
    SELECT raw, std_name(raw) AS std
    FROM (SELECT DISTINCT last_name AS raw FROM {source} WHERE last_name IS NOT NULL)
),
cities AS (
    SELECT raw, CASE WHEN contains(std, 'saint') THEN regexp_replace(std, '\bsaint\b', 'st', 'g') ELSE std END AS std
    FROM (SELECT raw, std_text(raw) AS std
          FROM (SELECT DISTINCT city AS raw FROM {source} WHERE city IS NOT NULL))
),
base AS (
    SELECT s.*,
           f.std AS _first, f.canonical AS _canonical, l.std AS _last, c.std AS _city,
           nullif(lower(trim(s.email)), '') AS _email,
           nullif(upper(CASE WHEN regexp_matches(s.postal_code, '\s')
                             THEN regexp_replace(s.postal_code, '\s+', '', 'g') ELSE s.postal_code END), '') AS _postal,
           std_street(s.address_line1, m.street_map) AS _line1,
           std_street(s.address_line2, m.street_map) AS _line2
    FROM {source} AS s
    CROSS JOIN std_street_map AS m
    LEFT JOIN first_names AS f ON f.raw = s.first_name
    LEFT JOIN last_names AS l ON l.raw = s.last_name
    LEFT JOIN cities AS c ON c.raw = s.city
),
parts AS (
    SELECT *,
           CASE WHEN regexp_full_match(_email, '{email_pattern}')
                THEN split_part(split_part(_email, '@', 1), '+', 1) END AS _local,
           CASE split_part(_email, '@', 2) WHEN 'googlemail.com' THEN 'gmail.com'
                ELSE split_part(_email, '@', 2) END AS _domain,
           -- a unit in line 2 joins line 1, unless line 1 already says it
           CASE WHEN starts_with(_line2, 'unit ')
                 AND (_line1 IS NULL OR NOT contains(' ' || _line1 || ' ', ' ' || _line2 || ' '))
                THEN concat_ws(' ', _line1, _line2) ELSE _line1 END AS _addr0,
           CASE WHEN regexp_full_match(_postal, '[0-9]{5}(-?[0-9]{4})?') AND (country = 'US' OR country IS NULL)
                THEN left(_postal, 5)
                WHEN country = 'US' AND regexp_full_match(_postal, '[0-9]{3,4}') THEN lpad(_postal, 5, '0')
                ELSE _postal END AS _postal5
    FROM base
),
units AS (  -- '#' next to a unit word ("Apt #3") says unit twice
    SELECT *,
           CASE WHEN contains(_addr0, 'unit unit ') THEN replace(_addr0, 'unit unit ', 'unit ') ELSE _addr0 END AS _addr
    FROM parts
),
users AS (
    SELECT *,
           nullif(CASE WHEN _domain = 'gmail.com' THEN replace(_local, '.', '') ELSE _local END, '') AS _user,
           nullif(regexp_extract(_addr, '(?:^| )(unit [^ ]+)', 1), '') AS _unit
    FROM units
),
streets AS (
    SELECT *,
           nullif(CASE WHEN _unit IS NULL THEN _addr ELSE trim(regexp_replace(_addr, '(?:^| )unit [^ ]+', '')) END, '')
               AS _street
    FROM users
)
SELECT * EXCLUDE (_first, _canonical, _last, _city, _email, _postal, _line1, _line2,
                  _local, _domain, _addr0, _addr, _postal5, _user, _unit, _street),
       source_system || ':' || source_key AS unique_id,
       _first AS first_name_std,
       _last AS last_name_std,
       _canonical AS first_name_canonical,
       CASE WHEN _first IS NOT NULL OR _last IS NOT NULL THEN concat_ws(' ', _first, _last) END AS name_concat_std,
       _user || '@' || _domain AS email_std,
       _user AS email_user_std,
       nullif(CASE WHEN regexp_full_match(phone, '\+?[0-9]+') THEN ltrim(phone, '+')
                   ELSE regexp_replace(phone, '[^0-9]', '', 'g') END, '') AS phone_std,
       date_of_birth AS dob_std,
       strftime(date_of_birth, '%Y-%m-%d') AS dob_str,
       nullif(concat_ws(' ', _street, _unit), '') AS address_line1_std,
       nullif(regexp_extract(_street, '(?:^| )([0-9]+[a-z]?)(?: |$)', 1), '') AS house_number,
       _postal5 AS postal_code_std,
       CASE WHEN (country IS NULL OR country IN ('GB', 'GG', 'JE', 'IM'))
                 AND regexp_full_match(_postal5, '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}')
            THEN left(_postal5, length(_postal5) - 3)
            WHEN country IN ('GB', 'GG', 'JE', 'IM') AND regexp_full_match(_postal5, '[A-Z]{1,2}[0-9][A-Z0-9]?')
            THEN _postal5
            WHEN (country IS NULL OR country = 'US') AND regexp_full_match(_postal5, '[0-9]{5}') THEN left(_postal5, 3)
            WHEN country = 'CA' AND regexp_full_match(_postal5, '[A-Z][0-9][A-Z][0-9][A-Z][0-9]') THEN left(_postal5, 3)
       END AS postal_outward,
       _city AS city_std
FROM streets
"""


def _check_identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain table name: {name!r}")
    return name


def load_reference_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Load nicknames and street types into temp tables (`std_nicknames`, `std_street_types`, and the
    one-row `std_street_map` the address rule joins) plus the cleaning macros, once per connection (they
    live as long as it): match-on-entry standardizes a few rows per request on a long-lived connection."""
    if scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'std_street_map' AND temporary"):
        return
    con.execute(
        """CREATE OR REPLACE TEMP TABLE std_nicknames AS
           SELECT DISTINCT ON (nickname) lower(trim(nickname)) AS nickname, lower(trim(name)) AS name
           FROM read_csv($path, header = true, columns = {'nickname': 'VARCHAR', 'name': 'VARCHAR'})
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
    affixes = "[" + ", ".join(f"'{a}'" for a in NAME_AFFIXES) + "]"
    for statement in filter(str.strip, _MACROS.replace("{affixes}", affixes).split(";\n")):
        con.execute(statement)


def _check_unique_ids(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """unique_id is the matcher's record id: a missing or repeated one would silently merge or drop
    records, so refuse before anything is replaced."""
    bad = con.execute(
        f"""SELECT source_system, source_key, count(*) AS n FROM {source}
            GROUP BY ALL HAVING n > 1 OR source_system IS NULL OR source_key IS NULL LIMIT 5"""
    ).fetchall()
    if bad:
        shown = ", ".join(f"{s}:{k} (x{n})" for s, k, n in bad)
        raise ValueError(f"{source}: source_system/source_key must be present and unique; found {shown}")


def standardize(
    con: duckdb.DuckDBPyConnection, source: str = "staged_records", target: str = "standardized_records"
) -> int:
    """Build `target` (CREATE OR REPLACE) from `source`: every source column unchanged plus STD_COLUMNS.
    Returns the number of rows written. Refuses (ValueError, `target` untouched) if source_system:source_key
    is missing or repeated, because unique_id must identify one record."""
    source, target = _check_identifier(source), _check_identifier(target)
    _check_unique_ids(con, source)
    load_reference_tables(con)
    sql = _STANDARDIZE_SQL.replace("{source}", source).replace("{target}", target)
    con.execute(sql.replace("{email_pattern}", EMAIL_PATTERN))
    return scalar(con, f"SELECT count(*) FROM {target}")
