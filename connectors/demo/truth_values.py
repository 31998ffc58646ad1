"""Each person's true current values in the canonical model: what a perfect golden record holds.

`ground_truth.csv` says which person every source row belongs to; this second truth file says what
is true about that person now, so survivorship and write-back can be scored field by field. It is
derived from the population and the timeline alone and draws no random numbers, so writing it
leaves every generated database exactly as it was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.demo import phones
from hub.model import ATTRIBUTE_FIELDS

TRUTH_VALUES = "truth_values.csv"
# The population's channel codes (as the app stores them) -> canonical preferred_channel.
CHANNEL_NAMES = {"E": "email", "S": "sms", "P": "phone", "M": "post"}
# person_id, then every canonical attribute but the consent times (a truth has no time of its own)
COLUMNS = ("person_id", *(f.name for f in ATTRIBUTE_FIELDS if not f.name.endswith("_at")))


def truth_values(people: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per person (`people` from population.population, `rows` from timeline.records).

    Names are the formal names as generated; the email and address are the current ones (a
    mover's old address and a changer's old email are history); the email consent is the one the
    app recorded last where the app changed it after every other system (timeline); the phone is
    E.164. Empty text means the person has no such value (no flat, no US state in GB).
    """
    country = people["country"].to_numpy(dtype=object)
    changed_in_app = rows.loc[rows["consent_changed"].to_numpy(dtype=bool), "person_id"].unique()
    email_consent = people["consent_email"].to_numpy(dtype=bool).copy()
    email_consent[changed_in_app] = ~email_consent[changed_in_app]

    def consent(granted: np.ndarray) -> np.ndarray:
        return np.where(granted, "granted", "denied").astype(object)

    frame = pd.DataFrame(
        {
            "person_id": np.arange(len(people)),
            "first_name": people["first_name"].to_numpy(dtype=object),
            "last_name": people["last_name"].to_numpy(dtype=object),
            "date_of_birth": np.datetime_as_string(people["dob"].to_numpy().astype("datetime64[D]"), unit="D"),
            "email": people["email"].str.lower().to_numpy(dtype=object),
            "phone": "+" + phones.render(country, people["phone_index"].to_numpy(), "digits").to_numpy(dtype=object),
            "address_line1": people["street"].to_numpy(dtype=object),
            "address_line2": people["street2"].to_numpy(dtype=object),
            "city": people["city"].to_numpy(dtype=object),
            "region": people["region"].to_numpy(dtype=object),
            "postal_code": people["postcode"].to_numpy(dtype=object),
            "country": country,
            "consent_email": consent(email_consent),
            "consent_sms": consent(people["consent_sms"].to_numpy(dtype=bool)),
            "consent_phone": consent(people["consent_phone"].to_numpy(dtype=bool)),
            "consent_post": consent(people["consent_post"].to_numpy(dtype=bool)),
            "preferred_channel": people["preferred_channel"].map(CHANNEL_NAMES).to_numpy(dtype=object),
        }
    )
    return frame[list(COLUMNS)]
