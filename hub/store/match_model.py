"""The match model a run scored with, as publish takes it: shared by publish, diff (what changed) and writes
(the rows written), so none of them imports another for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd


@dataclass(frozen=True)
class MatchModel:
    """The match model a run scored with, as publish takes it: the Splink model (JSON text) and the counts of
    the records it scored that its term frequencies came from, which match-on-entry needs beside it (a posted
    record sharing a common name is weaker evidence than one sharing a rare name; matching.models.for_serving)."""

    version: int
    trained_at: datetime
    records: int
    model_json: str
    tf_counts: pd.DataFrame  # tf_column, value, golden_records: the values two or more scored records share
    tf_totals: dict[str, int]  # tf column -> scored records with a value in it
