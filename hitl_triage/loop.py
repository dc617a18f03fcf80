"""The whole round loop in memory: :class:`~hitl_triage.engine.RoundEngine` rounds with a
reviewer callback, the same schedule, budget caps and seeds as the CLI's run directory
(:func:`hitl_triage.curriculum.run_rounds`), but no files.

    >>> result = run_loop(engine, L, X, reviewer=lambda rows, routes: gold[rows],
    ...                   total_budget=0.1, schedule=[0.25, 0.25, 0.25, 0.25], seed=0)
    >>> result.final.label, result.final.source, result.final.figures["trainset_accuracy_ci"]

This is what the benchmark and the property tests run: seconds per run instead of minutes.

With ``judge`` (for example :meth:`hitl_triage.judge.inround.InRoundJudge.between_rounds`) the
judge is asked between rounds, after the round's human answers; what it returns is the next
evidence's ``judge_probs``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hitl_triage.engine import FinalLabels, HumanLabels, RoundEngine, RoundResult, final_labels
from hitl_triage.triage import AUDIT

Reviewer = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(item indices, routes) -> labels`` (same length, int64, ``-1`` = unanswered)."""
JudgeStep = Callable[[int, RoundResult, HumanLabels], "np.ndarray | None"]
"""Between rounds: ``(round just answered, its result, every human label) -> judge_probs``
(``(n, k)``, NaN rows where not asked; None = no judge evidence) for the next evidence."""


@dataclass(frozen=True)
class LoopResult:
    """Final labels and per-round figures of one loop.

    Attributes:
        final: the training set's labels (:class:`~hitl_triage.engine.FinalLabels`).
        human: every human label collected.
        rounds: per round, the figures of the evidence it routed with, plus ``label_before``
            (``(n,)`` the best labels at the start of the round) and the counts asked.
    """

    final: FinalLabels
    human: HumanLabels
    rounds: list[dict[str, Any]] = field(default_factory=list)


def round_caps(total: int, schedule: list[float]) -> list[int]:
    """Per-round label caps from the schedule's shares of ``total`` (cumulative rounding)."""
    cum = np.round(np.cumsum(schedule) * total).astype(int)
    return np.diff(np.r_[0, cum]).tolist()


def run_loop(engine: RoundEngine, L: np.ndarray, X: Any, *, reviewer: Reviewer, total_budget: float,
             schedule: list[float], seed: int = 0, names: list[str] | None = None,
             judge: JudgeStep | None = None) -> LoopResult:
    """Run every round of ``schedule`` with ``reviewer`` answering at once.

    Args:
        L: ``(n, m)`` int8 votes, ``-1`` abstain; X: ``(n, d)`` end-model features.
        total_budget: human labels (review + audit) as a share of the ``n`` items.
        schedule: per round, its share of the total budget.
        seed: as the config's ``seed``: round ``r`` uses ``seed + r`` for the evidence and
            ``[seed, r]`` for its random draws.
        judge: called after each round's answers; its result feeds the next evidence (and
            the final one) as ``judge_probs``.
    """
    n = L.shape[0]
    total = round(total_budget * n)
    caps = round_caps(total, schedule)
    human = HumanLabels.empty(n)
    rounds: list[dict[str, Any]] = []
    judge_probs = None
    for r, cap in enumerate(caps):
        remaining = total - int(human.known.sum())
        if remaining <= 0:
            break
        ev, figures = engine.evidence(L, X, human, names=names, random_state=seed + r,
                                      judge_probs=judge_probs)
        result = engine.route(ev, figures, human, X, budget=min(cap, remaining),
                              random_state=[seed, r])
        rows = result.asked
        answers = np.asarray(reviewer(rows, result.route[rows]), dtype=np.int64)
        human = human.add(rows, answers, audited=result.route[rows] == AUDIT, round=r,
                          audit_weight=result.audit_weight[rows] if result.audit_weight is not None else None)
        rounds.append({**{k: v for k, v in result.figures.items() if k != "source_quality"},
                       "round": r, "label_before": ev.label.copy(), "n_review": result.n_review,
                       "n_audit": result.n_audit})
        if judge is not None:
            judge_probs = judge(r, result, human)
    ev, figures = engine.evidence(L, X, human, names=names, random_state=seed + len(caps),
                                  judge_probs=judge_probs)
    return LoopResult(final=final_labels(ev, figures, human, n_rounds=len(rounds)), human=human,
                      rounds=rounds)
