"""Vectorized random text: keys, tokens and hashes, built as byte matrices.

Each helper fills an (n, length) uint8 matrix with character codes and views it as n strings,
so a million ids cost one numpy operation instead of a million Python calls.
"""

from __future__ import annotations

import numpy as np

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEX = "0123456789abcdef"
_SALESFORCE_SUFFIX = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", dtype=np.uint8)


def _as_strings(codes: np.ndarray) -> np.ndarray:
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    return codes.view(f"S{codes.shape[1]}").ravel().astype(str).astype(object)


def random_text(rng: np.random.Generator, n: int, length: int, alphabet: str) -> np.ndarray:
    table = np.frombuffer(alphabet.encode(), dtype=np.uint8)
    return _as_strings(table[rng.integers(0, len(table), size=(n, length))])


def uuid4(rng: np.random.Generator, n: int) -> np.ndarray:
    """Version-4 UUID strings drawn from `rng`, so the same seed gives the same ids."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    table = np.frombuffer(HEX.encode(), dtype=np.uint8)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = table[raw >> 4]
    hexed[:, 1::2] = table[raw & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, stop, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        out[:, at : at + stop - start] = hexed[:, start:stop]
    return _as_strings(out)


def _base62_codes(numbers: np.ndarray, width: int) -> np.ndarray:
    """Fixed-width base-62 digits of non-negative integers (most significant first)."""
    table = np.frombuffer(BASE62.encode(), dtype=np.uint8)
    rest = numbers.astype(np.int64)
    digits = np.empty((len(rest), width), dtype=np.int64)
    for i in range(width - 1, -1, -1):
        rest, digits[:, i] = np.divmod(rest, 62)
    return table[digits]


def salesforce_ids(rng: np.random.Generator, n: int, prefix: str) -> np.ndarray:
    """18-character Salesforce ids, ascending in creation order like the real ones.

    The 15-character id is `prefix` plus a base-62 counter; the 3-character suffix is
    Salesforce's case checksum (one bit per upper-case letter in each block of five).
    """
    width = 15 - len(prefix)
    counter = rng.integers(62 ** (width - 1), 62 ** (width - 1) * 2) + np.cumsum(rng.integers(1, 40, size=n))
    body = np.tile(np.frombuffer(prefix.encode(), dtype=np.uint8), (n, 1))
    full = np.hstack([body, _base62_codes(counter, width)])
    upper = (full >= ord("A")) & (full <= ord("Z"))
    weights = 1 << np.arange(5)
    checksum = [_SALESFORCE_SUFFIX[(upper[:, b * 5 : b * 5 + 5] * weights).sum(axis=1)] for b in range(3)]
    return _as_strings(np.hstack([full, np.stack(checksum, axis=1)]))
