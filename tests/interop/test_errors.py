"""Bad answer files in each tool's format: every error names the file, the record or line and
the field; records that are not answers (cancelled, rejected, ignored, discarded) are counted,
never taken as labels. Pure parsing: no run directory is needed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hitl_triage.interop import Checker, InteropError, build_queue, read_foreign_answers
from hitl_triage.interop.argilla import metadata_name, to_argilla
from hitl_triage.interop.labelstudio import to_labelstudio
from hitl_triage.interop.prodigy import to_prodigy

LABELS = ["ham", "spam"]


def _check(path: Path) -> Checker:
    return Checker(str(path), LABELS, frozenset({"a1", "b2", "c3"}), "yt")


def _ls(path: Path, tasks: object) -> Path:
    path.write_text(json.dumps(tasks))
    return path


def _choice(*labels: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": list(labels)}}]


def _task(item: str, *annotations: dict) -> dict:
    return {"data": {"id": item, "text": "x"}, "annotations": list(annotations)}


def test_labelstudio_unknown_label_names_file_record_and_field(tmp_path: Path) -> None:
    path = _ls(tmp_path / "ls.json", [_task("a1", {"completed_by": 1, "result": _choice("ham")}),
                                      _task("b2", {"completed_by": 1, "result": _choice("Spam!")})])
    with pytest.raises(InteropError, match=re.escape(
            f"{path}: record 2 (id 'b2'), annotations[0]: field 'result[0].value.choices': 'Spam!' is not a "
            "class; expected one of ['ham', 'spam']")):
        read_foreign_answers(path, "labelstudio", _check(path))


def test_labelstudio_unknown_id_and_two_choices_and_bad_json(tmp_path: Path) -> None:
    path = _ls(tmp_path / "ls.json", [_task("zz", {"completed_by": 1, "result": _choice("ham")})])
    with pytest.raises(InteropError, match=re.escape("record 1 (id 'zz'): field 'data.id': 'zz' is not an item")):
        read_foreign_answers(path, "labelstudio", _check(path))
    path = _ls(tmp_path / "two.json", [_task("a1", {"completed_by": 1, "result": _choice("ham", "spam")})])
    with pytest.raises(InteropError, match=r"field 'result\[0\]\.value\.choices': expected exactly one choice"):
        read_foreign_answers(path, "labelstudio", _check(path))
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"data": {"id": "a1"},\n  "annotations": [}\n]')
    with pytest.raises(InteropError, match=re.escape(f"{path}: line 3, column 19: not valid JSON: Expecting value")):
        read_foreign_answers(path, "labelstudio", _check(path))
    path = _ls(tmp_path / "min.json", {"a1": "ham"})
    with pytest.raises(InteropError, match="field 'tasks': expected a JSON list of tasks"):
        read_foreign_answers(path, "labelstudio", _check(path))


def test_labelstudio_cancelled_and_empty_annotations_are_not_labels(tmp_path: Path) -> None:
    path = _ls(tmp_path / "ls.json", [
        _task("a1", {"completed_by": 1, "result": _choice("spam"), "was_cancelled": True},
              {"completed_by": 2, "result": [], "updated_at": "2026-01-01T00:00:00Z"}),
        _task("b2"),
        _task("c3", {"completed_by": {"id": 4, "email": "dee@example.org"}, "result": _choice("ham"),
                     "created_at": "2026-01-02T03:04:05.123+02:00"}),
    ])
    answers = read_foreign_answers(path, "labelstudio", _check(path))
    assert answers.skipped == {"cancelled": 1, "no choice": 1, "not annotated": 1}
    assert answers.frame().rows() == [("c3", 0, "dee@example.org", "2026-01-02T01:04:05.123000+00:00")]


def test_prodigy_bad_json_line_unknown_id_and_bad_answer(tmp_path: Path) -> None:
    good = {"text": "x", "options": [{"id": "ham"}, {"id": "spam"}], "accept": ["spam"], "answer": "accept",
            "meta": {"id": "a1"}, "_annotator_id": "p-ann"}
    path = tmp_path / "db.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + '{"text": "x", "meta": {"id": "b2"\n')
    with pytest.raises(InteropError, match=re.escape(f"{path}: line 3: not valid JSON")):
        read_foreign_answers(path, "prodigy", _check(path))
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "meta": {"id": "nope"}}) + "\n")
    with pytest.raises(InteropError, match=re.escape(f"{path}: line 2: field 'meta.id': 'nope' is not an item")):
        read_foreign_answers(path, "prodigy", _check(path))
    path.write_text(json.dumps({**good, "answer": "maybe"}) + "\n")
    with pytest.raises(InteropError, match=re.escape("line 1 (id 'a1'): field 'answer': expected one of "
                                                     "['accept', 'reject', 'ignore'], got 'maybe'")):
        read_foreign_answers(path, "prodigy", _check(path))
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "answer"}) + "\n")
    with pytest.raises(InteropError, match=r"field 'answer'.*got None.*prodigy db-out"):
        read_foreign_answers(path, "prodigy", _check(path))
    path.write_text(json.dumps({**good, "accept": ["eggs"]}) + "\n")
    with pytest.raises(InteropError, match=re.escape("line 1 (id 'a1'): field 'accept': 'eggs' is not a class")):
        read_foreign_answers(path, "prodigy", _check(path))
    path.write_text(json.dumps({**good, "accept": ["ham", "spam"]}) + "\n")
    with pytest.raises(InteropError, match="field 'accept': expected exactly one chosen option"):
        read_foreign_answers(path, "prodigy", _check(path))
    path.write_text(json.dumps({**good, "meta": {"id": "a1", "task": "other"}}) + "\n")
    with pytest.raises(InteropError, match=re.escape("field 'meta.task': 'other' is another task's record")):
        read_foreign_answers(path, "prodigy", _check(path))


def test_prodigy_reject_and_ignore_are_not_labels(tmp_path: Path) -> None:
    base = {"text": "x", "label": "spam", "meta": {"id": "a1"}, "_session_id": "s-1", "_timestamp": 0}
    path = tmp_path / "db.jsonl"
    path.write_text("".join(json.dumps({**base, "answer": a}) + "\n" for a in ("reject", "ignore", "accept")))
    answers = read_foreign_answers(path, "prodigy", _check(path))
    assert answers.skipped == {"rejected": 1, "ignored": 1}
    assert answers.frame().rows() == [("a1", 1, "s-1", "1970-01-01T00:00:00.000000+00:00")]


def test_argilla_malformed_record_unknown_label_and_id(tmp_path: Path) -> None:
    pytest.importorskip("argilla", reason="the argilla SDK is in the dev and interop extras")
    user = "0b9c3a9e-5ad2-4d2c-9f4c-5f0e8b1c2d3e"
    record = {"id": "a1", "fields": {"text": "x"}, "metadata": {"task": "yt"},
              "responses": {"label": [{"value": "spam", "user_id": user}]}}
    path = tmp_path / "records.json"
    path.write_text(json.dumps([record, {**record, "id": "b2", "responses": {"label": [{"value": "eggs",
                                                                                         "user_id": user}]}}]))
    with pytest.raises(InteropError, match=re.escape(f"{path}: record 2 (id 'b2'): field 'responses.label.value': "
                                                     "'eggs' is not a class")):
        read_foreign_answers(tmp_path, "argilla", _check(tmp_path))
    path.write_text(json.dumps([{**record, "id": "q9"}]))
    with pytest.raises(InteropError, match=re.escape("record 1 (id 'q9'): field 'id': 'q9' is not an item")):
        read_foreign_answers(path, "argilla", _check(path))
    path.write_text(json.dumps([record, {**record, "responses": {"label": [{"value": "ham", "who": "x"}]}}]))
    with pytest.raises(InteropError, match=re.escape("record 2 (id 'a1'): field 'record': Argilla cannot read "
                                                     "this record")):
        read_foreign_answers(path, "argilla", _check(path))
    path.write_text(json.dumps([record, {**record, "responses": ["spam"]}]))
    with pytest.raises(InteropError, match=re.escape("record 2 (id 'a1'): field 'responses': Argilla cannot read")):
        read_foreign_answers(path, "argilla", _check(path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InteropError, match=re.escape("empty: no records.json in this folder")):
        read_foreign_answers(tmp_path / "empty", "argilla", _check(path))


def test_argilla_draft_and_discarded_responses_are_not_labels(tmp_path: Path) -> None:
    pytest.importorskip("argilla", reason="the argilla SDK is in the dev and interop extras")
    users = [str(u) for u in ("0b9c3a9e-5ad2-4d2c-9f4c-5f0e8b1c2d3e", "1b9c3a9e-5ad2-4d2c-9f4c-5f0e8b1c2d3e",
                              "2b9c3a9e-5ad2-4d2c-9f4c-5f0e8b1c2d3e")]
    responses = [{"value": "spam", "user_id": users[0], "status": "draft"},
                 {"value": "ham", "user_id": users[1], "status": "discarded"},
                 {"value": "ham", "user_id": users[2], "status": "submitted"}]
    path = tmp_path / "records.json"
    path.write_text(json.dumps([{"id": "c3", "fields": {"text": "x"}, "responses": {"label": responses}},
                                {"id": "a1", "fields": {"text": "y"}}]))
    answers = read_foreign_answers(path, "argilla", _check(path))
    assert answers.skipped == {"draft": 1, "discarded": 1, "not annotated": 1}
    assert answers.frame().select("id", "label", "reviewer").rows() == [("c3", 0, users[2])]


def _queue():
    requests = pl.DataFrame({
        "id": ["a1", "b2", "c3"], "text": ["buy now", None, "nice song"], "route": ["review", "audit", "review"],
        "round": [0, 0, 1], "priority": [0.9, 0.1, 0.5], "suggested": ["spam", "ham", None],
        "confidence": [0.8, 0.6, None]})
    votes = pl.DataFrame({"id": ["a1", "b2", "c3"], "Link-LF": [1, 0, -1], "judge": [-1, 0, 0]},
                         schema_overrides={"Link-LF": pl.Int8, "judge": pl.Int8})
    return requests, votes


@pytest.mark.parametrize("blind", [True, False])
def test_blind_audit_items_carry_no_evidence_in_any_format(blind: bool) -> None:
    requests, votes = _queue()
    queue = build_queue(requests, votes, label_names=LABELS, suggested_by={0: "end_model", 1: "crowdlab"},
                        blind_audit=blind)
    assert queue.ids[-1] == "c3"  # ordered by round first
    audit = queue.ids.index("b2")
    ls = to_labelstudio(queue, label_names=LABELS, task="yt")
    prodigy = to_prodigy(queue, label_names=LABELS, task="yt")
    assert ("predictions" in ls[audit]) is not blind and ("accept" in prodigy[audit]) is not blind
    assert bool(ls[audit]["data"]["votes"]) is not blind
    review = queue.ids.index("a1")
    assert ls[review]["predictions"] == [{"model_version": "end_model", "score": 0.8, "result": [
        {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["spam"]}}]}]
    assert ls[review]["data"] == {"text": "buy now", "id": "a1", "task": "yt", "votes": {"Link-LF": "spam"}}
    assert prodigy[review]["meta"] == {"id": "a1", "task": "yt", "score": 0.8, "suggested_by": "end_model",
                                       "vote Link-LF": "spam"}
    assert "predictions" not in ls[-1] and ls[-1]["data"]["votes"] == {"judge": "ham"}  # no suggestion
    if blind:
        assert np.all(queue.votes[audit] == -1)


def test_argilla_records_and_settings_from_the_sdk() -> None:
    pytest.importorskip("argilla", reason="the argilla SDK is in the dev and interop extras")
    requests, votes = _queue()
    queue = build_queue(requests, votes, label_names=LABELS, suggested_by={0: "end_model"}, blind_audit=True)
    settings, records = to_argilla(queue, label_names=LABELS, task="yt")
    assert [m.name for m in settings.metadata] == ["task", "vote_link-lf", "vote_judge"]
    assert settings.questions["label"].labels == LABELS
    first = records[queue.ids.index("a1")].to_dict()
    assert first["suggestions"] == {"label": {"value": "spam", "score": 0.8, "agent": "end_model"}}
    assert first["metadata"] == {"task": "yt", "vote_link-lf": "spam"}
    assert metadata_name("Has Space!") == "vote_has_space_"
    clash = pl.DataFrame({"id": ["a1"], "A b": [1], "a_b": [1]}, schema_overrides={"A b": pl.Int8, "a_b": pl.Int8})
    queue = build_queue(requests.head(1), clash, label_names=LABELS, suggested_by={}, blind_audit=True)
    with pytest.raises(InteropError, match="sources 'A b' and 'a_b' both map to the Argilla metadata property 'vote_a_b'"):
        to_argilla(queue, label_names=LABELS, task="yt")
