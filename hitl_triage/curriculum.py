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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hitl_triage import answers as answers_mod
from hitl_triage.confidence import Evidence, RoundInputs, human_columns
from hitl_triage.config import TaskConfig
from hitl_triage.data import load_dataset
from hitl_triage.engine import NO_VOTES, FinalLabels, HumanLabels, RoundEngine, final_labels
from hitl_triage.indexing import row_index
from hitl_triage.judge import task_judgements
from hitl_triage.judge.inround_files import inround_judge, judge_before_round, usage_record
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
from hitl_triage.rundir import check_run_dir, write_frame, write_json
from hitl_triage.store import open_store
from hitl_triage.triage import ACCEPT, AUDIT, HUMAN, REVIEW

__all__ = ["NO_VOTES", "RunResult", "make_engine", "prepare_inputs", "run_rounds"]
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
    dataset = load_dataset(config.dataset, n_classes=config.n_classes, label_names=config.label_names)
    votes = apply_sources(config, dataset, progress=progress)
    save_votes(config.out_dir, dataset.ids, votes.L, votes.names)  # `export` reads the same votes
    return RoundInputs.build(config, dataset, votes.L, votes.names)


def _judge_rationales(config: TaskConfig, ids: list[str]) -> list[str | None]:
    """The judge's one-sentence rationale per item (None where it gave none or did not run)."""
    judged = task_judgements(config, ids)
    return [None] * len(ids) if judged is None else list(judged.rationales)


def _sync_store(config: TaskConfig) -> Any:
    """Open the review store and make the answers table's live ``store`` answers its current
    resolved set: new settled labels come in; undone, relabeled and adjudicated ones are
    superseded (kept, no longer learned from)."""
    store = open_store(config)
    answers_mod.replace_store_answers(config.out_dir, store.answers_table(), known_tasks=store.task_keys())
    return store


def make_engine(config: TaskConfig) -> RoundEngine:
    """The round engine with a task config's settings."""
    return RoundEngine(config.label_names, label_model=config.label_model,
                       confidence=config.confidence, triage=config.triage)


@dataclass
class _Ledger:
    """The run's state in memory: human answers and which rounds asked for which items.

    Loaded once from the run directory when the run starts; updated in memory as rounds route
    and answers arrive; persisted once per round (routing, record, answers).

    Attributes:
        answers: the live answers table (``ANSWER_SCHEMA``).
        known: ``(n,)`` int64 human label per item, ``-1`` none.
        asked_round: ``(n,)`` int64 first round that sent the item to humans, ``-1`` never.
        audit: ``(n,)`` bool, sent to humans through the uniform audit.
    """

    ids: list[str]
    answers: pl.DataFrame
    known: np.ndarray
    asked_round: np.ndarray
    audit: np.ndarray

    @classmethod
    def load(cls, run_dir: Path, ids: list[str], n_rounds: int) -> _Ledger:
        n = len(ids)
        asked_round = np.full(n, -1, dtype=np.int64)
        audit = np.zeros(n, dtype=bool)
        for r in range(n_rounds):  # every routing file is read once per run
            if read_record(run_dir, r) is None:
                continue
            routing = read_routing(run_dir, r).select("id", "route")
            rows = row_index(ids, routing["id"])
            route = routing["route"].to_numpy()
            asked = (rows >= 0) & np.isin(route, [REVIEW, AUDIT])
            first = asked & (asked_round[np.maximum(rows, 0)] < 0)
            asked_round[rows[first]] = r
            audit[rows[asked & (route == AUDIT)]] = True
        ledger = cls(ids, answers_mod.empty_answers(), np.full(n, -1, dtype=np.int64), asked_round, audit)
        ledger.set_answers(answers_mod.load_answers(run_dir))
        return ledger

    def set_answers(self, answers: pl.DataFrame) -> None:
        self.answers = answers
        self.known = answers_mod.known_labels(answers, self.ids)

    def record_routing(self, route: np.ndarray, r: int) -> None:
        asked = np.isin(route, [REVIEW, AUDIT]) & (self.asked_round < 0)
        self.asked_round[asked] = r
        self.audit |= route == AUDIT

    def asked_in(self, r: int) -> np.ndarray:
        return np.flatnonzero(self.asked_round == r)

    def human(self) -> HumanLabels:
        """The engine's view: labels, audit flags (audited = asked through audit and answered),
        per-reviewer columns and the round of each label."""
        by_reviewer = human_columns(self.answers, self.ids)[0] if self.answers.height else None
        label_round = np.full(len(self.ids), -1, dtype=np.int64)
        if self.answers.height:
            first = self.answers.group_by("id").agg(pl.col("round").min())
            rows = row_index(self.ids, first["id"])
            ok = rows >= 0
            label_round[rows[ok]] = first["round"].to_numpy()[ok]
        return HumanLabels(labels=self.known, audited=self.audit & (self.known >= 0),
                           by_reviewer=by_reviewer, round=label_round)

    def spent(self) -> int:
        """Labels spent: items asked for in any round, or answered."""
        return int(((self.asked_round >= 0) | (self.known >= 0)).sum())


def _fields_json(inputs: RoundInputs, rows: np.ndarray) -> pl.Series:
    """The shown fields of ``rows`` as JSON objects (field name -> text or null), or nulls when
    the config lists no fields (the store then shows the text alone)."""
    if inputs.fields is None:
        return pl.Series("fields", [None] * rows.size, dtype=pl.String)
    picked = inputs.fields[rows.tolist()]
    return picked.select(pl.struct(picked.columns).struct.json_encode().alias("fields")).to_series()


def _enqueue(store: Any, inputs: RoundInputs, frame: pl.DataFrame, rows: np.ndarray, r: int,
             rationales: list[str | None], *, suggestion_source: str | None = None) -> None:
    """Send the round's review and audit items (``rows``, in ``frame`` order) to the store,
    each with its text, suggestion, votes (a JSON object: source -> label or null), the
    judge's rationale, the posterior that suggested (``suggestion_source``) and the label
    model's and end model's own guesses."""
    votes = pl.DataFrame({name: inputs.L[rows, j].astype(np.int64) for j, name in enumerate(inputs.names)})
    votes_json = (votes.select(pl.struct([pl.when(pl.col(c) >= 0).then(pl.col(c)).alias(c) for c in votes.columns])
                               .struct.json_encode().alias("votes"))["votes"]
                  if inputs.names else pl.Series("votes", ["{}"] * rows.size, dtype=pl.String))
    asked = frame[rows.tolist()]
    store.enqueue(asked.select(
        "id", "route", pl.lit(r).alias("round"),
        pl.col("priority").fill_nan(0.0).fill_null(0.0),
        pl.col("label").alias("suggested"), pl.col("score").alias("confidence"),
        pl.lit(suggestion_source, dtype=pl.String).alias("suggestion_source"),
        *[pl.col(c) for c in ("label_model_label", "label_model_confidence", "end_model_label",
                              "end_model_confidence") if c in asked.columns],
    ).with_columns(
        pl.Series("text", [inputs.texts[i] for i in rows], dtype=pl.String),
        votes_json.alias("votes"),
        pl.Series("judge_rationale", [rationales[i] for i in rows], dtype=pl.String),
        _fields_json(inputs, rows),
    ))


def _answer_simulated(config: TaskConfig, inputs: RoundInputs, ledger: _Ledger, rows: np.ndarray,
                      route: np.ndarray, r: int, reviewer: Reviewer) -> None:
    """Ask the simulated reviewer about ``rows`` (asked in round ``r``) not answered yet; the
    answers are persisted (under the answers table's lock) and kept in memory."""
    todo = rows[ledger.known[rows] < 0]
    if not todo.size:
        return
    routes = route[todo]
    labels = reviewer(todo, routes)
    answered = labels >= 0
    new = pl.DataFrame({
        "id": pl.Series(inputs.ids, dtype=pl.String)[todo[answered].tolist()],
        "label": labels[answered].astype(np.int64),
        "reviewer": "simulated", "round": r, "route": routes[answered].astype(str),
        "origin": "simulated", "answered_at": answers_mod.now_iso(),
    }, schema_overrides={"round": pl.Int64})
    answers_mod.append_answers(config.out_dir, new)
    ledger.set_answers(answers_mod.load_answers(config.out_dir))


def _round_routes(run_dir: Path, r: int, ids: list[str]) -> np.ndarray:
    """``(n,)`` the routes written for round ``r`` (in item order)."""
    routing = read_routing(run_dir, r).select("id", "route")
    route = np.full(len(ids), "", dtype=object)
    rows = row_index(ids, routing["id"])
    route[rows[rows >= 0]] = routing["route"].to_numpy()[rows >= 0]
    return route.astype(str)


def write_final_labels(run_dir: Path, inputs: RoundInputs, final: FinalLabels) -> Path:
    """``final_labels.parquet``: every item's label and where it came from."""
    frame = pl.DataFrame({
        "id": inputs.ids, "label": final.label, "label_source": final.source.astype(str),
        "confidence": final.confidence, "round": final.round,
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
    check_run_dir(config.out_dir)  # before any LF runs
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
    engine = make_engine(config)
    ledger = _Ledger.load(run_dir, inputs.ids, len(schedule))
    records: list[dict[str, Any]] = []
    new_rounds = 0
    stop_reason = "the schedule's last round is done"
    judge = inround_judge(config, inputs.texts)  # None unless judge.max_requests_per_round is set

    def judge_probs(r: int, human: HumanLabels) -> np.ndarray | None:
        """The in-round judge's answers up to round ``r`` (asking before it if needed)."""
        if judge is None or r == 0:
            return None
        return judge_before_round(judge, run_dir, inputs.ids, r, human,
                                  lambda q: read_routing(run_dir, q))

    for r in range(len(schedule)):
        report(progress, "rounds", r, len(schedule))
        record = read_record(run_dir, r)
        if record is not None and record["status"] == "routed":
            asked = ledger.asked_in(r)
            if reviewer is not None:
                _answer_simulated(config, inputs, ledger, asked, _round_routes(run_dir, r, inputs.ids), r, reviewer)
            done = int((ledger.known[asked] >= 0).sum())
            if reviewer is None and done < config.curriculum.min_answered_share * asked.size:
                message = (f"round {r} waits for answers: {done} of {asked.size} routed items answered "
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
        human = ledger.human()
        ev, figures = engine.evidence(inputs.L, inputs.X, human, names=inputs.names,
                                      random_state=config.seed + r, judge_probs=judge_probs(r, human))
        figures.update(usage_record(judge, r))  # the judging before this round: requests, cost
        spent = ledger.spent()
        remaining = total - spent
        if remaining <= 0:
            stop_reason = f"the total budget ({total} labels) is spent"
            return _finish(config, inputs, ledger, ev, figures, records, stop_reason)
        target = config.curriculum.target_accuracy
        if target is not None and figures["est_trainset_accuracy_low"] >= target:
            stop_reason = f"estimated training-set accuracy reached the target {target}"
            return _finish(config, inputs, ledger, ev, figures, records, stop_reason)
        cap = min(caps[r], remaining)
        result = engine.route(ev, figures, human, inputs.X, budget=cap, random_state=[config.seed, r])
        frame = result.frame(inputs.ids, inputs.L, inputs.names)
        write_frame(round_dir(run_dir, r) / "routing.parquet", frame)
        record = {
            "round": r, "status": "routed", "n_items": n, "cap": cap,
            "n_review": result.n_review, "n_audit": result.n_audit,
            "human_share": (result.n_review + result.n_audit) / n,
            "cumulative_human_share": (spent + result.n_review + result.n_audit) / n,
            "open_share": float(np.isin(result.route, [REVIEW, "defer"]).mean()),
            "accepted_share": float((result.route == ACCEPT).mean()),
            "n_disputed": result.n_disputed, **figures,
        }
        write_json(round_dir(run_dir, r) / "record.json", record)
        ledger.record_routing(result.route, r)
        new_rounds += 1
        if store is not None:
            _enqueue(store, inputs, frame, result.asked, r, _judge_rationales(config, inputs.ids),
                     suggestion_source=figures.get("posterior"))
        if reviewer is None:
            message = (f"round {r} routed {result.n_review} items to review and {result.n_audit} "
                       "to audit; waiting for answers (review app, or `hitl-triage answers export` "
                       "then `answers import`)")
            records.append(record)
            waiting = final_labels(ev, figures, human, n_rounds=r)
            accept = result.route == ACCEPT
            write_final_labels(run_dir, inputs, FinalLabels(
                label=waiting.label, source=np.where(human.known, HUMAN, np.where(accept, "auto", "model")),
                confidence=waiting.confidence, round=np.full(n, r, dtype=np.int64)))
            return RunResult("waiting", message, records, {}, run_dir)
        _answer_simulated(config, inputs, ledger, result.asked, result.route, r, reviewer)
        record["status"] = "complete"
        write_json(round_dir(run_dir, r) / "record.json", record)
        records.append(record)
    human = ledger.human()
    ev, figures = engine.evidence(inputs.L, inputs.X, human, names=inputs.names,
                                  random_state=config.seed + len(schedule),
                                  judge_probs=judge_probs(len(schedule), human))
    figures = {**figures, **usage_record(judge, len(schedule))}
    return _finish(config, inputs, ledger, ev, figures, records, stop_reason)


def _finish(config: TaskConfig, inputs: RoundInputs, ledger: _Ledger, ev: Evidence, figures: dict[str, Any],
            records: list[dict[str, Any]], reason: str) -> RunResult:
    run_dir = config.out_dir
    final = final_labels(ev, figures, ledger.human(), n_rounds=len(records))
    write_final_labels(run_dir, inputs, final)
    shares = final.shares()
    summary = {
        **figures, "stop_reason": reason, "rounds": len(records), **shares,
        "routes": np.where(final.source == "auto", ACCEPT, final.source).tolist(),
    }
    write_json(Path(run_dir) / ROUNDS_DIR / "final.json", {k: v for k, v in summary.items() if k != "routes"})
    write_round_report(run_dir, {
        "task": config.task, "rounds": records, "human_share": shares["human_share"],
        "trainset_accuracy": None, "est_trainset_accuracy": figures.get("est_trainset_accuracy"),
        "accepted_share": shares["accepted_share"], "accepted_accuracy": figures.get("est_accepted_accuracy"),
        "threshold": figures["threshold"], "threshold_reason": figures["threshold_reason"],
        "stop_reason": reason,
    })
    return RunResult("finished", f"finished: {reason}", records, summary, run_dir)
