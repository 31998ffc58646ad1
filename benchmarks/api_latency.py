"""REST API latency with many golden records: p50 / p99 of lookup by id, by source key, search, the
change feed and match-on-entry, from a load generator on loopback (a few client threads, a bounded
number of requests).

Builds a fresh SQLite serving store of synthetic golden records with realistic name, email, phone and
postcode spreads (one source record each), unless --url points at an existing published store. The
match model published with them is the one a small demo (connectors.demo, 2,000 customers) trains in
its first pipeline run; its term frequencies are counted over the synthetic golden records' source records
(one each) by the pipeline's own code (matching.models.for_serving).

    python benchmarks/api_latency.py                        # 1,000,000 golden records
    python benchmarks/api_latency.py --records 100000 --concurrency 8
    python benchmarks/api_latency.py --url sqlite:////tmp/demo/.hub/serving.db --config /tmp/demo/hub.yaml
    python benchmarks/api_latency.py --build --url postgresql+psycopg://root@127.0.0.1:5432/hub_api_bench
                                                            # the synthetic store built in an empty PostgreSQL database
    python benchmarks/api_latency.py --url ... --mask     # the reader key under a masking policy (hub.yaml access:)
    python benchmarks/api_latency.py --url ... --compare-mask  # the same requests to both, interleaved in batches
    python benchmarks/api_latency.py --records 100000 --encrypted   # a SQLCipher store (encryption at rest)
    python benchmarks/api_latency.py --url ... --workers 2 --concurrency 4  # `hub serve --workers 2` in a subprocess
                                                            # (CPU ms: the server's CPU time per request; busiest %:
                                                            # the busiest worker's share of it)
    python benchmarks/api_latency.py --url ... --workers 2 --only match --requests 1000   # match-on-entry alone
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import pandas as pd
import psutil
import sqlalchemy as sa
import uvicorn
from faker.providers.person.en_GB import Provider as Names

from hub import store
from hub.api import keys
from hub.config import HubConfig, load_config
from hub.encryption import KEY_ENV, AtRestKey, parse_key
from hub.workspace import Workspace
from matching import models
from matching.standardize import standardize
from pipelines.entry import create_app

SOURCE = "bench"
LETTERS = np.array(list("ABCDEFGHJKLMNPRSTUWY"), dtype=object)


def synthetic_store(url: str, n: int, key: AtRestKey | None) -> None:
    rng = np.random.default_rng(7)
    first = np.array([*Names.first_names_male, *Names.first_names_female], dtype=object)
    last = np.array(list(Names.last_names), dtype=object)
    i = pd.Series(np.arange(n))
    golden = pd.DataFrame({c: pd.Series([None] * n, dtype=object) for c in store.ATTRIBUTES})
    golden["first_name"] = first[rng.integers(0, len(first), n)]
    golden["last_name"] = last[rng.integers(0, len(last), n)]
    golden["email"] = (
        golden["first_name"].str.lower() + "." + golden["last_name"].str.lower() + i.astype(str) + "@example.com"
    )
    golden["phone"] = "+447" + pd.Series(rng.integers(100_000_000, 999_999_999, n)).astype(str)
    golden["postal_code"] = (
        LETTERS[rng.integers(0, 20, n)] + LETTERS[rng.integers(0, 20, n)]
        + pd.Series(rng.integers(1, 30, n)).astype(str) + " " + pd.Series(rng.integers(1, 9, n)).astype(str)
        + LETTERS[rng.integers(0, 20, n)] + LETTERS[rng.integers(0, 20, n)]
    )  # fmt: skip
    golden["city"], golden["country"] = "Leeds", "GB"
    golden["date_of_birth"] = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 25_000, n), unit="D")
    for channel in ("email", "sms", "phone", "post"):
        golden[f"consent_{channel}"] = "unknown"
    golden.insert(0, "golden_id", "G" + (i + 1).astype(str).str.zfill(8))
    golden["lineage"], golden["record_count"] = "{}", 1
    xref = pd.DataFrame(
        {"source_system": SOURCE, "source_key": i.astype(str), "golden_id": golden["golden_id"],
         "match_probability": np.nan, "link_type": "singleton"}
    )  # fmt: skip
    engine = store.open_store(url, key)
    with engine.connect() as conn:
        if conn.scalar(sa.text("SELECT count(*) FROM golden_records")):
            sys.exit(f"{url} already holds golden records: build the synthetic store in an empty database")
    model = demo_model(golden, xref)
    with store.write_transaction(engine) as conn:
        store.mint_ids(conn, n)
    t = time.perf_counter()
    store.publish(engine, store.start_run(engine), golden, xref, model=model)
    print(
        f"published {n:,} synthetic golden records and match model v{model.version} in {time.perf_counter() - t:.1f} s"
    )
    engine.dispose()


def demo_model(golden: pd.DataFrame, xref: pd.DataFrame) -> store.MatchModel:
    """The model of a 2,000-customer demo's first run, with term frequencies over `golden`."""
    demo = Path(tempfile.mkdtemp(prefix="hub-demo-"))
    hub = [sys.executable, "-m", "pipelines.entry"]
    subprocess.run([*hub, "demo", "init", "--dir", str(demo), "--customers", "2000"], check=True, capture_output=True)
    subprocess.run([*hub, "run", "--config", str(demo / "hub.yaml")], check=True, capture_output=True)
    ws = Workspace.for_config(load_config(demo / "hub.yaml"))
    saved = models.load(ws.con)
    ws.close()
    con = duckdb.connect()
    con.register("_golden", golden.drop(columns=["golden_id", "lineage", "record_count"]).assign(
        source_system=SOURCE, source_key=xref["source_key"]))  # fmt: skip
    con.execute("CREATE TABLE bench_records AS SELECT * FROM _golden")
    standardize(con, "bench_records", "bench_standardized")
    t = time.perf_counter()  # what a pipeline run adds (it has standardized records already)
    model = models.for_serving(con, saved, "bench_standardized")
    con.close()
    print(f"term frequencies of {len(golden):,} golden records: {len(model.tf_counts):,} shared values, "
          f"counted in {time.perf_counter() - t:.1f} s")  # fmt: skip
    return model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(label: str, client: httpx.Client, requests: list[tuple], concurrency: int) -> list[float]:
    """Milliseconds per request, each sent once, `concurrency` at a time. A request is (url, params) for a GET or
    (url, params, body) for a POST."""

    def one(req: tuple) -> float:
        t = time.perf_counter()
        r = client.post(req[0], params=req[1], json=req[2]) if len(req) > 2 else client.get(req[0], params=req[1])
        if r.status_code != 200:
            raise RuntimeError(f"{label}: {req} -> {r.status_code} {r.text[:200]}")
        return (time.perf_counter() - t) * 1000

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, requests))


def load(
    label: str,
    client: httpx.Client,
    requests: list[tuple],
    concurrency: int,
    cpu: Callable[[], dict[int, float]] | None = None,
) -> None:
    """Send every request once, `concurrency` at a time; print p50 / p99 latency, throughput and, given the
    server's CPU seconds so far per process (`cpu`), its CPU milliseconds per request (on a shared machine the figure
    wall times hide) and the busiest worker's share of that CPU (50% with two workers sharing the load evenly)."""
    started, before = time.perf_counter(), cpu() if cpu else {}
    ms = np.array(timed(label, client, requests, concurrency))
    wall = time.perf_counter() - started
    per = ""
    if cpu:
        spent = {p: t - before.get(p, 0.0) for p, t in cpu().items()}
        root = next(iter(spent))  # `hub serve` itself, which only supervises when it has workers
        workers = [t for p, t in spent.items() if p != root] or [spent[root]]
        per = f"{sum(spent.values()) * 1000 / len(ms):>10.1f}{100 * max(workers) / max(sum(workers), 1e-9):>10.0f}"
    print(
        f"{label:44}{len(ms):>6}{np.percentile(ms, 50):>10.1f}{np.percentile(ms, 99):>10.1f}{len(ms) / wall:>10.0f}"
        + per
    )


def server_cpu(pid: int) -> Callable[[], dict[int, float]]:
    """CPU seconds (user + system) of process `pid` and of each of its live children (`hub serve --workers N`'s
    workers), by process id."""

    def used() -> dict[int, float]:
        root = psutil.Process(pid)
        return {p.pid: sum(p.cpu_times()[:2]) for p in (root, *root.children(recursive=True))}

    return used


def typo(word: str) -> str:
    return word[:3] + word[4:] if len(word) > 4 else word


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="synthetic golden records to build")
    parser.add_argument("--url", help="an existing serving store instead (its xref's source systems are used)")
    parser.add_argument(
        "--build", action="store_true",
        help="build the synthetic store at --url (an empty database: SQLite file or PostgreSQL database) and use it",
    )  # fmt: skip
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint (default 400)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    parser.add_argument(
        "--mask", action="store_true", help="the benchmark's reader key masks e-mail, phone, surname and birth date"
    )
    parser.add_argument(
        "--compare-mask", action="store_true",
        help="serve without and with --mask's policy and send each endpoint's requests to both in alternating batches "
        "of 10, so a busy machine slows both alike",
    )  # fmt: skip
    parser.add_argument("--encrypted", action="store_true", help="a SQLCipher store, keyed from $HUB_ENCRYPTION_KEY")
    parser.add_argument(
        "--workers", type=int, default=0,
        help="serve with `hub serve --workers N` in a subprocess (default: uvicorn in this process, one worker)",
    )  # fmt: skip
    parser.add_argument("--only", help="only the endpoints whose label holds this text (e.g. 'match')")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='hub-api-')) / 'serving.db'}"
    key = AtRestKey(parse_key(os.environ[KEY_ENV], KEY_ENV), KEY_ENV) if args.encrypted else None
    if args.build and not args.url:
        parser.error("--build needs --url: the empty database to build the synthetic store in")
    if not args.url or args.build:
        synthetic_store(url, args.records, key)
    engine = store.open_store(url, key)
    with engine.connect() as conn:
        n = conn.scalar(sa.text("SELECT count(*) FROM golden_records"))
        step = max(n // args.requests, 1)
        sample = pd.read_sql(
            sa.text(
                f"""SELECT g.golden_id, g.first_name, g.last_name, g.email, g.phone, g.postal_code, g.date_of_birth,
                           x.source_system, x.source_key
                    FROM golden_records g JOIN xref x ON x.golden_id = g.golden_id
                    WHERE g.first_name IS NOT NULL AND g.last_name IS NOT NULL AND g.email IS NOT NULL
                      AND g.phone IS NOT NULL AND g.postal_code IS NOT NULL AND g.date_of_birth IS NOT NULL
                      AND g.golden_id IN (SELECT golden_id FROM (
                          SELECT golden_id, row_number() OVER (ORDER BY golden_id) AS i FROM golden_records) AS n
                          WHERE i % {step} = 0)
                    ORDER BY g.golden_id
                    LIMIT {args.requests}"""
            ),
            conn,
        )
        systems = sorted(r[0] for r in conn.execute(sa.text("SELECT DISTINCT source_system FROM xref")))
    masked = {"fields": dict.fromkeys(["email", "phone", "last_name", "date_of_birth"], "masked")}

    def settings(mask: bool) -> dict:
        return {"serving_store": url, "sources": {s: {"kind": "file", "path": f"/{s}.csv", "primary_key": "id",
                                                      "fields": {"email": "email"}} for s in systems},
                **({"access": {"roles": {"reader": masked}}} if mask else {})}  # fmt: skip

    def serve(mask: bool) -> tuple[uvicorn.Server, str]:
        cfg = HubConfig.model_validate(settings(mask))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(cfg, engine), host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.1)
        return server, f"http://127.0.0.1:{port}"

    def serve_workers(mask: bool) -> tuple[subprocess.Popen, str]:
        """`hub serve --workers N` over the same store, in a subprocess (its own hub.yaml)."""
        config = Path(tempfile.mkdtemp(prefix="hub-api-serve-")) / "hub.yaml"
        config.write_text(json.dumps(settings(mask)))  # JSON is YAML
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.entry", "serve", "--config", str(config), "--port", str(port),
             "--workers", str(args.workers), "--log-level", "warning"]
        )  # fmt: skip
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        return proc, f"http://127.0.0.1:{port}"

    _, key = keys.create_key(engine, "latency-benchmark", "reader")
    if args.workers:
        workers = [serve_workers(args.mask)]
        servers: list[tuple[Any, str]] = workers
    else:
        workers = []
        servers = [serve(False), serve(True)] if args.compare_mask else [serve(args.mask)]
    rows = list(sample.itertuples(index=False))
    endpoints: list[tuple[str, Callable]] = [
        ("GET /v1/golden/{id}", lambda r: (f"/v1/golden/{r.golden_id}", {})),
        ("GET /v1/sources/{system}/{key}", lambda r: (f"/v1/sources/{r.source_system}/{r.source_key}", {})),
        ("search: exact email", lambda r: ("/v1/search", {"email": r.email})),
        ("search: phone", lambda r: ("/v1/search", {"phone": r.phone})),
        ("search: first name + misspelt surname",
         lambda r: ("/v1/search", {"name": f"{r.first_name} {typo(r.last_name)}"})),
        ("GET /v1/changes?limit=100", lambda r: ("/v1/changes", {"limit": 100})),
        ("match: misspelt surname, email, dob, postcode",
         lambda r: ("/v1/match", {}, {"first_name": r.first_name, "last_name": typo(r.last_name), "email": r.email,
                                      "date_of_birth": str(r.date_of_birth)[:10], "postal_code": r.postal_code})),
        ("match: name and phone",
         lambda r: ("/v1/match", {}, {"first_name": r.first_name, "last_name": r.last_name, "phone": r.phone})),
    ]  # fmt: skip
    served = f"hub serve --workers {args.workers}" if args.workers else "one in-process worker"
    print(f"\n{n:,} golden records; {args.concurrency} client threads on loopback; {served}\n")
    clients = [httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) for _, base in servers]
    for client in clients:
        load("warm-up", client, [endpoints[0][1](r) for r in rows[:20]], 1)
        # match-on-entry builds a DuckDB connection and Splink's SQL per concurrent request the first time
        load("warm-up: match", client, [endpoints[-1][1](r) for r in rows[-4 * args.concurrency :]], args.concurrency)
    if args.compare_mask:
        compare(clients, endpoints, rows, args.concurrency)
    else:
        cpu = server_cpu(workers[0][0].pid) if workers else None
        busiest = f"{'CPU ms':>10}{'busiest %':>10}" if cpu else ""
        print(f"{'endpoint':44}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}{busiest}")
        for label, build in endpoints:
            if args.only and args.only not in label:
                continue
            load(label, clients[0], [build(r) for r in rows], args.concurrency, cpu)
    for client in clients:
        client.close()
    for server, _ in servers:
        server.should_exit = True
    for proc, _ in workers:
        proc.terminate()
        proc.wait(timeout=30)
    engine.dispose()


def compare(clients: list[httpx.Client], endpoints: list[tuple[str, Callable]], rows: list, concurrency: int) -> None:
    """Each endpoint's requests in batches of 10, every batch to the open server and then the masking one."""
    print(f"{'endpoint':44}{'n':>6}{'open p50':>10}{'mask p50':>10}{'open p99':>10}{'mask p99':>10}")
    for label, build in endpoints:
        ms: list[list[float]] = [[], []]
        for i in range(0, len(rows), 10):
            batch = [build(r) for r in rows[i : i + 10]]
            for side, client in enumerate(clients):
                ms[side] += timed(label, client, batch, concurrency)
        p50s = [np.percentile(m, 50) for m in ms]
        p99s = [np.percentile(m, 99) for m in ms]
        print(f"{label:44}{len(ms[0]):>6}{p50s[0]:>10.1f}{p50s[1]:>10.1f}{p99s[0]:>10.1f}{p99s[1]:>10.1f}")


if __name__ == "__main__":
    main()
