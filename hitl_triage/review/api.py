"""The JSON API (``/api/v1``): the same actions as the pages, for pipelines and other tools.

Authenticate with ``Authorization: Bearer <token>`` (no CSRF needed) or a browser session
(then send ``X-CSRF-Token``). Reviewers see only their own answers (403 otherwise); pushing
items, reading resolved labels, gold and adjudication are for admins.
"""

from __future__ import annotations

import json
import math
from typing import Annotated

import polars as pl
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from hitl_triage.config import TaskConfig
from hitl_triage.review import evidence, fields, reports, visible
from hitl_triage.review.schemas import (
    INT_MAX,
    AdjudicateIn,
    AnswerIn,
    AnswerOut,
    EditIn,
    FieldOut,
    GoldIn,
    ItemsIn,
    ModelGuessOut,
    ProgressOut,
    ResolveIn,
    SegmentOut,
    SourceOut,
    TaskOut,
)
from hitl_triage.review.security import AdminDep, StoreDep, UserDep
from hitl_triage.store import SubmitResult, TaskView

router = APIRouter(prefix="/api/v1")
TaskIdPath = Annotated[int, Path(ge=0, le=INT_MAX)]
REVIEWER_FIELDS = ["answer_id", "task_id", "item_id", "round", "kind", "label", "comment", "created_at", "correction"]


def _out(result: SubmitResult) -> AnswerOut:
    return AnswerOut(id=result.answer_id, task_id=result.task_id, kind=result.kind, label=result.label, created=result.created, task_status=result.task_status, correction=result.correction)


@router.get("/me")
def me(caller: UserDep) -> dict[str, str]:
    return {"name": caller.reviewer.name, "role": caller.reviewer.role}


def _correction_field(config: TaskConfig) -> str | None:
    return None if config.review.correction is None else config.review.correction.field


def fields_out(task: TaskView, config: TaskConfig) -> list[FieldOut]:
    return [FieldOut(name=f.name, title=f.title, format=f.format, text=f.text,  # type: ignore[arg-type]
                     segments=[SegmentOut(text=s.text, hidden=s.hidden, name=s.name) for s in f.segments],
                     html=f.html, correctable=f.correctable)
            for f in fields.present(task, config.dataset, _correction_field(config))]


def task_out(task: TaskView, names: list[str], config: TaskConfig | None = None) -> TaskOut:
    """A task as the API shows it; ``*_segments`` carry the text with hidden characters as
    markers (``review.visible``), which is how the review screen inserts it (as text nodes).
    With ``config``: the item's shown fields and the correctable field too."""
    shown = evidence.present(task, names)
    return TaskOut(
        suggestion_line=shown.suggestion_line,
        label_model=None if shown.label_model is None else ModelGuessOut(**shown.label_model.__dict__),
        end_model=None if shown.end_model is None else ModelGuessOut(**shown.end_model.__dict__),
        sources=[SourceOut(**line.__dict__) for line in shown.sources],
        task_id=task.task_id,
        item_id=task.item_id,
        text=task.text,
        text_segments=_segments(task.text),
        item_id_segments=_segments(task.item_id),
        suggested=task.suggested,
        suggested_name=None if task.suggested is None else names[task.suggested],
        confidence=task.confidence,
        votes=task.votes,
        judge_rationale=task.judge_rationale,
        rationale_segments=_segments(task.judge_rationale),
        round=task.round,
        labels=names,
        fields=[] if config is None else fields_out(task, config),
        correction_field=None if config is None else _correction_field(config),
    )


def _segments(text: str | None) -> list[SegmentOut]:
    return [SegmentOut(text=s.text, hidden=s.hidden, name=s.name) for s in visible.segments(text)]


@router.get("/tasks/next", response_model=TaskOut, responses={204: {"description": "Nothing left for you."}})
def next_task(
    request: Request,
    store: StoreDep,
    caller: UserDep,
    exclude: Annotated[list[int], Query(max_length=50, description="Task ids to pass over (ones you show or hold): asks for the task after them, e.g. to prefetch.")] = [],  # noqa: B006 (FastAPI copies defaults)
) -> TaskOut | Response:
    if any(not 0 <= t <= INT_MAX for t in exclude):
        raise HTTPException(422, f"exclude: task ids must be in [0, {INT_MAX}]")
    task = store.next_task(caller.reviewer, exclude=exclude)
    if task is None:
        return Response(status_code=204)
    config = request.app.state.config
    return task_out(task, config.label_names, config)


@router.post("/answers", status_code=201, response_model=AnswerOut)
def submit(body: AnswerIn, store: StoreDep, caller: UserDep, response: Response) -> AnswerOut:
    result = store.submit(caller.reviewer, answer_id=body.id, task_id=body.task_id, kind=body.kind, label=body.label, comment=body.comment, correction=body.correction)
    if not result.created:
        response.status_code = 200
    return _out(result)


@router.post("/answers/{answer_id}/undo")
def undo(answer_id: str, store: StoreDep, caller: UserDep) -> dict[str, int]:
    return {"task_id": store.undo(caller.reviewer, answer_id)}


@router.post("/answers/{answer_id}/edit", response_model=AnswerOut)
def edit(answer_id: str, body: EditIn, store: StoreDep, caller: UserDep) -> AnswerOut:
    keep = "correction" not in body.model_fields_set  # a relabel keeps the answer's correction
    return _out(store.edit(caller.reviewer, answer_id=answer_id, new_answer_id=body.new_id, kind=body.kind, label=body.label, comment=body.comment, correction=body.correction, keep_correction=keep))


def _rows(frame: pl.DataFrame, admin: bool) -> list[dict[str, object]]:
    return frame.to_dicts() if admin else frame.select(REVIEWER_FIELDS).to_dicts()


@router.get("/answers")
def list_answers(store: StoreDep, caller: UserDep, reviewer: str | None = None, include_retracted: bool = False) -> list[dict[str, object]]:
    me = caller.reviewer
    if not me.is_admin:
        if reviewer not in (None, me.name):
            raise HTTPException(403, "reviewers may read only their own answers")
        reviewer = me.name
    return _rows(reports.answers(store, reviewer=reviewer, include_retracted=include_retracted), me.is_admin)


@router.get("/answers/{answer_id}")
def get_answer(answer_id: str, store: StoreDep, caller: UserDep) -> dict[str, object]:
    owner = reports.answer_owner(store, answer_id)
    if owner is None:
        raise HTTPException(404, f"no answer {answer_id!r}")
    me = caller.reviewer
    if owner != me.name and not me.is_admin:
        raise HTTPException(403, "this answer belongs to another reviewer")
    frame = reports.answers(store, reviewer=owner, include_retracted=True).filter(pl.col("answer_id") == answer_id)
    return _rows(frame, me.is_admin)[0]


@router.get("/progress", response_model=ProgressOut)
def progress(store: StoreDep, caller: UserDep) -> ProgressOut:
    return ProgressOut(**reports.progress(store, caller.reviewer).__dict__)


@router.post("/items")
def push_items(body: ItemsIn, store: StoreDep, caller: AdminDep) -> dict[str, int]:
    rows = [{**item.model_dump(), "votes": json.dumps(item.votes),
             "fields": None if item.fields is None else json.dumps(item.fields, ensure_ascii=False)} for item in body.items]
    schema = {"id": pl.String(), "text": pl.String(), "route": pl.String(), "round": pl.Int64(), "priority": pl.Float64(), "suggested": pl.Int64(), "confidence": pl.Float64(), "votes": pl.String(), "judge_rationale": pl.String(),
              "suggestion_source": pl.String(), "label_model_label": pl.Int64(), "label_model_confidence": pl.Float64(), "end_model_label": pl.Int64(), "end_model_confidence": pl.Float64(), "fields": pl.String()}
    return {"enqueued": store.enqueue(pl.DataFrame(rows, schema=schema))}


@router.get("/resolved")
def resolved(store: StoreDep, caller: AdminDep) -> list[dict[str, object]]:
    return store.resolved_answers().to_dicts()


@router.get("/pending")
def pending(store: StoreDep, caller: AdminDep, round: Annotated[int | None, Query(ge=-1, le=INT_MAX)] = None) -> dict[str, int]:
    return {"pending": store.pending_count(round)}


@router.post("/gold")
def gold(body: GoldIn, store: StoreDep, caller: AdminDep) -> dict[str, str]:
    store.add_gold(caller.reviewer, item_id=body.item_id, label=body.label, text=body.text)
    return {"item_id": body.item_id}


@router.post("/tasks/{task_id}/adjudicate")
def adjudicate(task_id: TaskIdPath, body: AdjudicateIn, store: StoreDep, caller: AdminDep) -> dict[str, int]:
    store.adjudicate(caller.reviewer, task_id=task_id, label=body.label, comment=body.comment)
    return {"task_id": task_id, "label": body.label}


@router.post("/tasks/{task_id}/resolve-flags")
def resolve_flags(task_id: TaskIdPath, body: ResolveIn, store: StoreDep, caller: AdminDep) -> dict[str, int]:
    """Resolve the task's open flags (they stay on the admin queue until then)."""
    return {"task_id": task_id, "resolved": store.resolve_flags(caller.reviewer, task_id=task_id, comment=body.comment)}


@router.get("/flags")
def flags(store: StoreDep, caller: AdminDep) -> list[dict[str, object]]:
    """Tasks with open flags and the disputed ones (the admin queue)."""
    return reports.disputes(store).drop("text").to_dicts()


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


@router.get("/agreement")
def agreement(store: StoreDep, caller: AdminDep) -> dict[str, object]:
    result = reports.reviewer_agreement(store)
    return {
        "mean_kappa": _finite(result.mean_kappa),
        "alpha": _finite(result.alpha),
        "n_units": result.n_units,
        "n_reviewers": result.n_reviewers,
        "pairs": [{"a": p.a, "b": p.b, "n": p.n, "percent": p.percent, "kappa": _finite(p.kappa)} for p in result.pairs],
    }
