"""Reviewer accounts, password hashing, API tokens and browser sessions.

Passwords are hashed with scrypt (stdlib ``hashlib``; n=2**17, r=8, p=1 as OWASP advises, 16-byte
salt). Each hash carries its parameters (``scrypt$n$r$p$salt$digest``), so hashes made with older
parameters still verify, and are replaced at the next successful login. API
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

_SCRYPT = {"n": 2**17, "r": 8, "p": 1}
_SCRYPT_MAX_N = 2**20  # refuse absurd parameters read from a stored hash
TOKEN_PREFIX = "htr_"
_dummy_hash: str | None = None


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


@dataclass(frozen=True)
class PasswordCheck:
    """A successful password check; ``rehash`` when the stored hash uses old parameters."""

    reviewer: ReviewerInfo
    rehash: bool


def _scrypt(password: str, salt: bytes, *, n: int, r: int, p: int) -> bytes:
    # OpenSSL needs about 128 * r * (n + p + 2) bytes; hashlib's default cap is 32 MiB.
    return hashlib.scrypt(
        password.encode(), salt=salt, dklen=32, n=n, r=r, p=p, maxmem=128 * r * (n + p + 2) + 2**20
    )


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def _parse(stored: str) -> tuple[dict[str, int], bytes, bytes] | None:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        params = {"n": int(n), "r": int(r), "p": int(p)}
        if scheme != "scrypt" or not 2 <= params["n"] <= _SCRYPT_MAX_N or not 1 <= params["r"] * params["p"] <= 64:
            return None
        return params, base64.b64decode(salt), base64.b64decode(digest)
    except ValueError:
        return None


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (verified with the parameters stored in it)."""
    parsed = _parse(stored) if stored else None
    if parsed is None:
        return False
    params, salt, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, **params), digest)


def needs_rehash(stored: str) -> bool:
    parsed = _parse(stored)
    return parsed is not None and parsed[0] != _SCRYPT


def dummy_hash() -> str:
    """A hash of a random password with the current parameters, computed once per process:
    what unknown names (and accounts without a password) are checked against, so that they
    cost the same scrypt work as real ones."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password(secrets.token_urlsafe(16))
    return _dummy_hash


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


def check_password(session: Session, name: str, password: str) -> PasswordCheck:
    """The account if ``password`` is right and the account active.

    Unknown names and accounts without a password are checked against ``dummy_hash()``: one
    scrypt run with the current parameters either way, so timing does not reveal which names
    exist.

    Raises:
        ReviewerError: wrong name or password, or a disabled account (one message for all).
    """
    row = session.scalar(select(Reviewer).where(Reviewer.name == name))
    stored = row.password_hash if row is not None and row.password_hash else None
    ok = verify_password(password, stored or dummy_hash()) and stored is not None
    if row is None or not ok or not row.active:
        raise ReviewerError("wrong reviewer name or password")
    return PasswordCheck(info(row), needs_rehash(stored or ""))


def upgrade_hash(session: Session, reviewer_id: int, password: str) -> None:
    """Replace a reviewer's password hash by one with the current scrypt parameters."""
    row = session.get(Reviewer, reviewer_id)
    if row is not None:
        row.password_hash = hash_password(password)


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
