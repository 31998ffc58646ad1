"""Email addresses people would pick for themselves, unique across the whole population."""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.demo import vocabulary as vocab
from connectors.demo.noise import UMLAUTS


def emails(
    rng: np.random.Generator, first: pd.Series, last: pd.Series, birth_year: np.ndarray, country: np.ndarray
) -> np.ndarray:
    """'john.smith@gmail.com', 'jsmith84@hotmail.co.uk', ... one per person."""
    f = _letters(first)
    lname = _letters(last)
    yy = pd.Series(birth_year % 100).astype(str).str.zfill(2).to_numpy(dtype=object)
    nn = rng.integers(1, 100, len(f)).astype(str).astype(object)
    initial = pd.Series(f).str[0].to_numpy(dtype=object)
    styles = [
        f + "." + lname,
        f + lname,
        initial + lname,
        f + "_" + lname,
        f + "." + lname + nn,
        initial + lname + yy,
        lname + "." + f,
        f + lname + yy,
    ]
    local = np.choose(rng.integers(0, len(styles), len(f)), styles)
    domain = np.empty(len(f), dtype=object)
    for code, shares in vocab.EMAIL_DOMAINS.items():
        rows = np.flatnonzero(country == code)
        domain[rows] = rng.choice(np.array(list(shares), dtype=object), len(rows), p=list(shares.values()))
    return local + "@" + domain


def make_unique(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """Append digits to repeated values (before the '@' of an address) until all are distinct."""
    out = values.copy()
    while True:
        seen = pd.Series(out)
        repeated = np.flatnonzero(seen.duplicated().to_numpy() & seen.notna().to_numpy())
        if not len(repeated):
            return out
        digits = rng.integers(1, 1000, len(repeated)).astype(str)
        out[repeated] = [
            v.partition("@")[0] + d + "".join(v.partition("@")[1:]) for v, d in zip(out[repeated], digits, strict=True)
        ]


def _letters(names: pd.Series) -> np.ndarray:
    """Lower-case ASCII letters only ("O'Neill" -> "oneill", "Müller" -> "mueller", "Zoé" -> "zoe"),
    cleaned once per distinct name."""
    codes, distinct = pd.factorize(names)
    folded = pd.Series(distinct, dtype=object).str.lower().str.translate(UMLAUTS).str.normalize("NFKD")
    cleaned = folded.str.replace(r"[^a-z]", "", regex=True)
    return cleaned.to_numpy(dtype=object)[codes]
