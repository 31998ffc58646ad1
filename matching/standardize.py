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
  hub/data/nicknames.csv (nickname -> name; one hop, each nickname one name); an unknown token stays itself.
  Ambiguous nicknames take the name most common in UK/US records: alex -> alexander, sam -> samuel,
  chris -> christopher, pat -> patricia, fred -> frederick, ted/ed -> edward, harry -> henry,
  bert -> albert, jerry -> gerald, terry -> terence, charlie -> charles, frank -> francis, jack -> john,
  jon -> jonathan, nat -> nathaniel, mel -> melanie, sandy -> sandra, nicky -> nicholas, lou -> louis;
  spelling variants share a group (catherine/kathryn -> katherine, steven -> stephen, mohammed -> muhammad).
  Too-ambiguous short forms (jo, al, max) are not mapped.
- email: lowercase and trimmed; "+tag" dropped; gmail.com/googlemail.com also drop dots and become
  gmail.com. NULL unless it looks like local@domain.tld.
- address: line1 text-cleaned, "#" read as "unit", each token mapped through hub/data/street_types.csv
  (street -> st, flat/apt/suite -> unit, north -> n, ...). A unit in line2 ("Flat 3") is folded in, and
  the first "unit X" is moved to the end, so "Flat 3, 12 High Street", "12 High St, Apt 3" and line1
  "12 High St" + line2 "Flat 3" all give "12 high st unit 3". `house_number` is the first number token
  (optionally one letter: "221b") of the part without the unit.
- `dob_swapped`: the date of birth with day and month swapped, where that is a date (a keying slip to look for);
  `address_line2_std`: line 2 cleaned as a street line (a building, an estate, a flat).
- `dialling_code`: the international calling code of the record's country (ISO 3166 alpha-2, phonenumbers' table),
  else the one a phone written in international form ("+44 ...") starts with (calling codes are prefix-free, so at
  most one of its first 1-3 digits is one): where the person lives, for records without an address.
- postal code: uppercase, whitespace removed; US (or, without a country, anything shaped like a ZIP)
  becomes ZIP5, and a US code that lost its leading zeros (3-4 digits) is padded. `postal_outward`:
  GB-style outward code (all but the last 3 chars), US ZIP3, Canadian FSA; NULL otherwise.
"""

from __future__ import annotations

import re

import duckdb
import phonenumbers

from hub import forms
from hub.catalogue import STAGED, STANDARDIZED, STANDARDIZED_COLUMNS, record_id, record_id_sql
from hub.workspace import scalar

# The reference data and text macros are the hub's value forms (hub/forms.py): survivorship and write-back
# compare values with the same rules matching uses.
NICKNAMES_CSV = forms.NICKNAMES_CSV
STREET_TYPES_CSV = forms.STREET_TYPES_CSV

# The columns standardize() adds, in order, after every source column.
STD_COLUMNS = tuple(STANDARDIZED_COLUMNS)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


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
           hub_email_key(s.email) AS _email,
           hub_postcode_key(s.postal_code, s.country) AS _postal5,
           std_street(s.address_line1, m.street_map) AS _line1,
           std_street(s.address_line2, m.street_map) AS _line2
    FROM {source} AS s
    CROSS JOIN std_street_map AS m
    LEFT JOIN first_names AS f ON f.raw = s.first_name
    LEFT JOIN last_names AS l ON l.raw = s.last_name
    LEFT JOIN cities AS c ON c.raw = s.city
),
calling AS (
    SELECT b.*, coalesce(cc.code, p1.code, p2.code, p3.code) AS _dialling
    FROM (SELECT *, CASE WHEN starts_with(trim(phone), '+') THEN regexp_replace(phone, '[^0-9]', '', 'g') END AS _intl
          FROM base) AS b
    LEFT JOIN std_calling_codes AS cc ON cc.region = upper(trim(b.country))
    LEFT JOIN (SELECT DISTINCT code FROM std_calling_codes) AS p1 ON p1.code = left(b._intl, 1)
    LEFT JOIN (SELECT DISTINCT code FROM std_calling_codes) AS p2 ON p2.code = left(b._intl, 2)
    LEFT JOIN (SELECT DISTINCT code FROM std_calling_codes) AS p3 ON p3.code = left(b._intl, 3)
),
parts AS (
    SELECT *,
           -- a unit in line 2 joins line 1, unless line 1 already says it
           CASE WHEN starts_with(_line2, 'unit ')
                 AND (_line1 IS NULL OR NOT contains(' ' || _line1 || ' ', ' ' || _line2 || ' '))
                THEN concat_ws(' ', _line1, _line2) ELSE _line1 END AS _addr0
    FROM calling
),
units AS (  -- '#' next to a unit word ("Apt #3") says unit twice
    SELECT *,
           CASE WHEN contains(_addr0, 'unit unit ') THEN replace(_addr0, 'unit unit ', 'unit ') ELSE _addr0 END AS _addr
    FROM parts
),
users AS (
    SELECT *,
           nullif(regexp_extract(_addr, '(?:^| )(unit [^ ]+)', 1), '') AS _unit
    FROM units
),
streets AS (
    SELECT *,
           nullif(CASE WHEN _unit IS NULL THEN _addr ELSE trim(regexp_replace(_addr, '(?:^| )unit [^ ]+', '')) END, '')
               AS _street
    FROM users
)
SELECT * EXCLUDE (_first, _canonical, _last, _city, _email, _line1, _line2,
                  _addr0, _addr, _postal5, _unit, _street, _intl, _dialling),
       {record_id} AS unique_id,
       _first AS first_name_std,
       _last AS last_name_std,
       _canonical AS first_name_canonical,
       CASE WHEN _first IS NOT NULL OR _last IS NOT NULL THEN concat_ws(' ', _first, _last) END AS name_concat_std,
       _email AS email_std,
       split_part(_email, '@', 1) AS email_user_std,
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
       _city AS city_std,
       CASE WHEN day(date_of_birth) <= 12 AND day(date_of_birth) <> month(date_of_birth)
            THEN make_date(year(date_of_birth), day(date_of_birth), month(date_of_birth)) END AS dob_swapped,
       _line2 AS address_line2_std,
       _dialling AS dialling_code
FROM streets
"""


def _check_identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain table name: {name!r}")
    return name


def load_reference_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The nicknames, street types and cleaning macros (hub.forms), once per connection: match-on-entry
    standardizes a few rows per request on a long-lived connection."""
    forms.load(con)
    loaded = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'std_calling_codes' AND temporary"
    if not con.execute(loaded).fetchall()[0][0]:
        codes = ", ".join(f"('{r}', '{phonenumbers.country_code_for_region(r)}')"
                          for r in sorted(phonenumbers.SUPPORTED_REGIONS))  # fmt: skip
        con.execute(f"CREATE TEMP TABLE std_calling_codes AS SELECT * FROM (VALUES {codes}) AS t(region, code)")


def check_unique_ids(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """unique_id is the matcher's record id: a missing or repeated one would silently merge or drop
    records, so refuse before anything is replaced."""
    bad = con.execute(
        f"""SELECT source_system, source_key, count(*) AS n FROM {source}
            GROUP BY ALL HAVING n > 1 OR source_system IS NULL OR source_key IS NULL LIMIT 5"""
    ).fetchall()
    if bad:
        shown = ", ".join(f"{record_id(s, k)} (x{n})" for s, k, n in bad)
        raise ValueError(f"{source}: source_system/source_key must be present and unique; found {shown}")


def standardize(con: duckdb.DuckDBPyConnection, source: str = STAGED, target: str = STANDARDIZED) -> int:
    """Build `target` (CREATE OR REPLACE) from `source`: every source column unchanged plus STD_COLUMNS.
    Returns the number of rows written. Refuses (ValueError, `target` untouched) if source_system:source_key
    is missing or repeated, because unique_id must identify one record."""
    source, target = _check_identifier(source), _check_identifier(target)
    check_unique_ids(con, source)
    load_reference_tables(con)
    sql = _STANDARDIZE_SQL.replace("{source}", source).replace("{target}", target)
    sql = sql.replace("{record_id}", record_id_sql())
    con.execute(sql)
    return scalar(con, f"SELECT count(*) FROM {target}")
