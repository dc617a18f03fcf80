"""A bounded version of ``bench/review_load.py``: concurrent HTTP clients, some requests
retried, against SQLite and PostgreSQL. Zero lost and zero duplicated answers (no timing
assertions: the figures are printed by the benchmark)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hitl_triage.store import open_store
from tests.store.support import write_task

from .loadgen import background_server, check_answers, run_load

N_ANSWERS, N_CLIENTS = 200, 8


@pytest.mark.slow
def test_concurrent_clients_lose_and_duplicate_nothing(tmp_path: Path, backend_url: str | None):
    config_path, config = write_task(tmp_path, database_url=backend_url, review={"gold_rate": 0.0})
    with open_store(config) as store:
        store.enqueue(pl.DataFrame({"id": [f"L{i}" for i in range(N_ANSWERS)], "text": ["x"] * N_ANSWERS, "route": ["review"] * N_ANSWERS, "round": [0] * N_ANSWERS}))
        tokens = [store.add_reviewer(f"load{i}", password="load-password").token for i in range(N_CLIENTS)]
    with background_server(config_path) as base:
        result = run_load(base, tokens, retry_rate=0.25, seed=1)
    assert result.retries > 0
    with open_store(config) as store:
        check = check_answers(store, result)
        assert store.pending_count() == 0
    assert len(result.acknowledged) == N_ANSWERS
    assert (check.stored, check.lost, check.duplicated) == (N_ANSWERS, 0, 0)
    assert len(set(result.tasks)) == N_ANSWERS  # no task answered by two clients
