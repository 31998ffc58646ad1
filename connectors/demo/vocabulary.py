"""Word lists the demo samples from.

Names, streets, towns and email domains come from Faker's bundled locale data, used as plain
arrays: calling Faker once per record would be far too slow for a million people.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pycountry
from faker.providers.address.en_GB import Provider as GBAddress
from faker.providers.address.en_US import Provider as USAddress
from faker.providers.geo import Provider as Geo
from faker.providers.person.en_GB import Provider as GBPerson
from faker.providers.person.en_US import Provider as USPerson

# Faker's en_GB street suffixes are the US list ("Stravenue", "Burgs"); keep the ones a UK street has.
_GB_STREET_TYPES = (
    "Road", "Street", "Lane", "Avenue", "Drive", "Crescent", "Gardens", "Grove", "Place", "Square",
    "Terrace", "Way", "Mews", "Court", "Green", "Hill", "Park", "Row", "Walk", "View",
)  # fmt: skip
_US_STREET_TYPES = (
    "Street", "Avenue", "Road", "Drive", "Lane", "Court", "Way", "Place", "Circle", "Parkway", "Trail",
    "Boulevard", "Terrace",
)  # fmt: skip

# Formal name -> the short forms people use for themselves in some systems.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "Elizabeth": ("Liz", "Beth", "Lizzie"),
    "Katherine": ("Kate", "Kathy"),
    "Catherine": ("Cath", "Cathy", "Kate"),
    "Kathryn": ("Kate", "Kathy"),
    "Michael": ("Mike", "Mick"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Johnny", "Jack"),
    "Richard": ("Rich", "Rick", "Dick"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony",),
    "Andrew": ("Andy", "Drew"),
    "Joseph": ("Joe",),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Nicholas": ("Nick",),
    "Benjamin": ("Ben",),
    "Samuel": ("Sam",),
    "Alexander": ("Alex",),
    "Jonathan": ("Jon",),
    "Stephen": ("Steve",),
    "Steven": ("Steve",),
    "Peter": ("Pete",),
    "David": ("Dave",),
    "Timothy": ("Tim",),
    "Patrick": ("Pat",),
    "Gregory": ("Greg",),
    "Charles": ("Charlie", "Chuck"),
    "Philip": ("Phil",),
    "Kenneth": ("Ken",),
    "Ronald": ("Ron",),
    "Jennifer": ("Jen", "Jenny"),
    "Margaret": ("Maggie", "Peggy"),
    "Rebecca": ("Becky", "Becca"),
    "Susan": ("Sue",),
    "Deborah": ("Debbie",),
    "Victoria": ("Vicky",),
    "Jessica": ("Jess",),
    "Samantha": ("Sam",),
    "Alexandra": ("Alex",),
    "Patricia": ("Pat", "Trish"),
    "Jacqueline": ("Jackie",),
    "Abigail": ("Abby",),
    "Amanda": ("Mandy",),
    "Natalie": ("Nat",),
    "Eleanor": ("Ellie",),
}


@dataclass(frozen=True)
class Names:
    """First and last names of one country, with sampling weights."""

    male: np.ndarray
    male_p: np.ndarray
    female: np.ndarray
    female_p: np.ndarray
    last: np.ndarray
    last_p: np.ndarray


def _weighted(values: dict[str, float] | tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(values, dict):
        names = np.array(list(values), dtype=object)
        p = np.array(list(values.values()), dtype=float)
    else:
        names = np.array(sorted(set(values)), dtype=object)
        p = np.ones(len(names))
    return names, p / p.sum()


@cache
def names(country: str) -> Names:
    person = GBPerson if country == "GB" else USPerson
    return Names(
        *_weighted(person.first_names_male),
        *_weighted(person.first_names_female),
        *_weighted(person.last_names),
    )


@cache
def street_names(country: str) -> np.ndarray:
    """'Oak Road'-style names: a first or last name plus a street type, as Faker builds them."""
    n = names(country)
    stems = np.unique(np.concatenate([n.male, n.female, n.last]))
    wanted = _GB_STREET_TYPES if country == "GB" else _US_STREET_TYPES
    provider = GBAddress if country == "GB" else USAddress
    types = np.array([t for t in dict.fromkeys(provider.street_suffixes) if t in wanted], dtype=object)
    return (stems[:, None] + " " + types[None, :]).ravel()


def gb_towns() -> np.ndarray:
    """Real British towns from Faker's geo data."""
    return np.array(sorted({row[2] for row in Geo.land_coords if row[3] == "GB"}), dtype=object)


GB_POSTCODE_AREAS = np.array(GBAddress.POSTAL_ZONES, dtype=object)
GB_POSTCODE_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)  # letters used after the space

US_CITY_PREFIXES = np.array(USAddress.city_prefixes, dtype=object)
US_CITY_SUFFIXES = np.array(USAddress.city_suffixes, dtype=object)
# The 50 states and DC, with their zip ranges; Faker's list also has territories.
US_STATES = np.array(USAddress.states_abbr, dtype=object)
US_STATE_NAMES = {s: pycountry.subdivisions.get(code=f"US-{s}").name for s in USAddress.states_abbr}
US_ZIP_RANGES = np.array([USAddress.states_postcode[s] for s in USAddress.states_abbr])

# Free mail domains and their share of addresses per country.
EMAIL_DOMAINS: dict[str, dict[str, float]] = {
    "GB": {
        "gmail.com": 0.36,
        "hotmail.co.uk": 0.2,
        "outlook.com": 0.15,
        "yahoo.co.uk": 0.12,
        "hotmail.com": 0.12,
        "btinternet.com": 0.05,
    },
    "US": {"gmail.com": 0.45, "yahoo.com": 0.2, "outlook.com": 0.13, "hotmail.com": 0.12, "icloud.com": 0.1},
}

USER_AGENTS = np.array(
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
    ],
    dtype=object,
)
