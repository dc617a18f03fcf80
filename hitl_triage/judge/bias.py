"""Label-bias correction of the judge's class probabilities, without labels.

A small model prefers some label whatever the text says (Gemma 3 270M answers "spam" to almost
everything). Temperature scaling cannot fix that: it keeps the argmax. Contextual calibration
(Zhao et al. 2021, *Calibrate Before Use*) estimates the model's preference, a label
distribution ``prior`` ``(k,)``, and divides it out of every item's distribution::

    p_corrected ∝ p / prior        (W = diag(prior)^-1, b = 0, rows renormalized)

Two label-free estimates of ``prior``:

- ``content_free``: the mean label distribution of the model's answers to content-free inputs
  (``"N/A"``, ``""``, ``"[MASK]"``) placed in the very same prompt as the items;
- ``mean_prior``: the mean label distribution over the judged items themselves (prior matching:
  after correction the judge no longer prefers any label on average, so it suits sets whose
  classes are roughly balanced).

Example: ``prior = [0.2, 0.8]`` and an item at ``[0.3, 0.7]`` give ``[1.5, 0.875] / 2.375 =
[0.63, 0.37]``: the vote flips from class 1 to class 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

BiasCorrectionName = Literal["none", "content_free", "mean_prior"]
BIAS_CORRECTIONS: tuple[str, ...] = ("none", "content_free", "mean_prior")
PRIOR_FLOOR = 1e-3
"""Each prior entry is raised to at least this before dividing (a class the model never names
in the estimate, e.g. with sampled vote shares, must not get an unbounded weight)."""
MIN_PRIOR_ITEMS = 10
"""``mean_prior`` needs at least this many judged items; with fewer it is not applied."""


@dataclass(frozen=True)
class BiasCorrection:
    """The correction a run applied.

    Attributes:
        method: ``none``, ``content_free`` or ``mean_prior`` (what was applied, which is
            ``none`` when the configured method could not be estimated).
        prior: ``(k,)`` the estimated label distribution divided out (``None`` for ``none``).
        note: why the configured method was not applied, if it was not.
    """

    method: BiasCorrectionName
    prior: tuple[float, ...] | None = None
    note: str | None = None


def correct_bias(probs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Divide ``prior`` out of ``probs`` and renormalize each row.

    Args:
        probs: ``(n, k)`` float, rows summing to 1, entries in [0, 1].
        prior: ``(k,)`` float, positive, summing to 1 (entries are floored at ``PRIOR_FLOOR``).

    Returns:
        ``(n, k)`` float64, rows summing to 1; a uniform ``prior`` returns ``probs`` unchanged.
    """
    weights = 1.0 / np.maximum(np.asarray(prior, dtype=np.float64), PRIOR_FLOOR)
    scaled = np.asarray(probs, dtype=np.float64) * weights
    return scaled / scaled.sum(axis=1, keepdims=True)


def mean_distribution(probs: np.ndarray) -> np.ndarray:
    """The mean of ``probs`` ``(n, k)`` (n ≥ 1) over rows, renormalized: ``(k,)`` summing to 1."""
    mean = np.asarray(probs, dtype=np.float64).mean(axis=0)
    return mean / mean.sum()


def estimate_prior(
    method: BiasCorrectionName,
    *,
    item_probs: np.ndarray,
    content_free_probs: list[np.ndarray],
    content_free_errors: Sequence[str] = (),
) -> BiasCorrection:
    """The correction to apply, given what the run measured.

    Args:
        method: the configured correction.
        item_probs: ``(n, k)`` label distributions of the judged items (for ``mean_prior``).
        content_free_probs: ``(k,)`` label distributions of the content-free answers that have
            one (for ``content_free``; their mean is the prior).
        content_free_errors: why the other content-free requests gave none.

    Returns:
        A :class:`BiasCorrection`; ``method == "none"`` with a ``note`` when the configured one
        cannot be estimated (no content-free answer, or fewer than ``MIN_PRIOR_ITEMS`` items).
    """
    if method == "content_free":
        if not content_free_probs:
            reasons = "; ".join(content_free_errors) or "no content-free inputs"
            return BiasCorrection("none", note=f"content_free not applied: no content-free "
                                               f"answer had label probabilities ({reasons})")
        prior = mean_distribution(np.vstack(content_free_probs))
        return BiasCorrection("content_free", tuple(float(x) for x in prior))
    if method == "mean_prior":
        if len(item_probs) < MIN_PRIOR_ITEMS:
            return BiasCorrection("none", note=f"mean_prior not applied: {len(item_probs)} judged "
                                               f"items, need at least {MIN_PRIOR_ITEMS}")
        prior = mean_distribution(item_probs)
        return BiasCorrection("mean_prior", tuple(float(x) for x in prior))
    return BiasCorrection("none")
