"""Data-subject requests over HTTP, for keys of the privacy role (or admin): the same functions as
`hub subject ...` (hub.subjects), logged as asked by `key:<key id>`.

The subject travels in the request body, never in the URL: addresses and access logs keep URLs, and an e-mail
there would be a person's data kept where no erasure reaches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from hub import subjects
from hub.api.auth import engine, require
from hub.api.errors import invalid
from hub.api.keys import ApiKey
from hub.api.schemas import Text
from hub.errors import HubError
from hub.workspace import WorkspaceBusy

router = APIRouter(prefix="/v1/subjects", tags=["data-subject requests"])
Privacy = Annotated[ApiKey, Depends(require("privacy"))]
WORKSPACE_WAIT_SECONDS = 60  # a request waits this long for a pipeline run holding the workspace, then 503


class SubjectIn(BaseModel):
    """Exactly one of a golden id, a source record (`SYSTEM:KEY`) or an e-mail."""

    golden_id: Annotated[Text, Field(max_length=32)] | None = None
    source: Annotated[Text, Field(max_length=320, description="SYSTEM:KEY")] | None = None
    email: Annotated[Text, Field(max_length=320)] | None = None

    def ref(self) -> subjects.SubjectRef:
        try:
            return subjects.SubjectRef(golden_id=self.golden_id, source=self.source, email=self.email)
        except subjects.BadSubject as exc:
            invalid("golden_id", str(exc), "body")


class ExportIn(SubjectIn):
    format: Literal["json", "zip"] = "json"


class RectifyIn(SubjectIn):
    field: Annotated[Text, Field(max_length=64, examples=["last_name"])]
    value: Annotated[Text, Field(max_length=1000)] | None = None
    reason: Annotated[Text, Field(min_length=1, max_length=500, examples=["customer's request of 3 May"])]


class RestrictIn(SubjectIn):
    lift: bool = False


class Report(BaseModel):
    request_id: str
    golden_ids: list[str]
    records: list[str]
    sections: dict[str, list[dict[str, Any]]] = Field(description=", ".join(subjects.SECTIONS))


class ErasureOut(BaseModel):
    request_id: str
    golden_records: int
    records: int
    suppressed: int = Field(description="suppression entries added (keyed hashes; later pulls skip such rows)")
    sources: list[dict[str, Any]] = Field(description="per source: action, rows, changed")
    tasks: dict[str, list[str]] = Field(description="per source whose action is 'task': the keys to erase by hand")
    store: dict[str, int]
    workspace: dict[str, int]


class SubjectRequest(BaseModel):
    request_id: str
    action: str
    subject: str | None
    requested_by: str
    received_at: Any
    due_at: Any
    finished_at: Any
    outcome: str
    detail: dict[str, Any] | None


@contextmanager
def _answers() -> Iterator[None]:
    """The hub's errors as HTTP answers: 404 nobody found, 422 a bad correction, 503 a busy workspace, 409 the hub
    not set up for the request (no privacy key) or a source refusing its erasure action."""
    try:
        yield
    except subjects.SubjectNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except subjects.RectifyRefused as exc:
        invalid("value", str(exc), "body")
    except WorkspaceBusy as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "30"}) from None
    except HubError as exc:
        raise HTTPException(409, str(exc)) from None


def _cfg(request: Request) -> Any:
    return request.app.state.config


@router.post("/show", summary="Everything the hub holds about a person", response_model=Report)
def show(request: Request, key: Privacy, body: SubjectIn) -> dict[str, Any]:
    """Golden record(s) and history, consent history, xref, each source record as pulled, quarantined rows, pins,
    steward decisions, review queue, write-back audit, redirects and restrictions. The request is logged."""
    with _answers():
        return subjects.show(_cfg(request), engine(request), body.ref(), subjects.api_user(key.key_id),
                             wait_seconds=WORKSPACE_WAIT_SECONDS)  # fmt: skip


@router.post(
    "/export",
    summary="The same, to hand over: JSON, or a zip of one CSV per section",
    response_model=Report,
    responses={200: {"content": {"application/zip": {}}, "description": "the report"}},
)
def export(request: Request, key: Privacy, body: ExportIn) -> Any:
    with _answers():
        report = subjects.show(_cfg(request), engine(request), body.ref(), subjects.api_user(key.key_id),
                               action="export", wait_seconds=WORKSPACE_WAIT_SECONDS)  # fmt: skip
    if body.format == "json":
        return report
    headers = {"Content-Disposition": f'attachment; filename="subject-{report["request_id"]}.zip"'}
    return Response(subjects.to_zip(report), media_type="application/zip", headers=headers)


@router.post("/rectify", summary="Correct a field of a person's golden record")
def rectify(request: Request, key: Privacy, body: RectifyIn) -> dict[str, Any]:
    """The corrected value is pinned (it wins survivorship like a steward's pin) and reaches every source that
    accepts the field with the next pipeline run's write-back. The reason is logged: keep personal data out of it."""
    with _answers():
        return subjects.rectify(_cfg(request), engine(request), body.ref(), subjects.api_user(key.key_id),
                                body.field, body.value, body.reason)  # fmt: skip


@router.post("/erase", summary="Erase a person from every hub store and tell their sources", response_model=ErasureOut)
def erase(request: Request, key: Privacy, body: SubjectIn) -> subjects.Erasure:
    """Runs each source's erasure action (hub.yaml `sources.<name>.erasure`), erases the person from the serving
    store and the workspace, and keeps keyed hashes of their identifiers so later pulls skip their rows.
    409 without a privacy key ($HUB_PRIVACY_KEY or `subjects.key_file`)."""
    run: Callable[..., Any] | None = request.app.state.erase_in_source
    if run is None:
        raise HTTPException(409, "this server was started without the source connectors: erase with `hub subject`")
    with _answers():
        return subjects.erase(_cfg(request), engine(request), body.ref(), subjects.api_user(key.key_id), run,
                              wait_seconds=WORKSPACE_WAIT_SECONDS)  # fmt: skip


@router.post("/restrict", summary="Restrict (or lift the restriction of) processing a person's records")
def restrict(request: Request, key: Privacy, body: RestrictIn) -> dict[str, Any]:
    """Restricted records are kept, not matched (their golden record keeps exactly them) nor written back, and
    the golden record's values are frozen, until the restriction is lifted (`lift: true`)."""
    with _answers():
        return subjects.restrict(_cfg(request), engine(request), body.ref(), subjects.api_user(key.key_id), body.lift)


@router.get("/requests", summary="The request log (no personal data)", response_model=list[SubjectRequest])
def requests(request: Request, key: Privacy, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    return subjects.requests(engine(request), limit)
