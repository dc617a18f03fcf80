"""Load generation against a running review server, for ``bench/review_load.py`` and the tests.

``run_load`` drives N concurrent HTTP clients (one reviewer token each) that pull a task and
submit an answer until the queue is empty; a share of answers is sent twice with the same id,
as a client does when a response is lost. ``check_answers`` then compares what the server
acknowledged with what the store holds: zero lost, zero duplicated is the requirement.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from hitl_triage.store import ReviewStore
from hitl_triage.store.models import Answer


@dataclass(frozen=True)
class LoadResult:
    """What the clients saw. Latencies are of answer submissions (first attempts and retries)."""

    acknowledged: frozenset[str]  # answer ids the server confirmed (201 or 200)
    tasks: tuple[int, ...]  # task id of each acknowledged answer
    requests: int
    retries: int
    seconds: float
    latencies_ms: np.ndarray  # (n_submissions,) float

    @property
    def answers_per_s(self) -> float:
        return len(self.acknowledged) / self.seconds if self.seconds > 0 else float("nan")

    def latency_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else float("nan")


@dataclass(frozen=True)
class AnswerCheck:
    stored: int
    lost: int  # acknowledged but not in the store
    duplicated: int  # live answers beyond one per task, plus stored ids nobody acknowledged


def run_load(base_url: str, tokens: list[str], *, retry_rate: float = 0.1, seed: int = 0, labels: int = 2) -> LoadResult:
    """One client thread per token; each pulls ``/api/v1/tasks/next`` and posts an answer
    until the server answers 204. ``retry_rate`` of answers are re-sent with the same id."""
    import httpx

    acknowledged: list[tuple[str, int]] = []
    latencies: list[float] = []
    counts = {"requests": 0, "retries": 0}
    lock = threading.Lock()
    start = threading.Barrier(len(tokens))

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        headers = {"Authorization": f"Bearer {tokens[index]}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
            start.wait()
            while True:
                got = http.get("/api/v1/tasks/next")
                got.raise_for_status()
                if got.status_code == 204:
                    return
                task = got.json()
                body = {"id": str(uuid.uuid4()), "task_id": task["task_id"], "kind": "label", "label": rng.randrange(labels)}
                sends = 2 if rng.random() < retry_rate else 1
                for attempt in range(sends):
                    t0 = time.perf_counter()
                    sent = http.post("/api/v1/answers", json=body)
                    elapsed = 1000 * (time.perf_counter() - t0)
                    if sent.status_code not in (200, 201) or sent.json()["created"] != (attempt == 0):
                        raise RuntimeError(f"unexpected answer response {sent.status_code}: {sent.text}")
                    with lock:
                        latencies.append(elapsed)
                        counts["requests"] += 2 if attempt == 0 else 1
                        counts["retries"] += attempt
                with lock:
                    acknowledged.append((body["id"], task["task_id"]))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(tokens)) as pool:
        list(pool.map(client, range(len(tokens))))
    seconds = time.perf_counter() - t0
    return LoadResult(
        acknowledged=frozenset(a for a, _ in acknowledged),
        tasks=tuple(t for _, t in acknowledged),
        requests=counts["requests"],
        retries=counts["retries"],
        seconds=seconds,
        latencies_ms=np.array(latencies, dtype=float),
    )


def check_answers(store: ReviewStore, result: LoadResult) -> AnswerCheck:
    """Compare the acknowledged answers with the store's live answers."""

    def run(s):  # type: ignore[no-untyped-def]
        ids = set(s.scalars(select(Answer.id).where(Answer.retracted_at.is_(None))))
        per_task = s.execute(
            select(Answer.task_id, func.count(Answer.id)).where(Answer.retracted_at.is_(None)).group_by(Answer.task_id)
        ).all()
        return ids, per_task

    ids, per_task = store.read(run)
    extra_per_task = sum(n - 1 for _, n in per_task if n > 1)
    return AnswerCheck(
        stored=len(ids),
        lost=len(result.acknowledged - ids),
        duplicated=extra_per_task + len(ids - result.acknowledged),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def background_server(config_path: Path, *, startup_timeout: float = 60) -> Iterator[str]:
    """``hitl-triage serve CONFIG`` in a child process on a free 127.0.0.1 port; yields the
    base URL and stops the process on exit."""
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from hitl_triage.cli import main; main()", "serve", str(config_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start within {startup_timeout} s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
