"""Simulation: the same round loop with reviewers answered from the gold column, scored
against gold and against baselines at the same budget.

Gold labels reach only the simulated reviewer (which answers exactly the items the loop routes
to review or audit) and the scoring after each round; the loop itself never sees them.

``DIR/summary.json`` holds ``human_share``, ``trainset_accuracy`` (every item: human label,
accepted label or best guess), ``accepted_share``, ``accepted_accuracy``, ``rounds`` (per round:
human share, accepted share, threshold, estimated and true accepted accuracy) and
``baselines`` (see :mod:`hitl_triage.evaluation`), plus the report's table and plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hitl_triage.config import TaskConfig
from hitl_triage.curriculum import FINAL_LABELS_FILE, prepare_inputs, read_routing, run_rounds
from hitl_triage.data import load_gold
from hitl_triage.errors import DatasetError, HitlTriageError
from hitl_triage.evaluation import Baselines, accuracy
from hitl_triage.progress import Progress, report
from hitl_triage.round_report import JUDGE_KEYS, write_round_report
from hitl_triage.round_state import describe_changes, mismatch_message
from hitl_triage.rundir import check_run_dir, write_json
from hitl_triage.triage import ACCEPT, HUMAN

SUMMARY_FILE = "summary.json"


class SimulationError(HitlTriageError):
    """A simulation cannot run with the given arguments (budget, gold labels, output folder)."""


def check_budget(budget: float) -> float:
    """Raises SimulationError unless ``0 < budget <= 1``."""
    if not (isinstance(budget, int | float) and 0.0 < float(budget) <= 1.0):
        raise SimulationError(
            f"--budget is the share of items experts may label, in (0, 1]; got {budget!r}"
        )
    return float(budget)


def _gold(config: TaskConfig, ids: list[str]) -> np.ndarray:
    try:
        gold = load_gold(config.dataset, config.label_names, ids)
    except DatasetError as exc:
        raise SimulationError(
            f"simulate answers reviewers from gold labels, but none are available: {exc}. "
            "Set dataset.gold_field to the column of true labels."
        ) from None
    if not (gold >= 0).any():
        raise SimulationError(f"{config.dataset.path}: the gold column has no labels; simulate needs them")
    return gold


def _sim_config(config: TaskConfig, *, budget: float, seed: int, out_dir: Path) -> TaskConfig:
    curriculum = config.curriculum.model_copy(update={"total_budget": budget})
    return config.model_copy(update={"run_dir": Path(out_dir).resolve(), "seed": seed,
                                     "curriculum": curriculum})


def _check_out_dir(out_dir: Path, budget: float, seed: int, task: str, *, fresh: bool) -> None:
    marker = out_dir / "simulation.json"
    wanted = {"task": task, "budget": budget, "seed": seed}
    if marker.is_file() and not fresh:
        import json

        found = json.loads(marker.read_text(encoding="utf-8"))
        changes = describe_changes(found, wanted)
        if changes:
            raise SimulationError(mismatch_message(out_dir, "a simulation", changes))
    write_json(marker, wanted)


def simulate(config: TaskConfig, *, budget: float, seed: int, out_dir: Path, fresh: bool = False,
             progress: Progress | None = None) -> dict[str, Any]:
    """Run the round loop with simulated reviewers; write and return the summary.

    An unchanged simulation resumes where it stopped. ``fresh`` first removes the rounds and
    simulated answers this project wrote in ``out_dir`` (nothing else is touched).

    Raises:
        SimulationError: budget outside (0, 1], no gold labels, or an out dir of a simulation
            with another budget, seed or task.
        RunSettingsChangedError: ``out_dir`` holds rounds made with other settings or data.
    """
    budget = check_budget(budget)
    out_dir = Path(out_dir)
    config = _sim_config(config, budget=budget, seed=seed, out_dir=out_dir)
    check_run_dir(config.out_dir)  # before any LF runs
    inputs = prepare_inputs(config, progress=progress)
    gold = _gold(config, inputs.ids)
    _check_out_dir(out_dir, budget, seed, config.task, fresh=fresh)

    def reviewer(rows: np.ndarray, routes: np.ndarray) -> np.ndarray:
        return gold[rows]

    result = run_rounds(config, reviewer=reviewer, inputs=inputs, fresh=fresh, progress=progress)
    n = len(inputs.ids)
    final = pl.read_parquet(out_dir / FINAL_LABELS_FILE)
    labels = final["label"].to_numpy()
    source = final["label_source"].to_numpy()
    accepted = source == "auto"
    n_human = int((source == HUMAN).sum())
    rounds = []
    for record in result.records:
        routing = read_routing(out_dir, record["round"])
        route = routing["route"].to_numpy()
        guess = routing["label"].to_numpy()
        rounds.append({
            "round": record["round"], "human_share": record["human_share"],
            "cumulative_human_share": record["cumulative_human_share"],
            "accepted_share": record["accepted_share"], "open_share": record["open_share"],
            "threshold": record["threshold"], "threshold_reason": record["threshold_reason"],
            "n_audit_labels": record["n_audit_labels"],
            "est_accepted_accuracy": record["est_accepted_accuracy"],
            "est_accepted_accuracy_low": record["est_accepted_accuracy_low"],
            "est_accepted_accuracy_high": record["est_accepted_accuracy_high"],
            "true_accepted_accuracy": accuracy(guess, gold, route == ACCEPT),
            "est_trainset_accuracy": record["est_trainset_accuracy"],
            "true_trainset_accuracy_before": accuracy(guess, gold),
            **{k: record[k] for k in JUDGE_KEYS if k in record},
        })
    baselines = Baselines(config, inputs, gold, random_state=seed)
    curve_points = sorted({0, *[round(r["cumulative_human_share"] * n) for r in rounds], n_human})
    curves = {}
    for done, share in enumerate(curve_points):
        report(progress, "baselines", done, len(curve_points))
        curves[share] = baselines.score(share)
    report(progress, "baselines", len(curve_points), len(curve_points))
    no_votes = inputs.L.shape[1] == 0 or bool((inputs.L == -1).all())
    summary: dict[str, Any] = {
        "task": config.task, "seed": seed, "budget": budget, "n_items": n,
        "human_share": n_human / n,
        "trainset_accuracy": accuracy(labels, gold),
        "accepted_share": float(accepted.mean()),
        "accepted_accuracy": accuracy(labels, gold, accepted),
        "model_share": float((source == "model").mean()),
        "model_accuracy": accuracy(labels, gold, source == "model"),
        "est_trainset_accuracy": result.final.get("est_trainset_accuracy"),
        "threshold": result.final.get("threshold"),
        "threshold_reason": result.final.get("threshold_reason"),
        "est_accepted_accuracy_low": result.final.get("est_accepted_accuracy_low"),
        "alpha": config.triage.alpha, "delta": config.triage.delta,
        "stop_reason": result.final.get("stop_reason"),
        "rounds": rounds,
        "baselines": curves[n_human],
        "baseline_curves": {str(k): v for k, v in curves.items()},
        "notes": (["every source abstains on every item: nothing can be accepted, every item is a "
                   "review candidate and unlabeled items get the end model's guess"] if no_votes else []),
    }
    write_json(out_dir / SUMMARY_FILE, summary)
    write_round_report(out_dir, summary)
    return summary
