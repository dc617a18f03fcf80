"""Benchmark of the LLM judge with the embedded llama.cpp server and Gemma 3 270M.

On the WRENCH YouTube and SMS test splits (the first ``--n-items`` of each, default 100):

- accuracy of the judge's votes, against the majority-class rate and the WRENCH LFs' majority
  vote on the same items (the baselines, same run);
- expected calibration error (ECE, 10 bins) of its probabilities before and after temperature
  scaling (the temperature is cross-fitted: fitted on one half of the items, scored on the
  other, and the other way round, so the "after" figure is out-of-sample);
- items per second at concurrency 1 and at the best of ``--concurrency`` on the same
  ``--sweep-items`` YouTube comments, each level with a fresh cache;
- cached re-run items per second: the judged texts repeated under new ids to ``--cached-items``
  rows (same prompts, so every answer comes from the SQLite cache), target ≥ 5,000 items/s.

Few-shot examples are 4 labeled items of each set's *train* split (label-diverse), as reviewed
labels would supply them. Then the label-efficiency comparison: the simulated round loop
(``hitl_triage.simulate``, reviewers answered from gold) on the same judged items, with the
WRENCH LFs alone and with the judge as one more source, against the loop's own baselines.

    python bench/judge_bench.py [--n-items 100] [--sweep-items 40] [--concurrency 1 2 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from hitl_triage.config import TaskConfig, parse_config
from hitl_triage.data import Dataset, load_dataset, load_gold
from hitl_triage.judge import load_judgements, run_judge
from hitl_triage.judge.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
)
from hitl_triage.judge.server import start_local_server

DATA = Path("/work/shared/data/wrench")
SETS = {
    "youtube": [
        {"name": "ham", "description": "A genuine comment about the video, the song or the artist."},
        {"name": "spam", "description": "Self-promotion or advertising: links, 'check out my "
                                        "channel', requests to subscribe, giveaways."},
    ],
    "sms": [
        {"name": "ham", "description": "An ordinary personal text message."},
        {"name": "spam", "description": "Unsolicited advertising, prizes, premium-rate numbers or "
                                        "scams."},
    ],
}


def make_config(name: str, split: str, run_dir: Path, base_url: str, **judge: object) -> TaskConfig:
    return parse_config({
        "task": f"{name}_spam", "labels": SETS[name],
        "dataset": {"path": str(DATA / name), "split": split, "vote_fields": ["weak_labels"]},
        "run_dir": str(run_dir),
        "judge": {"base_url": base_url, "few_shot": 4, "calibrate": False, **judge},
    })


def head(dataset: Dataset, n: int) -> Dataset:
    return dataclasses.replace(dataset, items=dataset.items.head(n),
                               precomputed_L=dataset.precomputed_L[:n])


def few_shot_from_train(name: str, base_url: str, tmp: Path) -> list[tuple[str, int]]:
    config = make_config(name, "train", tmp / f"{name}_train", base_url)
    train = load_dataset(config.dataset, n_classes=2)
    gold = load_gold(config.dataset, config.label_names, train.ids)
    texts = train.items["text"].to_list()
    order = np.random.default_rng(0).permutation(len(texts))
    picked: list[tuple[str, int]] = []
    for label in (1, 0, 1, 0):
        i = next(i for i in order if gold[i] == label and len(texts[i] or "") < 200
                 and (texts[i], label) not in picked)
        picked.append((texts[i], label))
    return picked


def majority_vote(L: np.ndarray) -> np.ndarray:
    """LF majority vote per row, ``-1`` where every LF abstains or the vote ties."""
    out = np.full(len(L), -1)
    for i, row in enumerate(L):
        counts = np.bincount(row[row >= 0], minlength=2)
        if counts.sum() and counts[0] != counts[1]:
            out[i] = int(np.argmax(counts))
    return out


def cross_fitted_ece(probs: np.ndarray, gold: np.ndarray) -> tuple[float, float, float]:
    """ECE before, ECE after 2-fold cross-fitted temperature scaling, and the full-data T."""
    rng = np.random.default_rng(0)
    fold = rng.permutation(len(gold)) % 2
    scaled = probs.copy()
    for f in (0, 1):
        temperature = fit_temperature(probs[fold != f], gold[fold != f])
        scaled[fold == f] = apply_temperature(probs[fold == f], temperature)
    return (expected_calibration_error(probs, gold), expected_calibration_error(scaled, gold),
            fit_temperature(probs, gold))


def timed_run(config: TaskConfig, dataset: Dataset, few_shot: list[tuple[str, int]]):
    start = time.perf_counter()
    result = run_judge(config, dataset, few_shot=few_shot)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-items", type=int, default=100)
    parser.add_argument("--sweep-items", type=int, default=40)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--cached-items", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=0.2,
                        help="label-efficiency part: share of items simulated reviewers label")
    parser.add_argument("--efficiency-sets", nargs="*", default=["youtube"], choices=list(SETS),
                        help="sets for the label-efficiency part (each costs two simulations, "
                        "a few minutes on 2 cores)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="judge-bench-") as tmp_name, \
            start_local_server(port=0, n_threads=args.threads) as server:
        tmp = Path(tmp_name)
        url = server.base_url
        print(f"llama.cpp server {url}, Gemma 3 270M Q4_K_M, {args.threads} threads; "
              f"first {args.n_items} items of each test split")

        # -- throughput by concurrency, same items, fresh cache each ---------------------------
        shots = {name: few_shot_from_train(name, url, tmp) for name in SETS}
        sweep_config = make_config("youtube", "test", tmp / "sweep", url)
        sweep = head(load_dataset(sweep_config.dataset, n_classes=2), args.sweep_items)
        warm = make_config("youtube", "test", tmp / "warm_up", url)
        run_judge(warm, head(sweep, 1), few_shot=shots["youtube"])  # load weights, fill the prefix
        rates: dict[int, float] = {}
        for level in args.concurrency:
            config = make_config("youtube", "test", tmp / f"sweep_c{level}", url, concurrency=level)
            result, seconds = timed_run(config, sweep, shots["youtube"])
            rates[level] = (result.n_items - result.skipped) / seconds
            print(f"  concurrency {level}: {rates[level]:.2f} items/s "
                  f"({result.requests} requests, {seconds:.1f}s)")
        best = max(rates, key=lambda c: rates[c])
        base_rate = rates.get(1, rates[min(rates)])
        print(f"items/s at concurrency 1: {base_rate:.2f}; best: {rates[best]:.2f} at "
              f"concurrency {best} ({rates[best] / base_rate:.2f}x)")

        # -- accuracy and calibration ----------------------------------------------------------
        for name in SETS:
            config = make_config(name, "test", tmp / name, url, concurrency=best)
            dataset = head(load_dataset(config.dataset, n_classes=2), args.n_items)
            result, seconds = timed_run(config, dataset, shots[name])
            votes = load_judgements(config.out_dir, dataset.ids, 2)
            gold = load_gold(config.dataset, config.label_names, dataset.ids)
            ok = votes.judged
            accuracy = float((votes.votes[ok] == gold[ok]).mean())
            majority_class = float(max(gold.mean(), 1 - gold.mean()))
            mv = majority_vote(dataset.precomputed_L)
            mv_cov = mv >= 0
            mv_acc = float((mv[mv_cov] == gold[mv_cov]).mean())
            ece_before, ece_after, temperature = cross_fitted_ece(votes.probs[ok], gold[ok])
            outside = pl.read_parquet(config.out_dir / "judge" / "judgements.parquet")[
                "outside_mass"].to_numpy()[ok]
            predicted_spam = float((votes.votes[ok] == 1).mean())
            print(f"\n[{name}] {result.n_items} items: judged {result.judged}, abstained "
                  f"{result.abstained}, failed {result.failed}, skipped {result.skipped}; "
                  f"{result.requests} requests in {seconds:.1f}s "
                  f"({(result.n_items - result.skipped) / seconds:.2f} items/s)")
            print(f"  judge accuracy {accuracy:.3f} (votes 'spam' on {predicted_spam:.0%}); "
                  f"majority class {majority_class:.3f}; WRENCH LF majority vote {mv_acc:.3f} "
                  f"on its {mv_cov.mean():.0%} coverage")
            print(f"  ECE before {ece_before:.3f}, after temperature scaling {ece_after:.3f} "
                  f"(cross-fitted; full-data T = {temperature:.2f}); mean outside mass "
                  f"{outside.mean():.3f}")

            # -- cached re-run -----------------------------------------------------------------
            reps = -(-args.cached_items // dataset.n_items)
            big_items = pl.concat([
                dataset.items.with_columns((pl.col("id") + f"#{r}").alias("id"))
                for r in range(reps)
            ]).head(args.cached_items)
            big = Dataset(items=big_items, precomputed_L=np.zeros((big_items.height, 0), np.int8),
                          precomputed_names=[], source=dataset.source)
            cached, seconds = timed_run(config, big, shots[name])
            assert cached.requests == 0, cached
            print(f"  cached re-run: {big.n_items} items in {seconds:.2f}s = "
                  f"{big.n_items / seconds:,.0f} items/s, 0 requests "
                  f"({big.n_items / seconds / rates[best]:,.0f}x the uncached rate)")

        if importlib.util.find_spec("hitl_triage.simulate") is None:
            print("\nlabel efficiency with and without the judge: skipped, the round loop "
                  "(hitl_triage/curriculum.py, simulate.py) does not exist yet")
            return
        for name in args.efficiency_sets:
            label_efficiency(name, n_items=args.n_items, budget=args.budget, tmp=tmp, url=url,
                             few_shot=shots[name])


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def subset_wrench(name: str, n_items: int, folder: Path) -> Path:
    """A WRENCH folder whose test split is the first ``n_items`` records of ``name``'s test."""
    folder.mkdir(parents=True, exist_ok=True)
    records = json.loads((DATA / name / "test.json").read_text(encoding="utf-8"))
    first = dict(list(records.items())[:n_items])
    (folder / "test.json").write_text(json.dumps(first), encoding="utf-8")
    shutil.copy(DATA / name / "label.json", folder / "label.json")
    return folder


def label_efficiency(name: str, *, n_items: int, budget: float, tmp: Path, url: str,
                     few_shot: list[tuple[str, int]]) -> None:
    """The simulated round loop on the judged items, with and without the judge as a source."""
    from hitl_triage.config import load_config
    from hitl_triage.simulate import simulate

    base = load_config(Path(__file__).resolve().parents[1] / "configs" / f"wrench_{name}.yaml")
    dataset_cfg = base.dataset.model_copy(update={
        "path": subset_wrench(name, n_items, tmp / f"{name}_subset"), "split": "test"})
    print(f"\n[{name}] label efficiency: simulated reviewers, budget {budget:.0%} of "
          f"{n_items} items, configs/wrench_{name}.yaml settings")
    for with_judge in (False, True):
        out = tmp / f"{name}_sim_{'judge' if with_judge else 'nojudge'}"
        bench_config = make_config(name, "test", out, url)  # same task name and labels as the
        config = base.model_copy(update={                    # judged run: the same prompts
            "task": bench_config.task, "labels": bench_config.labels, "dataset": dataset_cfg,
            "run_dir": out})
        if with_judge:
            config = config.model_copy(update={"judge": bench_config.judge})
            (out / "judge").mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp / name / "judge" / "cache.sqlite", out / "judge" / "cache.sqlite")
            dataset = load_dataset(config.dataset, n_classes=2)
            judged = run_judge(config, dataset, few_shot=few_shot)
            assert judged.requests == 0, judged  # every answer is in the copied cache
        start = time.perf_counter()
        summary = simulate(config, budget=budget, seed=0, out_dir=out)
        baselines = summary["baselines"]
        print(f"  {'with' if with_judge else 'without'} judge: training-set accuracy "
              f"{_fmt(summary['trainset_accuracy'])} with {summary['human_share']:.0%} human "
              f"labels; auto-accepted {summary['accepted_share']:.0%} (accuracy "
              f"{_fmt(summary['accepted_accuracy'])}); baselines at the same labels: "
              + ", ".join(f"{k} {_fmt(v['trainset_accuracy'])}" for k, v in baselines.items())
              + f" ({time.perf_counter() - start:.0f}s)")


if __name__ == "__main__":
    main()
