"""Temperature and class-bias scaling of the judge's probabilities, and the calibration error.

Temperature scaling divides the log-probabilities by one scalar ``T`` (fitted by minimising the
negative log-likelihood of reviewed labels) and renormalizes: ``p_T ∝ p ** (1 / T)``. ``T > 1``
softens an over-confident judge, ``T < 1`` sharpens a timid one; the argmax (the vote) never
changes.

Class-bias scaling (a vector scaling with a shared scale) adds a per-class offset ``b`` ``(k,)``
(``b[0] = 0``) to the scaled log-probabilities: ``p ∝ exp(log(p) / T + b)``. It is fitted jointly
with ``T`` and, unlike the temperature, can move the argmax, so it needs enough labels of every
class (the runner asks for ``min_labels_per_class``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, minimize_scalar

_EPS = 1e-12
T_BOUNDS = (0.05, 50.0)
BIAS_BOUND = 10.0
BIAS_L2 = 1e-3
"""A small ridge on ``b`` keeps the fit finite when the reviewed labels are separable."""


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


def apply_class_bias(probs: np.ndarray, temperature: float, bias: np.ndarray) -> np.ndarray:
    """``p ∝ exp(log(probs) / temperature + bias)``: ``probs`` ``(n, k)``, ``bias`` ``(k,)``.

    Returns ``(n, k)`` float64 rows summing to 1; a zero ``bias`` is :func:`apply_temperature`.
    """
    logits = np.log(np.clip(probs, _EPS, 1.0)) / temperature + np.asarray(bias, dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_class_bias(probs: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """The temperature and class bias minimising the NLL of ``labels`` (plus a small ridge on b).

    Args:
        probs: ``(n, k)`` float, rows summing to 1, n ≥ 1.
        labels: ``(n,)`` int in ``[0, k)``.

    Returns:
        ``(T, b)``: ``T`` in ``T_BOUNDS``; ``b`` ``(k,)`` float64 with ``b[0] = 0`` and
        ``|b| <= BIAS_BOUND``.
    """
    k = probs.shape[1]
    log_p = np.log(np.clip(probs, _EPS, 1.0))
    rows = np.arange(len(labels))

    def loss(theta: np.ndarray) -> float:
        bias = np.concatenate([[0.0], theta[1:]])
        logits = log_p / np.exp(theta[0]) + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(axis=1))
        return float(-np.mean(logits[rows, labels] - log_norm) + BIAS_L2 * np.sum(bias**2))

    start = np.concatenate([[np.log(fit_temperature(probs, labels))], np.zeros(k - 1)])
    bounds = [(np.log(T_BOUNDS[0]), np.log(T_BOUNDS[1]))] + [(-BIAS_BOUND, BIAS_BOUND)] * (k - 1)
    result = minimize(loss, start, method="L-BFGS-B", bounds=bounds)
    return float(np.exp(result.x[0])), np.concatenate([[0.0], result.x[1:]])


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
