"""Undo, history relabel and adjudication in the review store (a real SQLite file) change what
the round loop learns from (issue 8, case 11)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from hitl_triage import store as store_module
from hitl_triage.answers import import_answers, load_answers
from hitl_triage.config import load_config
from hitl_triage.curriculum import FINAL_LABELS_FILE, run_rounds


def _answer_all(store, reviewer, gold: dict[str, int]) -> dict[str, tuple[str, int]]:
    done = {}
    while (task := store.next_task(reviewer)) is not None:
        answer_id = f"{reviewer.name}-{task.task_id}"
        store.submit(reviewer, answer_id=answer_id, task_id=task.task_id, kind="label", label=gold[task.item_id])
        done[task.item_id] = (answer_id, task.task_id)
    return done


def test_a_retracted_label_is_not_what_the_round_loop_learns(synthetic_task: Path, tmp_path: Path) -> None:
    config = load_config(synthetic_task)
    gold = dict(pl.read_csv(synthetic_task.parent / "items.csv").select("id", "gold").iter_rows())
    assert run_rounds(config).status == "waiting"
    with store_module.open_store(config) as store:
        store.add_reviewer("alice")
        store.add_reviewer("root", role="admin")
        round0 = _answer_all(store, store.reviewer("alice"), gold)
    # the answers come in; stop before routing round 1, so round 0 is still the open round in
    # which reviewers may undo and relabel (a finished round only changes by adjudication)
    second = run_rounds(config, max_new_rounds=0)
    assert second.status == "stopped" and "round 1" in second.message
    undone, relabeled, adjudicated = sorted(round0)[:3]
    assert set(load_answers(config.out_dir)["id"]) >= {undone, relabeled, adjudicated}

    with store_module.open_store(config) as store:
        alice, root = store.reviewer("alice"), store.reviewer("root")
        store.undo(alice, round0[undone][0])
        store.edit(alice, answer_id=round0[relabeled][0], new_answer_id="relabel-1", label=1 - gold[relabeled])
        store.adjudicate(root, task_id=round0[adjudicated][1], label=1 - gold[adjudicated])
    # an imported answer agreeing with the label the admin overruled does not outvote the admin
    other = tmp_path / "bob.jsonl"
    other.write_text(json.dumps({"id": adjudicated, "label": gold[adjudicated], "reviewer": "bob"}) + "\n")
    import_answers(config, other)

    third = run_rounds(config)  # syncs the store (retractions honoured), routes round 1
    assert third.status == "waiting" and "round 1" in third.message
    live = load_answers(config.out_dir)
    assert undone not in set(live["id"])
    assert live.filter(pl.col("id") == relabeled)["label"].to_list() == [1 - gold[relabeled]]
    final = {row["id"]: row for row in pl.read_parquet(config.out_dir / FINAL_LABELS_FILE).iter_rows(named=True)}
    assert final[undone]["label_source"] != "human"  # the loop no longer treats it as known
    assert (final[relabeled]["label"], final[relabeled]["label_source"]) == (1 - gold[relabeled], "human")
    assert (final[adjudicated]["label"], final[adjudicated]["label_source"]) == (1 - gold[adjudicated], "human")
    history = load_answers(config.out_dir, include_superseded=True)
    assert history.filter(pl.col("id") == undone)["superseded_at"].is_not_null().all()  # kept, not deleted
