"""Fixtures of the store tests: a task config on SQLite and on a fresh PostgreSQL database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitl_triage.config import TaskConfig
from hitl_triage.store import ReviewStore, open_store
from tests.store.support import PG_ENV, PostgresUnavailable, fresh_pg_database, write_task


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server (see ``pg_server``)."""
    stack = contextlib.ExitStack()
    try:
        url = stack.enter_context(fresh_pg_database(pg_server))
    except PostgresUnavailable as exc:
        reason = " ".join(str(exc).split())
        pytest.skip(f"PostgreSQL unavailable: {reason} (unset {PG_ENV} to use a throwaway cluster)")
    with stack:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite in the run dir) or a fresh PostgreSQL database URL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_url")


@pytest.fixture
def make_store(tmp_path: Path, backend_url: str | None) -> Iterator:
    """``make_store(**review_settings) -> (ReviewStore, TaskConfig)`` on the current backend."""
    opened: list[ReviewStore] = []

    def make(**review) -> tuple[ReviewStore, TaskConfig]:
        _path, config = write_task(tmp_path / f"task{len(opened)}", database_url=backend_url, review=review)
        store = open_store(config)
        opened.append(store)
        return store, config

    yield make
    for store in opened:
        store.close()
