"""`hub subject show|export` and POST /v1/subjects/show|export: everything the hub holds about a person, for them
or another controller to read: golden records and every version, the xref, each source record as pulled, consent
values and their history, steward decisions and pins, the write-back audit, redirects and restrictions.

One report, two forms: JSON (sections of rows) and a zip of one CSV per section with a README."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pandas as pd
import sqlalchemy as sa

from hub.config import HubConfig
from hub.model import CONSENT_FIELDS
from hub.store import subjects as rows
from hub.subjects import workspace as wsp
from hub.subjects.find import SubjectRef, find
from hub.subjects.log import logged
from hub.subjects.open import open_workspace

SECTIONS = {
    "golden_record": "the golden record(s): the hub's best values for the person, with lineage",
    "golden_history": "every version of the golden record(s), with when each was valid",
    "consent": "consent per channel and when it was recorded, in each version of the golden record(s)",
    "xref": "which source records make up the golden record(s), and how they were linked",
    "source_records": "each source record as the hub last pulled it (mapped to the hub's fields)",
    "quarantine": "source rows the hub could not read, as they were pulled",
    "field_warnings": "values of the source records the hub could not read",
    "pins": "values a steward pinned (or a rectification set)",
    "steward_decisions": "stewards' decisions that two records are or are not the same person",
    "review_queue": "pairs of records waiting for a steward's decision",
    "writeback_audit": "values the hub wrote into the source systems: old and new",
    "redirects": "golden ids merged into or retired from the person's",
    "restrictions": "records whose processing is restricted",
}


def show(
    cfg: HubConfig, engine: sa.Engine, ref: SubjectRef, by: str, action: str = "show", wait_seconds: float | None = None
) -> dict[str, Any]:
    """The report: request_id, golden_ids, records, and `sections` (name -> list of rows, JSON-ready)."""
    with logged(engine, cfg, action, by) as entry:
        with open_workspace(cfg, f"hub subject {action}", wait_seconds) as ws:
            with engine.connect() as conn:
                subject = find(conn, ws, ref)
                frames = rows.subject_rows(conn, subject.golden_ids, subject.records)
                others = rows.other_rows(conn, subject.golden_ids, subject.records)
            frames |= wsp.source_rows(ws, subject.records)
        history = frames["golden_history"]
        consent_cols = [c for f in CONSENT_FIELDS for c in (f, f"{f}_at") if c in history]
        frames["consent"] = history[["golden_id", "version", "valid_from", "valid_to", *consent_cols]]
        entry.subject = subject.label
        entry.detail = {name: len(f) for name, f in frames.items() if len(f)}
    sections = {name: _records(frames[name]) for name in SECTIONS}
    sections |= {name: _records(f) for name, f in others.items() if name not in sections}
    return {
        "request_id": entry.request_id,
        "golden_ids": subject.live_ids,
        "records": subject.records,
        "sections": sections,
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (times in ISO form, missing values as null)."""
    parsed: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso", default_handler=str))
    return parsed


def to_zip(report: dict[str, Any]) -> bytes:
    """One CSV per section (a header row even when empty) and a README naming what each holds."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        lines = [
            "Everything the customer data hub holds about one person.",
            f"Golden ids: {', '.join(report['golden_ids']) or '-'}; request {report['request_id']}.",
            "",
            *(f"{name}.csv: {SECTIONS.get(name, f'the rows of table {name} that name the person')}"
              for name in report["sections"]),
        ]  # fmt: skip
        z.writestr("README.txt", "\n".join(lines) + "\n")
        for name in report["sections"]:
            z.writestr(f"{name}.csv", pd.DataFrame(report["sections"][name]).to_csv(index=False))
    return buf.getvalue()
