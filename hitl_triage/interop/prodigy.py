"""Prodigy: the review queue as JSONL tasks for the ``choice`` interface, and answers read
back from Prodigy's annotated records (``prodigy db-out``).

One task per line; the suggestion is preselected in ``accept``, as Prodigy's own correction
recipes do, and shown with its score in ``meta``::

    {"text": "Check out my channel", "options": [{"id": "ham", "text": "ham"},
     {"id": "spam", "text": "spam"}], "accept": ["spam"],
     "meta": {"id": "z13x", "task": "youtube_spam", "score": 0.93, "suggested_by": "end_model",
              "vote link": "spam"},
     "_input_hash": -1397528041, "_task_hash": 1718391227}

An answer is a record with ``"answer": "accept"`` and either exactly one option id in
``accept`` (choice interface) or a ``label`` (classification interface). ``reject`` and
``ignore`` say nothing about the class and give no answer. The reviewer is
``_annotator_id`` (else ``_session_id``); the time is ``_timestamp`` (Unix seconds).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hitl_triage.interop.queue import TEXT, Checker, ForeignAnswers, ReviewQueue

__all__ = ["ANSWERS", "from_prodigy", "to_prodigy"]
ANSWERS = ("accept", "reject", "ignore")


def _hash(*parts: object) -> int:
    """A stable signed 32-bit hash (the width of Prodigy's ``_input_hash``/``_task_hash``)."""
    digest = hashlib.blake2b(json.dumps(parts, ensure_ascii=False).encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "little", signed=True)


def to_prodigy(queue: ReviewQueue, *, label_names: list[str], task: str) -> list[dict[str, Any]]:
    """Prodigy ``choice`` tasks, one per queued item.

    ``_input_hash`` covers the task name, item id and text (two items with the same text stay
    two tasks); ``_task_hash`` adds the options. ``meta`` carries the item id and task (read
    back on import), the suggestion's score and posterior, and each voting source's class
    (``vote <source>``)."""
    options = [{"id": name, "text": name} for name in label_names]
    out = []
    for i, item in enumerate(queue.ids):
        text = queue.texts[i] or ""
        meta: dict[str, Any] = {"id": item, "task": task}
        row: dict[str, Any] = {TEXT: text, "options": options}
        suggestion = queue.suggestion_of(i, label_names)
        if suggestion is not None:
            label, score, by = suggestion
            row["accept"] = [label]
            if score is not None:
                meta["score"] = round(score, 4)
            if by:
                meta["suggested_by"] = by
        meta.update({f"vote {name}": label for name, label in queue.votes_of(i, label_names).items()})
        row["meta"] = meta
        row["_input_hash"] = input_hash = _hash(task, item, text)
        row["_task_hash"] = _hash(input_hash, label_names)
        out.append(row)
    return out


def _label(check: Checker, where: str, row: dict[str, Any]) -> int:
    """The class of an accepted record: its one chosen option, or its ``label``."""
    if "options" in row:
        chosen = row.get("accept")
        if not isinstance(chosen, list) or len(chosen) != 1:
            raise check.error(where, "accept", f"expected exactly one chosen option, got {chosen!r}")
        return check.label(where, "accept", chosen[0])
    if "label" in row:
        return check.label(where, "label", row["label"])
    raise check.error(where, "accept", "an accepted record needs 'options' with one id in 'accept' "
                      "(choice interface) or a 'label' (classification interface)")


def from_prodigy(rows: list[tuple[int, object]], check: Checker, *, default_reviewer: str | None = None) -> ForeignAnswers:
    """Answers from Prodigy's annotated records.

    Args:
        rows: ``(line number, parsed JSON)`` per non-empty line.
        check: validates ids, classes, task and times against the config.
        default_reviewer: the reviewer of records without ``_annotator_id``/``_session_id``.

    Raises:
        InteropError: a line that is not an object, no ``meta.id``, an unknown item or class,
            another task's record, a missing or unknown ``answer``, not exactly one chosen
            option; naming the file, the line and the field.
    """
    out = ForeignAnswers()
    for number, row in rows:
        where = f"line {number}"
        if not isinstance(row, dict):
            raise check.error(where, "record", f"expected a JSON object, got {type(row).__name__}")
        meta = row.get("meta")
        if not isinstance(meta, dict):
            raise check.error(where, "meta", f"expected an object with the item's 'id', got {meta!r}")
        item = check.item(where, "meta.id", meta.get("id"))
        where = f"line {number} (id {item!r})"
        check.same_task(where, "meta.task", meta.get("task"))
        answer = row.get("answer")
        if answer not in ANSWERS:
            raise check.error(where, "answer", f"expected one of {list(ANSWERS)}, got {answer!r} "
                              "(annotated records come from `prodigy db-out DATASET`)")
        if answer != "accept":
            out.skip("rejected" if answer == "reject" else "ignored")
            continue
        label = _label(check, where, row)
        who_field = "_annotator_id" if row.get("_annotator_id") not in (None, "") else "_session_id"
        out.rows.append({"id": item, "label": label,
                         "reviewer": check.reviewer(where, who_field, row.get(who_field), default_reviewer),
                         "answered_at": check.time(where, "_timestamp", row.get("_timestamp"))})
    return out
