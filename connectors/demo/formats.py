"""Dates and timestamps written the way each system writes them, for whole columns at once.

numpy renders ISO text; other layouts are the same characters rearranged, done on a byte
matrix rather than string by string.
"""

from __future__ import annotations

import numpy as np

# Output layout as positions in 'YYYY-MM-DDTHH:MM:SS' (or a literal character).
_LAYOUTS: dict[str, tuple[int | str, ...]] = {
    "%d/%m/%Y": (8, 9, "/", 5, 6, "/", 0, 1, 2, 3),
    "%m/%d/%Y": (5, 6, "/", 8, 9, "/", 0, 1, 2, 3),
    "%Y-%m-%d": tuple(range(10)),
    "%Y-%m-%d %H:%M:%S": (*range(10), " ", *range(11, 19)),
    "%Y-%m-%dT%H:%M:%S": tuple(range(19)),
    "%Y-%m-%dT%H:%M:%S.000+0000": (*range(19), *".000+0000"),
}


def render(values: np.ndarray, layout: str) -> np.ndarray:
    """Format datetime64 values or int epoch seconds with one of the layouts above."""
    iso = np.datetime_as_string(values.astype("datetime64[s]"), unit="s").astype("S19")
    chars = iso.view(np.uint8).reshape(len(values), 19)
    out = np.empty((len(values), len(_LAYOUTS[layout])), dtype=np.uint8)
    for i, source in enumerate(_LAYOUTS[layout]):
        out[:, i] = ord(source) if isinstance(source, str) else chars[:, source]
    return out.view(f"S{out.shape[1]}").ravel().astype(str).astype(object)
