"""Who is calling, and may they? Sessions, bearer tokens, roles and CSRF.

* Browsers log in with a name and password and get a session cookie (``HttpOnly``,
  ``SameSite=Strict``); every state-changing request made with that cookie must carry the
  session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``), and an ``Origin``
  header, when sent, must be this server's.
* Tools use ``Authorization: Bearer <token>`` (created by ``hitl-triage reviewers add``). A
  browser never attaches that header on its own, so CSRF does not apply to bearer requests.
* The login form uses a double-submit cookie as its CSRF token (there is no session yet).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request

from hitl_triage.store import ReviewerInfo, ReviewStore

SESSION_COOKIE = "hitl_session"
LOGIN_CSRF_COOKIE = "hitl_login_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Caller:
    reviewer: ReviewerInfo
    via: Literal["session", "token"]
    csrf_token: str | None = None


class LoginRequired(Exception):
    """Raised for a page request without a valid session (the app redirects to /login)."""


def get_store(request: Request) -> ReviewStore:
    return request.app.state.store


StoreDep = Annotated[ReviewStore, Depends(get_store)]


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def identify(request: Request, store: StoreDep) -> Caller:
    """The authenticated caller; 401 (API) or a redirect to /login (pages) otherwise."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        reviewer = store.check_token(auth[7:].strip())
        if reviewer is None:
            raise HTTPException(401, "invalid or revoked API token", {"WWW-Authenticate": "Bearer"})
        return Caller(reviewer, "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    found = store.find_session(cookie) if cookie else None
    if found is None:
        if _is_api(request):
            raise HTTPException(401, "log in or send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})
        raise LoginRequired
    return Caller(found[0], "session", found[1])


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def csrf_protect(request: Request, caller: Annotated[Caller, Depends(identify)]) -> Caller:
    """``identify`` plus the CSRF check for state-changing session requests (403 if it fails)."""
    if caller.via == "token" or request.method in SAFE_METHODS:
        return caller
    if not same_origin(request):
        raise HTTPException(403, "cross-origin request refused")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get("csrf_token")  # type: ignore[assignment]
    if not isinstance(sent, str) or caller.csrf_token is None or not hmac.compare_digest(sent, caller.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token")
    return caller


def require_admin(caller: Annotated[Caller, Depends(csrf_protect)]) -> Caller:
    if not caller.reviewer.is_admin:
        raise HTTPException(403, "admins only")
    return caller


UserDep = Annotated[Caller, Depends(csrf_protect)]
AdminDep = Annotated[Caller, Depends(require_admin)]


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def check_login_token(request: Request, sent: str | None) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(cookie and sent and hmac.compare_digest(cookie, sent)) and same_origin(request)
