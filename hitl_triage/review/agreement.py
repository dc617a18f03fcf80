"""Inter-annotator agreement: Cohen's kappa per pair of reviewers and Krippendorff's alpha.

Inputs are long tables of labels: one row per (reviewer, unit) with an integer class index.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of two reviewers on the units both labelled. ``kappa`` is NaN when undefined
    (fewer than 2 shared units, or both used one and the same class throughout)."""

    a: str
    b: str
    n: int
    percent: float
    kappa: float


@dataclass(frozen=True)
class Agreement:
    pairs: list[PairAgreement]
    mean_kappa: float  # Light's kappa: the mean of the defined pairwise kappas (NaN if none)
    alpha: float  # Krippendorff's alpha, nominal, over every unit with >= 2 labels (NaN if none)
    n_units: int  # units labelled by at least two reviewers
    n_reviewers: int


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two label vectors of equal length ``(n,)`` (ints).

    1 = perfect agreement, 0 = chance level, < 0 = worse than chance; NaN when ``n < 2`` or the
    expected agreement is 1 (both constant on the same class). Example:
    ``cohen_kappa(np.array([0, 1, 1]), np.array([0, 1, 0]))`` → 0.4.
    """
    if len(a) < 2 or (np.unique(a).size == 1 and np.array_equal(np.unique(a), np.unique(b))):
        return math.nan  # undefined: expected agreement is 1
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(a, b))


def krippendorff_alpha(labels: pl.DataFrame) -> float:
    """Nominal Krippendorff's alpha of a long table (``reviewer``, ``unit``, ``label``).

    Units with fewer than two labels carry no information and are dropped; NaN if none is left
    or all labels are one class.
    """
    import krippendorff

    counts = labels.group_by("unit").len().filter(pl.col("len") >= 2)
    data = labels.join(counts.select("unit"), on="unit", how="semi")
    if data.height == 0 or data["label"].n_unique() < 2:
        return math.nan
    wide = data.pivot(on="unit", index="reviewer", values="label", aggregate_function="first")
    matrix = wide.drop("reviewer").to_numpy().astype(float)
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))


def agreement(labels: pl.DataFrame) -> Agreement:
    """Pairwise kappas and overall alpha of a long table (``reviewer`` str, ``unit``, ``label``
    int). Pairs are listed only when the two reviewers share at least one unit."""
    labels = labels.select("reviewer", pl.col("unit").cast(pl.String), "label").unique(
        ["reviewer", "unit"], keep="last"
    )
    by_reviewer = {
        name: dict(zip(part["unit"].to_list(), part["label"].to_list(), strict=True))
        for (name,), part in labels.group_by("reviewer")
    }
    pairs: list[PairAgreement] = []
    for a, b in itertools.combinations(sorted(by_reviewer), 2):
        shared = sorted(by_reviewer[a].keys() & by_reviewer[b].keys())
        if not shared:
            continue
        va = np.array([by_reviewer[a][u] for u in shared])
        vb = np.array([by_reviewer[b][u] for u in shared])
        pairs.append(PairAgreement(a, b, len(shared), float(np.mean(va == vb)), cohen_kappa(va, vb)))
    defined = [p.kappa for p in pairs if not math.isnan(p.kappa)]
    n_units = labels.group_by("unit").len().filter(pl.col("len") >= 2).height
    return Agreement(
        pairs=pairs,
        mean_kappa=float(np.mean(defined)) if defined else math.nan,
        alpha=krippendorff_alpha(labels),
        n_units=n_units,
        n_reviewers=len(by_reviewer),
    )
