"""Adversarial source rows with a fixed seed: what a careless or hostile upstream system can put in a table.

Two sources (`crm` and `shop`) hold the same people in two layouts, so the pipeline matches, builds golden records
and writes back; about half of the rows carry one or more hostile values: unicode (RTL, combining marks, emoji),
control characters and NUL, 100 kB strings, SQL text, duplicate keys and keys that differ only by case or a trailing
space, impossible and implausible dates (0001-01-01, 9999-12-31), huge and negative numbers, empty and
whitespace-only strings.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
import yaml
from faker import Faker

CITIES = ["London", "Leeds", "Bristol", "Zürich", "København", "Cork"]
HOSTILE_TEXT = [
    "",
    " ",
    "\t \n ",
    "\x00",
    "a\x00b",
    "\x01\x02\x1b[31m\x7f",
    "line\r\nbreak",
    "שלום עולם",  # RTL
    "\u202eevil\u202c",  # RTL override
    "مرحبا",
    "e\u0301\u0301\u0301\u0301",  # combining marks
    "Z\u0351\u0324\u0347a\u0350\u0353l\u0360\u034cg\u0361o",
    "👩‍👩‍👧‍👦🏳️‍🌈",
    "\ufeffBOM",
    "\ud7ff\ue000\uffff",
    "'; DROP TABLE customers; --",
    "Robert'); DELETE FROM crm_customers WHERE ('1'='1",
    "' OR 1=1 --",
    '"quoted" \\backslash\\ %s {0} :param ?',
    "<script>alert(1)</script>",
    "NULL",
    "None",
    "nan",
    "-0",
    "1e308",
    "ﷺ" * 50,
]
HOSTILE_DATES = [
    "0001-01-01", "9999-12-31", "0000-00-00", "2023-02-30", "1899-12-31", "2999-01-01", "-0001-01-01",
    "99999-01-01", "1970-01-01", "01/02/03", "yesterday", "", " ", "\x00",
]  # fmt: skip
HOSTILE_NUMBERS = [
    "99999999999999999999999999999999", "-99999999999999999999", "-1", "0", "1e400", "NaN", "inf", "-inf",
    "9223372036854775808", "-9223372036854775809", "3.14", "١٢٣", "12abc", "",
]  # fmt: skip
HOSTILE_TIMESTAMPS = ["0001-01-01T00:00:00", "9999-12-31T23:59:59", "2023-13-45T99:99:99", "", "\x00", "now"]
HUGE = 100_000  # characters in the longest strings

COLUMNS = ["id", "first", "last", "email", "phone", "dob", "street", "city", "postcode", "country", "optin", "points",
           "updated", "golden"]  # fmt: skip


class Fuzzer:
    """Rows for one source; `hostile` of them (about half) carry hostile values in random columns."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)

    def text(self) -> str:
        r = self.rng.random()
        if r < 0.02:
            return self.rng.choice(["x", "é", "😀", "\x00", "'"]) * HUGE
        if r < 0.15:  # a normal value with something hostile glued on
            return self.fake.first_name() + self.rng.choice(HOSTILE_TEXT)
        return self.rng.choice(HOSTILE_TEXT)

    def person(self, i: int) -> dict[str, str]:
        rng, fake = self.rng, self.fake
        first, last = fake.first_name(), fake.last_name()
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))
        return {
            "first": first,
            "last": last,
            "email": f"{first.lower()}.{last.lower().replace(chr(39), '')}{i}@example.com",
            "phone": f"07700 9{i % 100000:05d}",
            "dob": born.isoformat(),
            "street": fake.street_address().replace("\n", ", "),
            "city": rng.choice([fake.city(), *CITIES]),
            "postcode": fake.postcode(),
            "country": rng.choice(["GB", "United Kingdom", "CH", "IE", "DK"]),
            "optin": rng.choice(["Y", "N"]),
            "points": str(rng.randrange(10_000)),
        }

    def hostile(self, row: dict[str, str]) -> None:
        """Replace one to four values of `row` with hostile ones, in place."""
        rng = self.rng
        for col in rng.sample([c for c in COLUMNS if c not in ("id", "golden")], rng.randint(1, 4)):
            if col == "dob":
                row[col] = rng.choice(HOSTILE_DATES)
            elif col == "points":
                row[col] = rng.choice(HOSTILE_NUMBERS)
            elif col == "updated":
                row[col] = rng.choice(HOSTILE_TIMESTAMPS)
            else:
                row[col] = self.text()

    def rows(self, n: int, people: list[dict[str, str]]) -> list[dict[str, str | None]]:
        """`n` rows of `people` (the same people in both sources, so they match), half of them hostile, with
        duplicate keys and keys differing only by case or a trailing space."""
        rng = self.rng
        start = datetime(2024, 1, 1)
        out: list[dict[str, str | None]] = []
        for i in range(n):
            row: dict[str, str | None] = dict(people[i % len(people)])
            row["id"] = f"K{i:05d}x"
            row["updated"] = (start + timedelta(minutes=i)).isoformat()
            row["golden"] = None
            if rng.random() < 0.5:
                self.hostile(row)
            r = rng.random()
            if r < 0.01 and out:
                row["id"] = rng.choice(out)["id"]  # duplicate key
            elif r < 0.02 and out:
                row["id"] = rng.choice(out)["id"].upper()  # differs only by case
            elif r < 0.03 and out:
                row["id"] = rng.choice(out)["id"] + " "  # differs only by a trailing space
            elif r < 0.035:
                row["id"] = rng.choice(["", " ", "\x00", "'; DROP TABLE x; --", "😀", "K" * 300])
            if rng.random() < 0.01:
                row[rng.choice(COLUMNS[1:-2])] = None
            out.append(row)
        return out


def write_sources(tmp_path: Path, url_for: dict[str, str], rows: int = 10_000, seed: int = 13) -> Path:
    """`rows` fuzzed rows split over the sources `crm` and `shop` at the given SQLAlchemy URLs (tables created with
    text columns and no key constraint: upstream systems enforce nothing), and a hub.yaml for them."""
    fuzz = Fuzzer(seed)
    people = [fuzz.person(i) for i in range(rows // 4)]
    per_source = rows // len(url_for)
    for name, url in url_for.items():
        engine = sa.create_engine(url)
        meta = sa.MetaData()
        long = sa.Text() if engine.dialect.name != "mysql" else sa.Text(length=2**24)  # MEDIUMTEXT holds 100 kB
        table = sa.Table(
            f"{name}_customers", meta, *[sa.Column(c, sa.String(400) if c == "id" else long) for c in COLUMNS]
        )
        meta.create_all(engine)
        data = fuzz.rows(per_source, people)
        if engine.dialect.name == "postgresql":  # PostgreSQL text cannot hold NUL: the driver refuses it
            data = [{k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in r.items()} for r in data]
        with engine.begin() as conn:
            conn.execute(table.insert(), data)
        engine.dispose()
    cfg = {
        "workspace": str(tmp_path / "ws.duckdb"),
        "serving_store": f"sqlite:///{tmp_path / 'serving.db'}",
        "attributes": {"loyalty_points": "integer"},
        "sources": {name: _source_block(name, url) for name, url in url_for.items()},
    }
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _source_block(name: str, url: str) -> dict:
    return {
        "kind": "sql",
        "url": url,
        "table": f"{name}_customers",
        "primary_key": "id",
        "updated_at": "updated",
        "updated_at_format": "iso",
        "default_region": "GB",
        "fields": {
            "first_name": "first",
            "last_name": "last",
            "email": "email",
            "phone": {"column": "phone", "transform": "phone"},
            "date_of_birth": {"column": "dob", "transform": "date", "format": "%Y-%m-%d"},
            "address_line1": "street",
            "city": "city",
            "postal_code": "postcode",
            "country": {"column": "country", "transform": "country"},
            "consent_email": {"column": "optin", "transform": "consent", "granted": ["Y"], "denied": ["N"]},
            "loyalty_points": {"column": "points", "transform": "number"},
        },
        "accepts": [
            "first_name",
            "last_name",
            "email",
            "phone",
            "date_of_birth",
            "address_line1",
            "city",
            "postal_code",
            "country",
            "consent_email",
        ],
        "golden_id": {"column": "golden"},
    }
