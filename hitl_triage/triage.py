"""Triage: route each item to ``accept``, ``review`` or ``audit`` under a stated guarantee.

The accept threshold is not a magic number. Each round it is chosen from the audit labels so
that the error rate among accepted items is at most ``alpha`` with probability at least
``1 - delta``:

1. Every audit item has a *blind* score (computed as if its own label were unknown, so it is
   exchangeable with the unlabeled items it vouches for) and is either right or wrong.
2. Candidate thresholds are the distinct audit scores, scanned from the strictest down
   (fixed-sequence testing, Learn-then-Test). The scan starts at the strictest threshold that
   keeps at least ``min_audit_for(alpha, delta)`` audit items: fewer could never pass, even
   with no error, and the start depends only on ``alpha`` and ``delta``, never on labels.
3. At each threshold ``t`` the one-sided Clopper-Pearson upper bound of the error rate among
   audit items scoring ``>= t`` is compared with ``alpha``. The scan stops at the first
   failure; the threshold is the last one that passed. No pass means nothing is accepted,
   and the result says why.

Routes (:func:`route_items`): ``audit`` is a uniform random sample of the unlabeled items;
``review`` is the top of the review queue (highest expected value of a label first) cut to the
round's budget; ``accept`` is every other unlabeled item scoring ``>= threshold`` that is not
disputed; ``defer`` is everything else (reviewable later; meanwhile it keeps its best-guess
label). Items already labeled by a human are ``human``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from hitl_triage.guarantee import (  # noqa: F401  (re-exported: the threshold of a round)
    ThresholdResult,
    calibrate_threshold,
    clopper_pearson_lower,
    clopper_pearson_upper,
    min_audit_for,
    per_class_thresholds,
)

ACCEPT, REVIEW, AUDIT, DEFER, HUMAN = "accept", "review", "audit", "defer", "human"
ROUTES = (ACCEPT, REVIEW, AUDIT, DEFER, HUMAN)


@dataclass(frozen=True)
class Routing:
    """Per-item routes of one round.

    Attributes:
        route: ``(n_items,)`` str, one of ``ROUTES``.
        priority: ``(n_items,)`` float, the review queue order (higher first; NaN off-queue).
        n_review, n_audit: labels requested this round.
        n_disputed: unlabeled items that strong sources disagree on (never accepted).
    """

    route: np.ndarray
    priority: np.ndarray
    n_review: int
    n_audit: int
    n_disputed: int


EXACT_PAIRS_MAX = 5000
"""Above this many candidates, near-duplicate pairs are found by locality-sensitive hashing."""


def _normalized(rows: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ rows)


def _exact_pairs(R: sp.csr_matrix, threshold: float, chunk: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of rows of the L2-normalized ``R`` with cosine > threshold."""
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    RT = R.T.tocsc()
    for start in range(0, R.shape[0], chunk):  # loop over blocks of rows, bounded memory
        block = (R[start:start + chunk] @ RT).tocoo()
        keep = (block.data > threshold) & (block.row + start < block.col)
        first.append(block.row[keep].astype(np.int64) + start)
        second.append(block.col[keep].astype(np.int64))
    return np.concatenate(first), np.concatenate(second)


def _hashed_signs(indices: np.ndarray, salt: int) -> np.ndarray:
    """A pseudo-random sign (+1/-1) per feature index for hyperplane ``salt`` (splitmix64)."""
    z = indices.astype(np.uint64) + np.uint64((salt + 1) * 0x9E3779B97F4A7C15 % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return np.where(z & np.uint64(1), 1.0, -1.0)


def _lsh_pairs(R: sp.csr_matrix, threshold: float, *, bands: int = 8, bits: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Near-duplicate pairs by random-hyperplane LSH (SimHash), verified exactly.

    Rows whose signatures agree on every bit of at least one band become candidate pairs;
    each candidate's exact cosine is then compared with ``threshold``. Linear in the number of
    rows plus candidate pairs; pairs of high similarity (near-copies) are found with high
    probability, pairs just above a low threshold may be missed.
    """
    n = R.shape[0]
    R = R.tocsr()
    used, local = np.unique(R.indices, return_inverse=True)
    compact = sp.csr_matrix((R.data, local.ravel(), R.indptr), shape=(n, used.size))
    weights = 1 << np.arange(bits - 1, -1, -1, dtype=np.int64)
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    for band in range(bands):
        planes = np.stack([_hashed_signs(used, band * bits + bit) for bit in range(bits)], axis=1)
        key = ((compact @ planes) > 0).astype(np.int64) @ weights
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        sizes = np.diff(np.r_[starts, n])
        for size in np.unique(sizes[sizes > 1]):  # pairs within each bucket, by bucket size
            groups = order[starts[sizes == size][:, None] + np.arange(size)[None, :]]
            a, b = np.triu_indices(size, k=1)
            first.append(groups[:, a].ravel())
            second.append(groups[:, b].ravel())
    if not first:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    i, j = np.concatenate(first), np.concatenate(second)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    pairs = np.unique(np.c_[lo, hi], axis=0)
    lo, hi = pairs[:, 0], pairs[:, 1]
    sims = np.asarray(R[lo].multiply(R[hi]).sum(axis=1)).ravel()
    keep = sims > threshold
    return lo[keep], hi[keep]


def greedy_keep(n: int, earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: the greedy scan's picks when item ``later[p]`` must be skipped if item
    ``earlier[p]`` (``earlier[p] < later[p]``) was picked.

    Equal to scanning items in order and picking each one with no picked earlier neighbour,
    but resolved in vectorized passes: an item is decided once all its earlier neighbours are.
    """
    state = np.zeros(n, dtype=np.int8)  # 0 undecided, 1 picked, -1 skipped
    undecided_deps = np.bincount(later, minlength=n)
    state[undecided_deps == 0] = 1
    while (state == 0).any():
        picked_before = np.bincount(later[state[earlier] == 1], minlength=n) > 0
        pending = np.bincount(later[state[earlier] == 0], minlength=n)
        skip = (state == 0) & picked_before
        pick = (state == 0) & ~picked_before & (pending == 0)
        if not (skip.any() or pick.any()):  # cannot happen for earlier < later; guard anyway
            raise RuntimeError("greedy_keep: dependency cycle")
        state[skip] = -1
        state[pick] = 1
    return state == 1


def diverse_top(order: np.ndarray, features: Any, size: int, *, max_similarity: float) -> np.ndarray:
    """The first ``size`` indices of ``order``, skipping near-duplicates of earlier picks.

    An item is skipped when its cosine similarity to an item already picked exceeds
    ``max_similarity``; when too few remain, skipped items fill up in order. Only a prefix of
    ``order`` can matter (at most ``max(4 * size, EXACT_PAIRS_MAX)`` items). Pairs are found
    exactly up to ``EXACT_PAIRS_MAX`` candidates and by LSH above (see :func:`_lsh_pairs`), so
    the cost grows near-linearly with the batch instead of with its square.
    """
    if size <= 0:
        return order[:0]
    prefix = order[: max(4 * size, EXACT_PAIRS_MAX)]
    R = _normalized(sp.csr_matrix(features[prefix]))
    if prefix.size <= EXACT_PAIRS_MAX:
        earlier, later = _exact_pairs(R, max_similarity)
    else:
        earlier, later = _lsh_pairs(R, max_similarity)
    keep = greedy_keep(prefix.size, earlier, later)
    chosen = np.flatnonzero(keep)[:size]
    skipped = np.flatnonzero(~keep)[: size - chosen.size]
    return prefix[np.r_[chosen, skipped]]


def draw_audit(unlabeled: np.ndarray, size: int, *, rng: np.random.Generator) -> np.ndarray:
    """A uniform random sample (without replacement) of ``size`` indices among ``unlabeled``.

    Args:
        unlabeled: ``(n_items,)`` bool, items without a human label.
    """
    pool = np.flatnonzero(unlabeled)
    size = min(max(size, 0), pool.size)
    return np.sort(rng.choice(pool, size=size, replace=False)) if size else np.array([], dtype=np.int64)


def draw_audit_stratified(unlabeled: np.ndarray, scores: np.ndarray, disputed: np.ndarray, size: int, *,
                          region_share: float, low_weight: float,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An audit sample concentrated where items could be accepted, with known weights.

    Two strata, fixed from the blind scores before any label of the round is seen: the
    *region* (the top ``region_share`` of the unlabeled, undisputed items by score) and the
    rest. Each item of the rest is ``low_weight`` times as likely to be drawn as an item of
    the region; within a stratum the draw is uniform without replacement.

    Args:
        unlabeled: ``(n,)`` bool; scores: ``(n,)`` blind scores; disputed: ``(n,)`` bool.

    Returns:
        ``(rows, weights)``: sorted indices and each one's inverse inclusion probability (the
        audit weight: a Hajek estimate weighted by it is unbiased for the whole unlabeled pool).
    """
    pool = np.flatnonzero(unlabeled)
    size = min(max(size, 0), pool.size)
    if size == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.float64)
    open_ = pool[~disputed[pool]]
    cut = np.quantile(scores[open_], 1.0 - region_share) if open_.size else np.inf
    in_region = ~disputed[pool] & (scores[pool] >= cut)
    region, rest = pool[in_region], pool[~in_region]
    mass_region, mass_rest = float(region.size), low_weight * rest.size
    n_region = min(region.size, round(size * mass_region / max(mass_region + mass_rest, 1e-12)))
    n_rest = min(rest.size, size - n_region)
    n_region = min(region.size, size - n_rest)
    rows, weights = [], []
    for stratum, k in ((region, n_region), (rest, n_rest)):
        if k > 0:
            rows.append(rng.choice(stratum, size=k, replace=False))
            weights.append(np.full(k, stratum.size / k))
    order_rows = np.concatenate(rows)
    order = np.argsort(order_rows)
    return order_rows[order], np.concatenate(weights)[order]


def audit_share(scores: np.ndarray, pool: np.ndarray, *, settings: Any) -> float:
    """Share of a round's human budget spent on the audit.

    Fixed (``settings.audit_fraction``) unless ``settings.audit_adaptive``; then it grows with
    what an audit could certify: ``audit_fraction_min + (audit_fraction_max -
    audit_fraction_min) * p``, where ``p`` is the share of unlabeled undisputed items whose blind score is at least
    ``1 - alpha`` (the model believes they could be accepted). Scores only, no labels: the
    share is set before the round's labels are seen.
    """
    if not settings.audit_adaptive or not pool.any():
        return float(settings.audit_fraction)
    p = float((scores[pool] >= 1.0 - settings.alpha).mean())
    low = min(settings.audit_fraction_min, settings.audit_fraction_max)
    return low + (settings.audit_fraction_max - low) * p


def route_items(
    *,
    scores: np.ndarray,
    value: np.ndarray,
    disputed: np.ndarray,
    known: np.ndarray,
    audit: np.ndarray,
    threshold: float,
    review_budget: int,
    features: Any = None,
    max_similarity: float | None = None,
) -> Routing:
    """Route every item of a round.

    Args:
        scores: ``(n_items,)`` float confidence in the best-guess label (higher = surer).
        value: ``(n_items,)`` float expected value of a human label (higher = review first).
        disputed: ``(n_items,)`` bool, strong sources disagree (never accepted).
        known: ``(n_items,)`` bool, already labeled by a human.
        audit: indices drawn for audit this round (see :func:`draw_audit`).
        threshold: accept threshold (``inf`` accepts nothing).
        review_budget: labels available for review this round (>= 0).
        features: optional ``(n_items, d)`` sparse rows (e.g. TF-IDF); with ``max_similarity``
            the batch skips items whose cosine similarity to one already chosen exceeds it
            (near-duplicates teach the model once), filling up from the skipped ones if needed.
    """
    n = scores.size
    route = np.full(n, DEFER, dtype=object)
    route[known] = HUMAN
    route[audit] = AUDIT
    open_ = route == DEFER
    accept = open_ & (scores >= threshold) & ~disputed
    candidates = np.flatnonzero(open_ & ~accept)
    # Review candidates are the items we would not accept; when the budget exceeds them,
    # accepted items with the highest value are reviewed too (a label is never wasted).
    order = candidates[np.argsort(-value[candidates], kind="stable")]
    if order.size < review_budget:
        extra = np.flatnonzero(accept)
        extra = extra[np.argsort(-value[extra], kind="stable")]
        order = np.r_[order, extra]
    if features is not None and max_similarity is not None:
        chosen = diverse_top(order, features, max(review_budget, 0), max_similarity=max_similarity)
    else:
        chosen = order[: max(review_budget, 0)]
    route[accept] = ACCEPT
    route[chosen] = REVIEW
    priority = np.full(n, np.nan)
    priority[order] = value[order]
    return Routing(
        route=route.astype(str), priority=priority, n_review=int(chosen.size),
        n_audit=len(audit), n_disputed=int((disputed & ~known).sum()),
    )


def estimate_figures(
    *,
    guess: np.ndarray,
    guess_score: np.ndarray,
    known: np.ndarray,
    audit_rows: np.ndarray,
    disputed: np.ndarray,
    alpha: float,
    delta: float,
    start_fraction: float = 0.0,
    audit_weight: np.ndarray | None = None,
    n_classes: int | None = None,
) -> dict[str, Any]:
    """Threshold and estimated accuracies from the audit labels.

    Args:
        guess, guess_score: ``(n,)`` blind best guess and its score (see ``Evidence``).
        known: ``(n,)`` human labels, ``-1`` none.
        audit_rows: indices of audited items that have a human label.
        disputed: ``(n,)`` bool, never accepted.
        audit_weight: ``(n_audit,)`` inverse inclusion probabilities (stratified audits), None =
            uniform.
        n_classes: set for one threshold per predicted class (``triage.per_class_thresholds``,
            :func:`hitl_triage.guarantee.per_class_thresholds`; uniform audits only): then
            ``class_thresholds`` lists them (None = that class accepts nothing) and
            ``threshold`` is the loosest of them.

    Returns:
        JSON-ready figures: ``threshold`` (None = nothing accepted) and ``threshold_reason``,
        ``n_audit_labels``, ``audit_errors``, ``accepted_share``, the estimated accepted accuracy
        with its ``1 - delta`` interval (``est_accepted_accuracy``, ``_low``, ``_high``) and the
        estimated training-set accuracy (``est_trainset_accuracy``, ``_low``): human labels count
        as right, the rest at the audit accuracy of the best guess.
    """
    audit_rows = np.asarray(audit_rows, dtype=np.int64)
    correct = guess[audit_rows] == known[audit_rows]
    if n_classes is not None:
        return _per_class_figures(guess=guess, guess_score=guess_score, known=known, audit_rows=audit_rows,
                                  disputed=disputed, alpha=alpha, delta=delta, start_fraction=start_fraction,
                                  n_classes=n_classes)
    result = calibrate_threshold(guess_score[audit_rows], correct, alpha=alpha, delta=delta,
                                 start_fraction=start_fraction, weights=audit_weight)
    unlabeled = known < 0
    accept = unlabeled & (guess_score >= result.threshold) & ~disputed
    n = known.size
    n_audit = int(audit_rows.size)
    errors = int((~correct).sum())
    figures: dict[str, float | int | str | None] = {
        "threshold": result.threshold if result.accepts else None,
        "threshold_reason": result.reason,
        "n_audit_labels": n_audit,
        "audit_errors": errors,
        "accepted_share": float(accept.sum() / n) if n else 0.0,
        "est_accepted_accuracy": None if result.estimate is None else 1.0 - result.estimate,
        "est_accepted_accuracy_low": 1.0 - result.upper_bound if result.accepts else None,
        "est_accepted_accuracy_high": (1.0 - clopper_pearson_lower(
            result.errors, result.errors / result.estimate if result.estimate else result.n_covered, delta)
            if result.accepts else None),
    }
    interval = trainset_interval(guess=guess, guess_score=guess_score, known=known, audit_rows=audit_rows,
                                 audit_weight=audit_weight, level=1.0 - delta)
    figures.update(interval)
    share_known = float((~unlabeled).sum() / n) if n else 0.0
    if n_audit:
        acc = 1.0 - errors / n_audit
        low = 1.0 - clopper_pearson_upper(errors, n_audit, delta)
        figures["est_trainset_accuracy"] = share_known + (1 - share_known) * acc
        figures["est_trainset_accuracy_low"] = share_known + (1 - share_known) * low
    else:
        figures["est_trainset_accuracy"] = None
        figures["est_trainset_accuracy_low"] = share_known
    return figures


def _per_class_figures(*, guess: np.ndarray, guess_score: np.ndarray, known: np.ndarray, audit_rows: np.ndarray,
                       disputed: np.ndarray, alpha: float, delta: float, start_fraction: float,
                       n_classes: int) -> dict[str, Any]:
    """:func:`estimate_figures` with one threshold per predicted class (see its ``n_classes``)."""
    base = estimate_figures(guess=guess, guess_score=guess_score, known=known, audit_rows=audit_rows,
                            disputed=disputed, alpha=alpha, delta=delta, start_fraction=start_fraction)
    correct = guess[audit_rows] == known[audit_rows]
    cuts = per_class_thresholds(guess_score[audit_rows], correct, guess[audit_rows], n_classes, alpha=alpha,
                                delta=delta, start_fraction=start_fraction)
    finite = np.isfinite(cuts)
    accept = (known < 0) & (guess_score >= cuts[guess]) & ~disputed
    covered = guess_score[audit_rows] >= cuts[guess[audit_rows]]
    errors = int((~correct[covered]).sum())
    n_cov = int(covered.sum())
    # the mix's error is at most the largest class bound (each holds at delta / k, jointly at delta)
    bounds = [clopper_pearson_upper(int((~correct[covered & (guess[audit_rows] == c)]).sum()),
                                    int((covered & (guess[audit_rows] == c)).sum()), delta / n_classes)
              for c in range(n_classes) if finite[c]]
    base.update({
        "threshold": float(cuts[finite].min()) if finite.any() else None,
        "class_thresholds": [float(c) if np.isfinite(c) else None for c in cuts],
        "threshold_reason": "" if finite.any() else "no class passes its own test at delta / k",
        "accepted_share": float(accept.mean()) if known.size else 0.0,
        "est_accepted_accuracy": 1.0 - errors / n_cov if n_cov else None,
        "est_accepted_accuracy_low": 1.0 - max(bounds) if bounds else None,
        "est_accepted_accuracy_high": 1.0 - clopper_pearson_lower(errors, n_cov, delta) if n_cov else None,
    })
    return base


def accept_cut(figures: dict[str, Any], guess: np.ndarray) -> np.ndarray | float:
    """The accept threshold each item faces: ``(n,)`` per class when ``class_thresholds`` is in
    ``figures``, else the single threshold (``inf`` = nothing accepted)."""
    per_class = figures.get("class_thresholds")
    if per_class is not None:
        cuts = np.array([math.inf if c is None else float(c) for c in per_class])
        return cuts[np.asarray(guess, dtype=np.int64)]
    return math.inf if figures.get("threshold") is None else float(figures["threshold"])


TRAINSET_BINS = 5
"""Score strata of the training-set accuracy estimate (fewer when audit labels are few)."""
MIN_AUDIT_PER_BIN = 15


def trainset_interval(*, guess: np.ndarray, guess_score: np.ndarray, known: np.ndarray, audit_rows: np.ndarray,
                      audit_weight: np.ndarray | None = None, level: float = 0.9) -> dict[str, float | None]:
    """Estimate and two-sided ``level`` interval of the whole training set's accuracy.

    Human labels count as right. The unlabeled items (accepted or model-guessed) are cut into
    score strata (quantiles of *their* blind scores, so the strata follow the items that are
    left after review took the hard ones); each stratum's accuracy is estimated from the audit
    items whose blind score falls in it (weighted by ``audit_weight``), and the strata are
    summed with the unlabeled items' shares (post-stratification). The interval is normal on
    the stratified estimate with each stratum's variance taken at ``(right + 1) / (n + 2)``
    (so an error-free stratum still has width), clipped to what is possible.

    Returns:
        ``trainset_accuracy_est``, ``trainset_accuracy_low``, ``trainset_accuracy_high``
        (None when no audit label exists: then low is the human share, high 1).
    """
    from scipy.stats import norm

    audit_rows = np.asarray(audit_rows, dtype=np.int64)
    n = known.size
    unlabeled = known < 0
    share_known = float((~unlabeled).mean()) if n else 0.0
    m = audit_rows.size
    if m == 0 or not unlabeled.any():
        done = not unlabeled.any()
        return {"trainset_accuracy_est": 1.0 if done else None,
                "trainset_accuracy_low": share_known, "trainset_accuracy_high": 1.0}
    w = np.ones(m) if audit_weight is None else np.asarray(audit_weight, dtype=np.float64)
    right = (guess[audit_rows] == known[audit_rows]).astype(np.float64)
    a_score = guess_score[audit_rows]
    u_score = guess_score[unlabeled]
    bins = max(1, min(TRAINSET_BINS, m // MIN_AUDIT_PER_BIN))
    edges = np.quantile(u_score, np.linspace(0, 1, bins + 1)[1:-1]) if bins > 1 else np.array([])
    u_bin = np.searchsorted(edges, u_score, side="right")
    a_bin = np.searchsorted(edges, a_score, side="right")
    est, var = 0.0, 0.0
    for b in range(bins):
        share = float((u_bin == b).sum() / n)
        inside = a_bin == b
        if share == 0:
            continue
        if not inside.any():  # no audit item in the stratum: it could be anything
            var += share * share * 0.25
            est += share * 0.5
            continue
        wb = w[inside]
        acc = float((wb * right[inside]).sum() / wb.sum())
        n_eff = float(wb.sum() ** 2 / (wb * wb).sum())
        p = (acc * n_eff + 1.0) / (n_eff + 2.0)
        est += share * acc
        var += share * share * p * (1.0 - p) / n_eff
    z = float(norm.ppf(0.5 + level / 2.0))
    half = z * math.sqrt(var)
    strat = share_known + est
    # The plain estimate (every unlabeled item at the audit's overall accuracy) errs low when
    # review has taken the hard items; the stratified one errs high when the scores of
    # labeled (out-of-fold) and unlabeled items differ in calibration. The interval is the
    # union of both intervals, the estimate their mean (coverage: docs/rounds.md).
    acc = float((w * right).sum() / w.sum())
    n_eff = float(w.sum() ** 2 / (w * w).sum())
    p = (acc * n_eff + 1.0) / (n_eff + 2.0)
    plain = share_known + (1.0 - share_known) * acc
    plain_half = z * (1.0 - share_known) * math.sqrt(p * (1.0 - p) / n_eff)
    return {"trainset_accuracy_est": (strat + plain) / 2.0,
            "trainset_accuracy_low": max(share_known, min(strat - half, plain - plain_half)),
            "trainset_accuracy_high": min(1.0, max(strat + half, plain + plain_half))}
