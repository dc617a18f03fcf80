"""Bounds on the accepted error: exact Clopper-Pearson, prediction-powered (PPI++), per class.

The accept threshold of :mod:`hitl_triage.triage` is chosen by a fixed-sequence scan: from the
strictest candidate threshold down, each step tests "the error among items scoring ``>= t`` is
at most ``alpha``" with a one-sided ``1 - delta`` upper bound, and the scan stops at the first
failure. This module holds the upper bounds such a scan can use, and the per-class variant.

- :func:`clopper_pearson_upper` uses the audit labels alone: exact at every sample size.
- :func:`ppi_upper` is the prediction-powered estimate (PPI++, Angelopoulos et al. 2023): the
  model's predicted error over *every* unlabeled item above ``t``, corrected by the audited
  residuals (true error minus predicted error), with the power-tuning weight ``lambda`` chosen
  from the data; its interval is a normal approximation. It is tighter when the predicted
  error tracks the truth and the unlabeled pool is large, but at a few dozen audit labels with
  rare errors the normal approximation can under-cover. ``bench/guarantee_bench.py`` and
  ``tests/rounds/test_guarantee.py`` measure both by Monte-Carlo; the project's default stays
  the exact bound (see ``docs/rounds.md``, "Which bound").
- :func:`per_class_thresholds` runs one scan per predicted class at ``delta / k`` each
  (Bonferroni): every class's accepted error is ``<= alpha`` together with probability
  ``>= 1 - delta``, so the accepted set's error (a mix of the classes') is ``<= alpha`` too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta as beta_dist
from scipy.stats import norm


def clopper_pearson_upper(errors: float, n: float, delta: float) -> float:
    """One-sided ``1 - delta`` Clopper-Pearson upper bound of a binomial error rate.

    ``P(true rate <= bound) >= 1 - delta``. Example: ``clopper_pearson_upper(0, 45, 0.1)``
    is about 0.0499. With ``n == 0`` the bound is 1. Non-integer counts (Kish's effective
    sample size of a weighted audit) are accepted.
    """
    if n <= 0 or errors >= n:
        return 1.0
    return float(beta_dist.ppf(1.0 - delta, errors + 1, n - errors))


def clopper_pearson_lower(errors: float, n: float, delta: float) -> float:
    """One-sided ``1 - delta`` Clopper-Pearson lower bound of a binomial rate (0 if none)."""
    if n <= 0 or errors <= 0:
        return 0.0
    return float(beta_dist.ppf(delta, errors, n - errors + 1))


def min_audit_for(alpha: float, delta: float) -> int:
    """Fewest audit items whose exact bound can pass with zero errors: ``(1-alpha)^n <= delta``."""
    return max(1, math.ceil(math.log(delta) / math.log(1.0 - alpha)))


@dataclass(frozen=True)
class ThresholdResult:
    """The calibrated accept threshold of one round.

    Attributes:
        threshold: accept items with score ``>= threshold``; ``inf`` when nothing is accepted.
        n_audit: audit items available; ``n_covered`` of them score ``>= threshold``.
        errors: audit errors among the covered ones (effective, weighted, with a stratified audit).
        upper_bound: Clopper-Pearson upper bound of the accepted error rate (1.0 if none).
        estimate: ``errors / n_covered`` (None if none covered).
        reason: why nothing is accepted, or ``""``.
    """

    threshold: float
    n_audit: int
    n_covered: int
    errors: float
    upper_bound: float
    estimate: float | None
    reason: str

    @property
    def accepts(self) -> bool:
        return math.isfinite(self.threshold)


def calibrate_threshold(
    scores: np.ndarray, correct: np.ndarray, *, alpha: float, delta: float, start_fraction: float = 0.0,
    weights: np.ndarray | None = None,
) -> ThresholdResult:
    """Choose the loosest threshold whose accepted error is ``<= alpha`` w.p. ``>= 1 - delta``.

    Args:
        scores: ``(n_audit,)`` float blind confidence scores of the audit items (higher = more
            confident).
        correct: ``(n_audit,)`` bool, True where the best-guess label equals the audit label.
        alpha: target error rate among accepted items, in (0, 1).
        delta: allowed probability that the target is missed, in (0, 1).
        start_fraction: the strictest threshold tested covers at least this share of the audit
            items (and at least ``min_audit_for(alpha, delta)``). Fixed before any label is
            seen, so the scan stays valid; it keeps one confident error at the very top from
            blocking every looser threshold.
        weights: ``(n_audit,)`` inverse inclusion probabilities of a stratified audit draw
            (None = uniform: the exact Clopper-Pearson test). With weights the error rate
            above a threshold is the weighted (Hajek) estimate and the bound is
            Clopper-Pearson at Kish's effective sample size ``(sum w)^2 / sum w^2`` (equal
            weights give back the exact test); its validity is checked by Monte-Carlo in
            ``tests/rounds/test_validity.py``.

    Returns:
        :class:`ThresholdResult`. Thresholds only move down when more audit items agree with the
        guess (monotone in the labels).
    """
    scores = np.asarray(scores, dtype=np.float64)
    wrong = ~np.asarray(correct, dtype=bool)
    n = scores.size
    need = min_audit_for(alpha, delta)
    if n < need:
        return ThresholdResult(
            math.inf, n, 0, 0, 1.0, None,
            f"too few audit labels: {n}, but at least {need} are needed before anything can be "
            f"accepted with error <= {alpha} at confidence {1 - delta:.2f}",
        )
    start = max(need, math.ceil(start_fraction * n))
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    cum_errors = np.cumsum(wrong[order]).astype(np.float64)
    cum_n = np.arange(1, n + 1, dtype=np.float64)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)[order]
        cum_w, cum_w2 = np.cumsum(w), np.cumsum(w * w)
        cum_n = cum_w * cum_w / cum_w2  # Kish's effective sample size of the covered items
        cum_errors = np.cumsum(w * wrong[order]) / cum_w * cum_n
    # candidate cut after position i (0-based) covers every item scoring >= sorted_scores[i];
    # ties are covered together, so only the last position of each run of equal scores counts.
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    cand = np.flatnonzero(last_of_tie & (np.arange(1, n + 1) >= start) & (cum_n >= need))
    errors_at = np.round(cum_errors[cand]) if weights is None else cum_errors[cand]
    n_at = cum_n[cand]
    bounds = np.where(errors_at >= n_at, 1.0,
                      beta_dist.ppf(1.0 - delta, errors_at + 1, np.maximum(n_at - errors_at, 1e-12)))
    failing = np.flatnonzero(bounds > alpha)
    stop = failing[0] if failing.size else cand.size  # fixed sequence: stop at the first failure
    best: tuple[float, int, float, float] | None = None
    first_failure = ""
    if stop > 0:
        i = cand[stop - 1]
        best = (float(sorted_scores[i]), int(i) + 1, float(errors_at[stop - 1]), float(bounds[stop - 1]))
    elif failing.size:
        i = cand[0]
        first_failure = (
            f"the strictest testable threshold ({sorted_scores[i]:.4f}, {int(i) + 1} audit "
            f"items, {errors_at[0]:g} wrong) has an error bound {bounds[0]:.3f} > alpha {alpha}"
        )
    else:
        first_failure = f"no threshold covers at least {start} audit items"
    if best is None:
        return ThresholdResult(math.inf, n, 0, 0, 1.0, None, first_failure)
    threshold, covered, errors, bound = best
    errors = int(errors) if weights is None else errors
    n_eff = covered if weights is None else float(cum_n[covered - 1])
    return ThresholdResult(threshold, n, covered, errors, bound, errors / n_eff, "")


@dataclass(frozen=True)
class PPIEstimate:
    """A prediction-powered estimate of a mean error rate.

    Attributes:
        estimate: ``lambda * mean(predicted, unlabeled) + mean(wrong - lambda * predicted, audit)``.
        upper: its one-sided ``1 - delta`` normal upper bound, clipped to [0, 1].
        lam: the power-tuning weight in [0, 1] (0 = the audit alone, 1 = plain PPI).
        se: the estimate's standard error.
    """

    estimate: float
    upper: float
    lam: float
    se: float


def ppi_upper(wrong: np.ndarray, predicted: np.ndarray, predicted_pool: np.ndarray, *, delta: float,
              lam: float | None = None) -> PPIEstimate:
    """PPI++ upper bound of the error rate of a pool from a small audit and a model's guesses.

    Args:
        wrong: ``(n,)`` bool or {0, 1}, audit items whose guess is wrong.
        predicted: ``(n,)`` float in [0, 1], the model's predicted error of the same items
            (e.g. ``1 - score``), computed blind of their labels.
        predicted_pool: ``(N,)`` float in [0, 1], the predicted error of every pool item the
            bound is about (the unlabeled items above the threshold).
        delta: one-sided miss probability in (0, 1).
        lam: fixed power-tuning weight; None = the variance-minimizing
            ``Cov(wrong, predicted) / ((1 + n / N) Var(predicted))``, clipped to [0, 1].

    Returns:
        :class:`PPIEstimate`. With fewer than two audit items the bound is 1.
    """
    y = np.asarray(wrong, dtype=np.float64)
    f = np.asarray(predicted, dtype=np.float64)
    g = np.asarray(predicted_pool, dtype=np.float64)
    n, big_n = y.size, g.size
    if n < 2 or big_n == 0:
        return PPIEstimate(float(y.mean()) if n else 1.0, 1.0, 0.0, math.inf)
    if lam is None:
        var_f = float(np.var(np.r_[f, g]))
        cov = float(np.cov(y, f, ddof=1)[0, 1]) if n > 1 else 0.0
        lam = 0.0 if var_f <= 0 else float(np.clip(cov / ((1.0 + n / big_n) * var_f), 0.0, 1.0))
    rect = y - lam * f
    estimate = lam * float(g.mean()) + float(rect.mean())
    var = lam * lam * float(np.var(g, ddof=1) if big_n > 1 else 0.0) / big_n + float(np.var(rect, ddof=1)) / n
    se = math.sqrt(max(var, 0.0))
    upper = float(np.clip(estimate + norm.ppf(1.0 - delta) * se, 0.0, 1.0))
    return PPIEstimate(float(estimate), upper, lam, se)


def scan_ppi(scores: np.ndarray, wrong: np.ndarray, pool_scores: np.ndarray, *, alpha: float, delta: float,
             min_audit: int = 10, start_fraction: float = 0.0) -> tuple[float, int, float]:
    """Fixed-sequence scan with the PPI++ bound (:func:`ppi_upper`); predicted error ``1 - score``.

    Vectorized over the candidate thresholds with cumulative sums (the same figures as
    :func:`ppi_upper` on each covered subset).

    Args:
        scores: ``(n,)`` blind scores of the audit items; wrong: ``(n,)`` bool.
        pool_scores: ``(N,)`` scores of the unlabeled items the threshold would accept from.
        min_audit: fewest covered audit items before a threshold is tested.

    Returns:
        ``(threshold, n_covered, upper)``; ``threshold = inf`` when nothing passes.
    """
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    y = np.asarray(wrong, dtype=np.float64)[order]
    f = 1.0 - s
    pool = np.sort(np.asarray(pool_scores, dtype=np.float64))[::-1]
    g = 1.0 - pool
    n_all = s.size
    start = max(min_audit, 2, math.ceil(start_fraction * n_all))
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    cand = np.flatnonzero(last_of_tie & (np.arange(1, n_all + 1) >= start))
    if cand.size == 0:
        return math.inf, 0, 1.0
    n = cand + 1.0
    sy, sf = np.cumsum(y)[cand], np.cumsum(f)[cand]
    syy, sff, syf = np.cumsum(y * y)[cand], np.cumsum(f * f)[cand], np.cumsum(y * f)[cand]
    big_n = np.searchsorted(-pool, -s[cand], side="right").astype(np.float64)  # pool items >= t
    cg, cgg = np.r_[0.0, np.cumsum(g)], np.r_[0.0, np.cumsum(g * g)]
    idx = big_n.astype(np.int64)
    sg, sgg = cg[idx], cgg[idx]
    safe_n = np.maximum(big_n, 1.0)
    total = n + big_n
    mean_fg = (sf + sg) / total
    var_fg = np.maximum((sff + sgg) / total - mean_fg**2, 0.0)
    cov = (syf - sy * sf / n) / (n - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(var_fg > 0, cov / ((1.0 + n / safe_n) * var_fg), 0.0)
    lam = np.where(big_n > 0, np.clip(lam, 0.0, 1.0), 0.0)
    rect_mean = (sy - lam * sf) / n
    var_rect = np.maximum((syy - 2 * lam * syf + lam**2 * sff - n * rect_mean**2) / (n - 1.0), 0.0)
    var_g = np.where(big_n > 1, np.maximum((sgg - sg**2 / safe_n) / np.maximum(big_n - 1.0, 1.0), 0.0), 0.0)
    estimate = lam * sg / safe_n + rect_mean
    se = np.sqrt(lam**2 * var_g / safe_n + var_rect / n)
    upper = np.clip(estimate + norm.ppf(1.0 - delta) * se, 0.0, 1.0)
    failing = np.flatnonzero(upper > alpha)
    stop = failing[0] if failing.size else cand.size
    if stop == 0:
        return math.inf, 0, 1.0
    i = cand[stop - 1]
    return float(s[i]), int(i) + 1, float(upper[stop - 1])


def per_class_thresholds(scores: np.ndarray, correct: np.ndarray, guess: np.ndarray, n_classes: int, *,
                         alpha: float, delta: float, start_fraction: float = 0.0) -> np.ndarray:
    """One accept threshold per predicted class, each scan at ``delta / n_classes``.

    Args:
        scores: ``(n_audit,)`` blind scores; correct: ``(n_audit,)`` bool; guess: ``(n_audit,)``
            int predicted class of each audit item.

    Returns:
        ``(n_classes,)`` float thresholds (``inf``: that class accepts nothing). Accept item
        ``i`` when ``score[i] >= thresholds[guess[i]]``.
    """
    out = np.full(n_classes, math.inf)
    for c in range(n_classes):
        rows = np.flatnonzero(np.asarray(guess) == c)
        result = calibrate_threshold(np.asarray(scores)[rows], np.asarray(correct)[rows], alpha=alpha,
                                     delta=delta / n_classes, start_fraction=start_fraction)
        out[c] = result.threshold
    return out
