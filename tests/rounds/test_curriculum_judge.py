"""The judge inside the rounds of a run directory: asked before each evidence, saved per round,
reloaded on resume, answered from the cache on a rerun, and reported with its cost.

The judge server is the fault server of the judge tests (a real HTTP server on loopback
speaking the OpenAI API; here it answers "ham" to every synthetic text, since none says
"spam"): these tests check the wiring and the accounting, not the judge's quality (the real
local model is tested in tests/judge/test_judge_inround_llm.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from hitl_triage.config import load_config
from hitl_triage.curriculum import run_rounds
from hitl_triage.data import load_gold
from hitl_triage.simulate import simulate
from tests.rounds.conftest import make_items, write_task

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
from fault_server import FaultServer

CAP = 10


@pytest.fixture
def server() -> Iterator[FaultServer]:
    fault = FaultServer().start()
    yield fault
    fault.stop()


def _task(tmp_path: Path, url: str) -> Path:
    return write_task(tmp_path / "task", make_items(200), judge={
        "base_url": url, "bias_correction": "none", "max_requests_per_round": CAP,
        "cost_per_request": 0.01, "backoff_s": 0.01, "timeout_s": 5.0})


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run_dir / "rounds").glob("round_*/record.json"))]


def test_simulated_rounds_ask_the_judge_between_rounds(server: FaultServer, tmp_path: Path) -> None:
    config = load_config(_task(tmp_path, server.base_url))
    out = tmp_path / "sim"
    summary = simulate(config, budget=0.15, seed=0, out_dir=out)
    records = _records(out)
    assert len(records) == 3
    assert "judge_requests" not in records[0]  # nothing to plan before the first round
    for record in records[1:]:
        assert record["judge_asked"] == CAP and record["judge_requests"] == CAP
        assert record["judge_cost"] == pytest.approx(CAP * 0.01)
        assert record["judge_usage"][0]["model"] == "gemma-3-270m"
        assert record["judge_answered"] == CAP * record["round"]  # answers so far feed the evidence
    for r in (1, 2, 3):  # 3: the judging before the final evidence
        answers = pl.read_parquet(out / "rounds" / f"round_{r:03d}" / "judge.parquet")
        assert answers.height == CAP
    final = json.loads((out / "rounds" / "final.json").read_text())
    assert final["judge_requests"] == CAP and final["judge_answered"] == 3 * CAP
    assert server.requests == 3 * CAP
    asked = pl.concat([pl.read_parquet(out / "rounds" / f"round_{r:03d}" / "judge.parquet")
                       for r in (1, 2, 3)])["id"]
    assert asked.n_unique() == 3 * CAP  # never the same item twice
    # the judge is never asked about an item a human had labeled before it was asked
    answered = pl.read_parquet(out / "answers.parquet")
    first_label = dict(answered.group_by("id").agg(pl.col("round").min()).iter_rows())
    for r in (1, 2, 3):
        ids = pl.read_parquet(out / "rounds" / f"round_{r:03d}" / "judge.parquet")["id"].to_list()
        assert all(first_label.get(i, 99) >= r for i in ids)
    report = (out / "rounds.md").read_text()
    assert "| round | model | role | items asked | requests | cache hits | no label | cost |" in report
    assert f"| all | | | | {2 * CAP} | | | 0.2000 |" in report
    assert summary["rounds"][1]["judge_requests"] == CAP
    # a fresh rerun routes the same items and finds every answer in the cache
    simulate(config, budget=0.15, seed=0, out_dir=out, fresh=True)
    assert server.requests == 3 * CAP
    rerun = _records(out)
    assert [r.get("judge_cache_hits") for r in rerun] == [None, CAP, CAP]
    assert [r.get("judge_cost") for r in rerun] == [None, 0.0, 0.0]


def test_an_interrupted_run_reloads_its_judge_answers(server: FaultServer, tmp_path: Path) -> None:
    config = load_config(_task(tmp_path, server.base_url))
    gold = load_gold(config.dataset, config.label_names, make_items(200)["id"].to_list())

    def reviewer(rows, routes):  # type: ignore[no-untyped-def]
        return gold[rows]

    first = run_rounds(config, reviewer=reviewer, max_new_rounds=2)
    assert first.status == "stopped" and server.requests == CAP
    saved = pl.read_parquet(config.out_dir / "rounds" / "round_001" / "judge.parquet")
    done = run_rounds(config, reviewer=reviewer)
    assert done.status == "finished"
    assert server.requests == 3 * CAP  # round 1's answers were reloaded, not asked again
    assert pl.read_parquet(config.out_dir / "rounds" / "round_001" / "judge.parquet").equals(saved)
    assert done.final["judge_answered"] == 3 * CAP
