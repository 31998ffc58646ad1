"""Word lists the demo samples from.

Names, streets, towns and email domains come from Faker's bundled locale data, used as plain
arrays: calling Faker once per record would be far too slow for a million people.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pycountry
from faker.providers.address.de_DE import Provider as DEAddress
from faker.providers.address.en_AU import Provider as AUAddress
from faker.providers.address.en_GB import Provider as GBAddress
from faker.providers.address.en_US import Provider as USAddress
from faker.providers.address.fr_FR import Provider as FRAddress
from faker.providers.geo import Provider as Geo
from faker.providers.person.de_DE import Provider as DEPerson
from faker.providers.person.en_GB import Provider as GBPerson
from faker.providers.person.en_IE import Provider as IEPerson
from faker.providers.person.en_US import Provider as USPerson
from faker.providers.person.fr_FR import Provider as FRPerson

from connectors.demo import world

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


def _weighted(values: Mapping[str, float] | Collection[str]) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(values, Mapping):
        names = np.array(list(values), dtype=object)
        p = np.array(list(values.values()), dtype=float)
    else:
        names = np.array(sorted(set(values)), dtype=object)
        p = np.ones(len(names))
    return names, p / p.sum()


# Faker has no en_AU names; Australians get the British lists.
# Any: the name tables are class attributes of each locale's provider, which the base Provider does not declare.
_PERSON: dict[str, Any] = {
    "GB": GBPerson,
    "US": USPerson,
    "IE": IEPerson,
    "DE": DEPerson,
    "FR": FRPerson,
    "AU": GBPerson,
}


@cache
def names(country: str) -> Names:
    person = _PERSON[country]
    return Names(
        *_weighted(person.first_names_male),
        *_weighted(person.first_names_female),
        *_weighted(person.last_names),
    )


@cache
def street_names(country: str) -> np.ndarray:
    """Street names as each country forms them, the way Faker's locales build them: 'Oak Road' (a first
    or last name plus a street type) in GB, US, IE and AU; 'Bachstraße' or 'Max-Müller-Weg' in DE;
    'rue Dubois' or 'avenue Jean Martin' in FR."""
    if country == "DE":
        return _de_street_names()
    if country == "FR":
        return _fr_street_names()
    n = names(country)
    stems = np.unique(np.concatenate([n.male, n.female, n.last]))
    if country in ("GB", "US"):
        wanted = _GB_STREET_TYPES if country == "GB" else _US_STREET_TYPES
        provider = GBAddress if country == "GB" else USAddress
        types = np.array([t for t in dict.fromkeys(provider.street_suffixes) if t in wanted], dtype=object)
    else:
        types = np.array(world.IE_STREET_TYPES if country == "IE" else world.AU_STREET_TYPES, dtype=object)
    return (stems[:, None] + " " + types[None, :]).ravel()


def _de_street_names() -> np.ndarray:
    n = names("DE")
    short = np.array(sorted(set(DEAddress.street_suffixes_short) - {"str."}), dtype=object)
    joined = (n.last[:, None] + short[None, :]).ravel()
    first = np.concatenate([n.male[:200], n.female[:200]])
    hyphenated = (first[:, None] + "-" + n.last[None, :40] + "-Straße").ravel()
    return np.concatenate([joined, hyphenated, np.array(world.DE_COMMON_STREETS, dtype=object)])


def _fr_street_names() -> np.ndarray:
    n = names("FR")
    kinds = np.array(sorted(set(FRAddress.street_prefixes)), dtype=object)
    first = np.concatenate([n.male, n.female])
    named = (kinds[:, None] + " " + first[None, :40] + " " + n.last[:, None, None]).ravel()
    family = (kinds[:, None] + " " + n.last[None, :]).ravel()
    return np.concatenate([named, family, np.array(world.FR_COMMON_STREETS, dtype=object)])


def gb_towns() -> np.ndarray:
    """Real British towns from Faker's geo data."""
    return np.array(sorted({row[2] for row in Geo.land_coords if row[3] == "GB"}), dtype=object)


GB_POSTCODE_AREAS = np.array(GBAddress.POSTAL_ZONES, dtype=object)
GB_POSTCODE_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)  # letters used after the space

DE_TOWNS = np.array(DEAddress.cities, dtype=object)
# Metropolitan departments with numeric codes (not Corsica's 2A/2B nor the three-digit overseas ones).
FR_DEPARTMENTS = np.array([c for c, _name in FRAddress.departments if c.isdigit() and len(c) == 2], dtype=object)
AU_STATE_NAMES = dict(zip(AUAddress.states_abbr, AUAddress.states, strict=True))

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
    "IE": {"gmail.com": 0.45, "hotmail.com": 0.2, "outlook.com": 0.15, "yahoo.ie": 0.1, "eircom.net": 0.1},
    "DE": {"gmx.de": 0.3, "web.de": 0.3, "gmail.com": 0.2, "t-online.de": 0.1, "outlook.de": 0.1},
    "FR": {
        "gmail.com": 0.35,
        "orange.fr": 0.2,
        "free.fr": 0.15,
        "hotmail.fr": 0.15,
        "laposte.net": 0.1,
        "sfr.fr": 0.05,
    },
    "AU": {
        "gmail.com": 0.4,
        "bigpond.com": 0.15,
        "outlook.com": 0.15,
        "hotmail.com": 0.1,
        "yahoo.com.au": 0.1,
        "icloud.com": 0.1,
    },
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
