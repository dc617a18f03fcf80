"""The LF writer's workbench in the review app: ``/lf`` (page) and ``/api/v1/lf`` (JSON).

For admins and the ``writer`` role (403 for everyone else). Every request refreshes the
workbench (:class:`hitl_triage.workbench.Workbench`, one per app): the LFs are re-applied
through the vote cache, so an edited LF file shows on the next reload with only that LF rerun.
Item text is rendered by Jinja2 with autoescaping, as on the review screen. Accepting a
suggestion is a form POST with the session's CSRF token (or a bearer-token JSON request).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from hitl_triage.errors import HitlTriageError
from hitl_triage.lf.workbench import WorkbenchError, page
from hitl_triage.review.app import render
from hitl_triage.review.security import Caller, csrf_protect
from hitl_triage.workbench import Workbench, WorkbenchView

router = APIRouter()
PAGE_SIZE = 20
Tab = Literal["wrong", "conflicts", "uncovered", "suggest"]
_create_lock = threading.Lock()


def require_writer(caller: Annotated[Caller, Depends(csrf_protect)]) -> Caller:
    if not caller.reviewer.can_write_lfs:
        raise HTTPException(403, "the LF workbench is for admins and writers")
    return caller


WriterDep = Annotated[Caller, Depends(require_writer)]


def get_workbench(request: Request) -> Workbench:
    state = request.app.state
    with _create_lock:
        if getattr(state, "workbench", None) is None:
            state.workbench = Workbench(state.config)
    return state.workbench


WorkbenchDep = Annotated[Workbench, Depends(get_workbench)]


def _refresh(workbench: Workbench, *, suggest: bool = True) -> WorkbenchView:
    try:
        return workbench.refresh(suggest=suggest)
    except HitlTriageError as exc:  # a broken LF file: say what to fix
        raise HTTPException(422, str(exc)) from None


def _rows(frame: Any) -> list[dict[str, Any]]:
    return [] if frame is None else frame.to_dicts()


@router.get("/lf")
def lf_page(
    request: Request,
    caller: WriterDep,
    workbench: WorkbenchDep,
    lf: Annotated[str | None, Query(max_length=200)] = None,
    tab: Tab = "wrong",
    q: Annotated[str | None, Query(max_length=200)] = None,
    p: Annotated[int, Query(ge=1, le=100_000)] = 1,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    view = _refresh(workbench, suggest=tab == "suggest")  # mining waits for its tab
    report = view.report
    if lf is not None and lf not in report.lfs["source"].to_list():
        raise HTTPException(404, f"unknown LF {lf!r}")
    frame = {"wrong": report.wrong, "conflicts": report.conflicts, "uncovered": report.uncovered}.get(tab)
    items = page(frame, source=lf, query=q or None, offset=(p - 1) * PAGE_SIZE, limit=PAGE_SIZE) if frame is not None else None
    params = {"lf": lf, "tab": tab, "q": q, "p": p}

    def url(**changes: Any) -> str:
        merged = {**params, **changes}
        return "/lf?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})

    return render(request, "lf.html", {
        "me": caller.reviewer, "csrf": caller.csrf_token, "view": view, "report": report,
        "lfs": report.lfs.to_dicts(), "estimate": view.estimate, "moved": view.moved,
        "suggestions": _rows(view.suggestions), "items": items, "rows": _rows(items.rows if items else None),
        "by_label": [{**b, "index": report.label_names.index(b["label"])}
                     for b in report.uncovered_by_label().to_dicts()], "lf": lf, "tab": tab, "q": q or "", "p": p,
        "url": url, "notice": notice,
    })


@router.post("/lf/accept")
def accept_form(caller: WriterDep, workbench: WorkbenchDep,
                name: Annotated[str, Form(max_length=200)]) -> Response:
    try:
        done = workbench.accept(name)
    except HitlTriageError as exc:
        notice = str(exc)
    else:
        notice = f"added {done.name} to {done.path.name}; only it was applied ({', '.join(done.view.recomputed) or 'nothing'})"
    return RedirectResponse("/lf?" + urlencode({"tab": "suggest", "notice": notice[:300]}), status_code=303)


class AcceptRequest(BaseModel):
    name: str = Field(max_length=200)


def _view_json(view: WorkbenchView) -> dict[str, Any]:
    est = view.estimate
    return {
        "n_items": view.report.n_items, "n_human": view.report.n_human,
        "lfs": view.report.lfs.to_dicts(), "strong": view.report.strong,
        "uncovered_by_label": view.report.uncovered_by_label().to_dicts(),
        "trainset_estimate": {"accuracy": est.accuracy, "low": est.low, "high": est.high,
                              "basis": est.basis, "n_basis": est.n_basis},
        "suggestions": _rows(view.suggestions),
        "moved": None if view.moved is None else view.moved.__dict__,
        "recomputed": view.recomputed,
    }


@router.get("/api/v1/lf")
def lf_json(caller: WriterDep, workbench: WorkbenchDep) -> dict[str, Any]:
    """The LF report, the trainset estimate, suggestions and what moved."""
    return _view_json(_refresh(workbench))


@router.get("/api/v1/lf/items")
def lf_items(
    caller: WriterDep,
    workbench: WorkbenchDep,
    kind: Literal["wrong", "conflicts", "uncovered"],
    lf: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = PAGE_SIZE,
) -> dict[str, Any]:
    """One page of an LF's wrong items or conflicts, or of the uncovered items."""
    report = _refresh(workbench, suggest=False).report
    frame = {"wrong": report.wrong, "conflicts": report.conflicts, "uncovered": report.uncovered}[kind]
    got = page(frame, source=lf, query=q or None, offset=offset, limit=limit)
    return {"total": got.total, "offset": got.offset, "limit": got.limit, "items": got.rows.drop("row").to_dicts()}


@router.post("/api/v1/lf/accept", status_code=201)
def accept_json(body: AcceptRequest, caller: WriterDep, workbench: WorkbenchDep) -> dict[str, Any]:
    """Append a current suggestion to the task's suggestions module; 404 if none has the name."""
    try:
        done = workbench.accept(body.name)
    except WorkbenchError as exc:
        raise HTTPException(404, str(exc)) from None
    except HitlTriageError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"name": done.name, "code": done.code, "path": str(done.path), **_view_json(done.view)}
