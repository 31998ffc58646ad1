"""Build this run's golden records from the clusters and publish them: the one code path the CLI
and the Dagster pipeline share.

Steps: stable ids (golden_record.ids) -> survivorship with lineage (golden_record.survivorship)
-> one transaction into the serving store (hub.store), which versions only what changed.

A dry run (`hub run --dry-run`) builds in the workspace as usual, but with provisional ids (the
store's sequence is read, not advanced), marks the build as a dry-run build (golden_build.dry_run),
and previews instead of publishing: nothing is written to the serving store. Such a build is never
published and never written back; the next real run builds again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from golden_record import incremental, input_scope, published_model, stable_ids, xref_rows
from golden_record.ids import assign_ids, tie_candidates
from golden_record.survivorship import Outputs, survive
from hub import store
from hub.catalogue import (
    CLUSTERS,
    GOLDEN_BUILD,
    GOLDEN_CONSENT,
    GOLDEN_LINEAGE,
    GOLDEN_MEMBERS,
    GOLDEN_REBUILT,
    GOLDEN_REDIRECTS,
    GOLDEN_SOURCE_CONSENT,
    GOLDEN_VALUES,
    GOLDEN_XREF,
    REVIEW,
    STANDARDIZED,
    key_sql,
    record_id_sql,
    record_ids,
    system_sql,
)
from hub.config import HubConfig
from hub.errors import NotReady
from hub.model import ATTRIBUTE_FIELDS, CHANNELS
from hub.workspace import Workspace, scalar
from matching import models, reclustering


@dataclass
class GoldenResult:
    run_id: str
    golden_records: int
    minted: int
    kept: int
    merged_away: int
    dropped: int
    published: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)


# Lineage as stored (hub.lineage): one entry per supplying record and rule, with the fields it supplied, in one order
# (hub.lineage.dumps gives the same text from Python): the store hashes the text to detect changes.
_LINEAGE_SQL = """
    SELECT golden_id,
           '[' || string_agg(entry, ',' ORDER BY source_system NULLS LAST, source_key NULLS LAST, rule NULLS LAST,
                                             value_at NULLS LAST) || ']' AS lineage
    FROM (SELECT golden_id, source_system, source_key, rule, value_at,
                 json_object('source_system', source_system, 'source_key', source_key, 'rule', rule,
                             'value_at', value_at, 'fields', list(field ORDER BY field))::VARCHAR AS entry
          FROM (SELECT golden_id, field, source_system, source_key, rule,
                       strftime(value_at, '%Y-%m-%dT%H:%M:%S') AS value_at FROM {lineage})
          GROUP BY golden_id, source_system, source_key, rule, value_at)
    GROUP BY golden_id"""


FRAME_CHUNK = 100_000  # golden records per lineage aggregation: DuckDB's memory for one grows with its golden records


def _golden_frame(ws: Workspace, extra: list[str], only: str | None = None) -> pd.DataFrame:
    """golden_values with extra attributes as one JSON object and lineage as its stored text per golden record (only
    those whose golden_id is in the table `only`, when given), aggregated FRAME_CHUNK golden records at a time:
    DuckDB keeps the memory an aggregation took. Each piece reads the whole lineage table, so smaller pieces cost
    time: at 469,312 golden records, pieces of 20,000 took 27.4 s and +0.93 GiB at peak, of 100,000 16.3 s and
    +1.36 GiB, one piece 14.3 s and +2.43 GiB (the frame itself 0.43 GiB)."""
    scope = only or GOLDEN_VALUES
    n = ws.con.execute(f"SELECT count(*) FROM {scope}").fetchall()[0][0]
    pieces = max(1, -(-n // FRAME_CHUNK))
    if pieces == 1:
        return ws.con.execute(_frame_sql(extra, only)).df()
    parts = []
    try:
        for i in range(pieces):
            ws.con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _gf_piece AS
                    SELECT golden_id FROM {scope} WHERE hash(golden_id) % {pieces} = {i}"""
            )
            parts.append(ws.con.execute(_frame_sql(extra, "_gf_piece")).df())
    finally:
        ws.con.execute("DROP TABLE IF EXISTS _gf_piece")
    # a column all NULL in a piece comes back as objects: every piece takes the type the values gave elsewhere
    types = {c: next((p[c].dtype for p in parts if p[c].notna().any()), parts[0][c].dtype) for c in parts[0].columns}
    return pd.concat([p.astype(types) for p in parts], ignore_index=True)


def _frame_sql(extra: list[str], only: str | None) -> str:
    values = ", ".join(f"v.{f.name}" for f in ATTRIBUTE_FIELDS)
    extras = "json_object(" + ", ".join(f"'{a}', v.{a}" for a in extra) + ")" if extra else "NULL"
    lineage, where = GOLDEN_LINEAGE, ""
    if only:
        lineage = f"(SELECT * FROM {GOLDEN_LINEAGE} SEMI JOIN {only} USING (golden_id))"
        where = f" SEMI JOIN {only} USING (golden_id)"
    lineages = _LINEAGE_SQL.replace("{lineage}", lineage)
    return f"""SELECT v.golden_id, {values}, {extras}::VARCHAR AS extra, l.lineage, v.record_count
               FROM {GOLDEN_VALUES} v LEFT JOIN ({lineages}) l USING (golden_id){where}"""


def _timed(cfg: HubConfig, channel: str) -> str:
    """SQL list of the sources that keep their own time for a channel's consent (consent_<ch>_at is mapped)."""
    names = [name for name, src in cfg.sources.items() if f"consent_{channel}_at" in src.fields]
    return "(" + ", ".join(f"'{n}'" for n in names or [""]) + ")"


def _choice_timed(ws: Workspace, cfg: HubConfig, last_seen: str) -> str:
    """A temporary view of the standardized records in which a consent choice of a source without its own
    consent-time column counts from when the hub first saw it (its consent event's time), not from the row's later
    updated-at: re-sending an old opt-in with an unrelated edit does not make it new. A source with its own time
    column is taken at its word. `last_seen`: the relation of store.consent.source_choices (source as
    source_system). Returns the view's name."""
    chosen, moved, kept = [], [], []
    for ch in CHANNELS:
        chosen.append(
            f"""(e.channel = '{ch}' AND e.value = r.consent_{ch} AND r.source_system NOT IN {_timed(cfg, ch)}
                 AND CAST(e.recorded_at AS TIMESTAMP) IS DISTINCT FROM r.consent_{ch}_at)"""
        )
        moved.append(f"max(chosen_at) FILTER (WHERE channel = '{ch}') AS consent_{ch}_at")
        kept.append(f"coalesce(t.consent_{ch}_at, r.consent_{ch}_at) AS consent_{ch}_at")
    # Only the records whose time moves (few), so the view survivorship scans three times joins a small table. One
    # join over every channel's rows: a join per channel read the million records once per channel (0.42 -> 0.24 s).
    channels = ", ".join(f"'{ch}'" for ch in CHANNELS)
    ws.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _consent_times AS
            SELECT unique_id, {", ".join(moved)}
            FROM (SELECT r.unique_id, e.channel, CAST(e.recorded_at AS TIMESTAMP) AS chosen_at
                  FROM {STANDARDIZED} AS r
                  JOIN (SELECT * FROM {last_seen} WHERE channel IN ({channels})) AS e USING (source_system, source_key)
                  WHERE {" OR ".join(chosen)})
            GROUP BY unique_id"""
    )
    view = "_consent_timed_records"
    ws.con.execute(
        f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT r.* REPLACE ({', '.join(kept)}) "
        f"FROM {STANDARDIZED} AS r LEFT JOIN _consent_times AS t USING (unique_id)"
    )
    return view


def _review_frame(ws: Workspace, cfg: HubConfig) -> pd.DataFrame | None:
    """The review candidates as the store's review_queue takes them: ids ordered (id_l < id_r), the
    golden ids of both sides in this build, and both records' canonical values as JSON. None when
    this workspace has no review band (the store's queue is then left as it is)."""
    if not ws.has_table(REVIEW):
        return None
    present = {r[0] for r in ws.con.execute(f"SELECT column_name FROM (DESCRIBE {STANDARDIZED})").fetchall()}
    fields = [f for f in ["source_updated_at", *(f.name for f in ATTRIBUTE_FIELDS), *cfg.attributes] if f in present]

    def record(alias: str) -> str:
        return "json_object(" + ", ".join(f"'{f}', {alias}.{f}" for f in fields) + ")::VARCHAR"

    ids = "(SELECT id_l FROM q UNION SELECT id_r FROM q)"  # the band's records: a few thousand of a million
    return ws.con.execute(
        f"""WITH q AS MATERIALIZED (
              SELECT least(unique_id_l, unique_id_r) AS id_l, greatest(unique_id_l, unique_id_r) AS id_r,
                     match_probability, match_weight, explanation::VARCHAR AS explanation FROM {REVIEW}),
            m AS MATERIALIZED (SELECT record_id, golden_id FROM {GOLDEN_MEMBERS} WHERE record_id IN {ids}),
            r AS MATERIALIZED (SELECT * FROM {STANDARDIZED} WHERE unique_id IN {ids})
            SELECT q.id_l, q.id_r, {system_sql("q.id_l")} AS source_system_l,
                   {system_sql("q.id_r")} AS source_system_r, ml.golden_id AS golden_id_l,
                   mr.golden_id AS golden_id_r, q.match_probability, q.match_weight, q.explanation,
                   {record("rl")} AS record_l, {record("rr")} AS record_r
            FROM q LEFT JOIN m ml ON ml.record_id = q.id_l LEFT JOIN m mr ON mr.record_id = q.id_r
            LEFT JOIN r rl ON rl.unique_id = q.id_l LEFT JOIN r rr ON rr.unique_id = q.id_r
            ORDER BY q.id_l, q.id_r"""
    ).df()


def _mint(engine: sa.Engine, n: int) -> list[str]:
    """Ids are minted in their own committed transaction: if this run fails later they are burnt,
    never handed out twice."""
    with store.write_transaction(engine) as conn:
        return store.mint_ids(conn, n)


def _provisional(engine: sa.Engine, n: int) -> list[str]:
    """A dry run's new ids: the ones the next mint would hand out, read without taking them, so the
    serving store stays untouched. A dry-run build is never published (publish_build refuses it)."""
    with engine.connect() as conn:
        return store.peek_ids(conn, n)


@dataclass
class GoldenBuild:
    """This run's golden records, built in the workspace (golden_members, golden_values,
    golden_lineage) and not yet published; `redirects` are the ids it retires."""

    golden_records: int
    minted: int
    kept: int
    merged_away: int
    dropped: int
    redirects: pd.DataFrame  # retired_id, surviving_id (None: deleted), reason
    rebuilt: int  # live golden ids survivorship decided again (all of them in a full build)
    compared: int  # member records whose inputs were compared with the basis (all but where input_scope knew better)
    full: bool  # every golden id rebuilt (`--full`, or no published basis to start from), published in full
    seconds: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "golden_records": self.golden_records,
            "minted": self.minted,
            "merged_away": self.merged_away,
            "dropped": self.dropped,
            "rebuilt": self.rebuilt,
        }


def build(
    ws: Workspace,
    cfg: HubConfig,
    engine: sa.Engine,
    progress: Callable[[str], None] | None = None,
    dry_run: bool = False,
    full: bool = False,
) -> GoldenBuild:
    """Stable ids for the current clusters and survivorship with lineage, in the workspace only:
    the quality gate looks at the result before anything is published. `dry_run`: new ids are
    provisional (nothing minted) and the build is marked so that only a dry run's publish_build takes it.

    Only the golden ids whose decision can have changed since the last published build are rebuilt
    (golden_record.incremental); `full` (`hub run --full`: after a model retrain, or to repair) rebuilds
    every one, as does a build without a published basis. Both give the same tables."""
    say = progress or (lambda _line: None)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    config = incremental.config_key(cfg)
    with engine.connect() as conn:  # one read snapshot
        head = store.last_published_run(conn)
        if incremental.restore(ws, head, config):
            say("golden records: the published basis a dry run kept aside is back")
        whole = full or not incremental.basis_is(ws, head, config)
        pins = store.overrides(conn)
        consent_read_at = store.utc_now()  # choices stored from now on are re-applied at publish
        rules = store.consent.Rules.of(cfg.consent)
        choices = store.consent.hub_choices(conn, rules)
        if whole:  # the store's own xref and source consent state, read in full; every cluster decided
            xref = store.current_xref(conn)
            read = store.consent.source_choices(conn, rules).rename(columns={"source": "source_system"})
            clusters = ws.con.execute(f"SELECT record_id, cluster_id FROM {CLUSTERS}").df()
            previous = pd.DataFrame(
                {"record_id": record_ids(xref["source_system"], xref["source_key"]), "golden_id": xref["golden_id"]}
            )
            stable = 0
        else:  # the workspace's copies as published in `head` (golden_record.incremental); stable clusters keep ids
            read = None
            previous_sql = f"(SELECT {record_id_sql()} AS record_id, golden_id FROM {GOLDEN_XREF})"
            changed = reclustering.changed_since_build(ws)  # None: not known, compare them all
            part = stable_ids.split(ws.con, CLUSTERS, previous_sql, changed)
            clusters, previous, stable = part.clusters, part.previous, part.stable
        live = store.created_at(conn, tie_candidates(clusters, previous))
    ids = assign_ids(clusters, previous, live, mint=lambda n: (_provisional if dry_run else _mint)(engine, n))
    if not whole:
        stable_ids.combine(ws.con, ids.members, ids.minted, into="_gi_members_in")
    kept = ids.kept + stable
    # Ids whose records are all gone retire with no survivor: they keep their history, never return.
    gone = pd.DataFrame({"retired_id": ids.dropped, "surviving_id": None, "reason": "deleted"})
    redirects = pd.concat([ids.redirects, gone], ignore_index=True) if len(gone) else ids.redirects
    seconds["ids"] = time.perf_counter() - t
    say(f"golden ids: {kept:,} kept, {len(ids.minted):,} minted, {len(ids.redirects):,} merged away")

    t = time.perf_counter()
    pinned = pins[["golden_id", "field", "value", "pinned_by", "pinned_at"]]
    frames = {"_gi_pins": pinned, "_gi_choices": _choices_frame(choices)}
    if whole:
        frames["_gi_members_in"] = ids.members
    if read is not None:
        frames["_gi_consent_read"] = read
    for name, frame in frames.items():
        ws.con.register(name, frame)
    try:
        with ws.transaction():  # the golden tables and what the next build diffs against change together or not at all
            if dry_run and not whole:
                incremental.keep_aside(ws.con)
            if read is not None:
                incremental.keep_source_consent(ws.con, "_gi_consent_read")
            records = _choice_timed(ws, cfg, GOLDEN_SOURCE_CONSENT)
            try:
                survived = pinned[["golden_id", "field", "value", "pinned_by"]]
                rebuilt, compared = _survive(ws, cfg, records, whole, survived, choices)
            finally:
                ws.con.execute(f"DROP VIEW IF EXISTS {records}")
                ws.con.execute("DROP TABLE IF EXISTS _consent_times")
            n = ws.con.execute(f"SELECT count(*) FROM {GOLDEN_VALUES}").fetchall()[0][0]
            seconds["survivorship"] = time.perf_counter() - t
            say(f"survivorship: {n:,} golden records, {rebuilt:,} rebuilt" + (" (full build)" if whole else ""))
            built = GoldenBuild(
                n,
                len(ids.minted),
                kept,
                len(ids.redirects),
                len(ids.dropped),
                redirects,
                rebuilt,
                compared,
                whole,
                seconds,
            )
            _finish_build(ws, cfg, built, head, dry_run, consent_read_at)
            incremental.mark_built(ws, config)
            if not dry_run:
                reclustering.mark_build(ws)
    finally:
        for name in frames:
            ws.con.unregister(name)
        for table in _SCRATCH:
            ws.con.execute(f"DROP TABLE IF EXISTS {table}")
    return built


_SCRATCH = ("_gi_members_in", "_gi_members", "_gi_inputs", "_gi_swapped", "_gi_seen", "_gi_affected", "_gi_part",
            "_gi_lookup_keys", "_gi_lookups", "_gi_changed", "_gi_second", "_gi_left", "_gi_joined", "_gi_inputs_new",
            "_gi_inputs_gone", *astuple(incremental.SCRATCH))  # fmt: skip


def _choices_frame(choices: pd.DataFrame) -> pd.DataFrame:
    """The hub's consent choices with the columns the seen-hash reads, also when there are none."""
    columns = ["golden_id", "channel", "value", "recorded_at", "source", "recorded_by"]
    if len(choices):
        return choices[columns]
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}).astype({"recorded_at": "datetime64[us]"})


def _survive(
    ws: Workspace, cfg: HubConfig, records: str, whole: bool, pins: pd.DataFrame, choices: pd.DataFrame
) -> tuple[int, int]:
    """Survivorship over every golden id (`whole`) or over those whose decision can have changed (two passes:
    golden_record.incremental), the golden tables updated in place; keeps the next build's basis. Returns how many
    live golden ids were rebuilt, and how many members' inputs were compared with the basis."""
    con, extras = ws.con, list(cfg.attributes)
    con.execute("CREATE OR REPLACE TEMP TABLE _gi_members AS SELECT record_id, golden_id FROM _gi_members_in")
    compared = None  # how many members' inputs input_scope compared, when it knew which can have changed
    if not whole:
        incremental.member_changes(con, "_gi_members")
        fingerprint = incremental.fingerprint_sql(con, records, extras)
        compared = input_scope.changes(ws, "_gi_members", records, fingerprint)
    if compared is None:  # every member's
        compared = scalar(con, "SELECT count(*) FROM _gi_members")
        inputs = incremental.inputs_sql(con, "_gi_members", records, extras)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _gi_inputs AS {inputs}")
        con.execute("CREATE OR REPLACE TEMP TABLE _gi_swapped AS SELECT record_id FROM _gi_inputs WHERE swapped")
        if not whole:
            incremental.input_changes(con, "_gi_inputs")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _gi_seen AS {incremental.seen_sql('_gi_pins', '_gi_choices')}")

    def decide(members: str, base: str | None = None, into: Outputs = incremental.WORKSPACE) -> None:
        survive(con, cfg.survivorship, extras, members=members, records=records, overrides=pins, consent=choices,
                swapped="_gi_swapped", base=base, into=into)  # fmt: skip

    relooked = False
    if whole:
        decide("_gi_members")
        con.execute(f"CREATE OR REPLACE TABLE {GOLDEN_REBUILT} AS SELECT DISTINCT golden_id FROM _gi_members")
    else:
        incremental.affected_ids(con, "_gi_seen")
        con.execute("CREATE OR REPLACE TEMP TABLE _gi_second (golden_id VARCHAR)")
        for rebuild in ("_gi_affected", "_gi_second"):  # the second: ids a population lookup changed for
            if not con.execute(f"SELECT count(*) FROM {rebuild}").fetchall()[0][0]:
                continue
            con.execute(f"""CREATE OR REPLACE TEMP TABLE _gi_part AS SELECT * FROM _gi_members
                            WHERE golden_id IN (SELECT golden_id FROM {rebuild})""")  # fmt: skip
            decide("_gi_part", base=incremental.base_sql(rebuild), into=incremental.SCRATCH)
            if rebuild == "_gi_affected":
                incremental.touched_lookups(con, rebuild)
            incremental.merge(con, rebuild, "_gi_members")
            if rebuild == "_gi_affected":
                incremental.lookup_changes(con, rebuild)
                relooked = True
        con.execute(
            f"""CREATE OR REPLACE TABLE {GOLDEN_REBUILT} AS
                SELECT DISTINCT golden_id FROM _gi_members WHERE golden_id IN
                  (SELECT golden_id FROM _gi_affected UNION ALL SELECT golden_id FROM _gi_second)"""
        )
    incremental.keep_state(con, "_gi_members", "_gi_inputs", "_gi_seen", delta=not whole, relooked=relooked)
    rebuilt = con.execute(f"SELECT count(*) FROM {GOLDEN_REBUILT}").fetchall()[0][0]
    return rebuilt, compared


def _finish_build(
    ws: Workspace, cfg: HubConfig, built: GoldenBuild, head: str | None, dry_run: bool, consent_read_at: datetime
) -> None:
    """The build's redirects, consent news (what its publish stores as source events, diffed against the consent
    state read once at the start of the build) and its golden_build row, in the build's workspace transaction."""
    redirects = built.redirects
    ws.con.execute(
        f"CREATE OR REPLACE TABLE {GOLDEN_CONSENT} AS "
        + store.consent.changes_sql(_consent_seen_sql(cfg), GOLDEN_SOURCE_CONSENT)
    )
    ws.con.register("_redirects", redirects.astype({"surviving_id": "string"}))
    ws.con.execute(
        f"""CREATE OR REPLACE TABLE {GOLDEN_REDIRECTS} AS
            SELECT retired_id::VARCHAR AS retired_id, surviving_id::VARCHAR AS surviving_id,
                   reason::VARCHAR AS reason FROM _redirects"""
    )
    ws.con.unregister("_redirects")
    ws.con.execute(
        f"""CREATE OR REPLACE TABLE {GOLDEN_BUILD} AS
            SELECT ?::VARCHAR AS built_on_run, ?::VARCHAR AS counts, ?::BOOLEAN AS dry_run,
                   ?::TIMESTAMP AS consent_read_at, ?::BOOLEAN AS full, ?::BIGINT AS rebuilt""",
        [head, json.dumps(built.counts()), dry_run, consent_read_at, built.full, built.rebuilt],
    )


def _checked_build(ws: Workspace, engine: sa.Engine, dry_run: bool) -> dict[str, Any]:
    """The golden_build row of the build in the workspace (counts as JSON, consent_read_at, full), once it is known
    to be publishable (or, for a dry run, previewable): built on the run that is still the last published one, and
    not by a dry run unless this is one."""
    cur = ws.con.execute(f"SELECT * FROM {GOLDEN_BUILD}") if ws.has_table(GOLDEN_BUILD) else None
    rows = cur.fetchall() if cur else []
    if cur is None or not rows:
        raise NotReady("no golden records built in this workspace yet: build them first (hub golden)")
    built = dict(zip([d[0] for d in cur.description], rows[0], strict=True))  # no dry_run: built before it existed
    if built.get("dry_run") and not dry_run:
        raise NotReady(
            "the golden records in the workspace were built by a dry run (provisional ids, nothing minted) and are "
            "never published: build them again without --dry-run (hub run, or hub golden)"
        )
    if not dry_run and not ws.has_table(GOLDEN_CONSENT):
        raise NotReady(f"the golden records in the workspace were built without {GOLDEN_CONSENT}: build them again")
    with engine.connect() as conn:
        head = store.last_published_run(conn)
    if head != built["built_on_run"]:
        raise NotReady(
            f"golden records were built on published run {built['built_on_run']!r} but the store is now at "
            f"{head!r}; build again"
        )
    return built


def _consent_seen_sql(cfg: HubConfig) -> str:
    """Per member record of a golden id this build rebuilt, and channel: its consent value and time as the run saw
    them, and whether the source keeps its own time for it (`timed`), for the consent events (SQL on the workspace).
    The members of the other ids hold the inputs (consent values and times included) the published basis's build
    saw, whose news that publish stored: they have none."""
    return " UNION ALL ".join(
        f"""SELECT {system_sql("m.record_id")} AS source_system, {key_sql("m.record_id")} AS source_key,
                   m.golden_id, '{ch}' AS channel, coalesce(r.consent_{ch}, 'unknown') AS value,
                   r.consent_{ch}_at AS recorded_at, r.source_system IN {_timed(cfg, ch)} AS timed
            FROM {GOLDEN_MEMBERS} AS m JOIN {STANDARDIZED} AS r ON r.unique_id = m.record_id
            WHERE m.golden_id IN (SELECT golden_id FROM {GOLDEN_REBUILT})"""
        for ch in CHANNELS
    )


def _redirects(ws: Workspace) -> pd.DataFrame:
    redirects = ws.con.execute(f"SELECT retired_id, surviving_id, reason FROM {GOLDEN_REDIRECTS}").df()
    redirects["surviving_id"] = redirects["surviving_id"].astype(object).where(redirects["surviving_id"].notna(), None)
    return redirects


def _scoped(ws: Workspace, extra: list[str], redirects: pd.DataFrame) -> tuple[pd.DataFrame, store.Scope, pd.DataFrame]:
    """An incremental build's publish: the golden records it rebuilt, the xref rows that differ from the published
    xref (golden_xref) or are gone, and the scope they make (every other row of the store stays as it is)."""
    golden = _golden_frame(ws, extra, only=GOLDEN_REBUILT)
    keys = ws.con.execute(f"SELECT * FROM {xref_rows.SCOPE}").df()
    now, scope = xref_rows.NOW, xref_rows.SCOPE
    xref = ws.con.execute(f"SELECT * FROM {now} SEMI JOIN {scope} USING (source_system, source_key)").df()
    ids = pd.concat([golden["golden_id"], redirects["retired_id"]], ignore_index=True).astype(object)
    return golden, store.Scope(golden_ids=ids, xref_keys=keys), xref


def publish_build(
    ws: Workspace,
    cfg: HubConfig,
    engine: sa.Engine,
    must_link: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    dry_run: bool = False,
) -> store.PublishResult:
    """Publish what `build` left in the workspace as one store run (one transaction), with the
    review queue (review_candidates) replacing the store's and the match model the pairs were scored
    with (plus the term frequencies its predict used) for match-on-entry.

    Refuses a build made before another run was published (its ids were assigned against a state
    that is no longer current, so build again) and, but in a dry run, a dry run's build (its ids are
    provisional).

    `dry_run`: returns what it would publish (new, changed, lineage-only, retired, xref changes), from the
    same diff, writing nothing anywhere: the dry run's publish step. The review queue and the match model
    are not compared."""
    built = _checked_build(ws, engine, dry_run=dry_run)
    redirects = _redirects(ws)
    xref_rows.compute(ws, must_link, incremental=not built.get("full", True))
    if built.get("full", True):
        golden, scope = _golden_frame(ws, list(cfg.attributes)), None
        xref = ws.con.execute(f"SELECT * FROM {xref_rows.NOW}").df()
    else:  # an incremental build: only what it rebuilt, and the xref rows that changed (a frame of those only)
        golden, scope, xref = _scoped(ws, list(cfg.attributes), redirects)
    if dry_run:
        would = store.preview(engine, golden, xref, redirects, scope)
        if progress:
            progress(
                f"dry run, nothing published: would publish {would.new:,} new, {would.changed:,} changed versions, "
                f"{would.lineage_updated:,} lineage-only updates, {would.retired:,} retired"
            )
        return would
    model, digest, inputs, last = published_model.to_publish(ws, models.scored_with(ws.con), built["built_on_run"])
    held = published_model.held(ws, last) if model is not None else None
    rules = store.consent.Rules.of(cfg.consent)
    run_id = store.start_run(engine)
    try:
        news = ws.con.execute(f"SELECT * FROM {GOLDEN_CONSENT}").df()
        read_at = built.get("consent_read_at") or datetime.min  # None: built before consent choices were read
        consent = store.ConsentInput(news, rules, read_at)
        published = store.publish(
            engine, run_id, golden, xref, redirects, json.loads(built["counts"]), _review_frame(ws, cfg), model,
            consent, scope, held,
        )  # fmt: skip
    except BaseException as exc:
        store.fail_run(engine, run_id, f"{type(exc).__name__}: {exc}")
        raise
    del golden, xref  # a full publish's frames are the largest of the run: gone before the read below
    whole = bool(built.get("full", True))
    with engine.connect() as conn:  # what the store now holds: all of it after a full build, else of the news' records
        keys = None if whole else news.rename(columns={"source_system": "source"})
        stored = store.consent.source_choices(conn, rules, keys)
    ws.con.register("_gi_consent_stored", stored.rename(columns={"source": "source_system"}))
    try:
        with ws.transaction():  # after the store committed: the workspace's golden tables are what it published
            incremental.mark_published(
                ws, run_id, xref_rows.NOW, None if whole else xref_rows.SCOPE, "_gi_consent_stored"
            )
            if digest is not None:
                published_model.mark(ws, run_id, digest, inputs, model)
    finally:
        ws.con.unregister("_gi_consent_stored")
    if progress:
        progress(
            f"published run {run_id}: {published.new:,} new, {published.changed:,} changed versions, "
            f"{published.lineage_updated:,} lineage-only updates"
        )
    return published


def record_blocked(engine: sa.Engine, why: str) -> str:
    """Record a run whose publish the golden-record quality gate stopped, as a failed run in the store's run log,
    so readers of the store see why nothing new was published. Returns its run id."""
    run_id = store.start_run(engine)
    store.fail_run(engine, run_id, f"blocked by the golden-record quality gate: {why}")
    return run_id


def build_and_publish(
    ws: Workspace,
    cfg: HubConfig,
    engine: sa.Engine,
    must_link: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> GoldenResult:
    """Golden records for the current clusters, published in one store transaction (`hub golden`;
    the pipeline runs `build`, its quality gate, then `publish_build`)."""
    built = build(ws, cfg, engine, progress)
    t = time.perf_counter()
    published = publish_build(ws, cfg, engine, must_link, progress)
    assert published.run_id is not None  # a publish, not a preview
    built.seconds["publish"] = time.perf_counter() - t
    return GoldenResult(
        run_id=published.run_id,
        golden_records=built.golden_records,
        minted=built.minted,
        kept=built.kept,
        merged_away=built.merged_away,
        dropped=built.dropped,
        published=published.counts(),
        seconds=built.seconds,
    )
