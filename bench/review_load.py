"""Load benchmark of the review server: concurrent HTTP clients submitting answers, some
retried, against SQLite and PostgreSQL. Prints answers/s and latency, and checks that the store
holds every acknowledged answer exactly once (zero lost, zero duplicated).

Baseline in the same run: the same workload through ``ReviewStore`` directly (threads, no HTTP),
so the figures read as the cost of the web layer, not of the machine.

    python bench/review_load.py                          # 20 clients, 2,000 answers, both backends
    python bench/review_load.py --answers 500 --backends sqlite

PostgreSQL needs HITL_TRIAGE_TEST_PG_URL (``source .ci/postgres.sh``); a fresh database is
created and dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import sqlalchemy as sa
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the load generator lives with the tests (tests/review/loadgen.py)

from hitl_triage.config import load_config  # noqa: E402
from hitl_triage.store import open_store  # noqa: E402
from tests.review.loadgen import LoadResult, background_server, check_answers, run_load  # noqa: E402


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str]:
    base = os.environ.get("HITL_TRIAGE_TEST_PG_URL")
    if not base:
        raise SystemExit("HITL_TRIAGE_TEST_PG_URL is not set: source .ci/postgres.sh, or --backends sqlite")
    url = sa.engine.make_url(base)
    name = f"hitl_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_task(folder: Path, database_url: str | None, n_items: int) -> Path:
    data = {
        "task": "load_bench",
        "labels": [{"name": "ham", "description": "genuine"}, {"name": "spam", "description": "promotion"}],
        "dataset": {"path": "data.csv", "id_field": "id", "text_field": "text"},
        "run_dir": "run",
        "review": {"gold_rate": 0.0, **({"database_url": database_url} if database_url else {})},
    }
    pl.DataFrame({"id": [f"i{i}" for i in range(n_items)], "text": [f"comment {i}" for i in range(n_items)]}).write_csv(folder / "data.csv")
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def seed(config_path: Path, n_items: int, n_clients: int, round: int) -> list[str]:
    """Enqueue ``n_items`` single-overlap items and create one reviewer per client."""
    config = load_config(config_path)
    with open_store(config) as store:
        store.enqueue(
            pl.DataFrame(
                {
                    "id": [f"i{i}" for i in range(n_items)],
                    "text": [f"comment {i}" for i in range(n_items)],
                    "route": ["review" if i % 10 else "audit" for i in range(n_items)],
                    "round": [round] * n_items,
                    "priority": [random.random() for _ in range(n_items)],
                }
            )
        )
        return [store.add_reviewer(f"r{round}_{i}", password="bench-password").token for i in range(n_clients)]


def direct_baseline(config_path: Path, n_items: int, n_clients: int) -> float:
    """Answers/s of the same workload through ReviewStore in threads (no HTTP)."""
    seed(config_path, n_items, n_clients, round=1)
    config = load_config(config_path)
    with open_store(config) as store:
        people = [store.reviewer(f"r1_{i}") for i in range(n_clients)]
        start = threading.Barrier(n_clients)

        def work(who) -> int:  # type: ignore[no-untyped-def]
            start.wait()
            n = 0
            while (task := store.next_task(who)) is not None and task.round == 1:
                store.submit(who, answer_id=str(uuid.uuid4()), task_id=task.task_id, kind="label", label=n % 2)
                n += 1
            return n

        t0 = time.perf_counter()
        with ThreadPoolExecutor(n_clients) as pool:
            done = sum(pool.map(work, people))
        return done / (time.perf_counter() - t0)


def run_backend(name: str, database_url: str | None, args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"hitl-bench-{name}-") as tmp:
        config_path = make_task(Path(tmp), database_url, args.answers)
        tokens = seed(config_path, args.answers, args.clients, round=0)
        with background_server(config_path) as base:
            result: LoadResult = run_load(base, tokens, retry_rate=args.retry_rate, seed=args.seed)
        config = load_config(config_path)
        with open_store(config) as store:
            check = check_answers(store, result)
        baseline = direct_baseline(config_path, args.answers, args.clients)
    return {
        "backend": name,
        "clients": args.clients,
        "answers": len(result.acknowledged),
        "retried": result.retries,
        "stored": check.stored,
        "lost": check.lost,
        "duplicated": check.duplicated,
        "answers_per_s": result.answers_per_s,
        "p50_ms": result.latency_ms(50),
        "p95_ms": result.latency_ms(95),
        "direct_answers_per_s": baseline,
        "http_vs_direct": result.answers_per_s / baseline,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--retry-rate", type=float, default=0.1)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = []
    for name in args.backends.split(","):
        if name == "sqlite":
            rows.append(run_backend("sqlite", None, args))
        elif name == "postgres":
            with fresh_postgres() as url:
                rows.append(run_backend("postgres", url, args))
        else:
            raise SystemExit(f"unknown backend {name!r}; choose from sqlite, postgres")
        r = rows[-1]
        print(
            f"{r['backend']:>8}: {r['answers']} answers ({r['retried']} retried) from {r['clients']} clients: "
            f"{r['answers_per_s']:.0f} answers/s, p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms; "
            f"stored {r['stored']}, lost {r['lost']}, duplicated {r['duplicated']}; "
            f"direct store {r['direct_answers_per_s']:.0f} answers/s (HTTP/direct {r['http_vs_direct']:.2f})",
            flush=True,
        )
    if len(rows) == 2:
        print(f"postgres/sqlite throughput ratio: {rows[1]['answers_per_s'] / rows[0]['answers_per_s']:.2f}")
    bad = [r for r in rows if r["lost"] or r["duplicated"] or r["stored"] != r["answers"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
