"""The one contradiction rule of steward decisions (hub.decisions), shared by the store and clustering."""

from __future__ import annotations

import pickle
from itertools import pairwise

from hub.decisions import SHOWN, ConflictingDecisions, conflicts
from hub.store import ConflictingDecision


def test_must_links_chaining_a_cannot_linked_pair_are_found_with_the_shortest_chain() -> None:
    must = [("c", "b"), ("a", "b"), ("a", "x"), ("x", "y"), ("y", "c")]
    assert conflicts(must, [("c", "a")]) == ([("a", "c")], [["a", "b", "c"]])


def test_decisions_that_agree_have_no_conflict() -> None:
    assert conflicts([("a", "b")], [("b", "c")]) == ([], [])
    assert conflicts([], []) == ([], [])


def test_a_record_cannot_linked_to_itself_conflicts_without_must_links() -> None:
    pairs, chains = conflicts([], [("a", "a")])
    assert (pairs, chains) == ([("a", "a")], [["a"]])
    assert "'a' is cannot-linked to itself" in str(ConflictingDecisions(pairs, chains))


def test_pairs_are_sorted_and_deduplicated_and_only_the_first_chains_are_spelled_out() -> None:
    ids = [f"r{i:02d}" for i in range(2 * SHOWN + 2)]
    must = list(pairwise(ids))
    cannot = [(ids[i + 1], ids[0]) for i in range(2 * SHOWN)] + [(ids[0], ids[1])]
    pairs, chains = conflicts(must, cannot)
    assert pairs == sorted({(ids[0], ids[i + 1]) for i in range(2 * SHOWN)})
    assert len(chains) == SHOWN and chains[0] == [ids[0], ids[1]]
    assert f"(and {len(pairs) - SHOWN} more)" in str(ConflictingDecisions(pairs, chains))


def test_the_store_words_the_same_conflict_for_the_steward_deciding() -> None:
    err = ConflictingDecision(*conflicts([("crm:1", "crm:2"), ("crm:2", "crm:3")], [("crm:3", "crm:1")]))
    assert str(err) == (
        "'crm:1' and 'crm:3' are marked 'not a match' but 'match' decisions join them: "
        "change one of those decisions first"
    )
    assert isinstance(err, ConflictingDecisions) and err.chains == [["crm:1", "crm:2", "crm:3"]]
    assert str(pickle.loads(pickle.dumps(err))) == str(err)
