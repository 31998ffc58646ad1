"""How a source writes its values, learned from the values it already holds, so write-back writes golden values
the way that source itself would: "SMITH, John" stays "SURNAME, Given" in a billing system that keeps surnames in
capitals, a state stays a code where states are codes, a postcode keeps or drops its space, a flat goes before
or after the street (per country) in a system with one street line, and a system that holds no accented letter in
a text field gets its golden values transliterated ("Blümel" -> "Bluemel", hub/forms.py, "Transliteration"): it may
not be able to store them, and it is not how it writes.

A style is learned when one form clearly dominates the source's existing values (SHARE of at least MIN_VALUES
values; for the charset, not one accented letter among them); otherwise the golden value's own form is written. A
mapping's `write_case` / `write_charset` / `write_format` in hub.yaml overrides what is learned. `learn` decides
from counts over the source's own values: its evidence records (hub/echoes.py), where a value the hub wrote reads
as the value it replaced. The hub's writes are not the source's convention, and counting them would let a write-back
tip a source near SHARE into another style (blanks filled with state codes made a source's states "upper"), which
changes every record's plan. The counts are kept per record so that a run tells only the records that changed;
`render` returns the SQL that writes a golden value in that style.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

import duckdb
import pandas as pd

from hub import echoes, forms
from hub.catalogue import WRITEBACK_STYLE_ROWS, WRITEBACK_STYLES, columns_sql
from hub.config import CASED_FIELDS, HubConfig, SourceConfig
from hub.forms import REGION_CODE_COUNTRIES
from hub.workspace import Workspace

SHARE = 0.8  # a form held by this share of the source's values is its convention
CHARSET = "_charset"  # suffix of a text field's charset style: `<field>_charset` ascii / unicode
MIN_VALUES = 20  # fewer values than this teach nothing: the golden value's own form is written
OWN = "_style_own"  # TEMP: one learn's source records as the source wrote them (evidence), with their row hash


@dataclass(frozen=True)
class Style:
    """How one field is written into one source: `choice` (upper / lower / proper, spaced / compact, code / name,
    a unit layout per country) and what it was learned from, for the run's report."""

    field: str
    choice: str
    learned_from: int = 0  # values that showed the convention (0: given in hub.yaml, or a default)
    share: float = 0.0
    by_country: tuple[tuple[str, str], ...] = ()  # unit layout per country (address_line1 without a line-2 slot)

    def describe(self) -> str:
        where = f" ({', '.join(f'{c}: {v}' for c, v in self.by_country)})" if self.by_country else ""
        seen = f", {self.share:.0%} of {self.learned_from:,} values" if self.learned_from else ""
        return f"{self.field}: {self.choice}{where}{seen}"


def unit_slot(src: SourceConfig) -> bool:
    """Whether the source keeps the unit (flat, apartment) in a line-2 column write-back may fill."""
    return "address_line2" in src.accepts


def learn(ws: Workspace, src: SourceConfig, source: str, full: bool = False) -> dict[str, Style]:
    """The style of every accepted field that has one, from the source's own values (its evidence records: staged,
    with the hub's echoes read as what they replaced). Remembered in the workspace (`writeback_styles`) with a
    digest of the values it was learned from and of the source's mapping: the same values teach the same styles,
    and the digest costs a tenth of learning them again.

    What each record adds to the counts the styles are decided from is kept too (`writeback_style_rows`,
    with a hash of the values it was told from): a change recomputes only the records whose values changed, and
    drops those the source no longer has, so learning costs what changed. `full`: every record's again."""
    fields = [f for f in src.accepts if f in CASED_FIELDS or f in ("postal_code", "address_line1")]
    if not fields:
        return {}
    for table in (WRITEBACK_STYLES, WRITEBACK_STYLE_ROWS):
        ws.con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns_sql(table)})")
    evidence = echoes.create_evidence_view(ws.con, ws.fields)
    tallies, layout = _tallies(fields), _layout_sql(src, fields)
    mapping = src.model_dump_json(include={"fields", "accepts"})
    shared = hashlib.md5(
        json.dumps([tallies, layout, mapping, forms.fingerprint()]).encode(), usedforsecurity=False
    ).hexdigest()
    read = sorted({*fields, "postal_code", "country", "region", "address_line1"})
    params = {"source": source, "shared": shared}
    # The view is read once: joining the echoes triples the cost of a scan, and a learn that counts scans three times.
    ws.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {OWN} AS
            SELECT source_key, {", ".join(read)}, {_row_hash(read)} AS row_hash FROM {evidence}
            WHERE source_system = $source""",
        params,
    )
    try:  # OWN holds the whole source's values: not kept past the learn (the workspace connection lives on)
        rows, values = ws.con.execute(f"SELECT count(*), sum(row_hash) FROM {OWN}").fetchall()[0]
        digest = hashlib.md5(f"{rows}:{values}:{shared}".encode(), usedforsecurity=False).hexdigest()
        known = ws.con.execute(
            f"SELECT styles FROM {WRITEBACK_STYLES} WHERE source_system = ? AND digest = ?", [source, digest]
        ).fetchall()
        if known and not full:
            return {
                k: Style(**v | {"by_country": tuple(map(tuple, v["by_country"]))})
                for k, v in json.loads(known[0][0]).items()
            }
        forms.load(ws.con)
        with ws.transaction() as con:
            _count(con, source, tallies, layout, full)
            styles = _learn(con, src, source, fields, tallies)
            con.execute(
                f"INSERT OR REPLACE INTO {WRITEBACK_STYLES} VALUES (?, ?, ?)",
                [source, digest, json.dumps({k: asdict(v) for k, v in styles.items()})],
            )
    finally:
        ws.con.execute(f"DROP TABLE IF EXISTS {OWN}")
    return styles


def _tallies(fields: list[str]) -> list[tuple[str, str]]:
    """The counts the styles are decided from: (name, the condition a record meets to count)."""
    tallies = []
    for f in fields:
        if f in CASED_FIELDS:
            letters = f"{f} IS NOT NULL AND upper({f}) <> lower({f})"
            tallies += [
                (f"{f}__n", letters),
                (f"{f}__upper", f"{letters} AND {f} = upper({f})"),
                (f"{f}__lower", f"{letters} AND {f} = lower({f})"),
                (f"{f}__native", f"{letters} AND hub_native({f})"),
            ]
    if "postal_code" in fields:
        spaced = "contains(hub_postcode(postal_code, country), ' ')"
        tallies += [
            ("postal_code__n", spaced),
            ("postal_code__spaced", f"{spaced} AND regexp_matches(postal_code, '\\s')"),
        ]
    if "region" in fields:
        coded = f"country IN {REGION_CODE_COUNTRIES} AND region IS NOT NULL"
        tallies += [
            ("region__coded_n", coded),
            ("region__codes", f"{coded} AND upper(trim(region)) = hub_region(region, country)"),
        ]
    return tallies


def _layout_sql(src: SourceConfig, fields: list[str]) -> str | None:
    """SQL: where a staged record's one-line street puts its flat (NULL: it holds none), when the source's layout is
    to be learned (`_layout`); `_unit` is the line's unit (hub_unit_raw)."""
    if "address_line1" not in fields or unit_slot(src) or src.fields["address_line1"].write_format:
        return None
    return """CASE WHEN address_line1 IS NULL OR _unit IS NULL THEN NULL
                   WHEN contains(address_line1, chr(10)) THEN 'unit_newline'
                   WHEN starts_with(ltrim(address_line1), _unit) THEN 'unit_first' ELSE 'unit_last' END"""


def _row_hash(read: list[str]) -> str:
    """SQL: a record's hash of the values the styles are told from, and of what tells them ($shared)."""
    return f"hash({', '.join(read)}, $shared)"


def _count(
    con: duckdb.DuckDBPyConnection,
    source: str,
    tallies: list[tuple[str, str]],
    layout: str | None,
    full: bool,
) -> None:
    """Bring the source's `writeback_style_rows` up to its records (OWN): drop the rows of records gone or whose
    values changed (all of them if `full`), then add the records without one. A record's tallies are the bits of
    `flags` (bit i: it meets tallies[i]); its `layout` and `country` count towards `_layout`."""
    if full:
        con.execute(f"DELETE FROM {WRITEBACK_STYLE_ROWS} WHERE source_system = $source", {"source": source})
    else:
        con.execute(
            f"""DELETE FROM {WRITEBACK_STYLE_ROWS} AS r WHERE r.source_system = $source AND NOT EXISTS (
                    SELECT 1 FROM {OWN} AS s WHERE s.source_key = r.source_key AND s.row_hash = r.row_hash)""",
            {"source": source},
        )
    flags = " + ".join(f"CASE WHEN {cond} THEN {1 << i} ELSE 0 END" for i, (_, cond) in enumerate(tallies)) or "0"
    unit = "hub_unit_raw(address_line1)" if layout else "NULL"
    con.execute(
        f"""INSERT INTO {WRITEBACK_STYLE_ROWS}
            SELECT $source, source_key, row_hash, ({flags})::UBIGINT,
                   {"coalesce(country, '')" if layout else "NULL"}, {layout or "NULL"}
            FROM (SELECT *, {unit} AS _unit FROM {OWN} AS s WHERE NOT EXISTS (
                      SELECT 1 FROM {WRITEBACK_STYLE_ROWS} AS r
                      WHERE r.source_system = $source AND r.source_key = s.source_key))""",
        {"source": source},
    )


def _learn(
    con: duckdb.DuckDBPyConnection, src: SourceConfig, source: str, fields: list[str], tallies: list[tuple[str, str]]
) -> dict[str, Style]:
    """The styles, decided from the source's kept counts."""
    sums = ", ".join(f"coalesce(sum((flags >> {i}) & 1), 0)" for i in range(len(tallies)))
    row = con.execute(f"SELECT {sums} FROM {WRITEBACK_STYLE_ROWS} WHERE source_system = ?", [source]).fetchall()[0]
    counts = {name: int(n) for (name, _), n in zip(tallies, row, strict=True)}
    styles = {}
    for f in fields:
        given = src.fields[f]
        if f in CASED_FIELDS:
            styles[f] = (
                Style(f, given.write_case)
                if given.write_case
                else _majority(f, counts[f"{f}__n"], {"upper": counts[f"{f}__upper"], "lower": counts[f"{f}__lower"]})
            )
            charset = _charset(f, given.write_charset, counts[f"{f}__n"], counts[f"{f}__native"])
            if charset is not None:
                styles[f"{f}{CHARSET}"] = charset
    if "postal_code" in fields:
        n, spaced = counts["postal_code__n"], counts["postal_code__spaced"]
        fmt = src.fields["postal_code"].write_format
        styles["postal_code"] = (
            Style("postal_code", fmt) if fmt else _choice("postal_code", n, spaced, "spaced", "compact")
        )
    if "region" in fields:
        n, codes = counts["region__coded_n"], counts["region__codes"]
        fmt = src.fields["region"].write_format
        styles["region_format"] = Style("region", fmt) if fmt else _choice("region", n, codes, "code", "name")
    if "address_line1" in fields and not unit_slot(src):
        styles["layout"] = _layout(con, src, source)
    return styles


# How a phone or country is stored, told from the text itself: pulled values are canonical (E.164, alpha-2), so these
# are learned from a sample of the source's rows as stored (`raw_formats`).
_PHONE_FORMS = {
    "e164": r"\+\d{7,15}",
    "international": r"\+\d.*",
    "digits": r"[1-9]\d{7,14}",
    "national": r"[0(].*",
}
_COUNTRY_FORMS = {"alpha2": r"[A-Za-z]{2}", "alpha3": r"[A-Za-z]{3}", "name": r"[A-Za-z][A-Za-z .,'()-]{3,}"}


def raw_formats(sample: Callable[[], pd.DataFrame], src: SourceConfig, cfg: HubConfig) -> dict[str, Style]:
    """The write format of each accepted phone or country field whose mapping names none, from `sample()` (the
    source's rows as stored, read only when some format is to be learned): the form SHARE of at least MIN_VALUES
    values have; else the transform's default (E.164, alpha-2)."""
    todo = {
        f: patterns
        for f, patterns in (("phone", _PHONE_FORMS), ("country", _COUNTRY_FORMS))
        if f in src.accepts and not src.fields[f].write_format and cfg.transform_for(f, src.fields[f]) == f
    }
    raw = sample() if todo else pd.DataFrame()
    out = {}
    for f, patterns in todo.items():
        m = src.fields[f]
        if m.column not in raw:
            continue
        text = raw[m.column].dropna().astype("string").str.strip()
        text = text[text != ""]
        counts = {form: int(text.str.fullmatch(rx).sum()) for form, rx in patterns.items()}
        n = len(text)
        best = max(counts, key=lambda k: counts[k])
        if n >= MIN_VALUES and counts[best] >= SHARE * n:
            out[f] = Style(f, best, n, counts[best] / n)
    return out


def with_formats(cfg: HubConfig, source: str, formats: dict[str, Style]) -> HubConfig:
    """`cfg` with the learned phone / country write formats set on `source`'s mappings, for the push."""
    if not formats:
        return cfg
    src = cfg.sources[source]
    fields = {
        f: (m.model_copy(update={"write_format": formats[f].choice}) if f in formats else m)
        for f, m in src.fields.items()
    }
    sources = {**cfg.sources, source: src.model_copy(update={"fields": fields})}
    return cfg.model_copy(update={"sources": sources})


def _majority(field: str, n: int, forms_: dict[str, int]) -> Style:
    """upper / lower when that form holds SHARE of the values, else the golden value's proper case."""
    for choice, count in forms_.items():
        if n >= MIN_VALUES and count >= SHARE * n:
            return Style(field, choice, n, count / n)
    return Style(field, "proper", n, (n - sum(forms_.values())) / n if n else 0.0)


def _charset(field: str, given: str | None, n: int, native: int) -> Style | None:
    """`ascii` where hub.yaml says so or not one of at least MIN_VALUES values holds an accented letter (a value
    already in ASCII is written as it is either way); None (the golden value as it is) otherwise."""
    if given:
        return Style(field, given)
    if n >= MIN_VALUES and native == 0:
        return Style(field, "ascii", n, 1.0)
    return None


def _choice(field: str, n: int, hits: int, yes: str, no: str) -> Style:
    """`yes` when at least half of the n telling values show it; the golden value's form (`yes`) without data."""
    if n < MIN_VALUES:
        return Style(field, yes)
    return Style(field, yes if hits >= n / 2 else no, n, max(hits, n - hits) / n)


def _layout(con: duckdb.DuckDBPyConnection, src: SourceConfig, source: str) -> Style:
    """Where a one-line street puts the flat, per country, from the lines that hold one: on its own line, before
    the street ("Flat 3, 12 Oak Road") or after it ("123 Main St Apt. 5"); given: the same for every country."""
    given = src.fields["address_line1"].write_format
    if given:
        return Style("address_line1", given)
    rows = con.execute(
        f"""SELECT country, layout, count(*) FROM {WRITEBACK_STYLE_ROWS}
            WHERE source_system = ? AND layout IS NOT NULL GROUP BY ALL ORDER BY 1, 3 DESC, 2""",
        [source],
    ).fetchall()
    total = sum(n for _, _, n in rows)
    if total < MIN_VALUES:
        return Style("address_line1", "unit_last", total)
    overall: dict[str, int] = {}
    per_country: dict[str, str] = {}
    for country, layout, n in rows:
        overall[layout] = overall.get(layout, 0) + n
        per_country.setdefault(country, layout)  # rows come most frequent first per country
    top = max(overall, key=lambda k: (overall[k], k))
    by_country = tuple((c, v) for c, v in sorted(per_country.items()) if c and v != top)
    return Style("address_line1", top, total, overall[top] / total, by_country)


def render(field: str, value: str, styles: dict[str, Style], country: str) -> str:
    """SQL writing the golden `value` (a column reference) of `field` the way the source writes it; `country` is
    the golden country's column (regions and layouts depend on it). Where the field keeps no accented letter,
    `value` is the golden value's `ascii_sql`, computed once beforehand: a query holding a macro as often as it
    writes a value took DuckDB longer to plan and run than the rest of a write-back plan."""
    style = styles.get(field)
    if style and style.choice in ("upper", "lower"):
        value = f"{style.choice}({value})"
    if field == "postal_code" and style and style.choice == "compact":
        value = f"replace({value}, ' ', '')"
    if field == "region" and "region_format" in styles and styles["region_format"].choice == "name":
        value = f"hub_region_name({value}, {country})"
    return value


def ascii_sql(field: str, value: str, styles: dict[str, Style], country: str) -> str | None:
    """SQL: the golden `value` (a column reference) as `field` holds it where it keeps no accented letter ("Blümel"
    -> "Bluemel"); None where it does (`value` is written as it is)."""
    charset = styles.get(f"{field}{CHARSET}")
    if charset is None or charset.choice != "ascii":
        return None
    return f"hub_ascii({value}, {country})"


def fits_sql(value: str, ascii: str) -> str:
    """SQL: whether a field without accented letters can hold the golden `value` as its ASCII form `ascii` (two
    column references) reads: not a letter left beyond ASCII (Greek, Cyrillic, CJK). Such a value is not written:
    the system may refuse it, or store question marks."""
    return f"CASE WHEN hub_native({value}) THEN NOT hub_native({ascii}) ELSE true END"


def layout_sql(styles: dict[str, Style], country: str) -> str:
    """The unit layout for a golden record's country, as SQL."""
    style = styles.get("layout") or Style("address_line1", "unit_last")
    whens = "".join(f" WHEN '{c}' THEN '{v}'" for c, v in style.by_country)
    return f"CASE {country}{whens} ELSE '{style.choice}' END" if whens else f"'{style.choice}'"
