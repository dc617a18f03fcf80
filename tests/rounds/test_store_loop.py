"""With real reviewers the round loop goes through the review store (real SQLite file)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hitl_triage import store as store_module
from hitl_triage.answers import load_answers
from hitl_triage.config import load_config
from hitl_triage.curriculum import read_record, run_rounds


def test_routed_items_reach_the_store_and_settled_answers_come_back(synthetic_task: Path) -> None:
    config = load_config(synthetic_task)
    first = run_rounds(config)
    assert first.status == "waiting"
    asked = first.records[0]["n_review"] + first.records[0]["n_audit"]
    gold = dict(pl.read_csv(synthetic_task.parent / "items.csv").select("id", "gold").iter_rows())
    with store_module.open_store(config) as store:
        assert store.pending_count(round=0) == asked
        store.add_reviewer("alice")
        reviewer = store.reviewer("alice")
        answered = 0
        while (task := store.next_task(reviewer)) is not None:
            store.submit(reviewer, answer_id=f"a{task.task_id}", task_id=task.task_id, kind="label",
                         label=int(gold[task.item_id]))
            answered += 1
        assert answered == asked and store.pending_count(round=0) == 0
    second = run_rounds(config)
    assert read_record(config.out_dir, 0)["status"] == "complete"
    answers = load_answers(config.out_dir)
    assert answers.height == asked and set(answers["origin"]) == {"store"}
    assert second.status == "waiting" and "round 1" in second.message


def test_reviewers_see_the_judges_rationale_and_export_needs_no_apply(synthetic_task: Path) -> None:
    import numpy as np

    from hitl_triage.data import load_dataset
    from hitl_triage.judge.judgements import write_judgements
    from hitl_triage.judge_settings import JudgeConfig
    from hitl_triage.pipeline import run_export

    config = load_config(synthetic_task)
    config.judge = JudgeConfig()  # judgements below stand in for a finished `judge run`
    ids = load_dataset(config.dataset, n_classes=config.n_classes).ids
    n, k = len(ids), config.n_classes
    write_judgements(
        config.out_dir, ids=ids, votes=np.zeros(n, dtype=np.int8), probs=np.full((n, k), 1 / k),
        outside_mass=np.zeros(n), rationales=[f"because {i}" for i in ids], errors=[None] * n,
        statuses=["ok"] * n,
    )
    first = run_rounds(config)
    assert first.status == "waiting"
    with store_module.open_store(config) as store:
        store.add_reviewer("bob")
        task = store.next_task(store.reviewer("bob"))
        assert task is not None and task.judge_rationale == f"because {task.item_id}"
        assert "judge" in task.votes
    result = run_export(config)  # the round loop saved the votes; no separate `apply` needed
    assert result.n_rows == n
