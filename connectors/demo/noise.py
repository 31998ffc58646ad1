"""The data-entry noise real systems accumulate, applied with seeded boolean masks.

Each function takes a column and a rate (one number, or one per row so that second entries of
a person can be noisier) and returns a new column. Only the few affected values go through
Python; everything else stays vectorized.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.demo.vocabulary import NICKNAMES

Rate = float | np.ndarray
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def pick(rng: np.random.Generator, n: int, rate: Rate) -> np.ndarray:
    return rng.random(n) < rate


def _replace(values: pd.Series, rows: np.ndarray, new: list[str] | np.ndarray) -> pd.Series:
    out = values.to_numpy(dtype=object, na_value=None).copy()  # type: ignore[call-overload]  # stubs lack na_value=None
    out[rows] = new
    return pd.Series(out, dtype=object)


def typos(rng: np.random.Generator, values: pd.Series, rate: Rate) -> pd.Series:
    """A keying error (substitution, deletion, transposition, insertion); a quarter of hits get two."""
    long_enough = values.str.len().fillna(0).to_numpy() >= 3
    rows = np.flatnonzero(pick(rng, len(values), rate) & long_enough)
    words = _edits(rng, values.to_numpy(dtype=object)[rows])
    twice = rng.random(len(rows)) < 0.25
    words[twice] = _edits(rng, words[twice])
    return _replace(values, rows, words)


def _edits(rng: np.random.Generator, words: np.ndarray) -> np.ndarray:
    n = len(words)
    ops, where, letters = rng.integers(0, 4, n), rng.random(n), rng.integers(0, 26, n)
    edited = [_edit(w, o, p, _LETTERS[c]) for w, o, p, c in zip(words, ops, where, letters, strict=True)]
    return np.array(edited, dtype=object)


def _edit(word: str, op: int, where: float, letter: str) -> str:
    i = 1 + int(where * (len(word) - 2))  # never the first letter: people rarely mistype that
    if word[i].isupper():
        letter = letter.upper()
    if op == 0:
        return word[:i] + letter + word[i + 1 :]
    if op == 1:
        return word[:i] + word[i + 1 :]
    if op == 2 and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + letter + word[i:]


def nicknames(rng: np.random.Generator, first: pd.Series, rate: Rate) -> pd.Series:
    """Replace a formal first name by a short form the person goes by (Robert -> Bob)."""
    options = first.map(NICKNAMES)
    rows = np.flatnonzero(pick(rng, len(first), rate) & options.notna().to_numpy())
    draws = rng.random(len(rows))
    chosen = [o[int(u * len(o))] for o, u in zip(options.to_numpy()[rows], draws, strict=True)]
    return _replace(first, rows, chosen)


def swap(rng: np.random.Generator, first: pd.Series, last: pd.Series, rate: Rate) -> tuple[pd.Series, pd.Series]:
    """First and last name entered the wrong way round."""
    hit = pick(rng, len(first), rate)
    a = first.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]  # stubs lack na_value=None
    b = last.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]  # stubs lack na_value=None
    return pd.Series(np.where(hit, b, a), dtype=object), pd.Series(np.where(hit, a, b), dtype=object)


def blank(rng: np.random.Generator, values: pd.Series | np.ndarray, rate: Rate) -> pd.Series:
    """Values nobody filled in."""
    out = pd.Series(values, dtype=object).to_numpy(dtype=object, na_value=None).copy()  # type: ignore[call-overload]  # stubs lack na_value=None
    out[pick(rng, len(out), rate)] = None
    return pd.Series(out, dtype=object)


def recase(rng: np.random.Generator, values: pd.Series, lower: Rate = 0.0, upper: Rate = 0.0) -> pd.Series:
    """Whole values typed in lower or upper case."""
    draw = rng.random(len(values))
    out = values.to_numpy(dtype=object, na_value=None).copy()  # type: ignore[call-overload]  # stubs lack na_value=None
    for hit, change in ((draw < lower, str.lower), ((draw >= lower) & (draw < lower + upper), str.upper)):
        rows = np.flatnonzero(hit & values.notna().to_numpy())
        out[rows] = [change(v) for v in out[rows]]
    return pd.Series(out, dtype=object)


def stray_spaces(rng: np.random.Generator, values: pd.Series, rate: Rate) -> pd.Series:
    """A leading or trailing space, or a doubled inner one, as copy-paste leaves behind."""
    rows = np.flatnonzero(pick(rng, len(values), rate) & values.notna().to_numpy())
    kind = rng.integers(0, 3, len(rows))
    words = values.to_numpy(dtype=object)[rows]
    spaced = [
        " " + w if k == 0 else w + " " if k == 1 else w.replace(" ", "  ", 1) for w, k in zip(words, kind, strict=True)
    ]
    return _replace(values, rows, spaced)


def email_noise(rng: np.random.Generator, emails: pd.Series, rate: Rate) -> pd.Series:
    """Gmail dot variants (same mailbox, different text), capitals and stray spaces.

    `rate` is the share of addresses that get one of these; dot variants only apply to Gmail.
    """
    hit = pick(rng, len(emails), rate) & emails.notna().to_numpy()
    kind = rng.integers(0, 4, len(emails))
    gmail = emails.str.endswith("@gmail.com").fillna(False).to_numpy(dtype=bool)
    out = emails.to_numpy(dtype=object, na_value=None).copy()  # type: ignore[call-overload]  # stubs lack na_value=None
    dots = np.flatnonzero(hit & gmail & (kind <= 1))
    where = rng.random(len(dots))
    out[dots] = [_gmail_dots(e, u) for e, u in zip(out[dots], where, strict=True)]
    shout = np.flatnonzero(hit & (kind == 2))
    out[shout] = [
        e.upper() if u < 0.4 else e.capitalize() for e, u in zip(out[shout], rng.random(len(shout)), strict=True)
    ]
    return stray_spaces(rng, pd.Series(out, dtype=object), np.where(hit & (kind == 3), 1.0, 0.0))


def _gmail_dots(email: str, where: float) -> str:
    local, domain = email.split("@", 1)
    if "." in local:
        return local.replace(".", "") + "@" + domain
    i = 1 + int(where * (len(local) - 1))
    return local[:i] + "." + local[i:] + "@" + domain


# German umlauts as people type them without the letters ("Müller" -> "Mueller"); other accents are dropped.
UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def ascii_only(values: pd.Series) -> pd.Series:
    """What a system without accented letters stores ("Wähner" -> "Waehner", "Hébert" -> "Hebert"), each
    distinct value folded once. ASCII text is left exactly as it was."""
    codes, distinct = pd.factorize(values)
    folded = pd.Series(distinct, dtype=object).str.translate(UMLAUTS).str.normalize("NFKD")
    folded = folded.str.encode("ascii", "ignore").str.decode("ascii")
    # A missing value has code -1: the None appended last.
    return pd.Series(np.append(folded.to_numpy(dtype=object), [None])[codes], dtype=object)


def per_row(duplicate: np.ndarray, rate: float, factor: float = 3.0) -> np.ndarray:
    """`rate` for ordinary rows, `factor` times it for a person's second entry (typed in a hurry)."""
    return np.where(duplicate, rate * factor, rate)
