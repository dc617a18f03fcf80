"""Scoring and baselines for simulations (the only module besides the simulated reviewer that
sees gold labels).

Every baseline spends the same number of human labels as the method it is compared with, on
the same items and votes, and gives every item a label:

* ``no_human``: the label model alone (no label spent).
* ``naive``: one shot, the least label-model-confident items go to humans, the label model
  labels the rest.
* ``random``: uniformly random items go to humans, the label model labels the rest.
* ``supervised``: the end model's text features and classifier, trained only on uniformly
  random gold labels, predicts the rest (no weak supervision).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from hitl_triage.confidence import RoundInputs
from hitl_triage.config import TaskConfig
from hitl_triage.endmodel import combine_features
from hitl_triage.labelmodel import fit_label_model_probs

BASELINES = ("no_human", "naive", "random", "supervised")


def accuracy(labels: np.ndarray, gold: np.ndarray, mask: np.ndarray | None = None) -> float | None:
    """Share of ``labels`` equal to ``gold`` where gold is known (and ``mask``); None if empty."""
    scored = gold >= 0
    if mask is not None:
        scored &= mask
    if not scored.any():
        return None
    return float((labels[scored] == gold[scored]).mean())


class Baselines:
    """Baseline training sets at any number of human labels, for one dataset and seed.

    Args:
        config: the task (label model and end-model settings).
        inputs: items and votes shared with the method under test.
        gold: ``(n,)`` int64 gold labels, ``-1`` unknown.
        random_state: seed of the random draws and the label model.
    """

    def __init__(self, config: TaskConfig, inputs: RoundInputs, gold: np.ndarray, *, random_state: int) -> None:
        self.config = config
        self.gold = gold
        self.random_state = random_state
        self.lm_ = fit_label_model_probs(config.label_model, inputs.L, n_classes=config.n_classes,
                                         random_state=random_state)
        text_only = config.confidence.model_copy(update={"vote_features": False})
        # the run's text features, built once; a constant column when no text has a feature
        self.X_ = combine_features(inputs.X_text, inputs.L, settings=text_only, n_classes=config.n_classes)
        n = gold.size
        self.random_order_ = np.random.default_rng([random_state, 7]).permutation(n)
        self.naive_order_ = np.argsort(self.lm_.max(axis=1), kind="stable")

    def labels(self, name: str, n_labels: int) -> np.ndarray:
        """``(n,)`` the training set of baseline ``name`` with ``n_labels`` gold labels."""
        guess = self.lm_.argmax(axis=1)
        if name == "no_human":
            return guess
        if name == "naive":
            return self._with_gold(guess, self.naive_order_[:n_labels])
        if name == "random":
            return self._with_gold(guess, self.random_order_[:n_labels])
        if name == "supervised":
            return self._supervised(self.random_order_[:n_labels])
        raise ValueError(f"unknown baseline {name!r}; expected one of {list(BASELINES)}")

    def _with_gold(self, guess: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = guess.copy()
        rows = rows[self.gold[rows] >= 0]
        out[rows] = self.gold[rows]
        return out

    def _supervised(self, rows: np.ndarray) -> np.ndarray:
        rows = rows[self.gold[rows] >= 0]
        k = self.config.n_classes
        if rows.size == 0:
            return np.zeros(self.gold.size, dtype=np.int64)
        classes = np.unique(self.gold[rows])
        if classes.size == 1:
            pred = np.full(self.gold.size, classes[0])
        else:
            with threadpool_limits(1):
                model = LogisticRegression(C=self.config.confidence.C, max_iter=1000, tol=1e-3)
                model.fit(self.X_[rows], self.gold[rows])
                pred = model.predict(self.X_)
        out = pred.astype(np.int64)
        out[rows] = self.gold[rows]
        return np.clip(out, 0, k - 1)

    def score(self, n_labels: int) -> dict[str, dict[str, float | None]]:
        """Every baseline at ``n_labels``: ``{name: {human_share, trainset_accuracy}}``."""
        n = self.gold.size
        out: dict[str, dict[str, float | None]] = {}
        for name in BASELINES:
            spent = 0 if name == "no_human" else n_labels
            out[name] = {"human_share": spent / n,
                         "trainset_accuracy": accuracy(self.labels(name, spent), self.gold)}
        return out
