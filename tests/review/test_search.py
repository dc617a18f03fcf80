"""History search in the store (``review.search``) on SQLite and PostgreSQL: wildcards in the
search text match themselves, case is ignored, only the reviewer's live answers, paging."""

from __future__ import annotations

import uuid

import pytest

from hitl_triage.review.search import like_pattern, search_history
from hitl_triage.store import AnswerError
from tests.store.conftest import make_store  # noqa: F401  (fixture)
from tests.store.support import items


def test_like_pattern_escapes_wildcards():
    assert like_pattern("50%_off") == "%50\\%\\_off%"
    assert like_pattern("a\\b") == "%a\\\\b%"


def test_search_in_the_store(make_store):  # noqa: F811
    store, _config = make_store(gold_rate=0.0)
    store.enqueue(items(4, texts=["Price 50%_OFF", "price 50 off", "a\\b path", "nothing"]))
    store.add_reviewer("ann")
    store.add_reviewer("bob")
    ann = store.reviewer("ann")
    answered = []
    while (task := store.next_task(ann)) is not None:
        answered.append(store.submit(ann, answer_id=str(uuid.uuid4()), task_id=task.task_id, kind="label", label=0).answer_id)
    store.undo(ann, answered[-1])  # "nothing": retracted, so not found
    assert [h.item_id for h in search_history(store, ann, "50%_off").hits] == ["c0000"]
    assert [h.item_id for h in search_history(store, ann, "A\\B").hits] == ["c0002"]
    assert search_history(store, ann, "nothing").total == 0
    assert search_history(store, store.reviewer("bob"), "price").total == 0  # only one's own answers
    page = search_history(store, ann, "c000", limit=2, offset=0)
    assert (page.total, [h.item_id for h in page.hits], page.has_next) == (3, ["c0002", "c0001"], True)
    assert all(h.editable for h in page.hits)
    with pytest.raises(AnswerError, match="search text must have 1-200 characters, got 0"):
        search_history(store, ann, "   ")
    with pytest.raises(AnswerError, match=r"limit must be in \[1, 100\] and offset >= 0, got limit=0"):
        search_history(store, ann, "x", limit=0)
