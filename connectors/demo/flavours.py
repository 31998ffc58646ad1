"""Demo flavours: which countries the demo's people come from and where the company is at home.

`default` is the original UK company with some US customers. `international` is a company at home
in Ireland with customers in Ireland, Germany, France and Australia, so matching meets German and
French postcodes, Eircodes, street numbers after the street, accents in names and four national
phone formats. The four source systems and their own conventions are the same in every flavour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Flavour:
    name: str
    countries: tuple[str, ...]  # ISO alpha-2, in the order every per-country draw runs
    shares: tuple[float, ...]  # of people, per country
    home: str  # the company's country: phones without a country code, billing's national format
    app_countries: tuple[str, ...]  # where the mobile app is offered

    def pick_countries(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """One country per person. One uniform draw each, cut at the cumulative shares, so the
        default flavour draws exactly what the two-country demo always drew."""
        cut = np.cumsum(self.shares)
        index = np.minimum(np.searchsorted(cut, rng.random(size), side="right"), len(cut) - 1)
        return np.array(self.countries, dtype=object)[index]


FLAVOURS = {
    "default": Flavour("default", ("GB", "US"), (0.8, 0.2), home="GB", app_countries=("GB",)),
    "international": Flavour(
        "international", ("IE", "DE", "FR", "AU"), (0.4, 0.25, 0.2, 0.15), home="IE", app_countries=("IE", "DE", "FR")
    ),
}
DEFAULT = FLAVOURS["default"]


def flavour(name: str) -> Flavour:
    try:
        return FLAVOURS[name]
    except KeyError:
        raise ValueError(f"unknown demo flavour {name!r} (one of {', '.join(FLAVOURS)})") from None
