"""Prodigy round trip on a real run of the bundled YouTube task: export the queue as choice
tasks, answer them as `prodigy db-out` writes annotated records (accept, reject, ignore),
import, and the round loop learns from the accepted choices only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hitl_triage.answers import load_answers
from hitl_triage.config import TaskConfig

from .support import asked_in_round_0, assert_round_loop_sees, cli


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_export_answer_import_and_the_round_loop_sees_the_labels(
        routed: Callable[..., tuple[Path, TaskConfig]], gold: dict[str, str], tmp_path: Path) -> None:
    config_path, config = routed()
    out = tmp_path / "queue.jsonl"
    cli("answers", "export", str(config_path), "--format", "prodigy", "--out", str(out))
    tasks = _lines(out)
    asked = asked_in_round_0(config)
    assert sorted(t["meta"]["id"] for t in tasks) == sorted(asked)
    assert all(t["options"] == [{"id": n, "text": n} for n in config.label_names] for t in tasks)
    assert len({t["_input_hash"] for t in tasks}) == len(tasks)
    assert all(isinstance(t["_task_hash"], int) and -2**31 <= t["_task_hash"] < 2**31 for t in tasks)
    suggested = [t for t in tasks if "accept" in t]
    assert suggested and len(suggested) < len(tasks)  # blind audit items come without a preselection
    assert all(0.0 <= t["meta"]["score"] <= 1.0 and t["meta"]["suggested_by"] == "label_model" for t in suggested)
    assert not any("score" in t["meta"] or any(k.startswith("vote ") for k in t["meta"])
                   for t in tasks if "accept" not in t)
    # the same export answered twice: `prodigy db-out` is deterministic, so the hashes are too
    cli("answers", "export", str(config_path), "--format", "prodigy", "--out", str(tmp_path / "again.jsonl"))
    assert _lines(tmp_path / "again.jsonl") == tasks

    # reviewers answer in Prodigy's choice interface; db-out adds answer, session and time
    answered = []
    for n, task in enumerate(tasks):
        answered.append({**task, "accept": [gold[task["meta"]["id"]]], "answer": "accept", "_view_id": "choice",
                         "_annotator_id": "yt_review-alice", "_session_id": "yt_review-alice",
                         "_timestamp": 1767607200 + n})
    # reject and ignore say nothing about the class: not labels
    answered.append({**tasks[0], "accept": ["spam"], "answer": "reject", "_annotator_id": "yt_review-bob",
                     "_timestamp": 1767607300})
    answered.append({**tasks[1], "accept": [], "answer": "ignore", "_annotator_id": "yt_review-bob",
                     "_timestamp": 1767607301})
    path = _write(tmp_path / "yt_review.jsonl", answered)
    printed = cli("answers", "import", str(config_path), str(path), "--format", "prodigy")
    assert f"read {len(tasks)} answers" in printed and "(no answer in: 1 ignored, 1 rejected)" in printed
    assert load_answers(config.out_dir)["answered_at"].min().startswith("2026-01-05T10:00:00")
    assert_round_loop_sees(config, {i: gold[i] for i in asked}, {"yt_review-alice"})


def test_the_classification_interface_and_a_default_reviewer(
        routed: Callable[..., tuple[Path, TaskConfig]], gold: dict[str, str], tmp_path: Path) -> None:
    config_path, config = routed()
    item = asked_in_round_0(config)[0]
    rows = [{"text": "", "label": gold[item], "answer": "accept", "meta": {"id": item}}]
    path = _write(tmp_path / "binary.jsonl", rows)
    printed = cli("answers", "import", str(config_path), str(path), "--format", "prodigy", code=1)
    assert "binary.jsonl: line 1 (id " in printed and "field '_session_id': no reviewer" in printed
    cli("answers", "import", str(config_path), str(path), "--format", "prodigy", "--reviewer", "carol")
    live = load_answers(config.out_dir)
    assert live.select("id", "reviewer").rows() == [(item, "carol")]
    assert config.label_names[live["label"][0]] == gold[item]
