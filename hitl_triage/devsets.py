"""Development sets for simulations: the shared labeled sets as arrays, and a strong-LF set.

Gold labels here serve only the simulated reviewer and the scoring (see
:mod:`hitl_triage.evaluation`); the round loop never receives them.

Sets (``/work/shared/data``, see its README):

* ``youtube``, ``sms``, ``trec``, ``chemprot``: WRENCH train splits with their LF votes.
* ``agnews``, ``imdb``, ``yelp``: COSINE dev splits with their one ``major`` vote column
  (the majority vote of COSINE's keyword LFs), cut to ``max_items`` by a seeded sample.
* ``chemprot_strong``: the failure case of issue 10 rebuilt on chemprot's texts: 160
  *accurate* LFs derived from gold with noise (:func:`strong_lf_votes`), majority vote about
  0.85, replacing WRENCH's 26 LFs. Many accurate LFs and few human labels: an end model that
  learns the votes' weights from a few hundred human labels does worse than the LFs'
  consensus.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path("/work/shared/data")
WRENCH_SETS = ("youtube", "sms", "trec", "chemprot")
COSINE_SETS = ("agnews", "imdb", "yelp")
DEV_SETS = (*WRENCH_SETS, "chemprot_strong", *COSINE_SETS)


@dataclass(frozen=True)
class DevSet:
    """One labeled set as arrays.

    Attributes:
        name: set name; texts: ``n`` texts; L: ``(n, m)`` int8 votes (``-1`` abstain);
        gold: ``(n,)`` int64 gold labels (simulated reviewers and scoring only);
        n_classes: ``k``; extra: per-item extra fields (e.g. entity1/entity2 of chemprot).
    """

    name: str
    texts: list[str]
    L: np.ndarray
    gold: np.ndarray
    n_classes: int
    extra: dict[str, list]


def strong_lf_votes(gold: np.ndarray, n_classes: int, *, n_lfs: int = 160, hard_share: float = 0.12,
                    random_state: int = 0) -> np.ndarray:
    """``(n, n_lfs)`` int8 votes of accurate LFs derived from ``gold`` with noise.

    Each LF targets one class (classes in turn, so rare classes have LFs too) and fires on a random
    10-30 % of that class's items. A ``hard_share`` of the items have a *confuser* class:
    they draw fewer correct votes and attract votes of their confuser's LFs, so LF errors are
    correlated (as real LF errors are) and majority vote plateaus near 0.85 however many LFs
    vote. Every LF also fires on 0-0.3 % of all items with its own class (independent noise).
    """
    rng = np.random.default_rng([random_state, 101])
    n = gold.size
    hard = rng.random(n) < hard_share
    confuser = (gold + rng.integers(1, n_classes, size=n)) % n_classes
    L = np.full((n, n_lfs), -1, dtype=np.int8)
    for j in range(n_lfs):
        c = j % n_classes
        rate = rng.uniform(0.1, 0.3)
        fire_right = (gold == c) & (rng.random(n) < np.where(hard, 0.25 * rate, rate))
        fire_wrong = hard & (confuser == c) & (rng.random(n) < 1.5 * rate)
        fire_noise = rng.random(n) < rng.uniform(0.0, 0.003)
        L[fire_right | fire_wrong | fire_noise, j] = c
    return L


def _wrench(name: str) -> DevSet:
    folder = DATA / "wrench" / name
    records = json.loads((folder / "train.json").read_text(encoding="utf-8"))
    k = len(json.loads((folder / "label.json").read_text(encoding="utf-8")))
    values = list(records.values())
    texts = [r["data"].get("text") or "" for r in values]
    L = np.array([r["weak_labels"] for r in values], dtype=np.int8)
    gold = np.array([r["label"] for r in values], dtype=np.int64)
    keys = sorted({key for r in values for key in r["data"] if key != "text"})
    extra = {key: [r["data"].get(key) for r in values] for key in keys}
    return DevSet(name, texts, L, gold, k, extra)


def _cosine(name: str, max_items: int, random_state: int) -> DevSet:
    rows = json.loads((DATA / "cosine" / name / "dev_data.json").read_text(encoding="utf-8"))
    rng = np.random.default_rng([random_state, 5])
    if len(rows) > max_items:
        rows = [rows[i] for i in np.sort(rng.choice(len(rows), size=max_items, replace=False))]
    gold = np.array([r["label"] for r in rows], dtype=np.int64)
    L = np.array([[r["major"]] for r in rows], dtype=np.int8)
    return DevSet(name, [r["text"] or "" for r in rows], L, gold, int(gold.max()) + 1, {})


def load_devset(name: str, *, max_items: int = 3000, random_state: int = 0) -> DevSet:
    """The set ``name`` (one of ``DEV_SETS``) as arrays (see the module doc)."""
    if name in WRENCH_SETS:
        return _wrench(name)
    if name == "chemprot_strong":
        base = _wrench("chemprot")
        L = strong_lf_votes(base.gold, base.n_classes, random_state=random_state)
        return DevSet(name, base.texts, L, base.gold, base.n_classes, base.extra)
    if name in COSINE_SETS:
        return _cosine(name, max_items, random_state)
    raise ValueError(f"unknown development set {name!r}; expected one of {list(DEV_SETS)}")
