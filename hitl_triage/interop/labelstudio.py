"""Label Studio: the review queue as task JSON with predictions, a matching labeling config,
and answers read back from Label Studio's JSON export.

One task per item::

    {"data": {"text": "Check out my channel", "id": "z13x", "task": "youtube_spam",
              "votes": {"link": "spam"}},
     "predictions": [{"model_version": "end_model", "score": 0.93,
                      "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                  "value": {"choices": ["spam"]}}]}]}

An answer is an annotation's ``result`` entry from the ``label`` choices (exactly one choice);
cancelled (skipped) annotations and tasks without annotations give none. The reviewer is the
annotator's e-mail where the export expands ``completed_by``, else ``labelstudio-user-<id>``;
the time is the annotation's ``updated_at`` (else ``created_at``).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from hitl_triage.interop.queue import (
    LABEL,
    TEXT,
    Checker,
    ForeignAnswers,
    ReviewQueue,
    record_where,
)

__all__ = ["from_labelstudio", "labeling_config", "to_labelstudio"]


def labeling_config(label_names: list[str]) -> str:
    """The labeling config (XML) that the exported tasks and predictions match."""
    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in label_names)
    return (f'<View>\n  <Text name="{TEXT}" value="${TEXT}"/>\n'
            f'  <Choices name="{LABEL}" toName="{TEXT}" choice="single">\n'
            f"{choices}\n  </Choices>\n</View>\n")


def _choice(label: str) -> dict[str, Any]:
    return {"from_name": LABEL, "to_name": TEXT, "type": "choices", "value": {"choices": [label]}}


def to_labelstudio(queue: ReviewQueue, *, label_names: list[str], task: str) -> list[dict[str, Any]]:
    """Label Studio tasks, one per queued item: ``data`` (text, item id, task name, the
    sources' votes as ``{source: class name}``) and, where there is a suggestion, one
    prediction (``model_version`` = the posterior that suggested, ``score`` its confidence)."""
    tasks = []
    for i, item in enumerate(queue.ids):
        data: dict[str, Any] = {TEXT: queue.texts[i] or "", "id": item, "task": task,
                                "votes": queue.votes_of(i, label_names)}
        out: dict[str, Any] = {"data": data}
        suggestion = queue.suggestion_of(i, label_names)
        if suggestion is not None:
            label, score, by = suggestion
            prediction: dict[str, Any] = {"model_version": by or "hitl-triage", "result": [_choice(label)]}
            if score is not None:
                prediction["score"] = score
            out["predictions"] = [prediction]
        tasks.append(out)
    return tasks


def _reviewer(check: Checker, where: str, annotation: dict[str, Any], default: str | None) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("username") or (f"labelstudio-user-{who['id']}" if "id" in who else None)
    elif isinstance(who, int) and not isinstance(who, bool):
        who = f"labelstudio-user-{who}"
    return check.reviewer(where, "completed_by", who, default)


def _answer(check: Checker, where: str, annotation: dict[str, Any]) -> int | None:
    """The class of one annotation, None when it holds no ``label`` choice."""
    result = annotation.get("result")
    if not isinstance(result, list):
        raise check.error(where, "result", f"expected a list of results, got {type(result).__name__}")
    ours = [(k, r) for k, r in enumerate(result)
            if isinstance(r, dict) and r.get("from_name") == LABEL and r.get("type") == "choices"]
    if not ours:
        return None
    if len(ours) > 1:
        raise check.error(where, "result", f"{len(ours)} results for the {LABEL!r} choices; expected one")
    k, entry = ours[0]
    value = entry.get("value")
    choices = value.get("choices") if isinstance(value, dict) else None
    path = f"result[{k}].value.choices"
    if not isinstance(choices, list) or len(choices) != 1:
        raise check.error(where, path, f"expected exactly one choice, got {choices!r}")
    return check.label(where, path, choices[0])


def from_labelstudio(tasks: object, check: Checker, *, default_reviewer: str | None = None) -> ForeignAnswers:
    """Answers from Label Studio's JSON export (a list of tasks with ``annotations``).

    Raises:
        InteropError: not a list of tasks, a task without ``data.id``, an unknown item id or
            class, another task's record, more than one choice, a bad time; naming the file,
            the record (1-based) and the field.
    """
    if not isinstance(tasks, list):
        raise check.error("top level", "tasks", f"expected a JSON list of tasks (Label Studio's JSON export), "
                          f"got {type(tasks).__name__}")
    out = ForeignAnswers()
    for n, task in enumerate(tasks, start=1):
        if not isinstance(task, dict):
            raise check.error(record_where(n), "task", f"expected a JSON object, got {type(task).__name__}")
        data = task.get("data")
        if not isinstance(data, dict):
            raise check.error(record_where(n), "data", f"expected an object with the task's data, got {data!r}")
        where = record_where(n, data.get("id"))
        item = check.item(where, "data.id", data.get("id"))
        check.same_task(where, "data.task", data.get("task"))
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise check.error(where, "annotations", f"expected a list, got {type(annotations).__name__}")
        if not annotations:
            out.skip("not annotated")
        for j, annotation in enumerate(annotations):
            at = f"{where}, annotations[{j}]"
            if not isinstance(annotation, dict):
                raise check.error(at, "annotation", f"expected a JSON object, got {type(annotation).__name__}")
            if annotation.get("was_cancelled"):
                out.skip("cancelled")
                continue
            label = _answer(check, at, annotation)
            if label is None:
                out.skip("no choice")
                continue
            stamp_field = "updated_at" if annotation.get("updated_at") is not None else "created_at"
            out.rows.append({"id": item, "label": label,
                             "reviewer": _reviewer(check, at, annotation, default_reviewer),
                             "answered_at": check.time(at, stamp_field, annotation.get(stamp_field))})
    return out
