"""The reviewers' web app: ``create_app(config)`` assembles the routers (pages, admin, API).

Server-rendered Jinja2 pages with autoescaping on; item text and LLM output are only ever
inserted as text. A strict Content-Security-Policy (scripts and styles from this server only, no
inline code) is a second wall should anything ever slip through.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from hitl_triage.review import visible
from hitl_triage.review.limits import BodyLimit
from hitl_triage.review.security import LoginRequired
from hitl_triage.review.throttle import LoginThrottle
from hitl_triage.store import (
    AnswerConflictError,
    AnswerError,
    IntakeError,
    PermissionDeniedError,
    ReviewerError,
    ReviewStore,
    TaskNotFoundError,
    open_store,
)

if TYPE_CHECKING:
    from hitl_triage.config import TaskConfig

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ERROR_STATUS: list[tuple[type[Exception], int]] = [
    (AnswerConflictError, 409),
    (TaskNotFoundError, 404),
    (PermissionDeniedError, 403),
    (AnswerError, 422),
    (IntakeError, 422),
    (ReviewerError, 400),
]


def templates_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.0f}%"
    env.globals["new_id"] = lambda: str(uuid.uuid4())
    env.filters["when"] = lambda v: (v or "")[:16].replace("T", " ") + (" UTC" if v else "")
    env.filters["num"] = lambda v, d=2: "–" if v is None or v != v else f"{v:.{d}f}"
    env.filters["segments"] = visible.segments
    return env


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    app = request.app
    html = app.state.templates.get_template(name).render(
        request=request, task_name=app.state.config.task, labels=app.state.config.labels, **context
    )
    return Response(html, status_code=status, media_type="text/html; charset=utf-8")


def create_app(config: TaskConfig, *, store: ReviewStore | None = None) -> FastAPI:
    """The app for one task. Opens the task's store at startup unless ``store`` is given."""
    from hitl_triage.review import admin, api, apidocs, pages, team_api, team_pages, workbench
    from hitl_triage.store import accounts

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = store if store is not None else open_store(config)
        accounts.dummy_hash()  # so the first login with an unknown name costs no extra hash
        try:
            yield
        finally:
            if owned:
                app.state.store.close()

    # The interactive docs are served by ``apidocs`` (Swagger UI from an installed package,
    # no inline script), not by FastAPI's default page, which loads from a CDN.
    app = FastAPI(title=f"hitl-triage review: {config.task}", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.config = config
    app.state.templates = templates_env()
    app.state.login_throttle = LoginThrottle(config.review.login)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    apidocs.mount(app)
    app.include_router(pages.router)
    app.include_router(admin.router)
    app.include_router(team_pages.router)  # flag queue, statistics, history search
    app.include_router(api.router)
    app.include_router(team_api.router)
    app.include_router(workbench.router)  # the LF workbench, /lf
    app.add_middleware(BodyLimit, max_bytes=config.review.max_body_bytes)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        return render(request, "error.html", {"status": exc.status_code, "detail": exc.detail}, exc.status_code)

    for error, status in ERROR_STATUS:

        async def handler(request: Request, exc: Exception, status: int = status) -> Response:
            if request.url.path.startswith("/api/"):
                return JSONResponse({"detail": str(exc)}, status)
            return render(request, "error.html", {"status": status, "detail": str(exc)}, status)

        app.add_exception_handler(error, handler)
    return app
