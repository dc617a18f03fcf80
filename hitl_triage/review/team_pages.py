"""Pages of the team features: the admin's flag queue (``/admin/flags``), the dispute walk
(``/admin/disputes/next``), per-reviewer statistics (``/admin/stats``), and a reviewer's
history search with relabelling (``/review/history``).

Forms post and redirect (post/redirect/get) with the outcome as a ``notice`` the page shows
as a toast; ``static/team.js`` adds the keys and does the same through the JSON API.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from hitl_triage.review import queue, search
from hitl_triage.review.app import render
from hitl_triage.review.schemas import INT_MAX
from hitl_triage.review.security import AdminDep, StoreDep, UserDep
from hitl_triage.store import AnswerError

router = APIRouter()
PAGE_SIZE = 20
Notice = Annotated[str | None, Query(max_length=300)]


def _go(path: str, **params: object) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


@router.get("/admin/flags")
def flags_page(request: Request, store: StoreDep, caller: AdminDep, notice: Notice = None) -> Response:
    return render(request, "flags.html", {"me": caller.reviewer, "csrf": caller.csrf_token, "cards": queue.open_flags(store), "notice": notice})


@router.get("/admin/disputes/next")
def next_dispute(
    store: StoreDep,
    caller: AdminDep,
    after: Annotated[int | None, Query(ge=0, le=INT_MAX)] = None,
    notice: Notice = None,
) -> Response:
    """To the next task that needs an admin, or to the disputes list when none is left."""
    task_id = queue.next_dispute(store, after)
    if task_id is None:
        return _go("/admin/disputes", notice=notice)
    return _go(f"/admin/tasks/{task_id}", notice=notice)


@router.get("/admin/stats")
def stats_page(request: Request, store: StoreDep, caller: AdminDep) -> Response:
    return render(request, "stats.html", {"me": caller.reviewer, "csrf": caller.csrf_token, "stats": queue.reviewer_stats_of(store), "idle_minutes": round(queue.IDLE_SECONDS / 60)})


@router.get("/review/history")
def history_page(
    request: Request,
    store: StoreDep,
    caller: UserDep,
    q: Annotated[str, Query(max_length=search.QUERY_MAX)] = "",
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    notice: Notice = None,
) -> Response:
    page = search.search_history(store, caller.reviewer, q, limit=PAGE_SIZE, offset=offset) if q.strip() else None
    return render(request, "history.html", {"me": caller.reviewer, "csrf": caller.csrf_token, "q": q, "page": page, "notice": notice})


@router.post("/review/history/edit")
def history_edit(
    request: Request,
    store: StoreDep,
    caller: UserDep,
    answer_id: Annotated[str, Form(max_length=64)],
    new_answer_id: Annotated[str, Form(max_length=64)],
    label: Annotated[int, Form(ge=-1, le=INT_MAX)],
    q: Annotated[str, Form(max_length=search.QUERY_MAX)] = "",
    offset: Annotated[int, Form(ge=0, le=INT_MAX)] = 0,
) -> Response:
    """Relabel one of your answers from the search results, then back to them (same rules
    as the review screen's history: only while the answer's round is open)."""
    try:
        store.edit(caller.reviewer, answer_id=answer_id, new_answer_id=new_answer_id, label=label)
        names = request.app.state.config.label_names
        notice = f"Relabelled: {names[label]}"
    except AnswerError as exc:  # also AnswerConflictError: the round is finished
        notice = f"Not recorded: {exc}"
    return _go("/review/history", q=q, offset=offset or None, notice=notice[:300])
