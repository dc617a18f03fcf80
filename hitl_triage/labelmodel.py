"""Label models: turn a vote matrix ``L`` into probabilistic labels ``P(y | L)``.

Two models behind one scikit-learn-like interface (parameters in ``__init__``, ``fit`` returns
``self``, learned state ends in ``_``):

* :class:`MajorityVoteModel`: the share of non-abstaining votes for each class.
* :class:`SnorkelLabelModel`: snorkel's ``LabelModel`` (a generative model of LF accuracies).

Known labels (from reviewers) set the class balance. Example::

    >>> L = np.array([[0, 0, -1], [1, -1, 1], [-1, -1, -1]], dtype=np.int8)
    >>> MajorityVoteModel(n_classes=2).fit(L).predict_proba(L)
    array([[1. , 0. ], [0. , 1. ], [0.5, 0.5]])
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Protocol, Self

import numpy as np

from hitl_triage.config import LabelModelConfig
from hitl_triage.errors import LabelModelError

ABSTAIN = -1
MIN_SNORKEL_SOURCES = 3


class LabelModel(Protocol):
    """What every label model offers."""

    n_classes: int

    def fit(self, L: np.ndarray, *, y_known: np.ndarray | None = None) -> Self: ...

    def predict_proba(self, L: np.ndarray) -> np.ndarray: ...


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
    bad = (L < ABSTAIN) | (L >= n_classes)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        raise LabelModelError(
            f"L[{row}, {col}] = {int(L[row, col])} is outside {{-1, 0, ..., {n_classes - 1}}}"
        )
    return L.astype(np.int8, copy=False)


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


class MajorityVoteModel:
    """Majority vote as probabilities: each class's share of the non-abstaining votes.

    Items on which every source abstains get the class balance (known labels, else uniform).
    """

    def __init__(self, *, n_classes: int) -> None:
        self.n_classes = n_classes

    def fit(self, L: np.ndarray, *, y_known: np.ndarray | None = None) -> Self:
        check_votes(L, self.n_classes)
        balance = class_balance(y_known, self.n_classes)
        self.prior_ = balance if balance is not None else np.full(self.n_classes, 1 / self.n_classes)
        return self

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """``(n_items, n_classes)`` float64 rows summing to 1."""
        L = check_votes(L, self.n_classes)
        prior = getattr(self, "prior_", np.full(self.n_classes, 1 / self.n_classes))
        counts = vote_counts(L, self.n_classes)
        totals = counts.sum(axis=1, keepdims=True)
        return np.where(totals > 0, counts / np.maximum(totals, 1), prior)


@contextmanager
def _preserve_global_rng() -> Any:
    """snorkel's ``fit`` reseeds the global random, numpy and torch generators; undo that."""
    import torch

    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


class SnorkelLabelModel:
    """snorkel's ``LabelModel`` behind the common interface.

    Needs at least three sources; items on which every source abstains get the class balance.
    """

    def __init__(
        self,
        *,
        n_classes: int,
        n_epochs: int = 500,
        lr: float = 0.01,
        l2: float = 0.0,
        random_state: int | None = 0,
    ) -> None:
        self.n_classes = n_classes
        self.n_epochs = n_epochs
        self.lr = lr
        self.l2 = l2
        self.random_state = random_state

    def fit(self, L: np.ndarray, *, y_known: np.ndarray | None = None) -> Self:
        L = check_votes(L, self.n_classes)
        if L.shape[1] < MIN_SNORKEL_SOURCES:
            raise LabelModelError(
                f"label_model.kind 'snorkel' needs at least {MIN_SNORKEL_SOURCES} sources, got "
                f"{L.shape[1]}; add labeling functions or set label_model.kind: majority"
            )
        from snorkel.labeling.model import LabelModel as _SnorkelLabelModel

        balance = class_balance(y_known, self.n_classes)
        seed = 0 if self.random_state is None else int(self.random_state)
        model = _SnorkelLabelModel(cardinality=self.n_classes, verbose=False, device="cpu")
        with _preserve_global_rng():
            model.fit(
                L.astype(np.int64),
                class_balance=balance.tolist() if balance is not None else None,
                n_epochs=self.n_epochs,
                lr=self.lr,
                l2=self.l2,
                seed=seed,
                progress_bar=False,
            )
        self.model_ = model
        self.prior_ = balance if balance is not None else np.full(self.n_classes, 1 / self.n_classes)
        return self

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """``(n_items, n_classes)`` float64 rows summing to 1."""
        L = check_votes(L, self.n_classes)
        if not hasattr(self, "model_"):
            raise LabelModelError("SnorkelLabelModel.predict_proba called before fit")
        probs = np.asarray(self.model_.predict_proba(L.astype(np.int64)), dtype=np.float64)
        no_votes = (L == ABSTAIN).all(axis=1)
        probs[no_votes] = self.prior_
        probs = np.clip(np.nan_to_num(probs, nan=1.0 / self.n_classes), 0.0, None)
        return probs / probs.sum(axis=1, keepdims=True)


def make_label_model(
    settings: LabelModelConfig, *, n_classes: int, random_state: int | None = 0
) -> MajorityVoteModel | SnorkelLabelModel:
    """Build the label model a config names (``label_model.kind``)."""
    if settings.kind == "majority":
        return MajorityVoteModel(n_classes=n_classes)
    return SnorkelLabelModel(
        n_classes=n_classes,
        n_epochs=settings.n_epochs,
        lr=settings.lr,
        l2=settings.l2,
        random_state=random_state,
    )


def fit_label_model_probs(
    settings: LabelModelConfig,
    L: np.ndarray,
    *,
    n_classes: int,
    y_known: np.ndarray | None = None,
    random_state: int | None = 0,
) -> np.ndarray:
    """Fit the configured label model on ``L`` and return ``(n_items, n_classes)`` ``P(y | L)``.

    For the round loop, which must run on any task: with no sources the result is uniform, and
    ``snorkel`` with fewer than three sources (which it cannot fit) falls back to majority vote.
    """
    if L.shape[1] == 0:
        return np.full((L.shape[0], n_classes), 1.0 / n_classes)
    if settings.kind == "snorkel" and L.shape[1] < MIN_SNORKEL_SOURCES:
        settings = settings.model_copy(update={"kind": "majority"})
    model = make_label_model(settings, n_classes=n_classes, random_state=random_state)
    return model.fit(L, y_known=y_known).predict_proba(L)
