"""Helpers shared by the store and review tests: task folders, fresh PostgreSQL databases,
and a real ``hitl-triage serve`` process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
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


INSTALL_HINT = "apt-get install postgresql (make test does this when it can run apt-get as root or with sudo)"


def postgres_bindir() -> Path | None:
    """The directory holding PostgreSQL's initdb and pg_ctl: Debian's newest
    /usr/lib/postgresql/<ver>/bin, else wherever ``initdb`` is on PATH."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                    key=lambda p: [int(x) for x in p.parent.parent.name.split(".") if x.isdigit()])
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A private PostgreSQL cluster for this test session; yields its superuser URL.

    ``initdb`` in a temporary directory, the server on a free 127.0.0.1 port with its unix socket
    in that directory, trust authentication (loopback only), no fsync; stopped and removed
    afterwards. PostgreSQL refuses to run as root, so as root the cluster belongs to the
    ``postgres`` user (created by Debian's package) and its commands run through ``runuser``.

    Raises:
        PostgresUnavailable: the PostgreSQL binaries are not installed.
        RuntimeError: they are, but the cluster does not start (the message has its log).
    """
    bindir = postgres_bindir()
    if bindir is None:
        raise PostgresUnavailable(f"initdb/pg_ctl not found; {INSTALL_HINT}")
    as_root = os.geteuid() == 0
    run_as: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="hitl-pg-"))
    try:
        if as_root:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root and there is no 'postgres' user to own the cluster; {INSTALL_HINT}"
                ) from None
            os.chown(root, owner.pw_uid, owner.pw_gid)
            run_as = ["runuser", "-u", "postgres", "--"]
        data, log = root / "data", root / "server.log"

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*run_as, *args], capture_output=True, text=True, timeout=120, cwd=root)

        done = run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                   "--no-sync", "-E", "UTF8", "--locale=C")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        for _attempt in range(3):  # another process may take the free port first
            port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            done = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                       "-w", "-t", "60", "start")
            if done.returncode == 0:
                break
        else:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {done.stdout}{done.stderr}\n{tail}")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def fresh_pg_database(base: str | None = None) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server at ``base`` (default
    HITL_TRIAGE_TEST_PG_URL); dropped afterwards.

    Raises:
        PostgresUnavailable: no server URL, or the server does not answer.
    """
    import sqlalchemy as sa

    base = base or os.environ.get(PG_ENV)
    if not base:
        raise PostgresUnavailable(f"{PG_ENV} is not set and no throwaway cluster was started")
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


