"""What every demo system builder shares: its output shape, row order and child events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pycountry

from connectors.demo.population import REFERENCE_TIME
from connectors.demo.store import Table

NOW = int(REFERENCE_TIME.astype(np.int64))
COUNTRY = {code: pycountry.countries.get(alpha_2=code) for code in ("GB", "US", "IE", "DE", "FR", "AU")}


def country_column(country: np.ndarray, form: str) -> np.ndarray:
    """Each alpha-2 code as pycountry writes it: `name` ('United Kingdom') or `alpha_3` ('GBR')."""
    forms = {code: getattr(c, form) for code, c in COUNTRY.items()}
    return pd.Series(country, dtype=object).map(forms).to_numpy(dtype=object)


@dataclass(frozen=True)
class SourceBuild:
    """The tables of one source database and the ground truth for its customer table."""

    tables: list[Table]
    truth: pd.DataFrame  # source_key (text, '' when missing), person_id, bad_reason ('' when good)


def in_creation_order(facts: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by creation time, so generated keys ascend the way real sequences do."""
    return facts.sort_values(["created", "person_id"], kind="stable", ignore_index=True)


def truth(keys: np.ndarray | pd.Series, facts: pd.DataFrame, reasons: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_key": pd.Series(keys, dtype=object).fillna("").astype(str).to_numpy(dtype=object),
            "person_id": facts["person_id"].to_numpy(),
            "bad_reason": pd.Series(reasons, dtype=object).fillna("").to_numpy(dtype=object),
        }
    )


def events(
    rng: np.random.Generator, created: np.ndarray, mean: float, cap: int, least: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Child events (invoices, sessions, ...): the parent row of each and when it happened.

    Each parent gets `least` plus a Poisson number of events, at most `cap`, between its own
    creation and now; events come back in time order so their ids can ascend with time.
    """
    count = np.minimum(least + rng.poisson(mean - least, len(created)), cap)
    parent = np.repeat(np.arange(len(created)), count)
    start = created[parent]
    when = start + (rng.random(len(parent)) * (NOW - start)).astype(np.int64)
    order = np.argsort(when, kind="stable")
    return parent[order], when[order]
