"""Temperature scaling of the judge's probabilities, and the expected calibration error.

Temperature scaling divides the log-probabilities by one scalar ``T`` (fitted by minimising the
negative log-likelihood of reviewed labels) and renormalizes: ``p_T ∝ p ** (1 / T)``. ``T > 1``
softens an over-confident judge, ``T < 1`` sharpens a timid one; the argmax (the vote) never
changes.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

_EPS = 1e-12
T_BOUNDS = (0.05, 50.0)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Scale ``probs`` ``(n, k)`` (rows summing to 1) by ``temperature`` > 0; rows still sum to 1."""
    logits = np.log(np.clip(probs, _EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def _nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], _EPS, 1.0))))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of ``labels`` under scaled ``probs``.

    Args:
        probs: ``(n, k)`` float, rows summing to 1.
        labels: ``(n,)`` int in ``[0, k)``.

    Returns:
        ``T`` in ``T_BOUNDS`` (1.0 when ``n == 0``).
    """
    if len(labels) == 0:
        return 1.0
    result = minimize_scalar(
        lambda log_t: _nll(apply_temperature(probs, float(np.exp(log_t))), labels),
        bounds=(np.log(T_BOUNDS[0]), np.log(T_BOUNDS[1])),
        method="bounded",
    )
    return float(np.exp(result.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = 10) -> float:
    """ECE of the top-class confidence: ``sum_b (n_b / n) |accuracy_b - confidence_b|``.

    Args:
        probs: ``(n, k)`` float, rows summing to 1.
        labels: ``(n,)`` int in ``[0, k)``.
        n_bins: equal-width confidence bins on [0, 1].

    Returns:
        A value in [0, 1]; lower is better calibrated (0.0 when ``n == 0``).
    """
    if len(labels) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total)
