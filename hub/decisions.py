"""The one rule steward decisions obey together: "match" decisions (must-links) never chain together two
records a steward marked "not a match" (a cannot-link). Clustering could honour neither side, so the store
refuses a decision that would break the rule (hub.store.decide) and clustering refuses input that breaks it
(matching.clustering); both find the offending pairs here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from hub.errors import HubError

SHOWN = 5  # how many must-link chains an error spells out

Pair = tuple[str, str]


class ConflictingDecisions(HubError, ValueError):
    """Must-links chain together records a steward also marked "not a match"; a steward has to resolve it.

    `pairs` holds every cannot-linked pair (id_a, id_b) that must-links join; `chains` the must-link path
    from id_a to id_b for the first few, so the steward can see which decision to revisit.
    """

    def __init__(self, pairs: list[Pair], chains: list[list[str]]) -> None:
        self.pairs = pairs
        self.chains = chains
        super().__init__(self.describe())

    def describe(self) -> str:
        shown = "; ".join(
            f"{a!r} is cannot-linked to itself"
            if a == b
            else f"{a!r} / {b!r} via must-links {' - '.join(map(repr, chain))}"
            for (a, b), chain in zip(self.pairs, self.chains, strict=False)
        )
        more = f" (and {len(self.pairs) - len(self.chains)} more)" if len(self.pairs) > len(self.chains) else ""
        return (
            f"steward decisions contradict each other: {len(self.pairs)} cannot-linked pair(s) are joined by "
            f"must-links: {shown}{more}"
        )

    def __reduce__(self) -> tuple[type, tuple[list[Pair], list[list[str]]]]:
        return type(self), (self.pairs, self.chains)  # survives pickling (e.g. across Dagster processes)

    @property
    def ids(self) -> list[str]:
        """Every record id involved in a conflicting pair."""
        return sorted({i for pair in self.pairs for i in pair})


def conflicts(must_link: Iterable[Pair], cannot_link: Iterable[Pair]) -> tuple[list[Pair], list[list[str]]]:
    """The cannot-linked pairs (id_a < id_b, sorted; a record cannot-linked to itself counts) that must-links
    join, and the shortest must-link chain from id_a to id_b for the first SHOWN of them. Direction and
    duplicates of pairs do not matter; no conflict gives two empty lists."""
    parent: dict[str, str] = {}
    neighbours: dict[str, set[str]] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in must_link:
        parent[root(a)] = root(b)
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    pairs = sorted({(min(a, b), max(a, b)) for a, b in cannot_link if root(a) == root(b)})
    return pairs, [_chain(neighbours, a, b) for a, b in pairs[:SHOWN]]


def _chain(neighbours: dict[str, set[str]], start: str, end: str) -> list[str]:
    """A shortest must-link path from `start` to `end` (breadth first, neighbours in id order)."""
    came_from: dict[str, str | None] = {start: None}
    todo = deque([start])
    while todo and end not in came_from:
        x = todo.popleft()
        for y in sorted(neighbours.get(x, ())):
            if y not in came_from:
                came_from[y] = x
                todo.append(y)
    path: list[str] = []
    step: str | None = end
    while step is not None:
        path.append(step)
        step = came_from[step]
    return path[::-1]
