"""Bad rows: a missing key, a date or phone nothing can parse.

About 0.2% of each source; the reason is recorded in ground truth (`bad_reason`) so tests and benchmarks can check
the ingest rule: a row without a key is quarantined (QUARANTINED), while an unreadable date or phone is kept as a
record with that field missing and a field warning, and is matched on the rest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BAD_SHARE = 0.002
MISSING_KEY = "missing primary key"
BAD_DATE = "unparsable date_of_birth"
BAD_PHONE = "unparsable phone"
QUARANTINED = frozenset({MISSING_KEY})  # the reasons that keep a row out of matching; the rest are field warnings

_JUNK_DATES = ("unknown", "00/00/0000", "N/A")
_JUNK_PHONES = ("n/a", "12", "tbc", "0", "none given", "x")


def choose(rng: np.random.Generator, n: int, reasons: tuple[str, ...]) -> np.ndarray:
    """A reason for each bad row and None for the rest; at least one row per reason."""
    count = min(n, max(len(reasons), round(BAD_SHARE * n)))
    out = np.full(n, None, dtype=object)
    out[rng.choice(n, count, replace=False)] = np.resize(np.array(reasons, dtype=object), count)
    return out


def spoil(
    rng: np.random.Generator,
    reasons: tuple[str, ...],
    dob: pd.Series,
    true_dob: np.ndarray,
    layout: str,
    phone: pd.Series,
) -> np.ndarray:
    """Chooses the bad rows and spoils their date (written in `layout`) or phone in place; returns each row's reason.

    A MISSING_KEY row keeps its values: the caller blanks its key with `drop_keys` once the keys exist.
    """
    chosen = choose(rng, len(dob), reasons)
    bad_dob = np.flatnonzero(chosen == BAD_DATE)
    dob.iloc[bad_dob] = impossible_dates(rng, true_dob[bad_dob], layout)
    bad_phone = np.flatnonzero(chosen == BAD_PHONE)
    phone.iloc[bad_phone] = junk_phones(rng, len(bad_phone))
    return chosen


def drop_keys(keys: np.ndarray, reasons: np.ndarray) -> np.ndarray:
    """Blanks the keys of the MISSING_KEY rows in place; returns which rows keep a key."""
    has_key = reasons != MISSING_KEY
    keys[~has_key] = missing_keys(int((~has_key).sum()))
    return has_key


def impossible_dates(rng: np.random.Generator, dob: np.ndarray, layout: str) -> np.ndarray:
    """The 30th or 31st of February of the person's birth year in `layout`, or words people type."""
    day = rng.integers(30, 32, len(dob)).astype(str).astype(object)
    year = (dob.astype("datetime64[Y]").astype(int) + 1970).astype(str).astype(object)
    dates = {
        "%d/%m/%Y": day + "/02/" + year,
        "%m/%d/%Y": "02/" + day + "/" + year,
        "%Y-%m-%d": year + "-02-" + day,
    }
    junk = rng.choice(np.array(_JUNK_DATES, dtype=object), len(dob))
    return np.where(rng.random(len(dob)) < 0.7, dates[layout], junk)


def missing_keys(count: int) -> np.ndarray:
    """Keys as broken exports leave them: '', blanks, then NULL (a unique index takes each text once)."""
    out = np.full(count, None, dtype=object)
    out[:2] = ["", "   "][:count]
    return out


def junk_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array(_JUNK_PHONES, dtype=object), n)
