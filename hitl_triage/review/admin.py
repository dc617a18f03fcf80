"""Admin pages: overview (rounds, reviewers, gold accuracy), agreement, disputes and the
adjudication view, gold items. Every route requires the ``admin`` role (403 otherwise)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from hitl_triage.review import reports
from hitl_triage.review.app import render
from hitl_triage.review.schemas import INT_MAX
from hitl_triage.review.security import AdminDep, StoreDep

router = APIRouter(prefix="/admin")
TaskIdPath = Annotated[int, Path(ge=0, le=INT_MAX)]
LabelForm = Annotated[int, Form(ge=-1, le=INT_MAX)]


@router.get("")
def overview(request: Request, store: StoreDep, caller: AdminDep, notice: str | None = None) -> Response:
    accuracy = {r["reviewer"]: r for r in reports.gold_accuracy(store).iter_rows(named=True)}
    counts = reports.answers(store).group_by("reviewer").len()
    n_answers = dict(counts.iter_rows()) if counts.height else {}
    return render(
        request,
        "admin.html",
        {
            "me": caller.reviewer,
            "csrf": caller.csrf_token,
            "rounds": reports.rounds(store).to_dicts(),
            "reviewers": store.reviewers(),
            "accuracy": accuracy,
            "n_answers": n_answers,
            "gold": reports.gold_items(store).to_dicts(),
            "pending": store.pending_count(),
            "n_disputes": reports.disputes(store).height,
            "notice": notice,
        },
    )


@router.get("/agreement")
def agreement_page(request: Request, store: StoreDep, caller: AdminDep) -> Response:
    return render(request, "agreement.html", {"me": caller.reviewer, "csrf": caller.csrf_token, "agreement": reports.reviewer_agreement(store)})


@router.get("/disputes")
def disputes_page(request: Request, store: StoreDep, caller: AdminDep, notice: Annotated[str | None, Query(max_length=300)] = None) -> Response:
    return render(request, "disputes.html", {"me": caller.reviewer, "csrf": caller.csrf_token, "disputes": reports.disputes(store).to_dicts(), "notice": notice})


@router.get("/tasks/{task_id}")
def task_page(request: Request, store: StoreDep, caller: AdminDep, task_id: TaskIdPath, notice: Annotated[str | None, Query(max_length=300)] = None) -> Response:
    return render(request, "adjudicate.html", {"me": caller.reviewer, "csrf": caller.csrf_token, "detail": reports.task_detail(store, task_id), "notice": notice})


@router.post("/tasks/{task_id}/adjudicate")
def adjudicate(
    store: StoreDep,
    caller: AdminDep,
    task_id: TaskIdPath,
    label: LabelForm,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Record the final label, then on to the next dispute (the outcome shown as a toast)."""
    store.adjudicate(caller.reviewer, task_id=task_id, label=label, comment=comment)
    notice = f"Adjudicated #{task_id}: {store.config.label_names[label]}"
    return RedirectResponse(f"/admin/disputes/next?{urlencode({'after': task_id, 'notice': notice})}", status_code=303)


@router.post("/tasks/{task_id}/resolve-flags")
def resolve_flags(
    store: StoreDep,
    caller: AdminDep,
    task_id: TaskIdPath,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
    back: Annotated[str, Form(pattern="^(disputes|flags|task)$")] = "disputes",
) -> Response:
    """Resolve the task's open flags; ``back`` says where to: the disputes list (default), the
    flag queue, or the task's page."""
    n = store.resolve_flags(caller.reviewer, task_id=task_id, comment=comment)
    notice = urlencode({"notice": f"Resolved {n} flag(s) of #{task_id}"})
    target = {"disputes": "/admin/disputes", "flags": "/admin/flags", "task": f"/admin/tasks/{task_id}"}[back]
    return RedirectResponse(f"{target}?{notice}" if back != "disputes" else target, status_code=303)


@router.post("/gold")
def add_gold(
    store: StoreDep,
    caller: AdminDep,
    item_id: Annotated[str, Form(max_length=256)],
    label: LabelForm,
) -> Response:
    store.add_gold(caller.reviewer, item_id=item_id, label=label)
    return RedirectResponse("/admin?notice=gold+item+saved", status_code=303)
