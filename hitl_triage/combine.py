"""Which posterior labels and scores the items: chosen by the evidence, never worse than the
label model by what the audit labels can tell.

Candidates (each an ``(n, k)`` posterior, blind to an item's own human label):

* ``label_model``: the label model's ``P(y|L)``, the LFs' consensus. The default until enough
  audit labels exist: with hundreds of accurate LFs and a few hundred human labels it knows
  more than anything trained on the human labels alone.
* ``end_model``: the out-of-fold end model (text and one-hot votes, see
  :mod:`hitl_triage.endmodel`).
* ``stacked``: :class:`StackedModel`, a small logistic regression on the *log posteriors* of
  the label model and the end model (``2k`` features), fitted on every human label and
  out-of-fold for them. It can learn "trust the label model, except where the end model is
  sure": few parameters, so a few dozen labels suffice.
* ``stacked_judge`` (with in-round judging, :mod:`hitl_triage.judge.inround`): the stacked
  model with the judge's temperature-scaled log probabilities and an "asked" indicator as
  extra features (:func:`judge_features`; zeros where the judge was not asked). The judge is
  one more source whose weight is learned from the human labels; a per-class weight on the
  indicator absorbs a constant label bias of the judge. It is a separate candidate, so a
  judge that does not help leaves the plain stacked model (and the label model) as they were.

The choice (:func:`select_posterior`) is made on the audit labels (uniform, or stratified
with known inclusion probabilities and weighted by their inverse): the label model stays
unless a challenger beats it, item by item, by more than one standard error of the paired
difference (a sign test; noise among a few dozen audit labels must not throw away the LFs'
consensus); among the challengers that do, the most accurate wins, ties going to the
earlier candidate in the order label model, end model, stacked model. (The stacked model
comes last: its inputs for labeled items are out-of-fold end-model probabilities, for the
others the mean of the fold models, which are smoother; on youtube it tied the end model on
the audit labels and was worse on the rest.) With fewer than ``min_audit`` audit labels it is the label
model.

Selecting with the audit labels and then certifying with them is accounted for by
*out-of-fold selection*: each audit item is judged (right or wrong, and its score) under the
candidate chosen from the *other* audit items (leave-one-out), so an item never vouches for
the choice it helped make. Where the leave-one-out choice equals the full choice (almost
always) this changes nothing; where an item tips the choice, it is judged under the runner-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

CANDIDATES = ("label_model", "end_model", "stacked", "stacked_judge")
LOG_FLOOR_SCALE = -np.log(1e-4)  # log posteriors scaled to [-1, 0]: a well-conditioned fit


class StackedModel:
    """Multinomial logistic regression on log posteriors (scikit-learn-like).

    Parameters:
        n_classes: ``k``.
        C: inverse regularization strength of the logistic regression.
        cv_folds: folds of the out-of-fold predictions of labeled items.
        random_state: seed of the fold split.

    Fitted attributes: ``model_`` (the fitted ``LogisticRegression``, or None when one class
    was seen), ``classes_``.
    """

    def __init__(self, n_classes: int, *, C: float = 1.0, cv_folds: int = 5, random_state: int = 0) -> None:
        self.n_classes = n_classes
        self.C = C
        self.cv_folds = cv_folds
        self.random_state = random_state

    @staticmethod
    def design(posteriors: list[np.ndarray]) -> np.ndarray:
        """``(n, k * len(posteriors))`` log probabilities (clipped at 1e-4)."""
        return np.hstack([np.log(np.clip(p, 1e-4, 1.0)) for p in posteriors])

    def _fit_one(self, Z: np.ndarray, y: np.ndarray) -> LogisticRegression | None:
        if np.unique(y).size < 2:
            return None
        with threadpool_limits(1):
            return LogisticRegression(C=self.C, max_iter=200, tol=1e-3).fit(Z / LOG_FLOOR_SCALE, y)

    def _predict(self, model: LogisticRegression | None, y: np.ndarray, Z: np.ndarray) -> np.ndarray:
        out = np.zeros((Z.shape[0], self.n_classes))
        if model is None:
            out[:, int(y[0])] = 1.0
            return out
        out[:, model.classes_] = model.predict_proba(Z / LOG_FLOOR_SCALE)
        return out

    def fit(self, Z: np.ndarray, y: np.ndarray) -> StackedModel:
        """Fit on ``Z`` (``(n_labeled, d)`` from :meth:`design`) and labels ``y``."""
        self.classes_ = np.unique(y)
        self.y_ = y
        self.model_ = self._fit_one(Z, y)
        return self

    def predict_proba(self, Z: np.ndarray) -> np.ndarray:
        """``(n, k)`` probabilities, rows sum to 1."""
        return self._predict(self.model_, self.y_, Z)

    def out_of_fold(self, Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """``(n, k)``: labeled rows (``labels >= 0``) predicted by fold models that did not see
        them, the others by the model fitted on every label (this object, fitted here)."""
        rows = np.flatnonzero(labels >= 0)
        self.fit(Z[rows], labels[rows])
        probs = self.predict_proba(Z)
        folds = min(self.cv_folds, rows.size)
        if folds >= 2:
            splitter = KFold(folds, shuffle=True, random_state=self.random_state)
            for fit_idx, held_idx in splitter.split(rows):
                y_fit = labels[rows[fit_idx]]
                probs[rows[held_idx]] = self._predict(self._fit_one(Z[rows[fit_idx]], y_fit), y_fit,
                                                      Z[rows[held_idx]])
        probs = np.clip(probs, 1e-6, None)
        return probs / probs.sum(axis=1, keepdims=True)


def judge_features(judge_probs: np.ndarray) -> np.ndarray:
    """``(n, k + 1)`` stacked-model features of the judge, in :meth:`StackedModel.design`'s units.

    Args:
        judge_probs: ``(n, k)`` float, the judge's (temperature-scaled) probabilities, rows
            summing to 1; a row of NaN where the judge was not asked.

    Returns:
        Where asked: the log probabilities (clipped at 1e-4) times ``LOG_FLOOR_SCALE`` (so the
        model, which divides by it, reads plain log probabilities: a judge is one source among
        the label model and the end model, not damped by their scaling) and a last column
        ``-LOG_FLOOR_SCALE`` (-1 after the scaling); zeros elsewhere. Example:
        ``[[0.8, 0.2], [nan, nan]]`` gives ``[[-0.22, -1.61, -1] * 9.21, [0, 0, 0]]``.
    """
    probs = np.asarray(judge_probs, dtype=np.float64)
    asked = ~np.isnan(probs).any(axis=1)
    logs = np.log(np.clip(np.where(asked[:, None], probs, 1.0), 1e-4, 1.0))
    return LOG_FLOOR_SCALE * np.hstack([logs, np.where(asked, -1.0, 0.0)[:, None]])


@dataclass(frozen=True)
class Selection:
    """The chosen posterior and how it was chosen.

    Attributes:
        name: the chosen candidate; probs: its ``(n, k)`` posterior.
        audit_accuracy: per candidate, its (weighted) accuracy on the audit labels.
        audit_rows: ``(n_audit,)`` the audit items judged.
        audit_guess, audit_score: ``(n_audit,)`` each audit item's label and score under the
            candidate chosen without it (leave-one-out); these certify the threshold.
        reason: why this candidate.
    """

    name: str
    probs: np.ndarray
    audit_accuracy: dict[str, float]
    audit_rows: np.ndarray
    audit_guess: np.ndarray
    audit_score: np.ndarray
    reason: str


def select_posterior(candidates: dict[str, np.ndarray], labels: np.ndarray, audit_rows: np.ndarray,
                     *, audit_weight: np.ndarray | None = None, min_audit: int = 20,
                     default: str = "label_model", z: float = 1.0) -> Selection:
    """Choose among ``candidates`` (name -> ``(n, k)`` blind posterior) by audit accuracy.

    Args:
        labels: ``(n,)`` human labels, ``-1`` none.
        audit_rows: indices of audited items with a label.
        audit_weight: ``(n_audit,)`` inverse inclusion probabilities (None = uniform).
        min_audit: below this many audit labels the ``default`` candidate is used.
        z: a challenger replaces the default only if its paired wins minus losses on the audit
            items exceed ``z`` times the square root of their number (a one-sided sign test:
            ``z = 1`` is about 84 %); among those, the most accurate wins.

    Returns:
        :class:`Selection` (see the module doc for the leave-one-out audit judgements).
    """
    names = [c for c in CANDIDATES if c in candidates] + [c for c in candidates if c not in CANDIDATES]
    audit_rows = np.asarray(audit_rows, dtype=np.int64)
    w = np.ones(audit_rows.size) if audit_weight is None else np.asarray(audit_weight, dtype=np.float64)
    y = labels[audit_rows]
    right = np.stack([candidates[c][audit_rows].argmax(axis=1) == y for c in names])  # (c, n_audit)
    totals = (right * w).sum(axis=1)
    acc = {c: float(totals[i] / w.sum()) if w.sum() > 0 else float("nan") for i, c in enumerate(names)}
    i_def = names.index(default)
    if audit_rows.size < min_audit:
        i_full = i_def
        loo = np.full(audit_rows.size, i_full)
        reason = f"{audit_rows.size} audit labels < {min_audit}: the label model by default"
    else:
        # paired evidence against the default: weighted wins minus losses, and their count
        d = (right.astype(np.float64) - right[i_def]) * w[None, :]  # (c, n_audit)
        margin, spread = d.sum(axis=1), np.abs(d).sum(axis=1)
        beats = margin > z * np.sqrt(spread)
        beats[i_def] = True
        i_full = int(np.argmax(np.where(beats, totals, -np.inf) - 1e-9 * np.arange(len(names))))
        loo_beats = (margin[:, None] - d) > z * np.sqrt(np.maximum(spread[:, None] - np.abs(d), 0.0))
        loo_beats[i_def] = True
        loo_totals = totals[:, None] - right * w[None, :]  # (c, n_audit): accuracy without item j
        loo = np.argmax(np.where(loo_beats, loo_totals, -np.inf) - 1e-9 * np.arange(len(names))[:, None], axis=0)
        reason = ("audit accuracy " + ", ".join(f"{c} {acc[c]:.3f}" for c in names)
                  + f"; a challenger must beat {default} by more than {z:g} standard errors of the "
                  "paired difference")
    chosen = names[i_full]
    stack = np.stack([candidates[c][audit_rows] for c in names])  # (c, n_audit, k)
    picked = stack[loo, np.arange(audit_rows.size)]
    return Selection(name=chosen, probs=candidates[chosen], audit_accuracy=acc,
                     audit_rows=audit_rows, audit_guess=picked.argmax(axis=1), audit_score=picked.max(axis=1), reason=reason)
