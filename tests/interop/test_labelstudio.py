"""Label Studio round trip on a real run of the bundled YouTube task: export the queue as tasks
with predictions, annotate them as Label Studio's JSON export records annotations, import, and
the round loop learns from the labels."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest

from hitl_triage.answers import load_answers
from hitl_triage.config import TaskConfig

from .support import (
    asked_in_round_0,
    assert_round_loop_sees,
    cli,
    not_asked,
    read_json,
    source_votes,
)


def _annotation(label: str, annotator: int | dict, *, cancelled: bool = False, at: str = "2026-01-05T10:00:00.5Z") -> dict:
    """One annotation as Label Studio's JSON export writes it."""
    result = [] if cancelled else [{"id": "aB3dE", "from_name": "label", "to_name": "text", "type": "choices",
                                    "origin": "manual", "value": {"choices": [label]}}]
    return {"id": 1000, "completed_by": annotator, "result": result, "was_cancelled": cancelled,
            "ground_truth": False, "created_at": at, "updated_at": at, "lead_time": 3.1, "task": 1}


def test_export_answer_import_and_the_round_loop_sees_the_labels(
        routed: Callable[..., tuple[Path, TaskConfig]], gold: dict[str, str], tmp_path: Path) -> None:
    config_path, config = routed()
    out = tmp_path / "tasks.json"
    printed = cli("answers", "export", str(config_path), "--format", "labelstudio", "--out", str(out))
    asked = asked_in_round_0(config)
    assert f"wrote {len(asked)} open items" in printed
    tasks = read_json(out)
    assert sorted(t["data"]["id"] for t in tasks) == sorted(asked)
    # the labeling config names the field and the choices the tasks use
    view = ElementTree.fromstring(out.with_suffix(".label_config.xml").read_text())
    assert view.find("Text").attrib == {"name": "text", "value": "$text"}
    choices = view.find("Choices")
    assert choices.attrib["name"] == "label" and choices.attrib["toName"] == "text"
    assert [c.attrib["value"] for c in choices] == config.label_names
    # review items carry the suggestion as a prediction; blind audit items carry none
    with_prediction = [t for t in tasks if "predictions" in t]
    assert with_prediction and len(with_prediction) < len(tasks)
    for task in with_prediction:
        (prediction,) = task["predictions"]
        assert 0.0 <= prediction["score"] <= 1.0 and prediction["model_version"] == "label_model"
        (result,) = prediction["result"]
        assert result["from_name"] == "label" and result["to_name"] == "text" and result["type"] == "choices"
        assert result["value"]["choices"][0] in config.label_names
    # the sources' votes ride along in data (round 0 sends uncovered items to review, so
    # there they are empty); blind audit items show none
    votes = source_votes(config)
    assert all(task["data"]["votes"] == votes[task["data"]["id"]] for task in with_prediction)
    hidden = [task for task in tasks if "predictions" not in task]
    assert not any(task["data"]["votes"] for task in hidden) and any(votes[t["data"]["id"]] for t in hidden)

    # the reviewers annotate in Label Studio; the export adds ids and annotations
    for n, task in enumerate(tasks, start=1):
        task.update(id=n, project=3, inner_id=n)
        task["annotations"] = [_annotation(gold[task["data"]["id"]], 7)]
    tasks[0]["annotations"].append(_annotation("spam", 9, cancelled=True))  # skipped, not a label
    tasks[1]["annotations"].insert(0, _annotation("ham" if gold[tasks[1]["data"]["id"]] == "spam" else "spam",
                                                   {"id": 8, "email": "bea@example.org"}, at="2026-01-05T09:00:00Z"))
    tasks[1]["annotations"].append(_annotation(gold[tasks[1]["data"]["id"]], {"id": 8, "email": "bea@example.org"},
                                               at="2026-01-05T11:00:00Z"))  # bea corrects herself later
    answered = tmp_path / "project-3-at-2026-01-05.json"
    answered.write_text(json.dumps(tasks))
    printed = cli("answers", "import", str(config_path), str(answered), "--format", "labelstudio")
    assert f"read {len(tasks) + 2} answers" in printed and "(no answer in: 1 cancelled)" in printed
    assert "replaced 1 earlier answers" in printed
    live = load_answers(config.out_dir)
    bea = live.filter(live["reviewer"] == "bea@example.org")
    assert bea.height == 1 and config.label_names[bea["label"][0]] == gold[tasks[1]["data"]["id"]]
    assert bea["answered_at"][0].startswith("2026-01-05T11:00:00")
    # importing the same file again adds nothing
    assert "added 0 new" in cli("answers", "import", str(config_path), str(answered), "--format", "labelstudio")
    assert_round_loop_sees(config, {i: gold[i] for i in asked}, {"labelstudio-user-7", "bea@example.org"})


def test_an_unrouted_item_is_warned_about_and_held_back(
        routed: Callable[..., tuple[Path, TaskConfig]], gold: dict[str, str], tmp_path: Path) -> None:
    config_path, config = routed()
    asked, other = asked_in_round_0(config)[0], not_asked(config)[0]
    tasks = [{"id": n, "data": {"text": "", "id": item, "task": config.task},
              "annotations": [_annotation(gold[item], 7)]} for n, item in enumerate([asked, other], start=1)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    printed = cli("answers", "import", str(config_path), str(path), "--format", "labelstudio")
    assert "1 answers are for items no round sent to review or audit" in printed
    assert load_answers(config.out_dir)["id"].to_list() == [asked]


def test_another_tasks_file_is_refused_and_nothing_is_written(
        routed: Callable[..., tuple[Path, TaskConfig]], tmp_path: Path) -> None:
    config_path, config = routed()
    item = asked_in_round_0(config)[0]
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"data": {"id": item, "task": "sms_spam"}, "annotations": [_annotation("spam", 7)]}]))
    printed = cli("answers", "import", str(config_path), str(path), "--format", "labelstudio", code=1)
    assert f"export.json: record 1 (id {item!r}): field 'data.task': 'sms_spam' is another task's record" in printed
    assert load_answers(config.out_dir).is_empty()


@pytest.mark.parametrize("fmt", ["labelstudio", "prodigy", "argilla", "csv"])
def test_export_refuses_a_target_of_the_wrong_kind(routed: Callable[..., tuple[Path, TaskConfig]], tmp_path: Path,
                                                   fmt: str) -> None:
    config_path, _ = routed()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me")
    target = {"labelstudio": "tasks.jsonl", "prodigy": "tasks.json", "argilla": "full", "csv": "x.csv"}[fmt]
    printed = cli("answers", "export", str(config_path), "--format", fmt, "--out", str(tmp_path / target), code=1)
    expected = {"labelstudio": "writes a .json file", "prodigy": "writes a .jsonl file",
                "argilla": "give a new or empty folder", "csv": "unknown format 'csv'"}[fmt]
    assert expected in printed
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep me"


def test_export_replaces_an_earlier_queue_export_but_never_a_file_with_answers(
        routed: Callable[..., tuple[Path, TaskConfig]], tmp_path: Path) -> None:
    config_path, _ = routed()
    for fmt, name in (("labelstudio", "q.json"), ("prodigy", "q.jsonl")):
        out = tmp_path / name
        cli("answers", "export", str(config_path), "--format", fmt, "--out", str(out))
        first = out.read_text()
        cli("answers", "export", str(config_path), "--format", fmt, "--out", str(out))  # replaced: nothing lost
        assert out.read_text() == first
        answered = (json.dumps([{**t, "annotations": [_annotation("spam", 7)]} for t in read_json(out)])
                    if fmt == "labelstudio" else
                    "".join(json.dumps({**json.loads(line), "answer": "accept"}) + "\n" for line in first.splitlines()))
        out.write_text(answered)
        printed = cli("answers", "export", str(config_path), "--format", fmt, "--out", str(out), code=1)
        assert f"{name}: exists and is not an earlier {fmt} queue export (it may hold answers)" in printed
        assert out.read_text() == answered
