"""JSON API of the team features (``/api/v1``): the admin's flag queue and dispute walk,
per-reviewer statistics (admins only; 403 for reviewers), and searching one's own answers."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query

from hitl_triage.review import queue, search
from hitl_triage.review.schemas import INT_MAX
from hitl_triage.review.security import AdminDep, StoreDep, UserDep
from hitl_triage.review.stats import IDLE_SECONDS, as_json

router = APIRouter(prefix="/api/v1")


@router.get("/flags/open")
def open_flags(store: StoreDep, caller: AdminDep) -> list[dict[str, object]]:
    """Every task with a flag no admin has resolved: its open flags (reviewer, comment), its
    text and every live answer so far. Resolve with ``POST /tasks/{id}/resolve-flags`` or
    adjudicate with ``POST /tasks/{id}/adjudicate``."""
    return [dataclasses.asdict(card) for card in queue.open_flags(store)]


@router.get("/disputes/next")
def next_dispute(
    store: StoreDep,
    caller: AdminDep,
    after: Annotated[int | None, Query(ge=0, le=INT_MAX, description="The task just handled: the answer is the dispute after it.")] = None,
) -> dict[str, int | None]:
    """The next task that needs an admin (disputed or flagged), in round then id order."""
    return {"task_id": queue.next_dispute(store, after)}


@router.get("/stats")
def stats(
    store: StoreDep,
    caller: AdminDep,
    idle_seconds: Annotated[float, Query(gt=0, le=86400, description="A longer pause between two answers is a break.")] = IDLE_SECONDS,
) -> list[dict[str, object]]:
    """Per reviewer: pace, skip and flag rates, accuracy on gold and on adjudicated items, and
    agreement with each other reviewer (definitions in docs/review.md)."""
    return [as_json(s) for s in queue.reviewer_stats_of(store, idle_seconds=idle_seconds)]


@router.get("/history")
def history_search(
    store: StoreDep,
    caller: UserDep,
    q: Annotated[str, Query(min_length=1, max_length=search.QUERY_MAX, description="Text or item id to look for (case-insensitive; % and _ match themselves).")],
    limit: Annotated[int, Query(ge=1, le=search.PAGE_MAX)] = 20,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
) -> dict[str, object]:
    """Your live answers whose item text or id contains ``q``, newest first. Relabel one with
    ``POST /answers/{id}/edit`` while ``editable`` (its round is open)."""
    page = search.search_history(store, caller.reviewer, q, limit=limit, offset=offset)
    return {"query": page.query, "total": page.total, "offset": page.offset, "limit": page.limit, "hits": [dataclasses.asdict(h) for h in page.hits]}
