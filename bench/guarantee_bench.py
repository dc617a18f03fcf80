"""Which bound should certify the accepted error: exact Clopper-Pearson or PPI++?

Monte-Carlo on synthetic scores (no models; a minute): a pool of ``--pool`` unlabeled items
with blind scores drawn from Beta(5, 1) and a true probability of being wrong that depends on
the score in one of three ways:

- ``calibrated``: ``P(wrong) = 1 - score`` (the model's predicted error is right);
- ``conservative``: ``P(wrong) = 0.6 (1 - score)^1.5`` (the model fears more errors than it makes);
- ``overconfident``: ``P(wrong) = min(1, 2.5 (1 - score))`` (the model makes 2.5x the errors it
  predicts).

An audit of ``n`` items is drawn uniformly; the threshold is chosen by the fixed-sequence scan
of :mod:`hitl_triage.guarantee` with each bound; the true error of the pool items above it is
measured. Printed per (scenario, n, bound): the share of trials whose accepted error exceeds
``alpha`` (valid when <= delta, up to Monte-Carlo noise: the last column marks a violation
beyond three standard deviations), and the mean accepted share (the bound's power).

    python bench/guarantee_bench.py [--trials 500] [--pool 4000] [--audits 30 50 100 200 400]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hitl_triage.guarantee import calibrate_threshold, scan_ppi

SCENARIOS = {
    "calibrated": lambda s: 1.0 - s,
    "conservative": lambda s: 0.6 * (1.0 - s) ** 1.5,
    "overconfident": lambda s: np.minimum(1.0, 2.5 * (1.0 - s)),
}


def trial(rng: np.random.Generator, scenario: str, n_audit: int, pool: int, alpha: float,
          delta: float) -> dict[str, tuple[bool, float]]:
    """One draw: ``{bound: (accepted error > alpha, accepted share)}``."""
    scores = rng.beta(5.0, 1.0, size=pool)
    wrong = rng.random(pool) < SCENARIOS[scenario](scores)
    rows = rng.choice(pool, size=n_audit, replace=False)
    out = {}
    cp = calibrate_threshold(scores[rows], ~wrong[rows], alpha=alpha, delta=delta, start_fraction=0.2)
    ppi_t, _, _ = scan_ppi(scores[rows], wrong[rows], scores, alpha=alpha, delta=delta, min_audit=10,
                           start_fraction=0.2)
    for name, t in (("clopper_pearson", cp.threshold), ("ppi++", ppi_t)):
        above = scores >= t
        out[name] = (bool(above.any() and wrong[above].mean() > alpha), float(above.mean()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--pool", type=int, default=4000)
    parser.add_argument("--audits", type=int, nargs="+", default=[30, 50, 100, 200, 400])
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--delta", type=float, default=0.1)
    args = parser.parse_args()
    start = time.time()
    slack = 3 * np.sqrt(args.delta * (1 - args.delta) / args.trials)
    print(f"alpha {args.alpha}, delta {args.delta}, {args.trials} trials, pool {args.pool}")
    print(f"{'scenario':14} {'n_audit':>7} {'bound':>16} {'P(err>alpha)':>12} {'accepted':>9}  valid")
    for scenario in SCENARIOS:
        for n_audit in args.audits:
            rng = np.random.default_rng([n_audit, len(scenario)])
            results = [trial(rng, scenario, n_audit, args.pool, args.alpha, args.delta) for _ in range(args.trials)]
            for bound in ("clopper_pearson", "ppi++"):
                miss = float(np.mean([r[bound][0] for r in results]))
                share = float(np.mean([r[bound][1] for r in results]))
                verdict = "yes" if miss <= args.delta + slack else "NO"
                print(f"{scenario:14} {n_audit:>7} {bound:>16} {miss:>12.3f} {share:>9.3f}  {verdict}", flush=True)
    print(f"({time.time() - start:.0f}s)")


if __name__ == "__main__":
    main()
