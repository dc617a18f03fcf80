"""Vote matrices: validation and small summaries shared by the label models.

``L`` is ``(n_items, n_sources)`` with integer votes in ``{-1, 0, ..., n_classes - 1}``, where
``-1`` (:data:`ABSTAIN`) means the source did not vote. Known (human) labels are ``(n_items,)``
class indices with ``-1`` where unknown.
"""

from __future__ import annotations

import numpy as np

from hitl_triage.errors import LabelModelError
from hitl_triage.schema import ABSTAIN


def check_votes(L: np.ndarray, n_classes: int) -> np.ndarray:
    """Validate a vote matrix and return it as int8.

    Args:
        L: ``(n_items, n_sources)`` integer votes in ``{-1, 0, ..., n_classes - 1}``.

    Raises:
        LabelModelError: wrong shape or a vote outside the range (says which column and value).
    """
    L = np.asarray(L)
    if L.ndim != 2:
        raise LabelModelError(f"L must be a 2-D (n_items, n_sources) array, got shape {L.shape}")
    if L.size and not np.issubdtype(L.dtype, np.integer):
        raise LabelModelError(f"L must hold integers, got dtype {L.dtype}")
    if L.size and (L.min() < ABSTAIN or L.max() >= n_classes):
        row, col = (int(v[0]) for v in np.nonzero((L < ABSTAIN) | (L >= n_classes)))
        raise LabelModelError(
            f"L[{row}, {col}] = {int(L[row, col])} is outside {{-1, 0, ..., {n_classes - 1}}}"
        )
    return L.astype(np.int8, copy=False)


def check_known(y_known: np.ndarray | None, n_items: int, n_classes: int) -> np.ndarray | None:
    """Validate known labels; return them as int64 ``(n_items,)`` or None when none is known.

    Args:
        y_known: ``(n_items,)`` integer class indices, ``-1`` where unknown; or None.

    Raises:
        LabelModelError: wrong shape, non-integer dtype or a label outside ``{-1, ..., k-1}``.
    """
    if y_known is None:
        return None
    y = np.asarray(y_known)
    if y.shape != (n_items,):
        raise LabelModelError(
            f"y_known must have shape (n_items,) = ({n_items},) like L's rows, got shape {y.shape}"
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise LabelModelError(f"y_known must hold integers, got dtype {y.dtype}")
    bad = (y < ABSTAIN) | (y >= n_classes)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise LabelModelError(
            f"y_known[{row}] = {int(y[row])} is outside {{-1, 0, ..., {n_classes - 1}}}"
        )
    y = y.astype(np.int64, copy=False)
    return y if (y >= 0).any() else None


def class_balance(y_known: np.ndarray | None, n_classes: int) -> np.ndarray | None:
    """Class balance from known labels, add-one smoothed; None when no label is known.

    Args:
        y_known: ``(n_items,)`` class indices, ``-1`` where unknown.

    Returns:
        ``(n_classes,)`` probabilities summing to 1, or None.
    """
    if y_known is None:
        return None
    known = np.asarray(y_known)
    known = known[known >= 0]
    if known.size == 0:
        return None
    counts = np.bincount(known, minlength=n_classes).astype(np.float64) + 1.0
    return counts / counts.sum()


def vote_counts(L: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_items, n_classes)`` number of sources voting for each class."""
    return np.stack([(L == c).sum(axis=1) for c in range(n_classes)], axis=1).astype(np.float64)
