"""Opening a store: URLs, environment references, and the errors for bad ones (SQLite only
unless marked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitl_triage.store import StoreError, open_store
from hitl_triage.store.db import SQLITE_FILE, downgrade, make_engine, upgrade
from tests.store.support import write_task


def test_default_is_a_wal_sqlite_file_in_the_run_dir(tmp_path: Path):
    _, config = write_task(tmp_path)
    with open_store(config) as store:
        assert (config.out_dir / SQLITE_FILE).is_file()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_environment_references_in_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    db = tmp_path / "elsewhere" / "r.sqlite3"
    monkeypatch.setenv("HITL_TEST_DB", str(db))
    _, config = write_task(tmp_path, database_url="sqlite:///${HITL_TEST_DB}")
    open_store(config).close()
    assert db.is_file()
    _, config = write_task(tmp_path / "b", database_url="sqlite:///${HITL_TEST_MISSING}")
    with pytest.raises(StoreError, match="environment variable HITL_TEST_MISSING, which is not set"):
        open_store(config)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "expected a SQLite file path"),
        ("sqlite:///:memory:", "an in-memory database would lose every answer"),
        ("mysql://u@localhost/x", "got backend 'mysql'"),
        ("not a url", "not a database URL"),
    ],
)
def test_bad_urls(tmp_path: Path, url: str, message: str):
    _, config = write_task(tmp_path, database_url=url)
    with pytest.raises(StoreError, match=message):
        open_store(config)


@pytest.mark.postgres
def test_unreachable_postgres_is_a_clear_error(tmp_path: Path):
    _, config = write_task(tmp_path, database_url="postgresql+psycopg://nobody:x@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="cannot open or upgrade the database"):
        open_store(config)


def test_downgrade_and_upgrade_again(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    upgrade(engine)
    downgrade(engine, "base")
    with engine.connect() as conn:
        tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables <= {"alembic_version"}
    upgrade(engine)
    engine.dispose()
