"""The judge inside the rounds with the real local model: `hitl-triage simulate` on a small
synthetic task, the embedded llama.cpp server with Gemma 3 270M as the judge.

Bounded: 10 items per round, 3 judgings (before rounds 1 and 2 and before the final evidence),
so at most 30 requests; the fresh rerun sends none (every answer is in the response cache).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from hitl_triage.cli import app
from tests.rounds.conftest import make_items, write_task

pytestmark = pytest.mark.llm
CAP = 10


def test_simulate_asks_the_local_model_between_rounds(llama_server: str, tmp_path: Path) -> None:
    config = write_task(tmp_path / "task", make_items(120), judge={
        "base_url": llama_server, "max_requests_per_round": CAP, "cost_per_request": 0.001,
        "concurrency": 2, "timeout_s": 120.0})
    out = tmp_path / "sim"
    runner = CliRunner()
    result = runner.invoke(app, ["simulate", str(config), "--budget", "0.2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| round | model | role | items asked | requests | cache hits | no label | cost |" in result.output
    records = [json.loads(p.read_text()) for p in sorted((out / "rounds").glob("round_*/record.json"))]
    assert len(records) == 3 and "judge_requests" not in records[0]
    sent = 0
    for record in records[1:]:
        (usage,) = record["judge_usage"]
        assert usage["model"] == "gemma-3-270m" and usage["asked"] == CAP
        assert usage["failed"] == 0  # the model named a label for every item
        assert usage["requests"] + usage["cache_hits"] >= CAP  # a request may be retried
        assert record["judge_cost"] == pytest.approx(usage["requests"] * 0.001)
        sent += usage["requests"]
    final = json.loads((out / "rounds" / "final.json").read_text())
    sent += final["judge_requests"]
    assert final["judge_answered"] == 3 * CAP
    with sqlite3.connect(out / "judge" / "cache.sqlite") as db:
        stored = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert stored == 3 * CAP <= sent <= 40  # one answer per item asked, retries at most
    for r in (1, 2, 3):
        answers = pl.read_parquet(out / "rounds" / f"round_{r:03d}" / "judge.parquet")
        probs = answers.select("p_0", "p_1").to_numpy()
        assert answers.height == CAP and np.allclose(probs.sum(axis=1), 1.0)
        assert ((probs >= 0) & (probs <= 1)).all()
    # rerun from scratch: the same items are asked and every answer comes from the cache
    again = runner.invoke(app, ["simulate", str(config), "--budget", "0.2", "--out", str(out), "--fresh"])
    assert again.exit_code == 0, again.output
    rerun = [json.loads(p.read_text()) for p in sorted((out / "rounds").glob("round_*/record.json"))]
    assert [r.get("judge_requests") for r in rerun] == [None, 0, 0]
    assert [r.get("judge_cache_hits") for r in rerun] == [None, CAP, CAP]
