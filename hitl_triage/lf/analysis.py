"""Per-source analysis of a vote matrix (snorkel's ``LFAnalysis``, vectorized, as polars).

Columns of :func:`lf_summary`: ``source``, ``polarity`` (labels it ever votes), ``coverage``
(share of items with a vote), ``overlaps`` (share voting where another source votes too),
``conflicts`` (share voting where another source votes a different label) and, when true labels
are given, ``n_known``, ``correct``, ``incorrect`` and ``emp_acc`` (correct / voted-on known).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from hitl_triage.lf.kinds import ABSTAIN


def lf_summary(
    L: np.ndarray,
    names: list[str],
    *,
    label_names: list[str],
    y: np.ndarray | None = None,
    prefix: str = "",
) -> pl.DataFrame:
    """Summarize each source (column of ``L``).

    Args:
        L: ``(n_items, n_sources)`` int votes in ``{-1, ..., k-1}``.
        names: ``n_sources`` source names.
        label_names: class names, index order.
        y: optional ``(n_items,)`` true class indices, ``-1`` where unknown (gold labels for
            scoring, or reviewed labels).
        prefix: prefix for the accuracy columns (``gold_``, ``reviewed_``).

    Returns:
        One row per source; fractions in [0, 1].
    """
    L = np.asarray(L)
    n, m = L.shape
    k = len(label_names)
    voted = L != ABSTAIN
    n_votes = voted.sum(axis=1)
    counts = np.stack([(L == c).sum(axis=1) for c in range(k)], axis=1) if m else np.zeros((n, k))
    safe = np.where(voted, L, 0).astype(np.int64)
    same = np.take_along_axis(counts, safe, axis=1) if m else np.zeros((n, 0))
    conflict = voted & ((n_votes[:, None] - same) > 0)
    denom = max(n, 1)
    data: dict[str, list] = {
        "source": names,
        "polarity": [
            ",".join(label_names[c] for c in np.unique(L[:, j][voted[:, j]])) for j in range(m)
        ],
        "coverage": (voted.sum(axis=0) / denom).tolist(),
        "overlaps": ((voted & (n_votes[:, None] > 1)).sum(axis=0) / denom).tolist(),
        "conflicts": (conflict.sum(axis=0) / denom).tolist(),
    }
    if y is not None:
        y = np.asarray(y)
        known = (y >= 0)[:, None] & voted
        correct = (known & (L == y[:, None])).sum(axis=0)
        incorrect = known.sum(axis=0) - correct
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(known.sum(axis=0) > 0, correct / known.sum(axis=0), np.nan)
        data[f"{prefix}n_known"] = known.sum(axis=0).tolist()
        data[f"{prefix}correct"] = correct.tolist()
        data[f"{prefix}incorrect"] = incorrect.tolist()
        data[f"{prefix}emp_acc"] = acc.tolist()
    return pl.DataFrame(data).with_columns(pl.selectors.float().fill_nan(None))
