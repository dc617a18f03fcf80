"""Curriculum rounds: votes → label model → confidence → triage → human labels → feedback.

Each round computes the evidence with every human label so far (they train the end model,
set the label model's class balance, calibrate the threshold on audit items and measure each
source), routes items, and asks for labels. The run directory keeps every round::

    rounds/round_000/routing.parquet   id, route, label, score, value, priority, disputed
    rounds/round_000/record.json       the round's figures and status (routed | complete)
    rounds/final.json                  the last evidence: threshold, shares, stop reason
    rounds/fingerprint.json            what shaped the rounds (see hitl_triage.round_state)
    answers.parquet                    human labels (see hitl_triage.answers)
    final_labels.parquet               id, label, label_source (human|auto|model), confidence, round

A round is ``routed`` once its requests are written and ``complete`` once answered. A rerun
skips complete rounds, so a crash or a stop never redoes finished work. With real reviewers a
run stops after routing and says what it waits for; the next run continues when the answers
are in (from the review store, or ``hitl-triage answers import``). A rerun with other settings
or data is refused (naming what changed) unless the rounds are started afresh (``fresh``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hitl_triage import answers as answers_mod
from hitl_triage.confidence import Evidence, RoundInputs, compute_evidence, reasons
from hitl_triage.config import TaskConfig
from hitl_triage.data import load_dataset
from hitl_triage.judge import task_judgements
from hitl_triage.lf import apply_sources
from hitl_triage.pipeline import save_votes
from hitl_triage.progress import Progress, report
from hitl_triage.round_report import write_round_report
from hitl_triage.round_state import (
    FINAL_LABELS_FILE,
    ROUNDS_DIR,
    check_fingerprint,
    discard_rounds,
    run_fingerprint,
)
from hitl_triage.rundir import write_frame, write_json
from hitl_triage.store import open_store
from hitl_triage.triage import (
    ACCEPT,
    AUDIT,
    HUMAN,
    REVIEW,
    draw_audit,
    estimate_figures,
    route_items,
)

NO_VOTES = ("every source abstains on every item: there is no weak evidence, so nothing is "
            "accepted and every item goes to review (unreviewed items keep the end model's guess)")
Reviewer = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""A simulated reviewer: ``(item indices, routes) -> labels`` (same length, int64)."""


@dataclass
class RunResult:
    """What a call of :func:`run_rounds` did.

    Attributes:
        status: ``finished`` (no more rounds), ``waiting`` (answers are needed first).
        message: what happened, or what the run waits for.
        records: every round's record so far (dicts as in ``record.json``).
        final: the last evidence's figures (as in ``rounds/final.json``).
    """

    status: str
    message: str
    records: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None


def round_dir(run_dir: Path, r: int) -> Path:
    return Path(run_dir) / ROUNDS_DIR / f"round_{r:03d}"


def read_record(run_dir: Path, r: int) -> dict[str, Any] | None:
    path = round_dir(run_dir, r) / "record.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def read_routing(run_dir: Path, r: int) -> pl.DataFrame:
    return pl.read_parquet(round_dir(run_dir, r) / "routing.parquet")


def round_caps(total: int, schedule: list[float]) -> list[int]:
    """Per-round label caps from the schedule's shares of ``total`` (cumulative rounding)."""
    cum = np.round(np.cumsum(schedule) * total).astype(int)
    return np.diff(np.r_[0, cum]).tolist()


def prepare_inputs(config: TaskConfig, *, progress: Progress | None = None) -> RoundInputs:
    """Load the dataset, apply every source (cached) and build the end model's features."""
    dataset = load_dataset(config.dataset, n_classes=config.n_classes)
    votes = apply_sources(config, dataset, progress=progress)
    save_votes(config.out_dir, dataset.ids, votes.L, votes.names)  # `export` reads the same votes
    return RoundInputs.build(config, dataset, votes.L, votes.names)


def _judge_rationales(config: TaskConfig, ids: list[str]) -> list[str | None]:
    """The judge's one-sentence rationale per item (None where it gave none or did not run)."""
    judged = task_judgements(config, ids)
    return [None] * len(ids) if judged is None else list(judged.rationales)


def _routed_ids(run_dir: Path, upto: int, route: str) -> set[str]:
    ids: set[str] = set()
    for r in range(upto):
        if read_record(run_dir, r) is not None:
            frame = read_routing(run_dir, r)
            ids.update(frame.filter(pl.col("route") == route)["id"].to_list())
    return ids


def _sync_store(config: TaskConfig) -> Any:
    """Open the review store and make the answers table's live ``store`` answers its current
    resolved set: new settled labels come in; undone, relabeled and adjudicated ones are
    superseded (kept, no longer learned from)."""
    store = open_store(config)
    answers_mod.replace_store_answers(config.out_dir, store.answers_table(), known_tasks=store.task_keys())
    return store


def _enqueue(store: Any, inputs: RoundInputs, routing: pl.DataFrame, r: int, rationales: list[str | None]) -> None:
    asked = routing.filter(pl.col("route").is_in([REVIEW, AUDIT]))
    index = {item: i for i, item in enumerate(inputs.ids)}
    rows = [index[i] for i in asked["id"].to_list()]
    votes = [json.dumps({name: (int(v) if v >= 0 else None) for name, v in zip(inputs.names, inputs.L[i], strict=True)})
             for i in rows]
    store.enqueue(asked.select(
        "id", "route", pl.lit(r).alias("round"),
        pl.col("priority").fill_nan(0.0).fill_null(0.0),
        pl.col("label").alias("suggested"), pl.col("score").alias("confidence"),
    ).with_columns(
        pl.Series("text", [inputs.texts[i] for i in rows], dtype=pl.String),
        pl.Series("votes", votes, dtype=pl.String),
        pl.Series("judge_rationale", [rationales[i] for i in rows], dtype=pl.String),
    ))


def _answer_simulated(config: TaskConfig, inputs: RoundInputs, routing: pl.DataFrame, r: int, reviewer: Reviewer) -> None:
    known = answers_mod.known_labels(answers_mod.load_answers(config.out_dir), inputs.ids)
    index = {item: i for i, item in enumerate(inputs.ids)}
    asked = routing.filter(pl.col("route").is_in([REVIEW, AUDIT]))
    rows = np.array([index[i] for i in asked["id"].to_list()], dtype=np.int64)
    routes = asked["route"].to_numpy()
    todo = known[rows] < 0 if rows.size else np.zeros(0, bool)
    if not todo.any():
        return
    labels = reviewer(rows[todo], routes[todo])
    answered = labels >= 0
    new = pl.DataFrame({
        "id": [inputs.ids[i] for i in rows[todo][answered]],
        "label": labels[answered].astype(np.int64),
        "reviewer": "simulated", "round": r, "route": routes[todo][answered].tolist(),
        "origin": "simulated", "answered_at": answers_mod.now_iso(),
    }, schema_overrides={"round": pl.Int64})
    answers_mod.append_answers(config.out_dir, new)


def _answered_share(config: TaskConfig, inputs: RoundInputs, routing: pl.DataFrame) -> tuple[int, int]:
    known = answers_mod.known_labels(answers_mod.load_answers(config.out_dir), inputs.ids)
    index = {item: i for i, item in enumerate(inputs.ids)}
    asked = routing.filter(pl.col("route").is_in([REVIEW, AUDIT]))["id"].to_list()
    done = sum(1 for i in asked if known[index[i]] >= 0)
    return done, len(asked)


def _routing_frame(inputs: RoundInputs, ev: Evidence, routes: np.ndarray, priority: np.ndarray) -> pl.DataFrame:
    """Per item: route, best label and score, review value, and the evidence behind them
    (sources for and against the label, the label model's and the end model's own guesses)."""
    why = reasons(inputs.L, inputs.names, ev.label, np.arange(len(inputs.ids)))
    return pl.DataFrame({
        "id": inputs.ids, "route": routes.astype(str), "label": ev.label, "score": ev.score,
        "value": ev.value, "priority": priority, "disputed": ev.disputed,
        "sources_for": [w["for"] for w in why], "sources_against": [w["against"] for w in why],
        "label_model_label": ev.label_model_probs.argmax(axis=1),
        "label_model_confidence": ev.label_model_probs.max(axis=1),
        "end_model_label": ev.end_model_probs.argmax(axis=1),
        "end_model_confidence": ev.end_model_probs.max(axis=1),
    }, schema_overrides={"sources_for": pl.List(pl.String), "sources_against": pl.List(pl.String)})


def _evidence(config: TaskConfig, inputs: RoundInputs, r: int) -> tuple[Evidence, np.ndarray, dict[str, Any]]:
    """Evidence and figures with every answer so far; ``r`` = rounds already routed."""
    answers = answers_mod.load_answers(config.out_dir)
    known = answers_mod.known_labels(answers, inputs.ids)
    audit_ids = _routed_ids(config.out_dir, r, AUDIT)
    audit_rows = np.array([i for i, item in enumerate(inputs.ids) if item in audit_ids and known[i] >= 0],
                          dtype=np.int64)
    audited = np.zeros(len(inputs.ids), dtype=bool)
    audited[audit_rows] = True
    ev = compute_evidence(config, inputs, known, audited=audited, answers=answers,
                          random_state=config.seed + r)
    figures = estimate_figures(guess=ev.guess, guess_score=ev.guess_score, known=known,
                               audit_rows=audit_rows, disputed=ev.disputed,
                               alpha=config.triage.alpha, delta=config.triage.delta,
                               start_fraction=config.triage.scan_start_fraction)
    if not (inputs.L != -1).any():
        figures.update(threshold=None, accepted_share=0.0, threshold_reason=NO_VOTES)
    figures["source_quality"] = ev.source_quality.to_dicts()
    return ev, known, figures


def _threshold(figures: dict[str, Any]) -> float:
    return math.inf if figures["threshold"] is None else float(figures["threshold"])


def write_final_labels(run_dir: Path, inputs: RoundInputs, ev: Evidence, accept: np.ndarray, known: np.ndarray, label_round: np.ndarray) -> Path:
    """``final_labels.parquet``: every item's label and where it came from."""
    source = np.where(known >= 0, "human", np.where(accept, "auto", "model"))
    frame = pl.DataFrame({
        "id": inputs.ids, "label": ev.label.astype(np.int64), "label_source": source,
        "confidence": ev.score.astype(np.float64), "round": label_round.astype(np.int64),
    })
    return write_frame(Path(run_dir) / FINAL_LABELS_FILE, frame)


def run_rounds(
    config: TaskConfig,
    *,
    reviewer: Reviewer | None = None,
    use_store: bool = True,
    inputs: RoundInputs | None = None,
    max_new_rounds: int | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run (or continue) the curriculum until it finishes or needs answers.

    Args:
        config: the task; ``curriculum``, ``triage`` and ``confidence`` sections drive the loop.
        reviewer: a simulated reviewer (answers at once). None: real reviewers, through the
            review store (when ``use_store`` and the store module exist) and answer imports.
        inputs: prebuilt :class:`RoundInputs` (the simulation shares them with baselines).
        max_new_rounds: stop after routing this many new rounds (tests use it to interrupt).
        fresh: first remove the rounds this project wrote in the run directory (see
            :func:`hitl_triage.round_state.discard_rounds`) and the simulated answers; human
            answers (imports, review store) are kept.

    Returns:
        :class:`RunResult`; ``rounds/*``, ``final_labels.parquet`` and ``answers.parquet`` are
        in the run directory.

    Raises:
        RunSettingsChangedError: the run directory holds rounds made with other settings or
            data (and not ``fresh``).
    """
    inputs = inputs or prepare_inputs(config, progress=progress)
    if fresh:
        discard_rounds(config.out_dir)
        answers_mod.drop_origin(config.out_dir, "simulated")
    check_fingerprint(config.out_dir, run_fingerprint(config, inputs))
    store = _sync_store(config) if reviewer is None and use_store else None
    try:
        return _run(config, inputs, reviewer, store, max_new_rounds, progress)
    finally:
        if store is not None:
            store.close()


def _run(config: TaskConfig, inputs: RoundInputs, reviewer: Reviewer | None, store: Any,
         max_new_rounds: int | None, progress: Progress | None) -> RunResult:
    run_dir = config.out_dir
    n = len(inputs.ids)
    schedule = config.curriculum.schedule
    total = round(config.curriculum.total_budget * n)
    caps = round_caps(total, schedule)
    records: list[dict[str, Any]] = []
    new_rounds = 0
    stop_reason = "the schedule's last round is done"
    for r in range(len(schedule)):
        report(progress, "rounds", r, len(schedule))
        record = read_record(run_dir, r)
        if record is not None and record["status"] == "routed":
            routing = read_routing(run_dir, r)
            if reviewer is not None:
                _answer_simulated(config, inputs, routing, r, reviewer)
            done, asked = _answered_share(config, inputs, routing)
            if reviewer is None and done < config.curriculum.min_answered_share * asked:
                message = (f"round {r} waits for answers: {done} of {asked} routed items answered "
                           f"(need {config.curriculum.min_answered_share:.0%}); answer them in the "
                           "review app or with `hitl-triage answers import FILE`, then run again")
                records.append(record)
                return RunResult("waiting", message, records, {}, run_dir)
            record["status"] = "complete"
            record["answered"] = done
            write_json(round_dir(run_dir, r) / "record.json", record)
        if record is not None:
            records.append(record)
            continue
        if max_new_rounds is not None and new_rounds >= max_new_rounds:
            return RunResult("stopped", f"stopped before round {r} (max_new_rounds)", records, {}, run_dir)
        ev, known, figures = _evidence(config, inputs, r)
        asked = _routed_ids(run_dir, r, REVIEW) | _routed_ids(run_dir, r, AUDIT)
        spent = len(asked | {item for item, k in zip(inputs.ids, known, strict=True) if k >= 0})
        remaining = total - spent
        if remaining <= 0:
            stop_reason = f"the total budget ({total} labels) is spent"
            return _finish(config, inputs, ev, known, figures, records, stop_reason)
        target = config.curriculum.target_accuracy
        if target is not None and figures["est_trainset_accuracy_low"] >= target:
            stop_reason = f"estimated training-set accuracy reached the target {target}"
            return _finish(config, inputs, ev, known, figures, records, stop_reason)
        cap = min(caps[r], remaining)
        rng = np.random.default_rng([config.seed, r])
        n_audit = round(config.triage.audit_fraction * cap)
        audit = draw_audit(known < 0, n_audit, rng=rng)
        routing = route_items(scores=ev.score, value=ev.value, disputed=ev.disputed, known=known >= 0,
                              audit=audit, threshold=_threshold(figures), review_budget=cap - audit.size,
                              features=inputs.X, max_similarity=config.triage.review_max_similarity)
        frame = _routing_frame(inputs, ev, routing.route, routing.priority)
        write_frame(round_dir(run_dir, r) / "routing.parquet", frame)
        record = {
            "round": r, "status": "routed", "n_items": n, "cap": cap,
            "n_review": routing.n_review, "n_audit": routing.n_audit,
            "human_share": (routing.n_review + routing.n_audit) / n,
            "cumulative_human_share": (spent + routing.n_review + routing.n_audit) / n,
            "open_share": float(np.isin(routing.route, [REVIEW, "defer"]).mean()),
            "accepted_share": float((routing.route == ACCEPT).mean()),
            "n_disputed": routing.n_disputed, **figures,
        }
        write_json(round_dir(run_dir, r) / "record.json", record)
        new_rounds += 1
        if store is not None:
            _enqueue(store, inputs, frame, r, _judge_rationales(config, inputs.ids))
        if reviewer is None:
            message = (f"round {r} routed {routing.n_review} items to review and {routing.n_audit} "
                       "to audit; waiting for answers (review app, or `hitl-triage answers export` "
                       "then `answers import`)")
            records.append(record)
            write_final_labels(run_dir, inputs, ev, routing.route == ACCEPT, known,
                               np.full(n, r))
            return RunResult("waiting", message, records, {}, run_dir)
        _answer_simulated(config, inputs, frame, r, reviewer)
        record["status"] = "complete"
        write_json(round_dir(run_dir, r) / "record.json", record)
        records.append(record)
    ev, known, figures = _evidence(config, inputs, len(schedule))
    return _finish(config, inputs, ev, known, figures, records, stop_reason)


def _finish(config: TaskConfig, inputs: RoundInputs, ev: Evidence, known: np.ndarray, figures: dict[str, Any],
            records: list[dict[str, Any]], reason: str) -> RunResult:
    run_dir = config.out_dir
    unlabeled = known < 0
    accept = unlabeled & (ev.score >= _threshold(figures)) & ~ev.disputed
    label_round = np.full(len(inputs.ids), len(records))
    answers = answers_mod.load_answers(run_dir)
    if answers.height:
        first = answers.group_by("id").agg(pl.col("round").min())
        rounds = dict(first.iter_rows())
        label_round = np.array([rounds.get(i, len(records)) if k >= 0 else len(records)
                                for i, k in zip(inputs.ids, known, strict=True)])
    write_final_labels(run_dir, inputs, ev, accept, known, label_round)
    n = len(inputs.ids)
    final = {
        **figures, "stop_reason": reason, "rounds": len(records),
        "human_share": float((known >= 0).mean()), "accepted_share": float(accept.sum() / n),
        "model_share": float((unlabeled & ~accept).sum() / n),
        "routes": np.where(known >= 0, HUMAN, np.where(accept, ACCEPT, "model")).tolist(),
    }
    write_json(Path(run_dir) / ROUNDS_DIR / "final.json", {k: v for k, v in final.items() if k != "routes"})
    write_round_report(run_dir, {
        "task": config.task, "rounds": records, "human_share": final["human_share"],
        "trainset_accuracy": None, "est_trainset_accuracy": figures.get("est_trainset_accuracy"),
        "accepted_share": final["accepted_share"], "accepted_accuracy": figures.get("est_accepted_accuracy"),
        "threshold": figures["threshold"], "threshold_reason": figures["threshold_reason"],
        "stop_reason": reason,
    })
    return RunResult("finished", f"finished: {reason}", records, final, run_dir)

