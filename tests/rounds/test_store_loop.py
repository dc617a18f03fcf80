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


def test_the_store_gets_both_models_guesses_and_audit_items_are_blind(synthetic_task: Path) -> None:
    import json

    from sqlalchemy import select

    from hitl_triage.store.models import Task

    config = load_config(synthetic_task)
    assert run_rounds(config).status == "waiting"
    gold = dict(pl.read_csv(synthetic_task.parent / "items.csv").select("id", "gold").iter_rows())
    with store_module.open_store(config) as store:
        rows = store.read(lambda s: s.execute(select(Task.route, Task.models, Task.votes)).all())
        models = [json.loads(m) for _r, m, _v in rows]
        assert all(m["source"] in ("label_model", "end_model", "stacked", "crowdlab") for m in models)
        assert all({"label_model", "end_model"} <= set(m) for m in models)
        routes = {route for route, _m, _v in rows}
        store.add_reviewer("alice")
        alice = store.reviewer("alice")
        seen = {"review": 0, "audit": 0}
        route_of = store.read(lambda s: dict(s.execute(select(Task.id, Task.route)).all()))
        while (task := store.next_task(alice)) is not None:
            route = route_of[task.task_id]
            seen[route] += 1
            if route == "audit":  # blind by default: nothing to anchor on
                assert (task.suggested, task.confidence, task.votes, task.judge_rationale, task.models) == (None, None, {}, None, {})
            else:
                assert task.suggested is not None and task.models
            store.submit(alice, answer_id=f"a{task.task_id}", task_id=task.task_id, kind="label", label=int(gold[task.item_id]))
        assert {r for r, n in seen.items() if n} == routes
        accuracy = store.source_accuracy()
        assert accuracy and all(0 <= a.correct <= a.n for a in accuracy.values())
