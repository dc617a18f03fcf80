"""The round engine: one curriculum round in memory, arrays and frames in, plain values out.

This is the project's Python API for the round loop. It never reads or writes files: the
CLI's run directory (:mod:`hitl_triage.curriculum`) and any notebook use the same calls.

    >>> engine = RoundEngine(n_classes=2)
    >>> X = engine.features(texts, L)                     # once per run
    >>> human = HumanLabels.empty(len(texts))
    >>> result = engine.round(L, X, human, budget=50, random_state=0)
    >>> rows = np.flatnonzero(np.isin(result.route, ["review", "audit"]))
    >>> human = human.add(rows, answers_for(rows), audited=result.route[rows] == "audit")
    >>> final = engine.final(L, X, human)
    >>> final.trainset(ids, texts)                        # a polars frame

Shapes: ``L`` is ``(n, m)`` int8 with ``-1`` = abstain; ``X`` is ``(n, d)`` sparse; every
per-item result is an ``(n,)`` array in the order of ``L``'s rows. The optional ``judge_probs``
is ``(n, k)`` float: the in-round judge's temperature-scaled probabilities, a NaN row where it
was not asked (see :mod:`hitl_triage.judge.inround`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from hitl_triage.confidence import Evidence, evidence_from_arrays, reason_columns
from hitl_triage.config import LabelModelConfig
from hitl_triage.endmodel import build_features
from hitl_triage.errors import HitlTriageError
from hitl_triage.progress import Progress
from hitl_triage.round_settings import ConfidenceConfig, TriageConfig
from hitl_triage.schema import ABSTAIN, LabelSchema
from hitl_triage.triage import (
    ACCEPT,
    AUDIT,
    HUMAN,
    REVIEW,
    accept_cut,
    audit_share,
    draw_audit,
    draw_audit_stratified,
    estimate_figures,
    route_items,
)

MODEL = "model"
NO_VOTES = ("every source abstains on every item: there is no weak evidence, so nothing is "
            "accepted and every item goes to review (unreviewed items keep the end model's guess)")


class EngineError(HitlTriageError):
    """Inputs to the round engine do not fit together (shapes, label ranges)."""


@dataclass(frozen=True)
class HumanLabels:
    """Every human label so far, per item.

    Attributes:
        labels: ``(n,)`` int64 class index, ``-1`` where no human label.
        audited: ``(n,)`` bool, labeled through the uniform audit sample (these certify the
            accept threshold; reviewed items are chosen for being hard and never do).
        by_reviewer: optional ``(n, r)`` float64 label per reviewer (NaN = none), for
            CROWDLAB's annotator columns; None = one column built from ``labels``.
        round: ``(n,)`` int64 round in which the label arrived, ``-1`` where none.
        audit_weight: ``(n,)`` float inverse inclusion probability of each audited item in its
            round's (stratified) audit draw, relative; 1.0 elsewhere. None = uniform audits.
    """

    labels: np.ndarray
    audited: np.ndarray
    by_reviewer: np.ndarray | None = None
    round: np.ndarray | None = None
    audit_weight: np.ndarray | None = None

    @classmethod
    def empty(cls, n: int) -> HumanLabels:
        return cls(labels=np.full(n, -1, dtype=np.int64), audited=np.zeros(n, dtype=bool),
                   round=np.full(n, -1, dtype=np.int64))

    def add(self, rows: np.ndarray, labels: np.ndarray, *, audited: np.ndarray | bool = False,
            round: int = -1, audit_weight: np.ndarray | None = None) -> HumanLabels:
        """A copy with ``labels`` (``(len(rows),)`` class indices, ``-1`` = unanswered) set on
        ``rows``; a later label of an item replaces its earlier one. ``audit_weight``:
        ``(len(rows),)`` inverse inclusion probabilities of the audited ones (None = 1)."""
        rows = np.asarray(rows, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        answered = labels >= 0
        new_labels = self.labels.copy()
        new_audited = self.audited.copy()
        new_round = (self.round if self.round is not None else np.full(self.labels.size, -1)).copy()
        new_labels[rows[answered]] = labels[answered]
        new_audited[rows[answered]] = np.broadcast_to(np.asarray(audited, dtype=bool), rows.shape)[answered]
        first = answered & (new_round[rows] < 0)
        new_round[rows[first]] = round
        weight = None
        if audit_weight is not None or self.audit_weight is not None:
            weight = (self.audit_weight if self.audit_weight is not None else np.ones(self.labels.size)).copy()
            if audit_weight is not None:
                weight[rows[answered]] = np.asarray(audit_weight, dtype=np.float64)[answered]
        return HumanLabels(labels=new_labels, audited=new_audited, by_reviewer=None, round=new_round,
                           audit_weight=weight)

    @property
    def known(self) -> np.ndarray:
        """``(n,)`` bool, items with a human label."""
        return self.labels >= 0

    @property
    def audit_rows(self) -> np.ndarray:
        """Indices of audited items that have a human label."""
        return np.flatnonzero(self.audited & self.known)


@dataclass(frozen=True)
class RoundResult:
    """One round: each item's route, best label, score and reasons, and the round's figures.

    Attributes:
        route: ``(n,)`` str, one of ``accept``, ``review``, ``audit``, ``defer``, ``human``.
        label: ``(n,)`` int64 best label (the human label where known).
        score: ``(n,)`` float in [0, 1], confidence in ``label`` (higher = surer).
        priority: ``(n,)`` float review-queue order (higher first; NaN off the queue).
        evidence: the full :class:`~hitl_triage.confidence.Evidence` behind the labels.
        figures: JSON-ready threshold, shares and estimated accuracies (see
            :func:`hitl_triage.triage.estimate_figures`).
        n_review, n_audit: labels requested this round.
        audit_weight: ``(n,)`` inverse inclusion probability of this round's audit items
            (stratified draw, relative; 1.0 elsewhere), or None for a uniform draw.
    """

    route: np.ndarray
    label: np.ndarray
    score: np.ndarray
    priority: np.ndarray
    evidence: Evidence
    figures: dict[str, Any]
    n_review: int
    n_audit: int
    n_disputed: int
    audit_weight: np.ndarray | None = None

    @property
    def asked(self) -> np.ndarray:
        """Indices of the items sent to humans this round (review and audit)."""
        return np.flatnonzero(np.isin(self.route, [REVIEW, AUDIT]))

    def frame(self, ids: list[str] | pl.Series, L: np.ndarray, names: list[str]) -> pl.DataFrame:
        """Per item: id, route, label, score, value, priority, disputed, the sources for and
        against the label, and the label model's and end model's own guesses."""
        ev = self.evidence
        why = reason_columns(L, names, ev.label)
        return pl.DataFrame({
            "id": pl.Series(ids, dtype=pl.String), "route": self.route.astype(str), "label": ev.label,
            "score": ev.score, "value": ev.value, "priority": self.priority, "disputed": ev.disputed,
        }).hstack(why).with_columns(
            pl.Series("label_model_label", ev.label_model_probs.argmax(axis=1)),
            pl.Series("label_model_confidence", ev.label_model_probs.max(axis=1)),
            pl.Series("end_model_label", ev.end_model_probs.argmax(axis=1)),
            pl.Series("end_model_confidence", ev.end_model_probs.max(axis=1)),
        )


@dataclass(frozen=True)
class FinalLabels:
    """The training set's labels after the last round.

    Attributes:
        label: ``(n,)`` int64 final label per item.
        source: ``(n,)`` str: ``human``, ``auto`` (accepted under the guarantee) or ``model``
            (the best guess, not certified).
        confidence: ``(n,)`` float score of ``label`` (1.0 for human labels).
        round: ``(n,)`` int64 round of the human label, else the number of rounds run.
        figures: the threshold and estimated accuracies behind the accept decision.
    """

    label: np.ndarray
    source: np.ndarray
    confidence: np.ndarray
    round: np.ndarray
    figures: dict[str, Any] = field(default_factory=dict)

    def shares(self) -> dict[str, float]:
        n = max(self.label.size, 1)
        return {name: float((self.source == key).sum() / n)
                for name, key in (("human_share", HUMAN), ("accepted_share", "auto"), ("model_share", MODEL))}

    def trainset(self, ids: list[str] | pl.Series, texts: list[str | None] | pl.Series,
                 label_names: list[str] | None = None) -> pl.DataFrame:
        """The training set: id, text, label (and its name), label_source, confidence, round."""
        frame = pl.DataFrame({
            "id": pl.Series(ids, dtype=pl.String), "text": pl.Series(texts, dtype=pl.String),
            "label": self.label.astype(np.int64), "label_source": self.source.astype(str),
            "confidence": self.confidence.astype(np.float64), "round": self.round.astype(np.int64),
        })
        if label_names is not None:
            frame = frame.with_columns(
                pl.col("label").replace_strict(list(range(len(label_names))), label_names,
                                               return_dtype=pl.String).alias("label_name"))
        return frame


class RoundEngine:
    """The curriculum's rounds over arrays: evidence, calibrated threshold, routes.

    Parameters (stored as given, like scikit-learn's):
        labels: the label schema: a :class:`~hitl_triage.schema.LabelSchema`, the class names
            in index order, or the number of classes ``k`` (names ``class_0`` ...).
        label_model: the label model's settings (``kind``: ``majority``, ``dawid_skene`` or
            ``snorkel``; default majority vote).
        confidence: end-model and CROWDLAB settings (default :class:`ConfidenceConfig`).
        triage: alpha, delta, audit share and the review-batch rules (default
            :class:`TriageConfig`).
    """

    def __init__(
        self,
        labels: LabelSchema | Sequence[str] | int,
        *,
        label_model: LabelModelConfig | None = None,
        confidence: ConfidenceConfig | None = None,
        triage: TriageConfig | None = None,
    ) -> None:
        if isinstance(labels, int):
            labels = [f"class_{i}" for i in range(labels)]
        self.schema = labels if isinstance(labels, LabelSchema) else LabelSchema(labels)
        self.n_classes = self.schema.n_classes
        self.label_model = label_model if label_model is not None else LabelModelConfig(kind="majority")
        self.confidence = confidence if confidence is not None else ConfidenceConfig()
        self.triage = triage if triage is not None else TriageConfig()

    def _check(self, L: np.ndarray, X: Any, human: HumanLabels) -> np.ndarray:
        L = np.asarray(L)
        if L.ndim != 2:
            raise EngineError(f"L must be a 2-D (n_items, n_sources) array, got shape {L.shape}")
        n = L.shape[0]
        if X is not None and X.shape[0] != n:
            raise EngineError(f"X has {X.shape[0]} rows but L has {n}; both need one row per item")
        if human.labels.shape != (n,) or human.audited.shape != (n,):
            raise EngineError(f"human labels must have shape ({n},), got {human.labels.shape}")
        if L.size and (L.min() < ABSTAIN or L.max() >= self.n_classes):
            raise EngineError(f"L holds votes outside {{-1, ..., {self.n_classes - 1}}}: "
                              f"min {int(L.min())}, max {int(L.max())}")
        if (human.labels >= self.n_classes).any():
            raise EngineError(f"a human label is >= n_classes ({self.n_classes})")
        return L.astype(np.int8, copy=False)

    def _check_judge(self, judge_probs: np.ndarray | None, n: int) -> np.ndarray | None:
        if judge_probs is None:
            return None
        P = np.asarray(judge_probs, dtype=np.float64)
        if P.shape != (n, self.n_classes):
            raise EngineError(f"judge_probs must have shape ({n}, {self.n_classes}) (one row per "
                              f"item, one column per class), got {P.shape}")
        asked = ~np.isnan(P).any(axis=1)
        rows = P[asked]
        if rows.size and ((rows < 0).any() or (rows > 1).any()
                          or not np.allclose(rows.sum(axis=1), 1.0, atol=1e-6)):
            bad = int(np.flatnonzero(asked)[np.flatnonzero(
                (rows < 0).any(axis=1) | (rows > 1).any(axis=1)
                | ~np.isclose(rows.sum(axis=1), 1.0, atol=1e-6))[0]])
            raise EngineError(f"judge_probs row {bad}: expected probabilities in [0, 1] summing to "
                              f"1 (or a row of NaN where the judge was not asked), got {P[bad].tolist()}")
        return P if asked.any() else None

    def features(self, texts: list[str | None], L: np.ndarray, *, spacy_pipeline: str = "blank:en",
                 cache_dir: Path | None = None, progress: Progress | None = None) -> sp.csr_matrix:
        """``(n, d)`` sparse end-model features: text features and, if configured, the votes.
        Sentence embeddings (``confidence.features``) are cached by text hash in ``cache_dir``."""
        return build_features(texts, L, settings=self.confidence, n_classes=self.n_classes,
                              spacy_pipeline=spacy_pipeline, cache_dir=cache_dir, progress=progress)

    def evidence(self, L: np.ndarray, X: Any, human: HumanLabels, *, names: list[str] | None = None,
                 random_state: int = 0,
                 judge_probs: np.ndarray | None = None) -> tuple[Evidence, dict[str, Any]]:
        """Every item's blind posterior, best label, score and review value, and the figures
        (threshold from the audit labels, estimated accuracies). ``judge_probs``: the in-round
        judge's ``(n, k)`` probabilities (NaN rows where not asked), features of the stacked
        model whose weight is learned from the human labels."""
        L = self._check(L, X, human)
        judge = self._check_judge(judge_probs, L.shape[0])
        names = names if names is not None else [f"source_{j}" for j in range(L.shape[1])]
        known = human.labels
        ev = evidence_from_arrays(
            L, X, known, names=names, n_classes=self.n_classes, label_model=self.label_model,
            confidence=self.confidence, triage=self.triage, audited=human.audited,
            human=human.by_reviewer, audit_weight=human.audit_weight, judge_probs=judge,
            random_state=random_state,
        )
        t = self.triage
        rows = human.audit_rows
        figures = estimate_figures(guess=ev.guess, guess_score=ev.guess_score, known=known,
                                   audit_rows=rows, disputed=ev.disputed, alpha=t.alpha,
                                   delta=t.delta, start_fraction=t.scan_start_fraction,
                                   audit_weight=None if human.audit_weight is None else human.audit_weight[rows],
                                   n_classes=self.n_classes if t.per_class_thresholds else None)
        figures["posterior"] = ev.chosen
        figures["posterior_reason"] = ev.choice_reason
        figures["label_model"] = ev.label_model
        if ev.label_model_reason:
            figures["label_model_reason"] = ev.label_model_reason
        figures["judge_answered"] = 0 if judge is None else int((~np.isnan(judge).any(axis=1)).sum())
        if not (L != ABSTAIN).any():
            figures.update(threshold=None, accepted_share=0.0, threshold_reason=NO_VOTES)
        figures["source_quality"] = ev.source_quality.to_dicts()
        return ev, figures

    def route(self, ev: Evidence, figures: dict[str, Any], human: HumanLabels, X: Any, *,
              budget: int, random_state: int | np.random.Generator | list[int] = 0) -> RoundResult:
        """Route every item given this round's evidence and a human ``budget`` (labels)."""
        rng = np.random.default_rng(random_state)
        t = self.triage
        unlabeled = ~human.known
        share = audit_share(ev.guess_score, unlabeled & ~ev.disputed, settings=t)
        n_audit = round(share * budget)
        audit_weight = None
        if t.audit_region is None:
            audit = draw_audit(unlabeled, n_audit, rng=rng)
        else:
            audit, weights = draw_audit_stratified(unlabeled, ev.guess_score, ev.disputed, n_audit,
                                                   region_share=t.audit_region,
                                                   low_weight=t.audit_low_weight, rng=rng)
            audit_weight = np.ones(unlabeled.size)
            audit_weight[audit] = weights
        cut = accept_cut(figures, ev.guess)
        routing = route_items(scores=ev.score, value=ev.value, disputed=ev.disputed, known=human.known,
                              audit=audit, threshold=cut, review_budget=budget - audit.size,
                              features=X, max_similarity=t.review_max_similarity)
        return RoundResult(route=routing.route, label=ev.label, score=ev.score, priority=routing.priority,
                           evidence=ev, figures={**figures, "audit_share": share}, n_review=routing.n_review,
                           n_audit=routing.n_audit, n_disputed=routing.n_disputed,
                           audit_weight=audit_weight)

    def round(self, L: np.ndarray, X: Any, human: HumanLabels, *, budget: int,
              names: list[str] | None = None, random_state: int = 0,
              judge_probs: np.ndarray | None = None) -> RoundResult:
        """Evidence and routes of one round (``budget`` human labels to ask for)."""
        ev, figures = self.evidence(L, X, human, names=names, random_state=random_state,
                                    judge_probs=judge_probs)
        return self.route(ev, figures, human, X, budget=budget, random_state=random_state)

    def final(self, L: np.ndarray, X: Any, human: HumanLabels, *, names: list[str] | None = None,
              n_rounds: int = 0, random_state: int = 0, evidence: tuple[Evidence, dict[str, Any]] | None = None,
              judge_probs: np.ndarray | None = None) -> FinalLabels:
        """Final labels: human where known, accepted where the guarantee allows, else the best
        guess (marked ``model``)."""
        ev, figures = evidence if evidence is not None else self.evidence(
            L, X, human, names=names, random_state=random_state, judge_probs=judge_probs)
        return final_labels(ev, figures, human, n_rounds=n_rounds)

    def simulate(self, L: np.ndarray, X: Any, oracle: np.ndarray, *, budget: int,
                 schedule: Sequence[float] = (0.25, 0.2, 0.17, 0.14, 0.12, 0.12),
                 names: list[str] | None = None, random_state: int = 0) -> tuple[FinalLabels, list[RoundResult]]:
        """All rounds with reviewers answered from ``oracle`` (``(n,)`` true labels, ``-1``
        unknown): ``budget`` labels in all, split by ``schedule``. Returns the final labels
        and every round's result. The engine sees an oracle label only when it asks for it."""
        cum = np.round(np.cumsum(schedule) * budget).astype(int)
        caps = np.diff(np.r_[0, cum])
        human = HumanLabels.empty(np.asarray(L).shape[0])
        results = []
        for r, cap in enumerate(caps):
            result = self.round(L, X, human, budget=int(cap), names=names, random_state=random_state + r)
            asked = result.asked
            human = human.add(asked, oracle[asked], audited=result.route[asked] == AUDIT, round=r)
            results.append(result)
        final = self.final(L, X, human, names=names, n_rounds=len(caps), random_state=random_state + len(caps))
        return final, results


def final_labels(ev: Evidence, figures: dict[str, Any], human: HumanLabels, *, n_rounds: int) -> FinalLabels:
    """Turn one round's evidence into the training set's labels (see :class:`FinalLabels`)."""
    known = human.known
    accept = ~known & (ev.score >= accept_cut(figures, ev.guess)) & ~ev.disputed
    source = np.where(known, HUMAN, np.where(accept, "auto", MODEL))
    label_round = np.full(known.size, n_rounds, dtype=np.int64)
    if human.round is not None:
        label_round = np.where(known & (human.round >= 0), human.round, label_round)
    return FinalLabels(label=ev.label.astype(np.int64), source=source, confidence=ev.score.astype(np.float64),
                       round=label_round, figures=figures)


__all__ = ["ACCEPT", "AUDIT", "HUMAN", "REVIEW", "EngineError", "FinalLabels", "HumanLabels",
           "RoundEngine", "RoundResult", "final_labels"]
