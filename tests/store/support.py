"""Helpers shared by the store and review tests: task folders, fresh PostgreSQL databases,
and a real ``hitl-triage serve`` process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from hitl_triage.config import TaskConfig, load_config

PG_ENV = "HITL_TRIAGE_TEST_PG_URL"
LABELS = [
    {"name": "ham", "description": "A genuine comment about the video."},
    {"name": "spam", "description": "Self-promotion, links, requests to subscribe."},
    {"name": "other", "description": "Not a comment (empty, another language, unreadable)."},
]


def write_task(tmp_path: Path, *, database_url: str | None = None, review: dict[str, Any] | None = None, n_items: int = 40) -> tuple[Path, TaskConfig]:
    """A task folder: data.csv with ``n_items`` comments and task.yaml; returns (path, config)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {"id": [f"c{i:04d}" for i in range(n_items)], "text": [f"comment number {i}" for i in range(n_items)]}
    ).write_csv(tmp_path / "data.csv")
    section = dict(review or {})
    if database_url is not None:
        section["database_url"] = database_url
    data = {
        "task": "spam_test",
        "labels": LABELS,
        "dataset": {"path": "data.csv", "id_field": "id", "text_field": "text"},
        "run_dir": "run",
        "review": section,
    }
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path, load_config(path)


def items(n: int, *, round: int = 0, route: str = "review", start: int = 0, texts: list[str] | None = None) -> pl.DataFrame:
    """An enqueue frame of ``n`` items ``c0000...`` with evidence."""
    ids = [f"c{i:04d}" for i in range(start, start + n)]
    return pl.DataFrame(
        {
            "id": ids,
            "text": texts if texts is not None else [f"comment number {i}" for i in range(start, start + n)],
            "route": [route] * n,
            "round": [round] * n,
            "priority": [float(n - i) for i in range(n)],
            "suggested": [i % 2 for i in range(n)],
            "confidence": [0.55] * n,
            "votes": ['{"lf_link": 1, "lf_short": null, "judge": 0}'] * n,
            "judge_rationale": ["Looks like a genuine reaction."] * n,
        }
    )


class PostgresUnavailable(Exception):
    pass


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server; dropped afterwards.

    Raises:
        PostgresUnavailable: HITL_TRIAGE_TEST_PG_URL unset or the server does not answer.
    """
    import sqlalchemy as sa

    base = os.environ.get(PG_ENV)
    if not base:
        raise PostgresUnavailable(f"{PG_ENV} is not set (source .ci/postgres.sh)")
    url = sa.engine.make_url(base)
    name = f"hitl_t_{secrets.token_hex(6)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        raise PostgresUnavailable(f"PostgreSQL at {url.render_as_string(hide_password=True)} is not reachable: {exc.orig}") from None
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def cli(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``hitl-triage ARGS`` in a subprocess (the real console script entry point)."""
    return subprocess.run(
        [sys.executable, "-c", "from hitl_triage.cli import main; main()", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


