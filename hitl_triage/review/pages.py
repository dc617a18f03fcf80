"""Pages for reviewers: log in and out, the review screen and its form actions.

Every action is a plain form POST followed by a redirect to ``/review`` (post/redirect/get): a
reload never resubmits, and the keyboard layer (``static/review.js``) only fills and submits
these forms. Each answer form carries a fresh ``answer_id``; a resubmitted form is recorded once.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from hitl_triage.review import evidence, fields, reports
from hitl_triage.review.app import render
from hitl_triage.review.schemas import INT_MAX
from hitl_triage.review.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    StoreDep,
    UserDep,
    check_login_token,
    new_login_token,
)
from hitl_triage.store import AnswerError, PermissionDeniedError, ReviewerError

router = APIRouter()


def _back(notice: str | None = None) -> RedirectResponse:
    url = "/review" if notice is None else f"/review?notice={quote(notice[:300])}"
    return RedirectResponse(url, status_code=303)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/review", status_code=303)


@router.get("/login")
def login_page(request: Request, error: str | None = None) -> Response:
    token = new_login_token()
    response = render(request, "login.html", {"login_token": token, "error": error})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.app.state.config.review.cookie_secure)
    return response


@router.post("/login")
def login(
    request: Request,
    store: StoreDep,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if not check_login_token(request, csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token; reload the login page")
    throttle = request.app.state.login_throttle
    attempt, wait = throttle.begin(name, request.client.host if request.client else "unknown")
    if attempt is None:
        seconds = math.ceil(wait)
        error = f"too many failed logins: try again in {seconds} s"
        response = render(request, "login.html", {"login_token": request.cookies.get(LOGIN_CSRF_COOKIE), "error": error}, 429)
        response.headers["Retry-After"] = str(seconds)
        return response
    try:
        reviewer = store.check_password(name, password)
    except ReviewerError as exc:
        return render(request, "login.html", {"login_token": request.cookies.get(LOGIN_CSRF_COOKIE), "error": str(exc)}, 401)
    throttle.succeeded(attempt)
    cookie, _csrf = store.open_session(reviewer)
    response = RedirectResponse("/review", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=request.app.state.config.review.cookie_secure,
        max_age=3600 * request.app.state.config.review.session_hours,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, store: StoreDep, caller: UserDep) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        store.close_session(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/review")
def review_page(request: Request, store: StoreDep, caller: UserDep, notice: str | None = None) -> Response:
    reviewer = caller.reviewer
    task = store.next_task(reviewer)
    config = request.app.state.config
    settings = config.review
    correction = None if settings.correction is None else settings.correction.field
    # Field blocks only when the config lists fields or takes corrections (else the text alone).
    multi = bool(config.dataset.fields) or correction is not None
    return render(
        request,
        "review.html",
        {
            "me": reviewer,
            "csrf": caller.csrf_token,
            "task": task,
            "ev": None if task is None else evidence.present(task, request.app.state.config.label_names),
            "answer_id": str(uuid.uuid4()),
            "progress": reports.progress(store, reviewer),
            "history": reports.history(store, reviewer, n=settings.history_size),
            "notice": notice,
            "history_size": settings.history_size,
            "fields": fields.present(task, config.dataset, correction) if task is not None and multi else [],
            "multi_field": multi,
            "correction_field": correction,
        },
    )


@router.post("/review/answer")
def answer(
    store: StoreDep,
    caller: UserDep,
    answer_id: Annotated[str, Form(max_length=64)],
    task_id: Annotated[int, Form(ge=0, le=INT_MAX)],
    kind: Annotated[str, Form(max_length=8)],
    label: Annotated[int | None, Form(ge=-1, le=INT_MAX)] = None,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
    correction: Annotated[str | None, Form()] = None,
) -> Response:
    try:
        store.submit(caller.reviewer, answer_id=answer_id, task_id=task_id, kind=kind, label=label, comment=comment, correction=correction)
    except (AnswerError, PermissionDeniedError) as exc:  # e.g. the claim ran out: say so
        return _back(str(exc))
    return _back()


@router.post("/review/undo")
def undo(store: StoreDep, caller: UserDep, answer_id: Annotated[str | None, Form(max_length=64)] = None) -> Response:
    try:
        store.undo(caller.reviewer, answer_id or None)
    except AnswerError as exc:
        return _back(str(exc))
    return _back()


@router.post("/review/edit")
def edit(
    store: StoreDep,
    caller: UserDep,
    answer_id: Annotated[str, Form(max_length=64)],
    new_answer_id: Annotated[str, Form(max_length=64)],
    label: Annotated[int, Form(ge=-1, le=INT_MAX)],
) -> Response:
    try:
        store.edit(caller.reviewer, answer_id=answer_id, new_answer_id=new_answer_id, label=label)
    except AnswerError as exc:
        return _back(str(exc))
    return _back()
