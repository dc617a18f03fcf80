"""`answers import` refuses another task's file, holds back answers for items no round routed,
and lets a reviewer's later answer replace their earlier one (issue 8, case 9)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from hitl_triage.answers import AnswerImportError, import_answers, known_labels, load_answers
from hitl_triage.cli import app
from hitl_triage.config import TaskConfig, load_config
from hitl_triage.curriculum import read_routing, run_rounds


def _routed(config: TaskConfig) -> list[str]:
    routing = read_routing(config.out_dir, 0)
    return routing.filter(pl.col("route").is_in(["review", "audit"]))["id"].to_list()


def _unrouted(config: TaskConfig) -> list[str]:
    routing = read_routing(config.out_dir, 0)
    return routing.filter(~pl.col("route").is_in(["review", "audit"]))["id"].to_list()


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def routed_task(synthetic_task: Path) -> TaskConfig:
    config = load_config(synthetic_task)
    assert run_rounds(config, use_store=False).status == "waiting"
    return config


def test_a_file_of_another_task_is_refused_and_nothing_is_written(routed_task: TaskConfig, tmp_path: Path) -> None:
    item = _routed(routed_task)[0]
    path = tmp_path / "other.csv"
    path.write_text(f"id,label,reviewer,task\n{item},spam,alice,synthetic\n{item},ham,bob,sms_spam\n")
    with pytest.raises(AnswerImportError, match=r"other.csv: row 3: field 'task': 'sms_spam' is another task's answers; "
                                                 r"this config's task is 'synthetic'"):
        import_answers(routed_task, path)
    assert load_answers(routed_task.out_dir).is_empty()
    same = _jsonl(tmp_path / "same.jsonl", [{"id": item, "label": "spam", "reviewer": "alice", "task": "synthetic"}])
    import_answers(routed_task, same)  # a task column naming this task is fine
    assert load_answers(routed_task.out_dir)["id"].to_list() == [item]


def test_answers_for_unrouted_items_are_counted_and_need_the_flag(routed_task: TaskConfig, tmp_path: Path) -> None:
    routed, unrouted = _routed(routed_task)[:3], _unrouted(routed_task)[:2]
    path = _jsonl(tmp_path / "a.jsonl", [{"id": i, "label": 1, "reviewer": "alice"} for i in routed + unrouted])
    result = import_answers(routed_task, path)
    assert set(load_answers(routed_task.out_dir)["id"]) == set(routed)
    assert (result.read, result.added, result.unrouted, result.unrouted_added) == (5, 3, 2, False)
    assert result.unrouted_examples == unrouted
    forced = import_answers(routed_task, path, allow_unrouted=True)
    assert (forced.added, forced.unrouted, forced.unrouted_added) == (2, 2, True)
    answers = load_answers(routed_task.out_dir)
    assert set(answers["id"]) == set(routed + unrouted)
    assert set(answers.filter(pl.col("id").is_in(unrouted))["route"]) == {"import"}


def test_a_reviewers_later_answer_replaces_the_earlier_one(routed_task: TaskConfig, tmp_path: Path) -> None:
    x, y = _routed(routed_task)[:2]
    ids = [x, y]
    # in one file: alice says spam, then changes her mind to ham; bob says spam
    first = _jsonl(tmp_path / "1.jsonl", [{"id": x, "label": "spam", "reviewer": "alice"},
                                           {"id": y, "label": "ham", "reviewer": "alice"},
                                           {"id": x, "label": "ham", "reviewer": "alice"}])
    result = import_answers(routed_task, first)
    live = load_answers(routed_task.out_dir)
    assert live.filter(pl.col("id") == x).select("reviewer", "label").rows() == [("alice", 0)]
    assert (result.read, result.added, result.replaced) == (3, 2, 1)
    # a later import: alice goes back to spam on x, and two of three say spam
    second = _jsonl(tmp_path / "2.jsonl", [{"id": x, "label": "spam", "reviewer": "alice"},
                                            {"id": x, "label": "spam", "reviewer": "bob"},
                                            {"id": x, "label": "ham", "reviewer": "carol"}])
    result = import_answers(routed_task, second)
    live = load_answers(routed_task.out_dir)
    assert sorted(live.filter(pl.col("id") == x).select("reviewer", "label").rows()) == [
        ("alice", 1), ("bob", 1), ("carol", 0)]
    assert (result.added, result.replaced) == (3, 1)
    assert known_labels(live, ids).tolist() == [1, 0]
    # nothing is lost: the replaced answers are kept, marked superseded
    history = load_answers(routed_task.out_dir, include_superseded=True)
    assert history.filter(pl.col("superseded_at").is_not_null()).height == 1
    # one reviewer contradicting herself must not outvote another reviewer
    third = _jsonl(tmp_path / "3.jsonl", [{"id": y, "label": "spam", "reviewer": "bob"},
                                           {"id": y, "label": "ham", "reviewer": "alice"}])
    import_answers(routed_task, third)
    import_answers(routed_task, _jsonl(tmp_path / "4.jsonl", [{"id": y, "label": "spam", "reviewer": "alice"}]))
    live = load_answers(routed_task.out_dir).filter(pl.col("id") == y)
    assert sorted(live.select("reviewer", "label").rows()) == [("alice", 1), ("bob", 1)]


def test_the_cli_warns_about_unrouted_answers_and_takes_the_flag(routed_task: TaskConfig, synthetic_task: Path,
                                                                 tmp_path: Path) -> None:
    routed, unrouted = _routed(routed_task)[:2], _unrouted(routed_task)[:1]
    path = _jsonl(tmp_path / "a.jsonl", [{"id": i, "label": 0, "reviewer": "ann"} for i in routed + unrouted])
    runner = CliRunner()
    result = runner.invoke(app, ["answers", "import", str(synthetic_task), str(path)])
    assert result.exit_code == 0, result.output
    assert "1 answers are for items no round sent to review or audit" in result.output
    assert "pass --allow-unrouted" in result.output and "added 2 new" in result.output
    result = runner.invoke(app, ["answers", "import", str(synthetic_task), str(path), "--allow-unrouted"])
    assert result.exit_code == 0, result.output
    assert "added 1 new" in result.output
    other = tmp_path / "other.jsonl"
    _jsonl(other, [{"id": routed[0], "label": 0, "reviewer": "ann", "task": "nope"}])
    result = runner.invoke(app, ["answers", "import", str(synthetic_task), str(other)])
    assert result.exit_code == 1 and "another task's answers" in result.output
