"""Label efficiency: training-set accuracy against human share, ours versus the baselines.

Runs ``hitl-triage simulate`` (the library function) on the WRENCH train splits of youtube, sms
and trec over several budgets and seeds, and prints one table row per (set, budget): mean
training-set accuracy of our loop and of every baseline at the same number of human labels,
and whether we make fewer errors than the best baseline.

    python bench/label_efficiency.py                         # 5/10/20/30 %, 3 seeds
    python bench/label_efficiency.py --sets youtube --budgets 0.1 --seeds 5
    python bench/label_efficiency.py --guarantee --seeds 20  # accepted error <= alpha, per set

``--guarantee`` counts, per set (at its target budget: youtube and sms 10 %, trec 30 %), the runs whose true error among accepted items is at most
``alpha`` (a run that accepts nothing counts as holding, and the number of such runs is shown).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hitl_triage.config import load_config  # noqa: E402
from hitl_triage.evaluation import BASELINES  # noqa: E402
from hitl_triage.simulate import simulate  # noqa: E402

SETS = ("youtube", "sms", "trec")
TARGETS = {"youtube": (0.97, 0.10), "sms": (0.99, 0.10), "trec": (0.88, 0.30)}


def run_one(name: str, budget: float, seed: int, work: Path, overrides: dict) -> dict:
    config = load_config(REPO / "configs" / f"wrench_{name}.yaml")
    for section, values in overrides.items():
        config = config.model_copy(update={section: getattr(config, section).model_copy(update=values)})
    out = work / f"{name}_{budget}_{seed}"
    shutil.rmtree(out, ignore_errors=True)
    return simulate(config, budget=budget, seed=seed, out_dir=out)


def table(args: argparse.Namespace, work: Path) -> None:
    header = (f"{'set':8} {'budget':>6} {'seeds':>5} {'human':>6} {'ours':>7} {'accept':>7} {'acc@acc':>7} "
              + " ".join(f"{b:>10}" for b in BASELINES) + "  fewer-errors")
    print(header)
    print("-" * len(header))
    for name in args.sets:
        for budget in args.budgets:
            runs = []
            for seed in range(args.seeds):
                start = time.time()
                runs.append(run_one(name, budget, seed, work, {}))
                print(f"  # {name} {budget} seed {seed}: {runs[-1]['trainset_accuracy']:.4f} "
                      f"({time.time() - start:.0f}s)", file=sys.stderr, flush=True)
            ours = float(np.mean([r["trainset_accuracy"] for r in runs]))
            base = {b: float(np.mean([r["baselines"][b]["trainset_accuracy"] for r in runs])) for b in BASELINES}
            best = max(base.values())
            accepted = float(np.mean([r["accepted_share"] for r in runs]))
            acc_acc = [r["accepted_accuracy"] for r in runs if r["accepted_accuracy"] is not None]
            print(f"{name:8} {budget:>6.0%} {len(runs):>5} {np.mean([r['human_share'] for r in runs]):>6.3f} "
                  f"{ours:>7.4f} {accepted:>7.3f} {np.mean(acc_acc) if acc_acc else float('nan'):>7.4f} "
                  + " ".join(f"{base[b]:>10.4f}" for b in BASELINES)
                  + f"  {'yes' if ours > best else 'NO'} ({(1 - ours) / max(1 - best, 1e-9):.2f}x errors)",
                  flush=True)
            if name in TARGETS and abs(budget - TARGETS[name][1]) < 1e-9:
                goal = TARGETS[name][0]
                print(f"{'':8} target >= {goal} at <= {budget:.0%}: {'met' if ours >= goal else 'NOT met'}",
                      flush=True)


def guarantee(args: argparse.Namespace, work: Path) -> None:
    overrides = json.loads(args.overrides) if args.overrides else {}
    print(f"guarantee check: {args.seeds} seeds, overrides {overrides or 'none'}")
    for name in args.sets:
        holds, none_accepted, errors = 0, 0, []
        alpha = None
        budget = args.guarantee_budget or TARGETS[name][1]
        for seed in range(args.seeds):
            r = run_one(name, budget, seed, work, overrides)
            alpha = r["alpha"]
            if r["accepted_accuracy"] is None:
                none_accepted += 1
                holds += 1
                continue
            err = 1.0 - r["accepted_accuracy"]
            errors.append(err)
            holds += err <= alpha
            print(f"  # {name} seed {seed}: accepted {r['accepted_share']:.3f}, true error {err:.4f}",
                  file=sys.stderr, flush=True)
        print(f"{name:8} budget {budget:.0%}: true accepted error <= {alpha}: {holds}/{args.seeds} runs "
              f"({none_accepted} accepted nothing; mean accepted error {np.mean(errors) if errors else float('nan'):.4f}, "
              f"max {max(errors) if errors else float('nan'):.4f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.05, 0.1, 0.2, 0.3])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--guarantee", action="store_true", help="count runs with accepted error <= alpha")
    parser.add_argument("--guarantee-budget", type=float, default=None,
                        help="budget of the guarantee runs (default: the set's target budget, 10%% or 30%%)")
    parser.add_argument("--overrides", default="", help='JSON config overrides, e.g. {"triage": {"audit_fraction": 0.5}}')
    parser.add_argument("--work", type=Path, default=None, help="where run folders go (default: a temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hitl-bench-"))
    start = time.time()
    if args.guarantee:
        guarantee(args, work)
    else:
        table(args, work)
    print(f"({time.time() - start:.0f}s; run folders in {work})")


if __name__ == "__main__":
    main()
