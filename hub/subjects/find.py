"""Who a request is about: a subject given by golden id, by a source record or by e-mail, found as the golden
records and source records the hub holds for them."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hub import store
from hub.catalogue import STAGED, record_id, split_record_id
from hub.errors import HubError
from hub.store import subjects as rows
from hub.workspace import Workspace


class SubjectNotFound(HubError):
    """Nothing the hub holds matches the subject as given."""


class BadSubject(HubError):
    exit_code = 2


@dataclass(frozen=True)
class SubjectRef:
    """A subject as a request names it: exactly one of a golden id, a source record (`SYSTEM:KEY`) or an e-mail."""

    golden_id: str | None = None
    source: str | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.golden_id, self.source, self.email) if v is not None and v.strip()]
        if len(given) != 1:
            raise BadSubject("name the subject by exactly one of --golden-id, --source SYSTEM:KEY or --email")
        if self.source is not None:
            try:
                split_record_id(self.source.strip())
            except ValueError:
                raise BadSubject(
                    f"--source takes SYSTEM:KEY (a source system and its key), not {self.source!r}"
                ) from None


@dataclass(frozen=True)
class Subject:
    live_ids: list[str]  # live golden ids
    golden_ids: list[str]  # the live ids and the ids retired into them
    records: list[str]  # record ids (source_system:source_key)

    @property
    def label(self) -> str:
        """How the request log names the subject: its golden id (no value of the person)."""
        return ",".join(self.live_ids)[:80] if self.live_ids else "(no golden record)"


def find(conn: sa.Connection, ws: Workspace | None, ref: SubjectRef) -> Subject:
    """The subject's golden records (the one a golden id or a source record belongs to; every one holding the
    e-mail) and all their source records, with records staged but not linked yet (`ws`)."""
    live: set[str] = set()
    records: set[str] = set()
    if ref.golden_id is not None:
        gid = store.resolve(conn, ref.golden_id.strip())
        if gid is not None:
            live.add(gid)
    elif ref.source is not None:
        system, key = split_record_id(ref.source.strip())
        live.update(rows.golden_of_records(conn, [record_id(system, key)]))
        if ws is not None and _staged(ws, "source_system = ? AND source_key = ?", [system, key]):
            records.add(record_id(system, key))
    else:
        assert ref.email is not None
        live.update(rows.golden_with_email(conn, ref.email))
        if ws is not None:
            found = _staged(ws, "lower(trim(email)) = ?", [ref.email.strip().lower()])
            records.update(found)
            live.update(rows.golden_of_records(conn, found))
    records.update(rows.xref_records(conn, sorted(live)))
    if not live and not records:
        raise SubjectNotFound("the hub holds no golden record or source record for this subject")
    return Subject(sorted(live), rows.related_ids(conn, sorted(live)), sorted(records))


def _staged(ws: Workspace, where: str, params: list[str]) -> list[str]:
    found = ws.con.execute(f"SELECT DISTINCT source_system, source_key FROM {STAGED} WHERE {where}", params).fetchall()
    return [record_id(s, k) for s, k in found]
