"""Reviewer accounts: hashing, tokens, sessions, and every error they raise."""

from __future__ import annotations

import pytest

from hitl_triage.store import ReviewerError
from hitl_triage.store.accounts import hash_password, verify_password


def test_passwords_are_salted_scrypt_hashes():
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$131072$8$1$") and "correct" not in stored  # OWASP: N=2^17
    assert stored != hash_password("correct horse")
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    assert not verify_password("x", None) and not verify_password("x", "md5$abc")


def test_accounts_tokens_and_sessions(make_store):
    store, _ = make_store()
    creds = store.add_reviewer("ann", password="a-long-password")
    assert creds.password == "a-long-password" and creds.token.startswith("htr_")
    generated = store.add_reviewer("boss", role="admin")
    assert len(generated.password) >= 12
    assert store.check_password("ann", "a-long-password").name == "ann"
    assert store.check_token(creds.token).name == "ann"
    assert store.check_token("htr_forged") is None
    cookie, csrf = store.open_session(store.reviewer("ann"))
    found, found_csrf = store.find_session(cookie)
    assert found.name == "ann" and found_csrf == csrf
    new = store.reset_credentials("ann", password=False, token=True)
    assert new.password is None and store.check_token(creds.token) is None
    assert store.check_token(new.token).name == "ann"
    assert store.find_session(cookie) is None  # a reset ends browser sessions
    store.set_active("ann", False)
    with pytest.raises(ReviewerError, match="wrong reviewer name or password"):
        store.check_password("ann", "a-long-password")
    with pytest.raises(ReviewerError, match="reviewer 'ann' is disabled"):
        store.reviewer("ann")
    assert store.check_token(new.token) is None
    assert [r.name for r in store.reviewers()] == ["ann", "boss"]


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("ann", "reviewer", None, "reviewer 'ann' already exists"),
        ("bad name", "reviewer", None, "reviewer name must be 1-64 letters"),
        ("adjudicated", "reviewer", None, "'adjudicated' is reserved"),
        ("cat", "owner", None, r"role must be one of \['admin', 'reviewer', 'writer'\], got 'owner'"),
        ("cat", "reviewer", "short", "at least 8 characters"),
    ],
)
def test_account_errors(make_store, name, role, password, message):
    store, _ = make_store()
    store.add_reviewer("ann")
    with pytest.raises(ReviewerError, match=message):
        store.add_reviewer(name, role=role, password=password)


def test_unknown_reviewer_lists_the_known_ones(make_store):
    store, _ = make_store()
    store.add_reviewer("ann")
    with pytest.raises(ReviewerError, match=r"unknown reviewer 'zed'; known reviewers: \['ann'\]"):
        store.reviewer("zed")
    with pytest.raises(ReviewerError, match="wrong reviewer name or password"):
        store.check_password("zed", "whatever")
    with pytest.raises(ReviewerError, match="at least 8 characters"):
        store.reset_credentials("ann", password=True, token=False, new_password="short")
