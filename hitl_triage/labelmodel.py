"""Label models: turn a vote matrix ``L`` into probabilistic labels ``P(y | L)``.

Three models behind one scikit-learn-like interface (parameters in ``__init__``, ``fit`` returns
``self``, learned state ends in ``_``), chosen by ``label_model.kind``:

* ``majority`` -- :class:`MajorityVoteModel`: the share of non-abstaining votes for each class.
* ``snorkel`` -- :class:`SnorkelLabelModel`: snorkel's ``LabelModel`` (a generative model of LF
  accuracies fitted by SGD on vote overlaps; torch pinned to one thread while it runs).
* ``dawid_skene`` -- :class:`~hitl_triage.dawid_skene.DawidSkeneModel`: our vectorized numpy
  Dawid–Skene EM, more accurate than snorkel on the WRENCH sets and over 10x faster
  (``bench/labelmodel_bench.py``, ``docs/labelmodel.md``).
* ``auto`` -- :func:`choose_label_model`: majority vote, unless Dawid–Skene beats it on the
  audit labels by more than one standard error of the paired difference (neither wins on every
  WRENCH set: majority on trec and sms, Dawid–Skene on youtube and chemprot).

Known labels (from reviewers) set the class balance. Example::

    >>> L = np.array([[0, 0, -1], [1, -1, 1], [-1, -1, -1]], dtype=np.int8)
    >>> MajorityVoteModel(n_classes=2).fit(L).predict_proba(L)
    array([[1. , 0. ], [0. , 1. ], [0.5, 0.5]])
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, Self

import numpy as np

from hitl_triage.config import LabelModelConfig
from hitl_triage.dawid_skene import DawidSkeneModel
from hitl_triage.errors import LabelModelError
from hitl_triage.votes import ABSTAIN, check_votes, class_balance, vote_counts

__all__ = [
    "ABSTAIN",
    "DawidSkeneModel",
    "LabelModel",
    "MajorityVoteModel",
    "SnorkelLabelModel",
    "check_votes",
    "choose_label_model",
    "class_balance",
    "fit_label_model_probs",
    "make_label_model",
    "vote_counts",
]

MIN_SNORKEL_SOURCES = 3
# torch threads while snorkel fits and predicts. Measured on the 2-core machines
# (bench/labelmodel_bench.py prints it): one thread is faster than two on every WRENCH set
# (trec fit+predict: 5.0 s vs 17.6 s on a busy machine, 11 s vs 141 s on a very busy one), as
# the work is many tiny tensor ops and a second thread only adds contention.
SNORKEL_TORCH_THREADS = 1


class LabelModel(Protocol):
    """What every label model offers."""

    n_classes: int

    def fit(self, L: np.ndarray, *, y_known: np.ndarray | None = None) -> Self: ...

    def predict_proba(self, L: np.ndarray) -> np.ndarray: ...


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
def _preserve_global_rng() -> Iterator[None]:
    """snorkel's ``fit`` reseeds the global random, numpy and torch generators; undo that."""
    import torch

    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


@contextmanager
def torch_threads(n_threads: int) -> Iterator[None]:
    """Run the block with torch limited to ``n_threads`` intra-op threads, then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
        with _preserve_global_rng(), torch_threads(SNORKEL_TORCH_THREADS):
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
        with torch_threads(SNORKEL_TORCH_THREADS):
            probs = np.asarray(self.model_.predict_proba(L.astype(np.int64)), dtype=np.float64)
        no_votes = (L == ABSTAIN).all(axis=1)
        probs[no_votes] = self.prior_
        probs = np.clip(np.nan_to_num(probs, nan=1.0 / self.n_classes), 0.0, None)
        return probs / probs.sum(axis=1, keepdims=True)


def make_label_model(
    settings: LabelModelConfig, *, n_classes: int, random_state: int | None = 0
) -> MajorityVoteModel | SnorkelLabelModel | DawidSkeneModel:
    """Build the label model a config names (``label_model.kind``)."""
    if settings.kind == "majority":
        return MajorityVoteModel(n_classes=n_classes)
    if settings.kind == "dawid_skene":
        return DawidSkeneModel(
            n_classes=n_classes,
            n_iter=settings.n_iter,
            tol=settings.tol,
            smoothing=settings.smoothing,
            max_fit_items=settings.max_fit_items,
            random_state=random_state,
        )
    return SnorkelLabelModel(
        n_classes=n_classes,
        n_epochs=settings.n_epochs,
        lr=settings.lr,
        l2=settings.l2,
        random_state=random_state,
    )


AUTO_KINDS = ("majority", "dawid_skene")
AUTO_MIN_LABELS = 20  # below this many known labels, ``auto`` is majority vote


def choose_label_model(
    settings: LabelModelConfig,
    L: np.ndarray,
    *,
    n_classes: int,
    y_known: np.ndarray | None = None,
    random_state: int | None = 0,
) -> tuple[np.ndarray, str, str]:
    """``label_model.kind: auto``: majority vote or Dawid–Skene, by accuracy on the known labels.

    Both are fitted on ``L`` (each takes its class balance from ``y_known``). With fewer than
    ``AUTO_MIN_LABELS`` known labels it is majority vote, the documented default; then
    Dawid–Skene replaces it only if its wins minus losses on the known items exceed one
    standard error (:func:`hitl_triage.combine.select_posterior`, the rule the round loop
    uses to choose its posterior). In the round loop ``y_known`` holds the audit labels only:
    reviewed items are chosen for being hard and would favour whichever model errs elsewhere.

    Args:
        L: ``(n, m)`` votes, ``-1`` abstain.
        y_known: ``(n,)`` known labels, ``-1`` none (the round loop: audit labels).

    Returns:
        ``(probs, kind, reason)``: the chosen model's ``(n, k)`` ``P(y | L)``, its kind and why.
    """
    from hitl_triage.combine import select_posterior

    probs = {kind: make_label_model(settings.model_copy(update={"kind": kind}), n_classes=n_classes,
                                    random_state=random_state).fit(L, y_known=y_known).predict_proba(L)
             for kind in AUTO_KINDS}
    known = np.full(L.shape[0], -1) if y_known is None else np.asarray(y_known)
    rows = np.flatnonzero(known >= 0)
    pick = select_posterior(probs, known, rows, min_audit=AUTO_MIN_LABELS, default="majority")
    reason = (f"{rows.size} known labels < {AUTO_MIN_LABELS}: majority vote by default"
              if rows.size < AUTO_MIN_LABELS else pick.reason.replace(
                  "a challenger must beat", "dawid_skene must beat"))
    return pick.probs, pick.name, reason


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
    ``auto`` is :func:`choose_label_model` on ``y_known``.
    """
    if L.shape[1] == 0:
        return np.full((L.shape[0], n_classes), 1.0 / n_classes)
    if settings.kind == "auto":
        return choose_label_model(settings, L, n_classes=n_classes, y_known=y_known,
                                  random_state=random_state)[0]
    if settings.kind == "snorkel" and L.shape[1] < MIN_SNORKEL_SOURCES:
        settings = settings.model_copy(update={"kind": "majority"})
    model = make_label_model(settings, n_classes=n_classes, random_state=random_state)
    return model.fit(L, y_known=y_known).predict_proba(L)
