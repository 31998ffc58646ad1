"""The consent times survivorship reads (golden_record.run._choice_timed): a choice of a source without its own
consent-time column counts from when the hub first saw it (its consent event), checked against a reference written
record by record on random records and events."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pandas as pd
import pytest

from golden_record.run import _choice_timed
from hub.catalogue import STANDARDIZED
from hub.model import CHANNELS
from hub.workspace import Workspace

VALUES = ("granted", "denied", None)
TIMED = {"email": {"b"}, "sms": set(), "phone": {"b", "c"}, "post": set()}  # sources with their own time column


def _config() -> SimpleNamespace:
    sources = {
        name: SimpleNamespace(fields={f"consent_{ch}_at" for ch, timed in TIMED.items() if name in timed})
        for name in ("a", "b", "c")
    }
    return SimpleNamespace(sources=sources)


def _time(rng: random.Random) -> pd.Timestamp | None:
    return None if rng.random() < 0.2 else pd.Timestamp("2024-01-01") + pd.Timedelta(days=rng.randrange(30))


def _data(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = random.Random(seed)
    records, events = [], []
    for i in range(300):
        source = rng.choice("abc")
        row = {"unique_id": f"{source}:{i}", "source_system": source, "source_key": str(i)}
        for ch in CHANNELS:
            row[f"consent_{ch}"], row[f"consent_{ch}_at"] = rng.choice(VALUES), _time(rng)
            if rng.random() < 0.7:  # the store's last seen choice: often the record's value, at its time or another
                same = rng.random() < 0.7
                at = row[f"consent_{ch}_at"] if rng.random() < 0.3 else _time(rng)
                value = row[f"consent_{ch}"] if same else rng.choice(VALUES[:2])
                events.append({"source_system": source, "source_key": str(i), "channel": ch, "value": value,
                               "recorded_at": at})  # fmt: skip
        if rng.random() < 0.1:  # do-not-contact rows are not a channel's choice
            events.append({"source_system": source, "source_key": str(i), "channel": "all", "value": "denied",
                           "recorded_at": _time(rng)})  # fmt: skip
        records.append(row)
    return pd.DataFrame(records), pd.DataFrame(events)


def _expected(records: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The reference: per record and channel, the event's time where the source keeps no time of its own and the
    event holds the record's value at another time; else the record's time."""
    out = records.set_index("unique_id")[[f"consent_{ch}_at" for ch in CHANNELS]].copy()
    seen: dict[tuple[str, str, str], list] = {}
    for e in events.itertuples(index=False):
        seen.setdefault((e.source_system, e.source_key, e.channel), []).append(e)
    for r in records.itertuples(index=False):
        for ch in CHANNELS:
            mine = getattr(r, f"consent_{ch}")
            at = getattr(r, f"consent_{ch}_at")
            times = [
                e.recorded_at
                for e in seen.get((r.source_system, r.source_key, ch), [])
                if mine is not None and e.value == mine and r.source_system not in TIMED[ch]
                and not (pd.isna(e.recorded_at) and pd.isna(at)) and (pd.isna(e.recorded_at) or e.recorded_at != at)
            ]  # fmt: skip
            if times and not all(pd.isna(t) for t in times):
                out.loc[r.unique_id, f"consent_{ch}_at"] = max(t for t in times if not pd.isna(t))
    return out.sort_index()


@pytest.mark.parametrize("seed", range(6))
def test_consent_times_match_the_record_by_record_reference(seed: int) -> None:
    records, events = _data(seed)
    ws = Workspace(":memory:")
    try:
        ws.con.register("_records", records)
        ws.con.register("_events", events)
        at = ", ".join(f"CAST(consent_{ch}_at AS TIMESTAMP) AS consent_{ch}_at" for ch in CHANNELS)
        ws.con.execute(f"CREATE TABLE {STANDARDIZED} AS SELECT * REPLACE ({at}) FROM _records")
        ws.con.execute("CREATE TABLE last_seen AS SELECT * REPLACE (CAST(recorded_at AS TIMESTAMP) AS recorded_at) "
                       "FROM _events")  # fmt: skip
        view = _choice_timed(ws, _config(), "last_seen")  # type: ignore[arg-type]
        got = ws.con.execute(f"SELECT * FROM {view}").df().set_index("unique_id").sort_index()
    finally:
        ws.close()
    expected = _expected(records, events)
    for ch in CHANNELS:
        column = f"consent_{ch}_at"
        pd.testing.assert_series_equal(
            got[column].astype("datetime64[us]"), expected[column].astype("datetime64[us]"), check_names=False
        )
