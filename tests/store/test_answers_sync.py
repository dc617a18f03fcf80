"""The review store's undo, relabel and adjudication reach the run's answers table: a sync makes
the live ``store`` answers the store's current resolved set (issue 8, case 11)."""

from __future__ import annotations

import polars as pl

from hitl_triage.answers import known_labels, load_answers, replace_store_answers
from hitl_triage.store import open_store
from tests.store.support import items, write_task


def _sync(store, config) -> None:
    replace_store_answers(config.out_dir, store.answers_table(), known_tasks=store.task_keys())


def _live(config) -> list[tuple[str, int, str]]:
    return sorted(load_answers(config.out_dir).select("id", "label", "reviewer").rows())


def test_undo_relabel_and_adjudication_replace_the_synced_answers(make_store):
    store, config = make_store()
    store.enqueue(items(4))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    root = store.reviewer(store.add_reviewer("root", role="admin").reviewer.name)
    answer = {}
    while (task := store.next_task(ann)) is not None:
        store.submit(ann, answer_id=f"a-{task.item_id}", task_id=task.task_id, kind="label", label=0)
        answer[task.item_id] = task.task_id
    _sync(store, config)
    assert _live(config) == [(f"c000{i}", 0, "ann") for i in range(4)]

    store.undo(ann, "a-c0000")  # retracted: the item has no human label any more
    store.edit(ann, answer_id="a-c0001", new_answer_id="a-c0001-2", label=1)  # relabeled from the history
    store.adjudicate(root, task_id=answer["c0002"], label=1)  # an admin's final word
    _sync(store, config)
    assert _live(config) == [("c0001", 1, "ann"), ("c0002", 1, "adjudicated"), ("c0003", 0, "ann")]
    labels = known_labels(load_answers(config.out_dir), ["c0000", "c0001", "c0002", "c0003"])
    assert labels.tolist() == [-1, 1, 1, 0]
    # nothing is lost: the retracted and replaced answers are kept, superseded
    history = load_answers(config.out_dir, include_superseded=True)
    gone = history.filter(pl.col("superseded_at").is_not_null())
    assert sorted(gone.select("id", "label").rows()) == [("c0000", 0), ("c0001", 0), ("c0002", 0)]

    _sync(store, config)  # a second sync with no change in the store changes nothing
    assert load_answers(config.out_dir, include_superseded=True).height == history.height


def test_a_store_that_never_held_the_task_does_not_retract_its_answer(tmp_path, make_store):
    store, config = make_store()
    store.enqueue(items(2))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    while (task := store.next_task(ann)) is not None:
        store.submit(ann, answer_id=f"a-{task.item_id}", task_id=task.task_id, kind="label", label=1)
    _sync(store, config)
    # the same run directory, now pointed at an empty database (moved, or a new server)
    _path, other = write_task(tmp_path / "other", database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with open_store(other) as empty:
        _sync(empty, config)
    assert _live(config) == [("c0000", 1, "ann"), ("c0001", 1, "ann")]
