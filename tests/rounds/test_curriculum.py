"""The round loop end to end on a small synthetic task: simulation, resume, real reviewers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hitl_triage.answers import AnswerImportError, export_requests, import_answers, load_answers
from hitl_triage.config import load_config
from hitl_triage.curriculum import FINAL_LABELS_FILE, read_record, run_rounds
from hitl_triage.simulate import SimulationError, simulate
from tests.rounds.conftest import make_items, write_task


def test_simulation_beats_random_and_writes_summary(synthetic_task: Path, tmp_path: Path) -> None:
    config = load_config(synthetic_task)
    out = tmp_path / "sim"
    summary = simulate(config, budget=0.15, seed=0, out_dir=out)
    saved = json.loads((out / "summary.json").read_text())
    for key in ("human_share", "trainset_accuracy", "accepted_share", "accepted_accuracy", "rounds", "baselines"):
        assert key in saved
    assert set(saved["baselines"]) == {"no_human", "naive", "random", "supervised"}
    assert summary["human_share"] == pytest.approx(0.15, abs=0.01)
    assert summary["trainset_accuracy"] > summary["baselines"]["random"]["trainset_accuracy"]
    rounds = summary["rounds"]
    assert len(rounds) == 3
    for r in rounds:
        assert {"human_share", "accepted_share", "threshold", "est_accepted_accuracy",
                "true_accepted_accuracy"} <= set(r)
    shares = [r["human_share"] for r in rounds]
    assert shares == sorted(shares, reverse=True)
    assert (out / "accuracy_vs_human_share.png").stat().st_size > 1000
    assert "| round |" in (out / "rounds.md").read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["rounds"]["plot"] == "accuracy_vs_human_share.png" and len(report["rounds"]["rounds"]) == 3
    assert "## rounds" in (out / "report.md").read_text()
    final = pl.read_parquet(out / FINAL_LABELS_FILE)
    assert final.columns == ["id", "label", "label_source", "confidence", "round"]
    assert set(final["label_source"].unique()) <= {"human", "auto", "model"}
    assert (final["label_source"] == "human").sum() == round(0.15 * 300)


def test_resume_after_an_interrupted_round_gives_the_same_result(synthetic_task: Path, tmp_path: Path) -> None:
    config = load_config(synthetic_task)
    gold = pl.read_csv(synthetic_task.parent / "items.csv")["gold"].to_numpy()

    def reviewer(rows: np.ndarray, routes: np.ndarray) -> np.ndarray:
        return gold[rows]

    whole = config.model_copy(update={"run_dir": tmp_path / "whole"})
    run_rounds(whole, reviewer=reviewer)
    parts = config.model_copy(update={"run_dir": tmp_path / "parts"})
    stopped = run_rounds(parts, reviewer=reviewer, max_new_rounds=1)
    assert stopped.status == "stopped"
    # a crash after routing round 1, before its answers: the round is routed, not complete
    crashed = run_rounds(parts, reviewer=None, use_store=False, max_new_rounds=1)
    assert crashed.status == "waiting" and "round 1" in crashed.message
    assert read_record(parts.out_dir, 1)["status"] == "routed"
    before = read_record(parts.out_dir, 0)
    resumed = run_rounds(parts, reviewer=reviewer)
    assert resumed.status == "finished"
    assert read_record(parts.out_dir, 0) == before  # finished rounds are not redone
    a = pl.read_parquet(whole.out_dir / FINAL_LABELS_FILE)
    b = pl.read_parquet(parts.out_dir / FINAL_LABELS_FILE)
    assert a["label"].to_list() == b["label"].to_list()
    assert load_answers(whole.out_dir)["id"].sort().to_list() == load_answers(parts.out_dir)["id"].sort().to_list()


def test_real_reviewers_wait_then_continue_after_import(synthetic_task: Path, tmp_path: Path) -> None:
    config = load_config(synthetic_task)
    first = run_rounds(config, use_store=False)
    assert first.status == "waiting" and "waiting for answers" in first.message
    again = run_rounds(config, use_store=False)
    assert again.status == "waiting" and "0 of" in again.message
    export = tmp_path / "open.csv"
    n = export_requests(config, export)
    assert n == first.records[0]["n_review"] + first.records[0]["n_audit"]
    gold = dict(pl.read_csv(synthetic_task.parent / "items.csv").select("id", "gold").iter_rows())
    rows = pl.read_csv(export).with_columns(
        pl.col("id").replace_strict(gold, return_dtype=pl.Int64).alias("label"),
        pl.lit("alice").alias("reviewer"),
    )
    rows.write_csv(export)
    result = import_answers(config, export)
    assert result.read == result.added == n and result.unrouted == 0
    again = import_answers(config, export)
    assert (again.read, again.added, again.replaced) == (n, 0, 0)  # importing twice adds nothing
    answers = load_answers(config.out_dir)
    assert set(answers["route"].unique()) <= {"review", "audit"} and (answers["round"] == 0).all()
    nxt = run_rounds(config, use_store=False)
    assert nxt.status == "waiting" and "round 1" in nxt.message
    assert read_record(config.out_dir, 0)["status"] == "complete"


def test_import_rejects_bad_rows_naming_file_row_and_field(synthetic_task: Path, tmp_path: Path) -> None:
    config = load_config(synthetic_task)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "item0001", "label": "spam", "reviewer": "bob"}\n{"id": "item0002", "label": "eggs", "reviewer": "bob"}\n')
    with pytest.raises(AnswerImportError, match=r"bad.jsonl: row 2: field 'label': 'eggs' is not a class"):
        import_answers(config, bad)
    bad.write_text('{"id": "nope", "label": 1, "reviewer": "bob"}\n')
    with pytest.raises(AnswerImportError, match=r"row 1: field 'id': 'nope' is not an item"):
        import_answers(config, bad)
    bad.write_text('{"id": "item0001", "label": 1}\n')
    with pytest.raises(AnswerImportError, match=r"row 1: field 'reviewer' is missing"):
        import_answers(config, bad)
    bad.write_text("not json\n")
    with pytest.raises(AnswerImportError, match=r"row 1: not valid JSON"):
        import_answers(config, bad)
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("id,label\nitem0001,1\n")
    with pytest.raises(AnswerImportError, match=r"missing \['reviewer'\]"):
        import_answers(config, csv_file)
    with pytest.raises(AnswerImportError, match=r"expected a .jsonl or .csv file"):
        import_answers(config, tmp_path / "answers.txt")
    with pytest.raises(AnswerImportError, match=r"export writes .jsonl or .csv"):
        export_requests(config, tmp_path / "open.txt")


def test_simulate_without_gold_is_a_clear_error(tmp_path: Path) -> None:
    path = write_task(tmp_path / "nogold", make_items(60), gold=False)
    with pytest.raises(SimulationError, match="gold labels, but none are available"):
        simulate(load_config(path), budget=0.1, seed=0, out_dir=tmp_path / "out")


@pytest.mark.parametrize("budget", [0.0, -0.1, 1.5])
def test_simulate_budget_outside_unit_interval_is_a_clear_error(synthetic_task: Path, tmp_path: Path, budget: float) -> None:
    with pytest.raises(SimulationError, match=r"--budget .* in \(0, 1\]"):
        simulate(load_config(synthetic_task), budget=budget, seed=0, out_dir=tmp_path / "out")


def test_simulate_refuses_an_out_dir_of_another_simulation(synthetic_task: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "simulation.json").write_text(json.dumps({"task": "synthetic", "budget": 0.5, "seed": 3}))
    with pytest.raises(SimulationError, match="holds a simulation with"):
        simulate(load_config(synthetic_task), budget=0.15, seed=0, out_dir=out)


def test_every_source_abstaining_still_runs_and_says_so(tmp_path: Path) -> None:
    path = write_task(tmp_path / "silent", make_items(120, votes=False))
    summary = simulate(load_config(path), budget=0.2, seed=0, out_dir=tmp_path / "out")
    assert summary["accepted_share"] == 0.0
    assert any("every source abstains" in note for note in summary["notes"])
    assert "every source abstains" in summary["threshold_reason"]
    assert summary["human_share"] == pytest.approx(0.2, abs=0.01)
    assert "every source abstains" in (tmp_path / "out" / "rounds.md").read_text()


def test_rounds_stop_once_the_estimated_accuracy_target_is_met(tmp_path: Path) -> None:
    path = write_task(tmp_path / "target", make_items(300), curriculum={"target_accuracy": 0.05})
    summary = simulate(load_config(path), budget=0.15, seed=0, out_dir=tmp_path / "out")
    assert "reached the target 0.05" in summary["stop_reason"]
    assert len(summary["rounds"]) == 1  # round 0 has no audit labels yet; round 1 meets it
    assert summary["human_share"] < 0.15


def test_routing_keeps_the_reasons_and_the_models_guesses(synthetic_task: Path, tmp_path: Path) -> None:
    config = load_config(synthetic_task)
    run_rounds(config, use_store=False)
    routing = pl.read_parquet(config.out_dir / "rounds" / "round_000" / "routing.parquet")
    assert {"sources_for", "sources_against", "label_model_label", "end_model_confidence"} <= set(routing.columns)
    row = routing.row(0, named=True)
    assert set(row["sources_for"]) | set(row["sources_against"]) <= {"v0", "v1", "v2", "v3"}
