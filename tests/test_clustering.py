"""Clustering under steward decisions: the behaviour stewards rely on, and invariants over random graphs."""

from __future__ import annotations

import pickle
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.clustering import ConflictingDecisions, cluster


def edges(*triples: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(triples, columns=["id_l", "id_r", "match_probability"])


def pairs(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["id_l", "id_r"])


def groups(out: pd.DataFrame) -> set[frozenset[str]]:
    """The partition, independent of labels."""
    return {frozenset(g) for g in out.groupby("cluster_id")["record_id"].agg(list)}


class Graph(NamedTuple):
    """Records and links between them, as positions into `names`."""

    names: np.ndarray
    edge_ix: np.ndarray
    prob: np.ndarray
    must_ix: np.ndarray
    cannot_ix: np.ndarray

    def frame(self, ix: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"id_l": self.names[ix[:, 0]], "id_r": self.names[ix[:, 1]]})

    def edges(self) -> pd.DataFrame:
        return self.frame(self.edge_ix).assign(match_probability=self.prob)


def _components(n: int, links: np.ndarray) -> np.ndarray:
    """Reference connected components (plain union-find) to check against."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in links:
        parent[find(int(a))] = find(int(b))
    return np.array([find(i) for i in range(n)])


@st.composite
def graphs(draw: st.DrawFn, max_records: int = 59) -> Graph:
    """Up to 3 edges per record, probabilities either tied (a few fixed values) or spread, must-links, and
    cannot-links kept satisfiable (never inside a must-linked group)."""
    n = draw(st.integers(2, max_records))
    names = np.array(draw(st.permutations([f"id{i:03d}" for i in range(n)])))  # id order unrelated to structure

    def links(most: int) -> np.ndarray:
        pair = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
        return np.array(draw(st.lists(pair, max_size=most)), dtype=int).reshape(-1, 2)

    edge_ix = links(3 * n)
    tied_or_spread = (
        st.sampled_from([0.9, 0.95, 0.99]) if draw(st.booleans()) else st.floats(0.8, 1.0, exclude_max=True)
    )
    prob = np.array(draw(st.lists(tied_or_spread, min_size=len(edge_ix), max_size=len(edge_ix))), dtype=float)
    must_ix, cannot_ix = links(n // 4), links(n // 2)
    must_group = _components(n, must_ix)
    cannot_ix = cannot_ix[must_group[cannot_ix[:, 0]] != must_group[cannot_ix[:, 1]]]
    return Graph(names, edge_ix, prob, must_ix, cannot_ix)


def test_plain_components_labelled_by_smallest_id() -> None:
    out = cluster(
        pd.Series(["d", "a", "c", "b", "e"]),
        edges(("a", "b", 0.95), ("d", "c", 0.99), ("c", "e", 0.97)),
    )
    assert groups(out) == {frozenset("ab"), frozenset("cde")}
    assert dict(zip(out["record_id"], out["cluster_id"], strict=True)) == {
        "a": "a",
        "b": "a",
        "c": "c",
        "d": "c",
        "e": "c",
    }
    assert list(out.columns) == ["record_id", "cluster_id"]


@pytest.mark.parametrize(
    ("p_ab", "p_bc", "b_goes_with"),
    [(0.99, 0.95, "A"), (0.95, 0.99, "C")],
)
def test_cannot_link_splits_a_chain_and_b_follows_its_stronger_side(p_ab: float, p_bc: float, b_goes_with: str) -> None:
    out = cluster(
        ["A", "B", "C"],
        edges(("A", "B", p_ab), ("B", "C", p_bc)),
        cannot_link=pairs(("C", "A")),
    )
    other = "C" if b_goes_with == "A" else "A"
    assert groups(out) == {frozenset({"B", b_goes_with}), frozenset({other})}


def test_cannot_link_between_two_strong_groups_cuts_the_weak_bridge() -> None:
    left = [f"l{i}" for i in range(6)]
    right = [f"r{i}" for i in range(6)]
    strong = [(a, b, 0.97 + 0.002 * i) for side in (left, right) for i, a in enumerate(side) for b in side[i + 1 :]]
    bridge = ("l5", "r0", 0.91)
    out = cluster(left + right, edges(*strong, bridge), cannot_link=pairs(("l0", "r5")))
    assert groups(out) == {frozenset(left), frozenset(right)}


def test_must_link_joins_records_that_were_never_scored() -> None:
    out = cluster(["a", "b", "c", "x"], edges(("a", "b", 0.99)), must_link=pairs(("x", "c")))
    assert groups(out) == {frozenset("ab"), frozenset("cx")}

    bridged = cluster(["a", "b", "c", "x"], edges(("a", "b", 0.99)), must_link=pairs(("b", "x")))
    assert groups(bridged) == {frozenset("abx"), frozenset("c")}


def test_must_link_beats_a_stronger_edge_when_splitting() -> None:
    out = cluster(
        ["A", "B", "C"],
        edges(("A", "B", 0.99), ("B", "C", 0.91)),
        must_link=pairs(("B", "C")),
        cannot_link=pairs(("A", "C")),
    )
    assert groups(out) == {frozenset("A"), frozenset("BC")}


def test_must_links_chaining_a_cannot_linked_pair_raise_naming_them() -> None:
    with pytest.raises(ConflictingDecisions) as err:
        cluster(
            ["A", "B", "C", "D"],
            edges(("C", "D", 0.99)),
            must_link=pairs(("A", "B"), ("C", "B")),
            cannot_link=pairs(("C", "A")),
        )
    assert err.value.pairs == [("A", "C")]
    assert err.value.chains == [["A", "B", "C"]]
    assert err.value.ids == ["A", "C"]
    assert "'A'" in str(err.value) and "'C'" in str(err.value)
    assert isinstance(err.value, ValueError)
    assert pickle.loads(pickle.dumps(err.value)).pairs == [("A", "C")]


def test_must_and_cannot_on_the_same_pair_conflict() -> None:
    with pytest.raises(ConflictingDecisions, match="'a' / 'b'"):
        cluster(["a", "b"], edges(), must_link=pairs(("a", "b")), cannot_link=pairs(("b", "a")))
    with pytest.raises(ConflictingDecisions, match="itself"):
        cluster(["a"], edges(), cannot_link=pairs(("a", "a")))


def test_cannot_link_across_components_changes_nothing() -> None:
    records = ["a", "b", "c", "d"]
    scored = edges(("a", "b", 0.99), ("c", "d", 0.99))
    plain = cluster(records, scored)
    pd.testing.assert_frame_equal(cluster(records, scored, cannot_link=pairs(("a", "c"), ("d", "b"))), plain)


def test_singletons_keep_their_own_cluster_and_every_record_gets_one_row() -> None:
    records = pd.Series([f"r{i:03d}" for i in range(50)]).sample(frac=1, random_state=3)
    out = cluster(records, edges(("r001", "r002", 0.99)), cannot_link=pairs(("r010", "r011")))
    assert len(out) == 50
    assert out["record_id"].is_unique
    assert set(out["record_id"]) == set(records)
    assert out["record_id"].is_monotonic_increasing
    singles = out[~out["record_id"].isin(["r001", "r002"])]
    assert (singles["record_id"] == singles["cluster_id"]).all()


@settings(max_examples=5)
@given(graphs(max_records=40), st.data())
def test_same_result_regardless_of_edge_order_direction_duplicates_and_self_edges(
    g: Graph, data: st.DataObject
) -> None:
    cannot = g.frame(g.cannot_ix)
    expected = cluster(pd.Series(g.names), g.edges(), cannot_link=cannot)
    order = data.draw(st.permutations(range(len(g.edge_ix))), label="edge order")
    flip = np.array(data.draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order))), dtype=bool)
    shuffled = g.edges().iloc[list(order)].reset_index(drop=True)
    shuffled.loc[flip, ["id_l", "id_r"]] = shuffled.loc[flip, ["id_r", "id_l"]].to_numpy()
    noisy = pd.concat([shuffled, shuffled.head(5), edges((g.names[0], g.names[0], 0.99))], ignore_index=True)
    cannot_order = data.draw(st.permutations(range(len(cannot))), label="cannot-link order")
    got = cluster(pd.Series(g.names[::-1]), noisy, cannot_link=cannot.iloc[list(cannot_order)])
    pd.testing.assert_frame_equal(got, expected)


def test_equal_probabilities_are_broken_by_ids() -> None:
    out = cluster(["A", "B", "C"], edges(("C", "B", 0.9), ("B", "A", 0.9)), cannot_link=pairs(("A", "C")))
    assert groups(out) == {frozenset("AB"), frozenset("C")}


def test_empty_inputs() -> None:
    out = cluster(pd.Series([], dtype="str"), edges())
    assert out.empty and list(out.columns) == ["record_id", "cluster_id"]
    lone = cluster(np.array(["b", "a"], dtype=object), edges(), must_link=None, cannot_link=pairs())
    assert lone["cluster_id"].tolist() == ["a", "b"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"edges": edges(("a", "zz", 0.99))}, "edges refers to 1 id.*'zz'"),
        ({"must_link": pairs(("a", "ghost"))}, "must_link refers to .*'ghost'"),
        ({"cannot_link": pairs(("nope", "b"))}, "cannot_link refers to .*'nope'"),
        ({"edges": pd.DataFrame({"id_l": ["a"], "id_r": ["b"]})}, "missing \\['match_probability'\\]"),
        ({"edges": edges(("a", "b", float("nan")))}, "missing match_probability"),
        ({"records": ["a", "b", "a"]}, "duplicate id.*'a'"),
        ({"records": ["a", None]}, "null id"),
    ],
)
def test_bad_input_is_rejected_with_the_offending_ids(kwargs: dict, message: str) -> None:
    args = {"records": ["a", "b"], "edges": edges()} | kwargs
    with pytest.raises(ValueError, match=message):
        cluster(**args)


def test_non_string_ids_are_rejected() -> None:
    with pytest.raises(TypeError, match="strings"):
        cluster(pd.Series([1, 2]), edges())


# --- invariants over random graphs -------------------------------------------------------------------------


@settings(max_examples=50)
@given(graphs())
def test_invariants_on_random_graphs(g: Graph) -> None:
    names, edge_ix, must_ix, cannot_ix = g.names, g.edge_ix, g.must_ix, g.cannot_ix
    n = len(names)
    out = cluster(pd.Series(names), g.edges(), must_link=g.frame(must_ix), cannot_link=g.frame(cannot_ix))
    assert len(out) == n and set(out["record_id"]) == set(names)
    label = dict(zip(out["record_id"], out["cluster_id"], strict=True))
    of = np.array([label[x] for x in names])

    # steward decisions win
    assert all(of[a] != of[b] for a, b in cannot_ix)
    assert all(of[a] == of[b] for a, b in must_ix)
    # cluster_id is the smallest member's id
    smallest = out.groupby("cluster_id")["record_id"].min()
    assert (smallest.index == smallest.to_numpy()).all()
    # every cluster is connected by its own edges / must-links (so never joins unconnected records)
    links = np.concatenate([edge_ix, must_ix])
    internal = links[of[links[:, 0]] == of[links[:, 1]]]
    within = _components(n, internal)
    assert len(set(within)) == len(set(of))
    # without cannot-links nothing is split: clusters are exactly the connected components
    if len(cannot_ix) == 0:
        assert len(set(of)) == len(set(_components(n, links)))
    # maximal: every edge left between two clusters would join a cannot-linked pair
    members = {c: set(np.flatnonzero(of == c)) for c in set(of)}
    cannot_set = {(int(a), int(b)) for a, b in cannot_ix} | {(int(b), int(a)) for a, b in cannot_ix}
    for a, b in edge_ix[of[edge_ix[:, 0]] != of[edge_ix[:, 1]]]:
        merged = members[of[a]] | members[of[b]]
        assert any((x, y) in cannot_set for x in merged for y in merged), (names[a], names[b])
