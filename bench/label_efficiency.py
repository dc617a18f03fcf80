"""Label efficiency: training-set accuracy against human share, the new method beside today's.

Runs the round loop in memory (:func:`hitl_triage.loop.run_loop`, the same rounds, caps and
seeds as ``hitl-triage simulate``) on the development sets (:mod:`hitl_triage.devsets`: WRENCH
youtube, sms, trec, chemprot, the strong-LF ``chemprot_strong``, COSINE agnews/imdb/yelp) over
budgets and seeds. One row per (set, budget, method): mean training-set accuracy, accepted
share and the accepted items' true accuracy, runs whose accepted error is <= alpha, the
coverage of the 90 % training-set accuracy interval, and every baseline at the same number of
human labels (no_human, naive, random, supervised).

    python bench/label_efficiency.py --sets youtube sms --budgets 0.1 --seeds 5 --compare
    python bench/label_efficiency.py --sets chemprot_strong --budgets 0.1 0.2 0.3 --seeds 3 --compare
    python bench/label_efficiency.py --sets youtube --budgets 0.1 --methods new today audit_half
    python bench/label_efficiency.py --sets trec --budgets 0.3 --seeds 10 --first-seed 10

``--compare`` also runs today's method (commit a097e18's settings: ``confidence.combine:
end_model``, TF-IDF features, fixed uniform audit) in the same run, on the same seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sklearn.linear_model import LogisticRegression  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from hitl_triage.config import LabelModelConfig  # noqa: E402
from hitl_triage.devsets import DEV_SETS, load_devset  # noqa: E402
from hitl_triage.endmodel import text_features  # noqa: E402
from hitl_triage.engine import RoundEngine  # noqa: E402
from hitl_triage.labelmodel import fit_label_model_probs  # noqa: E402
from hitl_triage.loop import run_loop  # noqa: E402
from hitl_triage.round_settings import ConfidenceConfig, TriageConfig  # noqa: E402

SCHEDULE = [0.2, 0.15, 0.13, 0.12, 0.11, 0.1, 0.1, 0.09]  # configs/wrench_*.yaml
METHODS = {
    "new": {"confidence": {}, "triage": {}},
    "today": {"confidence": {"combine": "end_model", "features": "tfidf"},
              "triage": {"audit_adaptive": False, "audit_region": None}},
    # candidates measured beside the default (docs/rounds.md)
    "audit_half": {"confidence": {}, "triage": {"audit_fraction": 0.5}},
    "per_class": {"confidence": {}, "triage": {"per_class_thresholds": True}},
    "region": {"confidence": {}, "triage": {"audit_region": 0.7, "audit_fraction": 0.4}},
    "embed": {"confidence": {"features": "tfidf+embeddings", "embedding_model": "static"}, "triage": {}},
    "tfidf": {"confidence": {"features": "tfidf"}, "triage": {}},
    "lm_auto": {"confidence": {}, "triage": {}, "label_model": "auto"},
    "lm_auto_tfidf": {"confidence": {"features": "tfidf"}, "triage": {}, "label_model": "auto"},
}
BASELINES = ("no_human", "naive", "random", "supervised")


def baselines(d, X_text, n_labels: int, seed: int) -> dict[str, float]:
    """Training-set accuracy of every baseline with ``n_labels`` gold labels."""
    lm = fit_label_model_probs(LabelModelConfig(kind="majority"), d.L, n_classes=d.n_classes,
                               random_state=seed)
    guess = lm.argmax(axis=1)
    n = guess.size
    out = {"no_human": float((guess == d.gold).mean())}
    for name, order in (("naive", np.argsort(lm.max(axis=1), kind="stable")),
                        ("random", np.random.default_rng([seed, 7]).permutation(n))):
        labels = guess.copy()
        labels[order[:n_labels]] = d.gold[order[:n_labels]]
        out[name] = float((labels == d.gold).mean())
    rows = np.random.default_rng([seed, 7]).permutation(n)[:n_labels]
    if X_text is None or np.unique(d.gold[rows]).size < 2:
        out["supervised"] = float("nan")
    else:
        with threadpool_limits(1):
            pred = LogisticRegression(C=10.0, max_iter=1000, tol=1e-3).fit(X_text[rows], d.gold[rows]).predict(X_text)
        pred[rows] = d.gold[rows]
        out["supervised"] = float((pred == d.gold).mean())
    return out


def run(d, X, method: str, budget: float, seed: int, alpha: float) -> dict:
    over = METHODS[method]
    engine = RoundEngine(d.n_classes, label_model=LabelModelConfig(kind=over.get("label_model", "majority")),
                         confidence=ConfidenceConfig(**over["confidence"]),
                         triage=TriageConfig(**over["triage"]))
    res = run_loop(engine, d.L, X, reviewer=lambda rows, routes: d.gold[rows],
                   total_budget=budget, schedule=SCHEDULE, seed=seed)
    f = res.final
    acc = float((f.label == d.gold).mean())
    auto = f.source == "auto"
    fig = f.figures
    low, high = fig.get("trainset_accuracy_low"), fig.get("trainset_accuracy_high")
    return {"acc": acc, "human": float((f.source == "human").mean()), "accepted": float(auto.mean()),
            "acc_acc": float((f.label[auto] == d.gold[auto]).mean()) if auto.any() else None,
            "covered": low is not None and high is not None and low - 1e-12 <= acc <= high + 1e-12,
            "plain_covered": fig.get("est_trainset_accuracy_low") is not None
            and fig["est_trainset_accuracy_low"] <= acc,
            "est": fig.get("trainset_accuracy_est"), "old_est": fig.get("est_trainset_accuracy"),
            "posterior": fig.get("posterior"), "alpha": alpha}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["youtube", "sms", "trec", "chemprot_strong"], choices=DEV_SETS)
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.1, 0.2, 0.3])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds first..first+seeds-1 (split a 20-seed run over processes)")
    parser.add_argument("--compare", action="store_true", help="also run today's method in the same run")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=None,
                        help="methods to run (default: new, and today with --compare)")
    args = parser.parse_args()
    start = time.time()
    methods = args.methods or (["new", "today"] if args.compare else ["new"])
    alpha = TriageConfig().alpha
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"{'set':16} {'budget':>6} {'method':>10} {'acc':>7} {'accept':>7} {'acc@acc':>7} {'valid':>6} "
          f"{'ci-cover':>8} {'|est-acc|':>9} " + " ".join(f"{b:>10}" for b in BASELINES) + "  >=max(no_human,naive)-0.005")
    for name in args.sets:
        d = load_devset(name)
        features: dict[str, object] = {}  # one design matrix per distinct feature setting
        X_text = text_features(d.texts, settings=ConfidenceConfig())
        for budget in args.budgets:
            base = [baselines(d, X_text, round(budget * d.gold.size), s) for s in seeds]
            mean_base = {b: float(np.nanmean([r[b] for r in base])) for b in BASELINES}
            for method in methods:
                runs = []
                for seed in seeds:
                    t = time.time()
                    conf = ConfidenceConfig(**METHODS[method]["confidence"])
                    key = (conf.features, conf.embedding_model)
                    if key not in features:
                        features[key] = RoundEngine(d.n_classes, confidence=conf).features(d.texts, d.L)
                    runs.append(run(d, features[key], method, budget, seed, alpha))
                    print(f"  # {name} {budget} {method} seed {seed}: {runs[-1]} ({time.time() - t:.0f}s)",
                          file=sys.stderr, flush=True)
                acc = float(np.mean([r["acc"] for r in runs]))
                acc_acc = [r["acc_acc"] for r in runs if r["acc_acc"] is not None]
                valid = sum(r["acc_acc"] is None or 1 - r["acc_acc"] <= alpha for r in runs)
                cover = sum(r["covered"] for r in runs)
                miss = max(abs(r["est"] - r["acc"]) for r in runs if r["est"] is not None) if any(
                    r["est"] is not None for r in runs) else float("nan")
                floor = max(mean_base["no_human"], mean_base["naive"]) - 0.005
                print(f"{name:16} {budget:>6.0%} {method:>10} {acc:>7.4f} {np.mean([r['accepted'] for r in runs]):>7.3f} "
                      f"{np.mean(acc_acc) if acc_acc else float('nan'):>7.4f} {valid:>3}/{len(runs):<2} "
                      f"{cover:>5}/{len(runs):<2} {miss:>9.3f} " + " ".join(f"{mean_base[b]:>10.4f}" for b in BASELINES)
                      + f"  {'yes' if acc >= floor else 'NO'}", flush=True)
    print(f"({time.time() - start:.0f}s)")


if __name__ == "__main__":
    main()
