"""Survivorship speed at scale: 2,000,000 records in ~1,000,000 golden ids, default rules plus most_frequent votes.

Synthetic records shaped like the demo sources: golden ids of 1-4 members (mean 2), four source systems, each
member a noisy copy of its person (case and street-type variants, typos, missing fields, invalid emails, an
address that is only a postcode, consent choices at different times). Records are standardized first (not timed),
then `survive()` builds golden_values and golden_lineage. Prints wall time per run and the process's peak RSS.

    python benchmarks/survivorship_speed.py
    python benchmarks/survivorship_speed.py --records 200000 --repeat 1
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from golden_record.survivorship import survive
from hub.catalogue import GOLDEN_LINEAGE, GOLDEN_MEMBERS, STAGED, record_id_sql
from hub.config import SurvivorshipConfig
from hub.workspace import Workspace
from matching.standardize import standardize

FIRST = ["John", "Mary", "Robert", "Jane", "Michael", "Sarah", "David", "Emma", "James", "Olivia", "William", "Sophie"]
LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "O'Brien"]
STREETS = ["High", "Station", "Church", "Park", "Victoria", "Green", "Manor", "Kings", "Queens", "Mill"]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def golden_ids(records: int, seed: int) -> np.ndarray:
    """A golden id per record: clusters of 1-4 members, mean 2, in shuffled record order."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 2, 3, 4], size=records, p=[0.4, 0.3, 0.2, 0.1])
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), records) + 1]
    sizes[-1] -= sizes.sum() - records
    return rng.permutation(np.repeat(np.arange(len(sizes)), sizes))


def stage(ws: Workspace, records: int, seed: int) -> None:
    """Fill staged_records and golden_members with set-based SQL over a registered id array."""
    ws.con.register("_ids", pd.DataFrame({"i": np.arange(records), "p": golden_ids(records, seed)}))
    lists = {"first": FIRST, "last": LAST, "street": STREETS}
    for name, values in lists.items():
        ws.con.execute(f"SET VARIABLE {name} = ?", [values])
    ws.con.execute(
        f"""
        INSERT INTO {STAGED} BY NAME
        WITH base AS (
            SELECT i, p, (hash(i, {seed}) % 1000000007)::BIGINT AS r, (hash(p, {seed}) % 1000000007)::BIGINT AS q,
                   ['billing', 'web', 'app', 'crm'][1 + (hash(i, {seed}, 'src') % 4)::BIGINT] AS src
            FROM _ids
        )
        SELECT src AS source_system, i::VARCHAR AS source_key,
               TIMESTAMP '2020-01-01' + to_seconds((r % 160000000)::BIGINT) AS source_updated_at,
               CASE r % 10 WHEN 0 THEN upper(getvariable('first')[1 + q % 12])
                           WHEN 1 THEN NULL
                           ELSE getvariable('first')[1 + q % 12] END AS first_name,
               CASE (r // 10) % 10 WHEN 0 THEN getvariable('last')[1 + (q // 12) % 10] || 'e'
                                   ELSE getvariable('last')[1 + (q // 12) % 10] END AS last_name,
               CASE WHEN (r // 100) % 4 > 0 THEN DATE '1950-01-01' + ((q // 120) % 20000)::INTEGER END
                   AS date_of_birth,
               CASE (r // 400) % 10 WHEN 0 THEN 'n/a' WHEN 1 THEN NULL
                    ELSE lower(getvariable('first')[1 + q % 12]) || '.' || (q % 100000)::VARCHAR || '@example.com'
                    END AS email,
               CASE WHEN (r // 4000) % 3 > 0 THEN '+44207946' || lpad((q % 1000)::VARCHAR, 4, '0') END AS phone,
               CASE WHEN (r // 12000) % 5 > 1
                    THEN ((q // 7) % 200 + 1)::VARCHAR || ' ' || getvariable('street')[1 + (q // 11) % 10]
                         || CASE WHEN (r // 60000) % 2 = 0 THEN ' Street' ELSE ' St' END END AS address_line1,
               CASE WHEN (r // 12000) % 5 > 0
                    THEN 'SW' || ((q // 13) % 20 + 1)::VARCHAR || ' ' || ((q // 17) % 9 + 1)::VARCHAR || 'AB'
                    END AS postal_code,
               CASE WHEN (r // 12000) % 5 > 1 THEN 'London' END AS city,
               CASE WHEN (r // 12000) % 5 > 1 THEN 'GB' END AS country,
               ['granted', 'denied', 'unknown', NULL][1 + (r // 120000) % 4] AS consent_email,
               TIMESTAMP '2020-01-01' + to_seconds(((r // 7) % 150000000)::BIGINT) AS consent_email_at,
               ['granted', 'denied', 'unknown', NULL][1 + (r // 480000) % 4] AS consent_sms,
               TIMESTAMP '2020-01-01' + to_seconds(((r // 11) % 150000000)::BIGINT) AS consent_sms_at,
               ['email', 'sms', NULL][1 + (r // 1920000) % 3] AS preferred_channel,
               'v1' AS source_version, now()::TIMESTAMP AS pulled_at
        FROM base"""
    )
    ws.con.execute(
        f"""CREATE OR REPLACE TABLE {GOLDEN_MEMBERS} AS
           SELECT {record_id_sql("s.source_system", "s.source_key")} AS record_id,
                  'g' || lpad(p::VARCHAR, 8, '0') AS golden_id
           FROM {STAGED} AS s JOIN _ids ON _ids.i = s.source_key::BIGINT"""
    )
    ws.con.unregister("_ids")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    ws = Workspace(":memory:")
    t = time.perf_counter()
    stage(ws, args.records, args.seed)
    standardize(ws.con)
    print(f"staged + standardized {args.records:,} records in {time.perf_counter() - t:.1f}s")
    print(f"peak RSS before survivorship: {peak_rss_mib():,.0f} MiB")

    # every rule in play: votes on names and the address block, priority, completeness, length
    cfg = SurvivorshipConfig(
        source_priority=["crm", "billing"],
        fields={"address": ["most_frequent", "most_complete", "most_recent"], "email": ["valid", "source_priority"]},
    )
    for run in range(args.repeat):
        t = time.perf_counter()
        golden = survive(ws.con, cfg)
        print(f"run {run + 1}: survive() {time.perf_counter() - t:.2f}s -> {golden:,} golden records")

    lineage = ws.con.execute(f"SELECT count(*) FROM {GOLDEN_LINEAGE}").fetchall()[0][0]
    rules = ws.con.execute(f"SELECT rule, count(*) FROM {GOLDEN_LINEAGE} GROUP BY ALL ORDER BY 2 DESC").fetchall()
    print(f"{lineage:,} lineage rows; by rule: " + ", ".join(f"{r} {n:,}" for r, n in rules))
    print(f"peak RSS: {peak_rss_mib():,.0f} MiB")
    ws.close()


if __name__ == "__main__":
    main()
