"""Stable golden ids: the behaviour downstream systems rely on, and invariants over random cluster evolutions."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden_record import stable_ids
from golden_record.ids import IdAssignment, assign_ids, repoint_redirects, tie_candidates

NO_CREATED = pd.DataFrame(columns=["golden_id", "created_at"])


class Minter:
    """Hands out g0001, g0002, ... and remembers every call, like the store's id sequence would."""

    def __init__(self, start: int = 1) -> None:
        self.next = start
        self.calls: list[int] = []

    def __call__(self, n: int) -> list[str]:
        self.calls.append(n)
        self.next += n
        return [f"g{i:04d}" for i in range(self.next - n, self.next)]


def clusters(*groups: str) -> pd.DataFrame:
    """One cluster per space-separated group, labelled by its smallest record id as matching.clustering does."""
    rows = [(record, min(group.split())) for group in groups for record in group.split()]
    return pd.DataFrame(rows, columns=["record_id", "cluster_id"])


def xref(**golden: str) -> pd.DataFrame:
    """The previous run's record -> golden id map, written as golden_id="records"."""
    rows = [(record, gid) for gid, group in golden.items() for record in group.split()]
    return pd.DataFrame(rows, columns=["record_id", "golden_id"])


def created(**when: str) -> pd.DataFrame:
    return pd.DataFrame({"golden_id": list(when), "created_at": list(when.values())})


def ids_of(result: IdAssignment) -> dict[str, str]:
    """Golden id per group of records, the group written as its sorted space-separated ids."""
    groups = result.members.groupby("golden_id")["record_id"].agg(lambda r: " ".join(sorted(r)))
    return {group: gid for gid, group in groups.items()}


def redirects(result: IdAssignment) -> dict[str, str]:
    assert set(result.redirects["reason"]) <= {"merge"}
    return dict(zip(result.redirects["retired_id"], result.redirects["surviving_id"], strict=True))


# --- behaviour ---------------------------------------------------------------------------------------------------


def test_first_run_mints_one_id_per_cluster_in_order_of_smallest_record_id() -> None:
    mint = Minter()
    # Labels deliberately unrelated to record order: minting order must follow the records, not the labels.
    first = pd.DataFrame({"record_id": ["e", "b", "d", "a", "c"], "cluster_id": ["x", "z", "y", "y", "z"]})
    result = assign_ids(first, pd.DataFrame(), NO_CREATED, mint)

    assert mint.calls == [3]
    assert ids_of(result) == {"a d": "g0001", "b c": "g0002", "e": "g0003"}
    assert result.minted == ["g0001", "g0002", "g0003"]
    assert list(result.members["record_id"]) == ["e", "b", "d", "a", "c"]  # one row per record, input order
    assert list(result.members.columns) == ["record_id", "golden_id"]
    assert (result.kept, result.dropped, len(result.redirects)) == (0, [], 0)
    assert list(result.redirects.columns) == ["retired_id", "surviving_id", "reason"]

    again = assign_ids(first.sample(frac=1, random_state=3), pd.DataFrame(), NO_CREATED, Minter())
    assert ids_of(again) == ids_of(result)


def test_rerun_on_unchanged_input_gives_identical_ids_and_mints_nothing() -> None:
    now = clusters("a b c", "d e", "f")
    first = assign_ids(now, pd.DataFrame(), NO_CREATED, Minter())
    mint = Minter(start=100)
    second = assign_ids(now.iloc[::-1], first.members, created(g0001="2025-01-01"), mint)

    assert mint.calls == []
    assert second.minted == [] and second.kept == 3 and second.dropped == [] and second.redirects.empty
    assert ids_of(second) == ids_of(first)


def test_new_record_joining_a_cluster_keeps_its_id_and_a_new_cluster_gets_a_new_one() -> None:
    result = assign_ids(clusters("a b x", "c", "y"), xref(G1="a b", G2="c"), NO_CREATED, Minter())
    assert ids_of(result) == {"a b x": "G1", "c": "G2", "y": "g0001"}
    assert result.kept == 2 and result.minted == ["g0001"]


CD_KEEPS_G2 = {"c": "G2", "d": "G2"}


@pytest.mark.parametrize(
    ("now", "stable"),
    [
        (clusters("a b x", "c d"), CD_KEEPS_G2),  # a new record joins G1's cluster
        (clusters("a", "c d"), CD_KEEPS_G2),  # a record of G1 leaves
        (clusters("a", "b", "c d"), CD_KEEPS_G2),  # G1 splits
        (clusters("a b c d"), {}),  # a merge
        (clusters("a c", "b d"), {}),  # records swap
        (clusters("a b", "c d"), {"a": "G1", "b": "G1", **CD_KEEPS_G2}),  # nothing changed
    ],
)
def test_only_clusters_no_record_joined_left_or_moved_keep_their_id_undecided(now, stable) -> None:
    before = xref(G1="a b", G2="c d")
    part, kept = _split(now, before)
    assert _by_record(kept) == stable and part.stable == len(set(stable.values()))
    decided = assign_ids(part.clusters, part.previous, NO_CREATED, Minter())
    whole = assign_ids(now, before, NO_CREATED, Minter())
    assert _by_record(pd.concat([kept, decided.members])) == _by_record(whole.members)
    assert (decided.minted, redirects(decided), decided.dropped) == (whole.minted, redirects(whole), whole.dropped)


def test_merge_keeps_the_larger_clusters_id_and_redirects_the_other() -> None:
    # G2 is older, but size comes first.
    result = assign_ids(
        clusters("a b c d e"), xref(G1="a b c", G2="d e"), created(G1="2025-02-01", G2="2025-01-01"), Minter()
    )
    assert ids_of(result) == {"a b c d e": "G1"}
    assert redirects(result) == {"G2": "G1"}
    assert result.kept == 1 and result.minted == [] and result.dropped == []


def test_merge_size_counts_previous_records_even_those_gone_now() -> None:
    # G1 had 3 records, 2 of them deleted since; G2 had 2. G1 was the larger cluster, so it survives.
    result = assign_ids(clusters("a d e"), xref(G1="a b c", G2="d e"), NO_CREATED, Minter())
    assert ids_of(result) == {"a d e": "G1"} and redirects(result) == {"G2": "G1"}


@pytest.mark.parametrize(
    ("when", "survivor"),
    [
        ({"G1": "2025-02-01", "G2": "2025-01-01"}, "G2"),  # older wins
        ({"G1": "2025-01-01T00:00:00+02:00", "G2": "2025-01-01T00:00:00Z"}, "G1"),  # offsets count: G1 is older
        ({"G1": "2025-01-01", "G2": "2025-01-01"}, "G1"),  # same age: smaller id
        ({"G2": "2025-01-01"}, "G2"),  # unknown created_at counts as newest
        ({}, "G1"),
    ],
)
def test_merge_of_equal_sizes_keeps_the_older_id(when: dict[str, str], survivor: str) -> None:
    result = assign_ids(clusters("a b c d"), xref(G1="a b", G2="c d"), created(**when), Minter())
    retired = ({"G1", "G2"} - {survivor}).pop()
    assert ids_of(result) == {"a b c d": survivor} and redirects(result) == {retired: survivor}


def test_three_way_merge_redirects_every_other_id_to_the_survivor() -> None:
    result = assign_ids(clusters("a b c d e f"), xref(G1="a", G2="b c d", G3="e f"), NO_CREATED, Minter())
    assert ids_of(result) == {"a b c d e f": "G2"} and redirects(result) == {"G1": "G2", "G3": "G2"}


def test_split_keeps_the_id_on_the_largest_part_and_mints_for_the_rest() -> None:
    mint = Minter()
    result = assign_ids(clusters("a b", "c d e", "f"), xref(G1="a b c d e f"), NO_CREATED, mint)
    assert ids_of(result) == {"c d e": "G1", "a b": "g0001", "f": "g0002"}
    assert mint.calls == [2] and result.kept == 1 and result.redirects.empty


def test_split_into_equal_parts_gives_the_id_to_the_smallest_cluster_id() -> None:
    result = assign_ids(clusters("c d", "a b"), xref(G1="a b c d"), NO_CREATED, Minter())
    assert ids_of(result) == {"a b": "G1", "c d": "g0001"}


def test_majority_decides_the_claim_even_when_the_id_then_loses_a_merge() -> None:
    # G1's records: 2 in the big cluster, 1 alone. The big cluster claims G1 and G2; G2 is larger, so G1 is
    # retired into G2 and the lone record gets a new id rather than G1.
    result = assign_ids(clusters("a b x y z", "c"), xref(G1="a b c", G2="x y z w"), NO_CREATED, Minter())
    assert ids_of(result) == {"a b x y z": "G2", "c": "g0001"}
    assert redirects(result) == {"G1": "G2"}


def test_merge_then_split_keeps_the_survivor_on_the_larger_part_and_does_not_resurrect_the_retired_id() -> None:
    mint = Minter()
    first = assign_ids(clusters("a b c", "d e"), pd.DataFrame(), NO_CREATED, mint)
    assert ids_of(first) == {"a b c": "g0001", "d e": "g0002"}
    live = created(g0001="2025-01-01", g0002="2025-01-01")

    merged = assign_ids(clusters("a b c d e"), first.members, live, mint)
    assert ids_of(merged) == {"a b c d e": "g0001"} and redirects(merged) == {"g0002": "g0001"}

    # Downstream systems were told g0002 is g0001; that must stay true, so the other part gets a fresh id.
    split = assign_ids(clusters("a b c", "d e"), merged.members, live.iloc[:1], mint)
    assert ids_of(split) == {"a b c": "g0001", "d e": "g0003"}
    assert split.redirects.empty and split.minted == ["g0003"]
    assert repoint_redirects(merged.redirects, split.redirects).equals(merged.redirects)  # g0002 -> g0001 stands


def test_redirect_chain_is_repointed_so_every_retired_id_resolves_in_one_hop() -> None:
    mint = Minter()
    first = assign_ids(clusters("a", "b c", "d e f g"), pd.DataFrame(), NO_CREATED, mint)
    assert ids_of(first) == {"a": "g0001", "b c": "g0002", "d e f g": "g0003"}
    live = created(g0001="2025-01-01", g0002="2025-01-01", g0003="2025-01-01")

    second = assign_ids(clusters("a b c", "d e f g"), first.members, live, mint)
    assert redirects(second) == {"g0001": "g0002"}
    table = repoint_redirects(first.redirects, second.redirects)

    third = assign_ids(clusters("a b c d e f g"), second.members, live.iloc[1:], mint)
    assert redirects(third) == {"g0002": "g0003"}
    table = repoint_redirects(table, third.redirects)

    assert dict(zip(table["retired_id"], table["surviving_id"], strict=True)) == {"g0001": "g0003", "g0002": "g0003"}
    assert set(table["surviving_id"]) <= set(third.members["golden_id"])
    assert set(table["reason"]) == {"merge"}


def test_repoint_redirects_keeps_extra_columns_and_refuses_a_retired_id_coming_back() -> None:
    old = pd.DataFrame({"retired_id": ["A"], "surviving_id": ["B"], "reason": ["merge"], "run": [1]})
    new = pd.DataFrame({"retired_id": ["B"], "surviving_id": ["C"], "reason": ["merge"]})
    table = repoint_redirects(old, new)
    assert table[["retired_id", "surviving_id"]].values.tolist() == [["A", "C"], ["B", "C"]]
    assert table["run"].tolist()[0] == 1
    assert repoint_redirects(old, new.iloc[:0]).equals(old)

    with pytest.raises(ValueError, match=r"retired twice.*'A'"):
        repoint_redirects(old, pd.DataFrame({"retired_id": ["A"], "surviving_id": ["C"], "reason": ["merge"]}))
    with pytest.raises(ValueError, match=r"already retired.*'A'"):
        repoint_redirects(old, pd.DataFrame({"retired_id": ["C"], "surviving_id": ["A"], "reason": ["merge"]}))


def test_records_that_disappear_drop_the_id_and_the_rest_keep_theirs() -> None:
    result = assign_ids(clusters("a", "d"), xref(G1="a b", G2="c", G3="d e"), NO_CREATED, Minter())
    assert ids_of(result) == {"a": "G1", "d": "G3"}
    assert result.dropped == ["G2"] and result.kept == 2 and result.redirects.empty


def test_empty_run_drops_everything_and_mints_nothing() -> None:
    mint = Minter()
    result = assign_ids(pd.DataFrame(), xref(G2="b", G1="a"), NO_CREATED, mint)
    assert result.members.empty and list(result.members.columns) == ["record_id", "golden_id"]
    assert result.dropped == ["G1", "G2"] and mint.calls == [] and result.kept == 0


# --- bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "before", "live", "message"),
    [
        (clusters("a b", "b c"), xref(), NO_CREATED, r"clusters has 1 duplicate record id\(s\), e\.g\. \['b'\]"),
        (clusters("a", "b"), xref(G1="a", G2="a b"), NO_CREATED, r"previous has 1 duplicate record id.*\['a'\]"),
        (clusters("a"), xref(G1="a"), created(G1="2025-01-01").iloc[[0, 0]], r"duplicate golden id.*\['G1'\]"),
        (pd.DataFrame({"record_id": ["a"]}), xref(), NO_CREATED, r"clusters needs columns .*missing \['cluster_id'\]"),
        (pd.DataFrame({"record_id": [None], "cluster_id": ["x"]}), xref(), NO_CREATED, r"1 null record_id"),
        (clusters("a"), pd.DataFrame({"record_id": ["a"], "golden_id": [None]}), NO_CREATED, r"1 null golden_id"),
    ],
)
def test_bad_input_is_rejected_naming_the_problem(
    now: pd.DataFrame, before: pd.DataFrame, live: pd.DataFrame, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        assign_ids(now, before, live, Minter())


def test_non_string_record_ids_are_rejected() -> None:
    with pytest.raises(TypeError, match=r"clusters\.record_id must hold strings"):
        assign_ids(pd.DataFrame({"record_id": [1, 2], "cluster_id": [1, 1]}), pd.DataFrame(), NO_CREATED, Minter())


@pytest.mark.parametrize(
    ("mint", "error", "message"),
    [
        (lambda n: ["n1"], ValueError, r"mint\(2\) returned 1 id"),
        (lambda n: ["n1", "n1"], ValueError, r"duplicate ids.*'n1'"),
        (lambda n: ["n1", "G1"], ValueError, r"already in use: \['G1'\]"),
        (lambda n: ["n1", "G9"], ValueError, r"already in use: \['G9'\]"),  # a live id, even without records
        (lambda n: [1, 2], TypeError, r"mint must return"),
        (lambda n: ["n1", None], TypeError, r"mint must return non-null strings"),
    ],
)
def test_a_mint_that_breaks_uniqueness_is_refused(
    mint: Callable[[int], list], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        assign_ids(clusters("a", "b", "c"), xref(G1="a"), created(G9="2025-01-01"), mint)


# --- invariants over random evolutions ---------------------------------------------------------------------------


def reference(
    now: pd.DataFrame, before: pd.DataFrame, born: dict[str, pd.Timestamp], first_number: int
) -> tuple[dict[str, str], dict[str, str], list[str], list[str]]:
    """The rules written as plainly as possible: (golden id per cluster, redirects, dropped, minted)."""
    cluster_of = dict(zip(now["record_id"], now["cluster_id"], strict=True))
    records_of: dict[str, list[str]] = defaultdict(list)
    for record, cluster in cluster_of.items():
        records_of[cluster].append(record)
    previous_records: dict[str, list[str]] = defaultdict(list)
    for record, gid in zip(before["record_id"], before["golden_id"], strict=True):
        previous_records[gid].append(record)

    claimed_by: dict[str, list[str]] = defaultdict(list)
    dropped = []
    for gid, records in previous_records.items():
        counts = Counter(cluster_of[r] for r in records if r in cluster_of)
        if counts:
            claimed_by[min(counts, key=lambda c: (-counts[c], c))].append(gid)
        else:
            dropped.append(gid)

    assigned, redirected = {}, {}
    for cluster, gids in claimed_by.items():
        gids.sort(key=lambda g: (-len(previous_records[g]), g not in born, born.get(g, pd.Timestamp(0)), g))
        assigned[cluster] = gids[0]
        redirected.update(dict.fromkeys(gids[1:], gids[0]))
    unclaimed = sorted((c for c in records_of if c not in assigned), key=lambda c: min(records_of[c]))
    minted = [f"g{first_number + i:04d}" for i in range(len(unclaimed))]
    assigned.update(zip(unclaimed, minted, strict=True))
    return assigned, redirected, sorted(dropped), minted


def evolve(
    rng: np.random.Generator, records: np.ndarray, groups: np.ndarray, next_record: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """One run's worth of change: merges, splits, moves, deletions and new records, in random amounts."""
    labels = np.unique(groups)
    top = groups.max() + 1
    if len(labels) > 1:  # merges
        merging = rng.choice(labels, int(rng.integers(0, len(labels) // 3 + 1)), replace=False)
        target = rng.choice(labels, len(labels))
        groups = np.where(np.isin(groups, merging), target[np.searchsorted(labels, groups)], groups)
    splitting = rng.choice(labels, int(rng.integers(0, len(labels) // 3 + 1)), replace=False)  # splits
    part = rng.integers(0, 3, len(groups))
    groups = np.where(np.isin(groups, splitting) & (part > 0), top + part * (top + 1) + groups, groups)
    moving = rng.random(len(groups)) < 0.05  # single records wandering off
    groups = np.where(moving, rng.choice(groups, len(groups)), groups)
    keep = rng.random(len(groups)) >= rng.choice([0.0, 0.05, 0.3])  # deletions / quarantine
    records, groups = records[keep], groups[keep]
    arriving = int(rng.integers(0, 10))
    joining = rng.random(arriving) < 0.5
    fresh = groups.max(initial=0) * 10 + 10 + np.arange(arriving)
    new_groups = np.where(joining & (len(groups) > 0), rng.choice(groups, arriving) if len(groups) else fresh, fresh)
    records = np.concatenate([records, np.arange(next_record, next_record + arriving)])
    return records, np.concatenate([groups, new_groups]), next_record + arriving


def as_clusters(rng: np.random.Generator, records: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    """Shuffled rows; cluster ids are either the smallest record id (as clustering labels them) or arbitrary."""
    names = np.array([f"r{i:04d}" for i in records], dtype=object)
    frame = pd.DataFrame({"record_id": names, "group": groups})
    if rng.random() < 0.5:
        frame["cluster_id"] = frame.groupby("group")["record_id"].transform("min")
    else:
        frame["cluster_id"] = "c" + (frame["group"] * 7919 % 100_003).astype(str)
    return frame[["record_id", "cluster_id"]].sample(frac=1, random_state=int(rng.integers(1 << 30)))


@st.composite
def first_clusters(draw: st.DrawFn) -> np.ndarray:
    """The cluster of each of 1 to 299 records: about one to four records per cluster."""
    n = draw(st.integers(1, 299))
    top = max(1, n // draw(st.integers(1, 4)))
    return np.array(draw(st.lists(st.integers(0, top - 1), min_size=n, max_size=n)), dtype=int)


@settings(max_examples=8)
@given(first_clusters(), st.integers(0, 2**32 - 1))
def test_invariants_over_random_cluster_evolutions(groups: np.ndarray, seed: int) -> None:
    """Five runs from the drawn first clustering; what changes between runs is drawn from `seed`."""
    rng = np.random.default_rng(seed)
    n = len(groups)
    records = np.arange(n)
    next_record, mint = n, Minter()
    previous, born = pd.DataFrame(columns=["record_id", "golden_id"]), {}
    table = pd.DataFrame(columns=["retired_id", "surviving_id", "reason"])
    ever_live: set[str] = set()
    dropped_ever: set[str] = set()
    last_clusters = pd.DataFrame(columns=["record_id", "cluster_id"])

    for run in range(5):
        now = as_clusters(rng, records, groups)
        live = pd.DataFrame({"golden_id": list(born), "created_at": list(born.values())})
        first_number, calls = mint.next, len(mint.calls)
        result = assign_ids(now, previous, live, mint)
        members = result.members
        before = set(previous["golden_id"])
        after = set(members["golden_id"])

        # Every record has exactly one id, and the id follows its cluster one-to-one.
        assert members["record_id"].tolist() == now["record_id"].tolist()
        assert members["golden_id"].notna().all()
        pairs = pd.DataFrame({"cluster": now["cluster_id"].to_numpy(), "gid": members["golden_id"].to_numpy()})
        assert (pairs.groupby("cluster")["gid"].nunique() == 1).all()
        assert (pairs.groupby("gid")["cluster"].nunique() == 1).all()

        # Every previous id is kept, retired into a live id, or dropped -- exactly one of them.
        kept_ids, retired, dropped = before & after, set(result.redirects["retired_id"]), set(result.dropped)
        assert kept_ids | retired | dropped == before
        assert not (kept_ids & retired or kept_ids & dropped or retired & dropped)
        assert set(result.redirects["surviving_id"]) <= kept_ids
        assert result.kept == len(kept_ids)

        # Minted ids are new, never seen before, and exactly the ids that were not there before.
        assert set(result.minted) == after - before and len(result.minted) == len(set(result.minted))
        assert not set(result.minted) & ever_live
        assert mint.calls[calls:] == ([len(result.minted)] if result.minted else [])

        # The rules, as a plain reference implementation.
        assigned, redirected, ref_dropped, ref_minted = reference(now, previous, born, first_number)
        assert dict(zip(pairs["cluster"], pairs["gid"], strict=True)) == assigned
        assert redirects(result) == redirected
        assert result.dropped == ref_dropped and result.minted == ref_minted

        # Order of input rows never matters.
        shuffled = assign_ids(now.iloc[::-1], previous.iloc[::-1], live, Minter(first_number))
        assert dict(zip(shuffled.members["record_id"], shuffled.members["golden_id"], strict=True)) == dict(
            zip(members["record_id"], members["golden_id"], strict=True)
        )

        # Only the tie candidates' creation times matter: given just those, every id comes out the same.
        tied = live[live["golden_id"].isin(tie_candidates(now, previous))]
        narrow = assign_ids(now, previous, tied, Minter(first_number))
        assert narrow.members.equals(members) and redirects(narrow) == redirects(result)

        # Deciding only the clusters that are not stable (golden_record.stable_ids) decides the same.
        part, stable = _split(now, previous)
        partial = assign_ids(part.clusters, part.previous, live, Minter(first_number))
        decided = pd.concat([stable, partial.members], ignore_index=True)
        assert len(decided) == len(members) and _by_record(decided) == _by_record(members)
        assert (redirects(partial), partial.dropped, partial.minted) == (
            redirects(result),
            result.dropped,
            result.minted,
        )
        assert partial.kept + part.stable == result.kept
        assert part.stable == len(set(stable["golden_id"])) <= len(before)
        # ... also comparing only the part that the records whose cluster changed reach, or any more records.
        changed = _changed(last_clusters, now)
        more = changed | set(rng.choice(now["record_id"], size=min(3, len(now)), replace=False).tolist())
        for known in (changed, more):
            narrowed, held = _split(now, previous, known)
            assert _by_record(held) == _by_record(stable) and narrowed.stable == part.stable
            assert _by_record(narrowed.clusters.rename(columns={"cluster_id": "golden_id"})) == _by_record(
                part.clusters.rename(columns={"cluster_id": "golden_id"})
            )
            assert _by_record(narrowed.previous) == _by_record(part.previous)
        last_clusters = now

        # The accumulated redirect table resolves every retired id in one hop to an id that is live, or that
        # was dropped and resolves through history.
        table = repoint_redirects(table, result.redirects)
        dropped_ever |= dropped
        assert table["retired_id"].is_unique
        assert not set(table["surviving_id"]) & set(table["retired_id"])
        assert set(table["surviving_id"]) <= after | dropped_ever
        assert not after & (set(table["retired_id"]) | dropped_ever)  # a retired or dropped id never returns

        ever_live |= after
        day = pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 3)) + run)
        born = {g: t for g, t in born.items() if g in after} | {g: day for g in result.minted if rng.random() < 0.8}
        previous = members
        records, groups, next_record = evolve(rng, records, groups, next_record)

    # Unchanged input at the end: identical ids, nothing minted.
    rerun = assign_ids(now, previous, pd.DataFrame({"golden_id": list(born), "created_at": list(born.values())}), mint)
    assert rerun.members.equals(previous) and rerun.minted == [] and rerun.redirects.empty and rerun.dropped == []
    for known in (None, set()):  # ... and every cluster is stable, nothing changed: nothing is left to decide
        part, stable = _split(now, previous, known)
        assert part.clusters.empty and part.previous.empty and _by_record(stable) == _by_record(previous)


def _changed(before: pd.DataFrame, now: pd.DataFrame) -> set[str]:
    """The records whose cluster changed (reclustered_records at its least): those of every cluster whose records
    are not exactly those of a cluster before, and the records gone."""
    old = {frozenset(rs) for _, rs in before.groupby("cluster_id")["record_id"]} if len(before) else set()
    out = {r for _, rs in now.groupby("cluster_id")["record_id"] if frozenset(rs) not in old for r in rs}
    return out | (set(before["record_id"]) - set(now["record_id"]))


def _split(
    now: pd.DataFrame, previous: pd.DataFrame, changed: set[str] | None = None
) -> tuple[stable_ids.Split, pd.DataFrame]:
    con = duckdb.connect()
    con.register("now", now)
    con.register("before", previous.astype({"record_id": "str", "golden_id": "str"}))
    con.register("changed", pd.DataFrame({"record_id": pd.Series(sorted(changed or []), dtype="str")}))
    part = stable_ids.split(con, "now", "before", None if changed is None else "changed")
    return part, con.execute(f"SELECT record_id, golden_id FROM {stable_ids.STABLE}").df()


def _by_record(members: pd.DataFrame) -> dict[str, str]:
    return dict(zip(members["record_id"], members["golden_id"], strict=True))
