"""Reviewer accounts, password hashing, API tokens and browser sessions.

Passwords are hashed with scrypt (stdlib ``hashlib``; n=2**14, r=8, p=1, 16-byte salt). API
tokens and session cookies are 32 random bytes; only their SHA-256 is stored, so a copy of the
database does not let anyone log in. There is no server secret to keep: sessions live in the
``web_sessions`` table, each with its own CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hitl_triage.store.errors import ReviewerError
from hitl_triage.store.models import NAME_MAX, ROLES, Reviewer, WebSession, utcnow

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
TOKEN_PREFIX = "htr_"


@dataclass(frozen=True)
class ReviewerInfo:
    """A reviewer account as the app sees it (no secrets)."""

    id: int
    name: str
    role: str
    active: bool
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_write_lfs(self) -> bool:
        """Admins and LF writers see the LF workbench."""
        return self.role in ("admin", "writer")


@dataclass(frozen=True)
class NewCredentials:
    """Secrets shown once when an account is created or its credentials are reset."""

    reviewer: ReviewerInfo
    password: str | None
    token: str | None


def info(row: Reviewer) -> ReviewerInfo:
    return ReviewerInfo(row.id, row.name, row.role, row.active, row.created_at)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(got, base64.b64decode(digest))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _validate_name(name: str) -> None:
    if not name or len(name) > NAME_MAX or not all(c.isalnum() or c in "._-" for c in name):
        raise ReviewerError(
            f"reviewer name must be 1-{NAME_MAX} letters, digits, '.', '_' or '-'; got {name!r}"
        )
    if name == "adjudicated":
        raise ReviewerError("reviewer name 'adjudicated' is reserved (it marks adjudicated labels)")


def add_reviewer(session: Session, *, name: str, role: str, password: str | None) -> NewCredentials:
    """Create an account with a password (generated if None) and an API token.

    Raises:
        ReviewerError: bad name or role, or the name is taken.
    """
    _validate_name(name)
    if role not in ROLES:
        raise ReviewerError(f"role must be one of {list(ROLES)}, got {role!r}")
    if session.scalar(select(Reviewer.id).where(Reviewer.name == name)) is not None:
        raise ReviewerError(f"reviewer {name!r} already exists")
    if password is not None and len(password) < 8:
        raise ReviewerError("password must have at least 8 characters")
    password = password if password is not None else secrets.token_urlsafe(12)
    token = new_token()
    row = Reviewer(
        name=name,
        role=role,
        password_hash=hash_password(password),
        token_hash=token_hash(token),
        active=True,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return NewCredentials(info(row), password, token)


def get_reviewer(session: Session, name: str) -> Reviewer:
    """The account named ``name``.

    Raises:
        ReviewerError: no such reviewer (the message lists the known names).
    """
    row = session.scalar(select(Reviewer).where(Reviewer.name == name))
    if row is None:
        known = session.scalars(select(Reviewer.name).order_by(Reviewer.name)).all()
        raise ReviewerError(f"unknown reviewer {name!r}; known reviewers: {list(known)}")
    return row


def reset_credentials(
    session: Session, name: str, *, password: bool, token: bool, new_password: str | None = None
) -> NewCredentials:
    """Replace a reviewer's password and/or API token; ends their browser sessions."""
    row = get_reviewer(session, name)
    pw = tok = None
    if password:
        if new_password is not None and len(new_password) < 8:
            raise ReviewerError("password must have at least 8 characters")
        pw = new_password if new_password is not None else secrets.token_urlsafe(12)
        row.password_hash = hash_password(pw)
    if token:
        tok = new_token()
        row.token_hash = token_hash(tok)
    session.execute(delete(WebSession).where(WebSession.reviewer_id == row.id))
    return NewCredentials(info(row), pw, tok)


def set_active(session: Session, name: str, active: bool) -> ReviewerInfo:
    row = get_reviewer(session, name)
    row.active = active
    if not active:
        session.execute(delete(WebSession).where(WebSession.reviewer_id == row.id))
    return info(row)


def check_password(session: Session, name: str, password: str) -> ReviewerInfo:
    """The account if ``password`` is right and the account active.

    Raises:
        ReviewerError: wrong name or password, or a disabled account (one message for all).
    """
    row = session.scalar(select(Reviewer).where(Reviewer.name == name))
    # Hash even for unknown names so timing does not reveal which names exist.
    ok = verify_password(password, row.password_hash if row else hash_password("x"))
    if row is None or not ok or not row.active:
        raise ReviewerError("wrong reviewer name or password")
    return info(row)


def check_token(session: Session, token: str) -> ReviewerInfo | None:
    row = session.scalar(select(Reviewer).where(Reviewer.token_hash == token_hash(token)))
    return info(row) if row is not None and row.active else None


def open_session(session: Session, reviewer_id: int, *, hours: int) -> tuple[str, str]:
    """Start a browser session; returns (cookie token, CSRF token)."""
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=token_hash(cookie),
            reviewer_id=reviewer_id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return cookie, csrf


def find_session(session: Session, cookie: str) -> tuple[ReviewerInfo, str] | None:
    """(reviewer, CSRF token) of a live session, or None."""
    row = session.get(WebSession, token_hash(cookie))
    if row is None or row.expires_at < utcnow():
        return None
    reviewer = session.get(Reviewer, row.reviewer_id)
    if reviewer is None or not reviewer.active:
        return None
    return info(reviewer), row.csrf_token


def close_session(session: Session, cookie: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(cookie)))
