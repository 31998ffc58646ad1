"""Speed of matching.standardize on N synthetic staged records (default 2,000,000).

The rows are generated set-based in DuckDB with the noise standardization has to undo (case, accents,
titles, punctuation, nicknames, gmail dots and +tags, street-type spellings, units in line 1 or 2,
GB/US postcode formats), so the regex paths are exercised, not just the clean fast path.

    python benchmarks/standardize_speed.py                 # 2,000,000 rows, in memory
    python benchmarks/standardize_speed.py --rows 500000 --threads 2
"""

from __future__ import annotations

import argparse
import time

import duckdb

from hub.catalogue import STAGED, STANDARDIZED
from hub.workspace import Workspace
from matching.standardize import standardize

FIRST = ["Robert", "Bob", "ROBERT", "william", "Bill", "Elizabeth", "Liz", "José", "Zoë", "Mr. John", "Dr Jane",
         "Mary-Ann", "katherine", "Kate", "James", "Jim", "Margaret", "Peggy", "Mohammed", "Siobhán"]  # fmt: skip
LAST = ["Smith", "O'Brien", "SMITH-JONES", "Jones", "Williams", "Brown", "Taylor", "Davies", "Müller", "García",
        "Evans jr.", "Thomas", "Johnson", "Roberts", "Walker", "Wright", "MacDonald", "Nguyen", "Patel"]  # fmt: skip
STREET = ["High", "Church", "Station", "Victoria", "Mill", "Park", "Main", "Oak", "Elm", "Green", "Queen's", "King"]
TYPE = ["Street", "St", "St.", "street", "Road", "Rd", "Avenue", "Ave", "Lane", "Close", "Drive", "Way", "Crescent"]
LINE2 = ["Flat 3", "Apt 4B", "#12", "Suite 200", "Rose Court", "Unit 7"]
CITY = ["London", "Manchester", "St. Albans", "Boston", "New York", "Saint Louis", "Bristol", "Leeds"]
DOMAIN = ["gmail.com", "GoogleMail.com", "yahoo.com", "outlook.com", "hotmail.co.uk", "example.org"]


def _pick(options: list[str], salt: int) -> str:
    """SQL picking one of `options` per row, deterministically from the row number."""
    quoted = ", ".join("'" + o.replace("'", "''") + "'" for o in options)
    return f"[{quoted}][1 + (hash(i, {salt}) % {len(options)})::BIGINT]"


def build_rows(con: duckdb.DuckDBPyConnection, n: int) -> None:
    """Insert n synthetic rows into staged_records in one statement."""
    con.execute(
        f"""
        INSERT INTO {STAGED} BY NAME
        SELECT ['billing', 'web', 'app', 'crm'][1 + (i % 4)::BIGINT] AS source_system,
               lpad(i::VARCHAR, 9, '0') AS source_key,
               TIMESTAMP '2024-01-01' + to_seconds((hash(i, 1) % 31536000)::BIGINT) AS source_updated_at,
               CASE WHEN hash(i, 2) % 50 = 0 THEN NULL ELSE {_pick(FIRST, 3)} END AS first_name,
               {_pick(LAST, 4)} || CASE WHEN hash(i, 5) % 4 = 0 THEN '' ELSE (hash(i, 5) % 2000)::VARCHAR END
                   AS last_name,
               DATE '1940-01-01' + (hash(i, 6) % 25000)::INTEGER AS date_of_birth,
               CASE WHEN hash(i, 7) % 40 = 0 THEN 'not-an-email'
                    ELSE 'J.Smith' || (i % 100000)::VARCHAR || CASE WHEN hash(i, 8) % 3 = 0 THEN '+news' ELSE '' END
                         || '@' || {_pick(DOMAIN, 9)} END AS email,
               CASE WHEN hash(i, 10) % 10 = 0 THEN NULL
                    ELSE '+44' || (7000000000 + hash(i, 11) % 999999999)::VARCHAR END AS phone,
               CASE WHEN hash(i, 12) % 5 = 0 THEN 'Flat ' || (hash(i, 13) % 40)::VARCHAR || ', ' ELSE '' END
                   || (1 + hash(i, 14) % 400)::VARCHAR || ' ' || {_pick(STREET, 15)} || ' ' || {_pick(TYPE, 16)}
                   AS address_line1,
               CASE WHEN hash(i, 17) % 4 = 0 THEN {_pick(LINE2, 18)} END AS address_line2,
               {_pick(CITY, 19)} AS city,
               CASE WHEN i % 3 = 0 THEN lpad((hash(i, 20) % 99999)::VARCHAR, 5, '0')
                         || CASE WHEN i % 2 = 0 THEN '-1234' ELSE '' END
                    ELSE {_pick(["SW1A", "M1", "ec2a", "B33", "LS1"], 21)} || ' '
                         || (hash(i, 22) % 10)::VARCHAR || {_pick(["AA", "BX", "ZZ", "dQ"], 23)} END AS postal_code,
               CASE WHEN i % 3 = 0 THEN 'US' ELSE 'GB' END AS country,
               'granted' AS consent_email,
               'v1' AS source_version,
               TIMESTAMP '2025-01-01' AS pulled_at
        FROM range({n}) AS r(i)
        """
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    args = parser.parse_args()

    ws = Workspace(":memory:")
    ws.con.execute("SET enable_progress_bar = false")
    if args.threads:
        ws.con.execute(f"SET threads = {args.threads}")
    t = time.perf_counter()
    build_rows(ws.con, args.rows)
    print(f"generated {args.rows:,} staged rows in {time.perf_counter() - t:.1f}s")

    t, cpu = time.perf_counter(), time.process_time()
    n = standardize(ws.con)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    # CPU seconds (all threads) tell a busy shared machine apart from a slow standardize.
    print(f"standardize: {n:,} rows in {elapsed:.1f}s = {n / elapsed:,.0f} rows/s (CPU {cpu:.1f}s)")
    print(ws.con.execute(f"SELECT * FROM {STANDARDIZED} USING SAMPLE 3 ROWS").df().iloc[:, 25:].to_string())


if __name__ == "__main__":
    main()
