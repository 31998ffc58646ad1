"""Serving-store publish at scale: 1M golden records and ~2.2M xref rows into a fresh SQLite store.

Four publishes, as the pipeline makes them run after run: the first (everything new), the same data
again (must write nothing), then 1% of golden records changed and 1% of xref rows re-scored, then 1% of
golden records with another lineage only (updated in place: no new version). Prints
wall time per publish, how long it held the write lock, what it wrote, the store's size and the
process's peak RSS.

    python benchmarks/store_publish.py
    python benchmarks/store_publish.py --records 200000 --url postgresql+psycopg://postgres@127.0.0.1/empty_db
    python benchmarks/store_publish.py --records 200000 --encrypted   # a SQLCipher store (encryption at rest)
    python benchmarks/store_publish.py --records 200000 --aes-gcm     # what application-level AES-GCM would add
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from hub import store
from hub.encryption import AtRestKey
from hub.model import ATTRIBUTE_FIELDS

FIRST = np.array(["Ann", "Bob", "Carla", "Dev", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jon"], dtype=object)
LAST = np.array(["Lee", "Smith", "Garcia", "Khan", "Novak", "Okafor", "Rossi", "Sato", "Weber", "Young"], dtype=object)
SYSTEMS = np.array(["billing", "web", "app", "crm"], dtype=object)


LOCK_SECONDS: list[float] = []
_write_transaction = store.write_transaction


@contextmanager
def timed_write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """publish's write phase, timed: on SQLite other writers wait this long (readers never do)."""
    start = time.perf_counter()
    with _write_transaction(engine) as conn:
        yield conn
    LOCK_SECONDS.append(time.perf_counter() - start)


store.write_transaction = timed_write_transaction
# publish took it by name (and hub.store's `publish` is the function, so the module is looked up)
importlib.import_module("hub.store.publish").write_transaction = timed_write_transaction


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def text(prefix: str, values: np.ndarray, suffix: str = "") -> pd.Series:
    return prefix + pd.Series(values).astype(str) + suffix


def make_golden(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Golden records shaped like survivorship output: every attribute, extra and lineage as JSON text."""
    i = np.arange(n)
    frame = pd.DataFrame({"golden_id": "G" + pd.Series(i + 1).astype(str).str.zfill(8)})
    for f in ATTRIBUTE_FIELDS:
        frame[f.name] = None
    frame["first_name"] = FIRST[rng.integers(0, len(FIRST), n)]
    frame["last_name"] = LAST[rng.integers(0, len(LAST), n)]
    frame["date_of_birth"] = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 25_000, n), unit="D")
    frame["email"] = text("user", i, "@example.com")
    frame["phone"] = text("+44207946", rng.integers(0, 1000, n)).str.pad(13, fillchar="0")
    frame["address_line1"] = text("", rng.integers(1, 200, n), " High St")
    frame["city"] = "London"
    frame["postal_code"] = text("SW1A ", rng.integers(0, 10, n), "AA")
    frame["country"] = "GB"
    recorded = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s")
    for channel in ("email", "sms", "phone", "post"):
        frame[f"consent_{channel}"] = np.array(["granted", "denied", "unknown"], dtype=object)[rng.integers(0, 3, n)]
        frame[f"consent_{channel}_at"] = recorded
    frame["preferred_channel"] = "email"
    frame["extra"] = text('{"loyalty_tier":"', np.array(["gold", "silver", "bronze"])[rng.integers(0, 3, n)], '"}')
    key = text("", i)
    frame["lineage"] = (
        '{"email":{"rule":"valid","source_key":"' + key + '","source_system":"crm","value_at":"2024-03-01"},'
        '"first_name":{"rule":"most_frequent","source_key":"' + key + '","source_system":"billing",'
        '"value_at":"2024-02-01"},"phone":{"rule":"valid","source_key":"' + key + '","source_system":"web",'
        '"value_at":"2024-01-15"}}'
    )
    frame["record_count"] = 0
    return frame


def make_xref(golden: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """1-4 source records per golden record (2.2 on average); sets golden's record_count to match."""
    n = len(golden)
    sizes = rng.choice([1, 2, 3, 4], size=n, p=[0.30, 0.30, 0.30, 0.10])  # mean 2.2
    owner = np.repeat(np.arange(n), sizes)
    systems = SYSTEMS[rng.integers(0, len(SYSTEMS), len(owner))]
    prob = np.where(sizes[owner] == 1, np.nan, rng.uniform(0.95, 1.0, len(owner)))
    frame = pd.DataFrame(
        {
            "source_system": systems,
            "source_key": text("k", np.arange(len(owner))),
            "golden_id": golden["golden_id"].to_numpy()[owner],
            "match_probability": prob,
            "link_type": np.where(sizes[owner] == 1, "singleton", "auto").astype(object),
        }
    )
    golden["record_count"] = sizes
    return frame


def timed_publish(engine: sa.Engine, label: str, golden: pd.DataFrame, xref: pd.DataFrame) -> None:
    run = store.start_run(engine)
    start = time.perf_counter()
    result = store.publish(engine, run, golden, xref, None, {"records": len(xref)})
    seconds = time.perf_counter() - start
    print(
        f"{label:<24} {seconds:6.1f} s (write lock {LOCK_SECONDS[-1]:5.1f} s)  new {result.new:>9,}  "
        f"changed {result.changed:>7,}  lineage {result.lineage_updated:>7,}  unchanged {result.unchanged:>9,}  "
        f"xref changed {result.xref_changed:>9,}  "
        f"peak RSS {peak_rss_mib():,.0f} MiB"
    )


PII = ["first_name", "last_name", "email", "phone", "date_of_birth", "address_line1", "postal_code"]
LOOKUP = ["email", "phone", "postal_code"]  # equality lookups a ciphertext column would need a keyed hash for


def aes_gcm_cost(golden: pd.DataFrame) -> None:
    """The alternative to SQLCipher: encrypt each PII value (AES-256-GCM, a random 96-bit nonce each) and keep an
    HMAC-SHA256 of each lookup value. The cryptography package works one value per call, so it is a Python loop
    over every value; timed here on the same golden records, before any database work."""
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead, mac_key = AESGCM(os.urandom(32)), os.urandom(32)

    def seal(v: object) -> bytes | None:
        return None if v is None or v != v else (n := os.urandom(12)) + aead.encrypt(n, str(v).encode(), None)

    def keyed(v: object) -> bytes | None:
        if v is None or v != v:
            return None
        h = hmac.HMAC(mac_key, hashes.SHA256())
        h.update(str(v).lower().encode())
        return h.finalize()

    cols = [c for c in PII if c in golden.columns]
    t = time.perf_counter()
    sealed = {c: [seal(v) for v in golden[c].tolist()] for c in cols}
    enc = time.perf_counter() - t
    t = time.perf_counter()
    hashed = {c: [keyed(v) for v in golden[c].tolist()] for c in LOOKUP if c in golden.columns}
    mac = time.perf_counter() - t
    t = time.perf_counter()
    for c in cols:
        for b in sealed[c]:
            if b is not None:
                aead.decrypt(b[:12], b[12:], None)
    dec = time.perf_counter() - t
    values = sum(len(v) for v in sealed.values())
    print(
        f"application-level AES-GCM: {values:,} values of {len(cols)} columns sealed in {enc:.1f} s, "
        f"{sum(len(v) for v in hashed.values()):,} keyed hashes in {mac:.1f} s, opened again in {dec:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="golden records")
    parser.add_argument("--url", help="serving store URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--encrypted", action="store_true", help="a SQLCipher store under a random key")
    parser.add_argument(
        "--aes-gcm", action="store_true", help="also time AES-GCM + keyed hashes of the PII columns, value by value"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    tmp = tempfile.TemporaryDirectory(prefix="hub-store-bench-")
    url = args.url or f"sqlite:///{Path(tmp.name) / 'serving.db'}"
    start = time.perf_counter()
    golden = make_golden(args.records, rng)
    xref = make_xref(golden, rng)
    print(f"synthetic data: {len(golden):,} golden, {len(xref):,} xref in {time.perf_counter() - start:.1f} s")

    if args.aes_gcm:
        aes_gcm_cost(golden)
    engine = store.open_store(url, AtRestKey(os.urandom(32), "benchmark") if args.encrypted else None)
    timed_publish(engine, "publish 1 (all new)", golden, xref)
    timed_publish(engine, "publish 2 (unchanged)", golden, xref)

    changed = golden.copy()
    rows = rng.choice(len(changed), len(changed) // 100, replace=False)
    changed.loc[rows, "email"] = changed.loc[rows, "email"].str.replace("@example.com", "@moved.example", regex=False)
    rescored = xref.copy()
    moved = rng.choice(len(rescored), len(rescored) // 100, replace=False)
    rescored.loc[moved, "match_probability"] = 0.999
    rescored.loc[moved, "link_type"] = "auto"
    timed_publish(engine, "publish 3 (1% changed)", changed, rescored)

    relineaged = changed.copy()
    rows = rng.choice(len(relineaged), len(relineaged) // 100, replace=False)
    relineaged.loc[rows, "lineage"] = relineaged.loc[rows, "lineage"].str.replace('"crm"', '"web"', regex=False)
    timed_publish(engine, "publish 4 (1% lineage)", relineaged, rescored)

    with engine.connect() as conn:
        versions = store.version_count(conn)
    engine.dispose()
    size = f"; store on disk {sum(p.stat().st_size for p in Path(tmp.name).iterdir()) / 2**20:,.0f} MiB"
    print(f"history rows {versions:,}{size if not args.url else ''}; cores {os.cpu_count()}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
