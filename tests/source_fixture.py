"""A small CRM-like source system built in any SQL database, plus helpers to prove it stayed intact."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa

from hub.config import HubConfig

T0 = datetime(2024, 1, 1, 9, 0, 0)
ACCEPTS = ["first_name", "last_name", "email", "phone", "country"]
GOOD_GENERATED = 40  # rows 101.. that are all valid, so chunked reads have something to chunk

metadata = sa.MetaData()
customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("full_name", sa.String(120)),
    sa.Column("email", sa.String(120)),
    sa.Column("phone", sa.String(40)),
    sa.Column("dob", sa.String(20)),
    sa.Column("country", sa.String(60)),
    sa.Column("email_optin", sa.String(1)),
    sa.Column("notes", sa.String(200)),
    sa.Column("golden_ref", sa.String(64)),
    sa.Column("modified_at", sa.DateTime),
)
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer),
    sa.Column("amount", sa.Numeric(10, 2)),
    sa.Column("note", sa.String(100)),
)

BASE_ROWS = [
    (1, "SMITH, John", "J.Smith@Example.com", "020 7946 0018", "31/01/1980", "United Kingdom", "Y", "vip"),
    (2, "JONES, Mary", "mary@example.com", "07700 900123", "01/02/1990", "UK", "N", None),
    (3, "BROWN, Bob", "bob@example.com", "n/a", "31/02/1985", "GB", "Y", "bad phone and date"),
    (4, "TAYLOR, Ann", None, None, None, None, None, "sparse"),
    (5, "WHITE, Tom", "tom@example.com", "020 7946 0999", "05/05/1975", "United Kingdom", "X", "bad consent"),
]
# Rows with a value the mapping cannot read: staged with that field missing and a warning per field.
WARNED = {("3", "phone"), ("3", "date_of_birth"), ("5", "consent_email")}


def rows() -> list[dict]:
    out = []
    for i, (key, name, email, phone, dob, country, optin, notes) in enumerate(BASE_ROWS):
        out.append(
            dict(id=key, full_name=name, email=email, phone=phone, dob=dob, country=country, email_optin=optin,
                 notes=notes, golden_ref=None, modified_at=T0 + timedelta(minutes=i))
        )  # fmt: skip
    for n in range(GOOD_GENERATED):
        key = 101 + n
        out.append(
            dict(id=key, full_name=f"PERSON{n}, Alex", email=f"alex{n}@example.com", phone=f"07700 900{n:03d}",
                 dob=f"{1 + n % 28:02d}/03/1970", country="GB", email_optin="Y", notes=f"gen {n}",
                 golden_ref=None, modified_at=T0 + timedelta(hours=1, minutes=n))
        )  # fmt: skip
    return out


def create_source(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(customers.insert(), rows())
        conn.execute(
            orders.insert(),
            [{"id": i, "customer_id": 1 + i % 5, "amount": 10 + i, "note": f"order {i}"} for i in range(1, 21)],
        )
    return engine


def hub_config(
    url: str, tmp_path, golden_id: dict | None = None, chunk_size: int = 50_000, required: tuple[str, ...] = ()
) -> HubConfig:
    """The source's hub.yaml block; `required` marks fields `required: true`."""
    block = {
        "kind": "sql",
        "url": url,
        "table": "customers",
        "primary_key": "id",
        "updated_at": "modified_at",
        "default_region": "GB",
        "fields": {
            "first_name": {
                "column": "full_name",
                "transform": "split_name",
                "order": "last_comma_first",
                "part": "first",
            },
            "last_name": {
                "column": "full_name",
                "transform": "split_name",
                "order": "last_comma_first",
                "part": "last",
            },
            "email": "email",
            "phone": {"column": "phone", "transform": "phone", "write_format": "national"},
            "date_of_birth": {"column": "dob", "transform": "date", "format": "%d/%m/%Y"},
            "country": {"column": "country", "transform": "country", "write_format": "name"},
            "consent_email": {"column": "email_optin", "transform": "consent", "granted": ["Y"], "denied": ["N"]},
        },
        "accepts": ACCEPTS,
    }
    for field in required:
        mapping = block["fields"][field]
        block["fields"][field] = (mapping if isinstance(mapping, dict) else {"column": mapping}) | {"required": True}
    if golden_id:
        block["golden_id"] = golden_id
    return HubConfig.model_validate(
        {"workspace": str(tmp_path / "ws.duckdb"), "chunk_size": chunk_size, "sources": {"crm": block}}
    )


def snapshot(engine: sa.Engine) -> dict[str, dict[str, dict[str, str]]]:
    """Every table, every row, every column, as text keyed by primary key: to diff before/after."""
    insp = sa.inspect(engine)
    out = {}
    with engine.connect() as conn:
        for name in insp.get_table_names():
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            pk = next(iter(table.primary_key.columns)).name
            out[name] = {
                str(r[pk]): {c: None if v is None else str(v) for c, v in r.items()}
                for r in conn.execute(sa.select(table)).mappings()
            }
    return out


def schema(engine: sa.Engine) -> dict[str, list[tuple[str, str]]]:
    insp = sa.inspect(engine)
    return {t: [(c["name"], str(c["type"])) for c in insp.get_columns(t)] for t in sorted(insp.get_table_names())}


def digest(table_rows: dict[str, dict[str, str]], columns: list[str]) -> str:
    h = hashlib.sha256()
    for key in sorted(table_rows):
        h.update(repr([table_rows[key].get(c) for c in columns]).encode())
    return h.hexdigest()
