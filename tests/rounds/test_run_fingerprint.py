"""A run directory's rounds carry a fingerprint of what shaped them; continuing them with other
settings or data is refused with one line naming the change, and ``--fresh`` starts afresh
removing only what the project wrote (issue 8, case 8)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from hitl_triage.answers import import_answers, load_answers
from hitl_triage.cli import app
from hitl_triage.config import load_config
from hitl_triage.curriculum import read_record, run_rounds
from hitl_triage.errors import HitlTriageError
from hitl_triage.simulate import SimulationError, simulate
from tests.rounds.conftest import make_items, write_task


def _with(config, section: str, **values):
    return config.model_copy(update={section: getattr(config, section).model_copy(update=values)})


@pytest.fixture
def routed(synthetic_task: Path):
    config = load_config(synthetic_task)
    assert run_rounds(config, use_store=False).status == "waiting"
    return config


@pytest.mark.parametrize(("section", "values", "message"), [
    ("triage", {"alpha": 0.1}, r"triage\.alpha 0\.05 → 0\.1"),
    ("curriculum", {"schedule": [0.5, 0.5]}, r"curriculum\.schedule \[0\.45, 0\.33, 0\.22\] → \[0\.5, 0\.5\]"),
    ("curriculum", {"total_budget": 0.3}, r"curriculum\.total_budget 0\.15 → 0\.3"),
    ("label_model", {"kind": "majority"}, r"label_model\.kind \"snorkel\" → \"majority\""),
])
def test_other_round_settings_are_refused_naming_the_change(routed, section, values, message) -> None:
    changed = _with(routed, section, **values)
    with pytest.raises(HitlTriageError, match=message) as info:
        run_rounds(changed, use_store=False)
    assert type(info.value).__name__ == "RunSettingsChangedError"
    text = str(info.value)
    assert "\n" not in text and "--fresh" in text and "another run directory" in text
    assert read_record(routed.out_dir, 0)["status"] == "routed"  # nothing was touched


def test_another_seed_or_changed_data_is_refused(routed, synthetic_task: Path) -> None:
    with pytest.raises(HitlTriageError, match=r"seed 0 → 7"):
        run_rounds(routed.model_copy(update={"seed": 7}), use_store=False)
    items = pl.read_csv(synthetic_task.parent / "items.csv")
    items.with_columns(pl.when(pl.col("id") == "item0003").then(pl.lit("changed text")).otherwise(pl.col("text"))
                       .alias("text")).write_csv(synthetic_task.parent / "items.csv")
    with pytest.raises(HitlTriageError, match=r"dataset texts \"[0-9a-f]+\" → \"[0-9a-f]+\""):
        run_rounds(routed, use_store=False)
    items.with_columns(pl.when(pl.col("id") == "item0003").then(1 - pl.col("v0").clip(0, 1)).otherwise(pl.col("v0"))
                       .alias("v0")).write_csv(synthetic_task.parent / "items.csv")
    with pytest.raises(HitlTriageError, match=r"votes of source 'v0'"):
        run_rounds(routed, use_store=False)


def test_changed_labeling_function_code_is_refused(tmp_path: Path) -> None:
    lf_file = tmp_path / "task" / "lfs.py"
    lf_file.parent.mkdir(parents=True)
    body = ("from snorkel.labeling import labeling_function\n\n"
            "@labeling_function()\ndef money(x):\n    return 1 if 'money' in x.text else -1\n")
    lf_file.write_text(body)
    path = write_task(tmp_path / "task", make_items(200), lfs={"modules": ["lfs.py"]})
    assert run_rounds(load_config(path), use_store=False).status == "waiting"
    lf_file.write_text(body.replace("'money'", "'cash'"))
    with pytest.raises(HitlTriageError, match=r"code of labeling function 'money'"):
        run_rounds(load_config(path), use_store=False)


def test_unchanged_settings_resume_and_stop_rules_may_change(routed) -> None:
    assert (routed.out_dir / "rounds" / "fingerprint.json").is_file()
    again = run_rounds(routed, use_store=False)
    assert again.status == "waiting" and "round 0 waits" in again.message
    looser = _with(routed, "curriculum", min_answered_share=0.5, target_accuracy=0.99)
    assert run_rounds(looser, use_store=False).status == "waiting"


def test_fresh_removes_only_the_rounds_and_keeps_answers_and_user_files(routed, tmp_path: Path) -> None:
    out = routed.out_dir
    routed_ids = pl.read_parquet(out / "rounds" / "round_000" / "routing.parquet").filter(
        pl.col("route").is_in(["review", "audit"]))["id"].to_list()
    answers = tmp_path / "a.jsonl"
    answers.write_text("".join(json.dumps({"id": i, "label": 1, "reviewer": "ann"}) + "\n" for i in routed_ids))
    assert import_answers(routed, answers).added == len(routed_ids)
    (out / "rounds" / "notes.md").write_text("mine")
    (out / "rounds" / "round_000" / "plot.png").write_text("mine too")
    old_record = read_record(out, 0)
    changed = _with(routed, "triage", alpha=0.1)
    result = run_rounds(changed, use_store=False, fresh=True)
    assert result.status == "waiting" and "round 0 routed" in result.message
    assert (out / "rounds" / "notes.md").read_text() == "mine"
    assert (out / "rounds" / "round_000" / "plot.png").read_text() == "mine too"
    assert read_record(out, 0) != old_record
    new_asked = pl.read_parquet(out / "rounds" / "round_000" / "routing.parquet").filter(
        pl.col("route").is_in(["review", "audit"]))["id"].to_list()
    assert new_asked and not set(new_asked) & set(routed_ids)  # answered items are not asked again
    assert set(load_answers(out)["id"]) == set(routed_ids)  # human answers are kept
    fingerprint = json.loads((out / "rounds" / "fingerprint.json").read_text())
    assert fingerprint["triage.alpha"] == 0.1
    assert not list(out.parent.glob("run.*")) and sorted(p.name for p in out.parent.iterdir()) == sorted(
        ["items.csv", "config.yaml", "run"])  # nothing was moved aside


def test_simulate_refuses_other_settings_and_fresh_starts_over(synthetic_task: Path, tmp_path: Path) -> None:
    config = load_config(synthetic_task)
    out = tmp_path / "sim"
    first = simulate(config, budget=0.15, seed=0, out_dir=out)
    with pytest.raises(SimulationError, match=r"budget 0\.15 → 0\.2.*--fresh"):
        simulate(config, budget=0.2, seed=0, out_dir=out)
    other = _with(config, "curriculum", schedule=[0.6, 0.4])
    with pytest.raises(HitlTriageError, match=r"curriculum\.schedule \[0\.45, 0\.33, 0\.22\] → \[0\.6, 0\.4\]"):
        simulate(other, budget=0.15, seed=0, out_dir=out)
    (out / "rounds" / "keep.txt").write_text("mine")
    again = simulate(other, budget=0.15, seed=0, out_dir=out, fresh=True)
    assert len(again["rounds"]) == 2 and len(first["rounds"]) == 3
    assert not (out / "rounds" / "round_002").exists() and (out / "rounds" / "keep.txt").is_file()
    # the fresh simulation's labels are its own: its share of human labels is its budget
    assert again["human_share"] == pytest.approx(0.15, abs=0.01)
    assert load_answers(out).height == round(0.15 * 300)


def test_the_cli_has_fresh_on_run_and_simulate(synthetic_task: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(synthetic_task)])
    assert result.exit_code == 0, result.output
    text = synthetic_task.read_text().replace("audit_fraction: 0.3", "audit_fraction: 0.4")
    synthetic_task.write_text(text)
    result = runner.invoke(app, ["run", str(synthetic_task)])
    assert result.exit_code == 1 and "triage.audit_fraction 0.3 → 0.4" in result.output
    assert "--fresh" in result.output
    result = runner.invoke(app, ["run", str(synthetic_task), "--fresh"])
    assert result.exit_code == 0, result.output
    assert "round 0 routed" in result.output
    out = tmp_path / "sim"
    args = ["simulate", str(synthetic_task), "--budget", "0.15", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, [*args[:3], "0.1", *args[4:]])
    assert result.exit_code == 1 and "budget 0.15 → 0.1" in result.output
    result = runner.invoke(app, [*args[:3], "0.1", *args[4:], "--fresh"])
    assert result.exit_code == 0, result.output
    assert np.isclose(json.loads((out / "summary.json").read_text())["budget"], 0.1)
