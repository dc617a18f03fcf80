"""Label models side by side: snorkel's LabelModel, majority vote and our Dawid–Skene EM.

For each WRENCH set the models are fitted on the train split's weak labels (no gold, no human
labels) and then predict the test split; ``test acc`` is accuracy on the test split and
``train acc`` accuracy on the train split they were fitted on (the transductive figure the data
README quotes). chemprot ships one split, so both columns are the train split. The synthetic
set is 1M items x 20 LFs x 4 classes with known LF accuracies (0.4-0.85), coverages (0.05-0.5)
and an unbalanced class prior; models are fitted and scored on the same 1M rows, and ``LF acc
err`` is the mean absolute error of each model's estimated LF accuracies.

``fit+predict`` is wall time of ``fit`` on train plus ``predict_proba`` on test, best of
``--repeats`` runs, all measured in this run; ``vs snorkel`` is snorkel's time over the model's
(higher = faster). snorkel runs with its defaults (500 epochs, lr 0.01) through
:class:`hitl_triage.labelmodel.SnorkelLabelModel`, i.e. with torch on one thread; the last
table compares one against two torch threads.

    python bench/labelmodel_bench.py                 # everything (a few minutes)
    python bench/labelmodel_bench.py --sets youtube trec --repeats 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hitl_triage import labelmodel  # noqa: E402
from hitl_triage.dawid_skene import DawidSkeneModel  # noqa: E402
from hitl_triage.labelmodel import MajorityVoteModel, SnorkelLabelModel  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wrench"
WRENCH = ("youtube", "sms", "trec", "chemprot")
SYNTH = "synthetic"


def load_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``(L (n, m) int8, gold (n,) int64, n_classes)`` of one WRENCH split."""
    records = json.loads((DATA / name / f"{split}.json").read_text())
    L = np.array([r["weak_labels"] for r in records.values()], dtype=np.int8)
    y = np.array([r["label"] for r in records.values()], dtype=np.int64)
    k = len(json.loads((DATA / name / "label.json").read_text()))
    return L, y, k


def synthetic(n: int, m: int = 20, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(L (n, m) int8, gold (n,), true LF accuracies (m,))``; wrong votes uniform."""
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=[0.4, 0.3, 0.2, 0.1])
    accuracy, coverage = rng.uniform(0.4, 0.85, m), rng.uniform(0.05, 0.5, m)
    L = np.full((n, m), -1, dtype=np.int8)
    for j in range(m):
        wrong = (y + rng.integers(1, k, n)) % k
        vote = np.where(rng.random(n) < accuracy[j], y, wrong)
        L[:, j] = np.where(rng.random(n) < coverage[j], vote, -1)
    return L, y, accuracy


def models(k: int) -> dict[str, Callable[[], object]]:
    return {
        "snorkel": lambda: SnorkelLabelModel(n_classes=k),
        "majority": lambda: MajorityVoteModel(n_classes=k),
        "dawid_skene": lambda: DawidSkeneModel(n_classes=k),
    }


def timed(make: Callable[[], object], L_fit: np.ndarray, L_pred: np.ndarray, repeats: int) -> tuple[float, object, np.ndarray]:
    best, model, probs = np.inf, None, None
    for _ in range(repeats):
        start = time.perf_counter()
        model = make().fit(L_fit)
        probs = model.predict_proba(L_pred)
        best = min(best, time.perf_counter() - start)
    return best, model, probs


def lf_accuracy(model: object, accuracy: np.ndarray) -> str:
    if isinstance(model, DawidSkeneModel):
        return f"{np.abs(model.source_accuracy_ - accuracy).mean():.4f}"
    if isinstance(model, SnorkelLabelModel):
        return f"{np.abs(model.model_.get_weights() - accuracy).mean():.4f}"
    return "-"


def row(name: str, shape: str, model: str, seconds: float, snorkel: float, test: float, train: float, extra: str = "") -> None:
    ratio = snorkel / seconds if np.isfinite(snorkel) else float("nan")
    print(f"{name:10} {shape:>15} {model:24} {seconds:9.3f} {ratio:9.1f}x {test:9.4f} {train:9.4f} {extra:>10}", flush=True)


def header() -> None:
    print(f"{'set':10} {'n x m x k':>15} {'model':24} {'fit+pred s':>9} {'vs snorkel':>10} "
          f"{'test acc':>9} {'train acc':>9} {'LF acc err':>10}")
    print("-" * 104)


def bench_wrench(name: str, repeats: int) -> None:
    L_train, y_train, k = load_split(name, "train")
    L_test, y_test, _ = load_split(name, "test") if name != "chemprot" else (L_train, y_train, k)
    shape = f"{L_train.shape[0]}x{L_train.shape[1]}x{k}"
    times: dict[str, float] = {}
    for label, make in models(k).items():
        seconds, model, probs = timed(make, L_train, L_test, repeats)
        times[label] = seconds
        train = (model.predict_proba(L_train).argmax(axis=1) == y_train).mean()
        row(name, shape, label, seconds, times["snorkel"], (probs.argmax(axis=1) == y_test).mean(), train)


def bench_synthetic(n: int, repeats: int, snorkel_budget: float) -> None:
    L, y, accuracy = synthetic(n)
    k = 4
    shape = f"{n}x{L.shape[1]}x{k}"
    # snorkel on 1M rows can take minutes on a busy 2-core machine: time it on 100k first
    probe = min(n, 100_000)
    probe_seconds, _, _ = timed(models(k)["snorkel"], L[:probe], L[:probe], 1)
    estimate = probe_seconds * n / probe
    if estimate <= snorkel_budget:
        snorkel_seconds, model, probs = timed(models(k)["snorkel"], L, L, 1)
        label = "snorkel"
    else:
        snorkel_seconds, model, probs = probe_seconds, None, None
        label = f"snorkel (on {probe} rows)"
        _, model, probs = timed(models(k)["snorkel"], L[:probe], L[:probe], 1)
    gold = y if probs.shape[0] == n else y[:probe]
    acc = (probs.argmax(axis=1) == gold).mean()
    row(SYNTH, shape, label, snorkel_seconds, snorkel_seconds, acc, acc, lf_accuracy(model, accuracy))
    if label != "snorkel":
        print(f"# snorkel on all {n} rows estimated at {estimate:.0f} s (> --snorkel-budget "
              f"{snorkel_budget:.0f} s): it ran on the first {probe} rows; its time is that run's",
              flush=True)
    entries = [("majority", models(k)["majority"]), ("dawid_skene", models(k)["dawid_skene"]),
               ("dawid_skene (EM on 200k)", lambda: DawidSkeneModel(n_classes=k, max_fit_items=200_000))]
    for name, make in entries:
        seconds, model, probs = timed(make, L, L, repeats)
        acc = (probs.argmax(axis=1) == y).mean()
        row(SYNTH, shape, name, seconds, snorkel_seconds, acc, acc, lf_accuracy(model, accuracy))


def bench_threads(name: str) -> None:
    """snorkel fit+predict with torch on one thread (our setting) and on two."""
    L_train, _, k = load_split(name, "train")
    print(f"\nsnorkel torch threads on {name} train (fit+predict, best of 2):")
    default = labelmodel.SNORKEL_TORCH_THREADS
    try:
        for threads in (1, 2):
            labelmodel.SNORKEL_TORCH_THREADS = threads
            seconds, _, _ = timed(models(k)["snorkel"], L_train, L_train, 2)
            print(f"  {threads} thread{'s' if threads > 1 else ''}: {seconds:.3f} s")
    finally:
        labelmodel.SNORKEL_TORCH_THREADS = default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=[*WRENCH, SYNTH], choices=[*WRENCH, SYNTH])
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per model, best kept")
    parser.add_argument("--synthetic-items", type=int, default=1_000_000)
    parser.add_argument("--snorkel-budget", type=float, default=240.0,
                        help="seconds snorkel may take on the synthetic set before it is subsampled")
    args = parser.parse_args()
    # import torch and snorkel and run one tiny fit first, so no timing below includes them
    SnorkelLabelModel(n_classes=2, n_epochs=1).fit(np.zeros((10, 3), dtype=np.int8))
    header()
    for name in args.sets:
        if name == SYNTH:
            bench_synthetic(args.synthetic_items, args.repeats, args.snorkel_budget)
        else:
            bench_wrench(name, args.repeats)
    if "trec" in args.sets:
        bench_threads("trec")


if __name__ == "__main__":
    main()
