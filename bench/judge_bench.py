"""Benchmark of the LLM judge with the embedded llama.cpp server and Gemma 3 270M.

On the WRENCH YouTube and SMS test splits (the first ``--n-items`` of each, default 100):

- accuracy of the judge's votes, against the majority-class rate and the WRENCH LFs' majority
  vote on the same items (the baselines, same run);
- for each label-bias correction (``none``, ``content_free``, ``mean_prior``; all from the same
  cached answers): accuracy, the share of votes per class, and the expected calibration error
  (ECE, 10 bins) before and after temperature scaling, and after temperature plus class bias
  (both cross-fitted on gold: fitted on one half of the items, scored on the other and the
  other way round, so the "after" figures are out-of-sample, as reviewed labels would give
  them; class bias only where each half has ≥ 10 items of every class);
- items per second at concurrency 1 and at the best of ``--concurrency`` on the same
  ``--sweep-items`` YouTube comments, each level with a fresh cache (``--sweep-items 0`` skips
  it and uses the largest ``--concurrency``);
- cached re-run items per second: the judged texts repeated under new ids to ``--cached-items``
  rows (same prompts, so every answer comes from the SQLite cache), target ≥ 5,000 items/s.

Few-shot examples are 4 labeled items of each set's *train* split (label-diverse), as reviewed
labels would supply them. Then the label-efficiency comparison: the simulated round loop
(``hitl_triage.simulate``, reviewers answered from gold) on the same judged items, with the
WRENCH LFs alone and with the judge as one more source under each correction, for ``--seeds``,
against the loop's own baselines. Gold labels are used only to score and to simulate.

    python bench/judge_bench.py [--n-items 100] [--sweep-items 40] [--concurrency 1 2 4]
                                [--seeds 0 1 2] [--efficiency-sets youtube sms]
                                [--work-dir DIR]   # keep run folders and caches: re-runs are free

``--inround`` runs only the comparison of the judge *inside* the rounds
(:mod:`hitl_triage.judge.inround`) with no judge, at equal human budget: the in-memory round
loop (:func:`hitl_triage.loop.run_loop`, reviewers answered from gold) on the first
``--n-items`` of each ``--split`` with the ``configs/wrench_<set>.yaml`` settings and
``--schedule``; once without a judge, once with the local Gemma model asked about
``--per-round`` items between rounds, and once more with the fault server of the judge tests
(tests/judge/fault_server.py, a real HTTP server on loopback) as the second model asked where
Gemma is unsure (``escalate.below`` 0.6, a stand-in cost per request). It prints, per set and
arm, the training-set accuracy (mean and per seed), the requests and cost, the judge's own
accuracy on the items it answered and the posterior the last evidence chose.

    python bench/judge_bench.py --inround [--n-items 300] [--per-round 30] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import contextlib
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
from hitl_triage.judge.bias import BIAS_CORRECTIONS
from hitl_triage.judge.calibration import (
    apply_class_bias,
    apply_temperature,
    expected_calibration_error,
    fit_class_bias,
    fit_temperature,
)
from hitl_triage.judge.server import start_local_server

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wrench"
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


def cross_fitted(probs: np.ndarray, gold: np.ndarray, *, class_bias: bool,
                 min_per_class: int = 10) -> np.ndarray | None:
    """``probs`` scaled out-of-sample: 2 folds, each scaled by a fit on the other.

    Temperature only, or temperature plus class bias (``None`` if a fitting half has fewer than
    ``min_per_class`` items of some class, as the runner would skip it).
    """
    fold = np.random.default_rng(0).permutation(len(gold)) % 2
    k = probs.shape[1]
    scaled = probs.copy()
    for f in (0, 1):
        fit_p, fit_y = probs[fold != f], gold[fold != f]
        if class_bias:
            if np.bincount(fit_y, minlength=k).min() < min_per_class:
                return None
            temperature, bias = fit_class_bias(fit_p, fit_y)
            scaled[fold == f] = apply_class_bias(probs[fold == f], temperature, bias)
        else:
            scaled[fold == f] = apply_temperature(probs[fold == f], fit_temperature(fit_p, fit_y))
    return scaled


def scores(probs: np.ndarray | None, gold: np.ndarray) -> str:
    """``accuracy / share voted per class / ECE`` of ``probs`` ``(n, k)`` against ``gold``."""
    if probs is None:
        return f"{'n/a (< 10 per class)':<26}"
    votes = probs.argmax(axis=1)
    shares = "/".join(f"{s:.0%}" for s in np.bincount(votes, minlength=probs.shape[1]) / len(votes))
    return (f"{(votes == gold).mean():.3f} {shares:>8} "
            f"{expected_calibration_error(probs, gold):.3f}      ")


def corrections_table(name: str, config: TaskConfig, dataset: Dataset, gold: np.ndarray,
                      few_shot: list[tuple[str, int]]) -> None:
    """Every bias correction on the same cached answers, before and after scaling."""
    cols = f"{'acc':<5} {'ham/spam':>8} {'ECE':<5}      "
    print(f"  {'':<13} {'':<18} | {'raw':<26}| {'temperature (cross-fitted)':<26}| "
          f"temperature + class bias")
    print(f"  {'correction':<13} {'prior divided out':<18} | {cols}| {cols}| {cols}")
    for method in BIAS_CORRECTIONS:
        run = config.model_copy(update={"judge": config.judge.model_copy(
            update={"bias_correction": method})})
        result = run_judge(run, dataset, few_shot=few_shot)
        votes = load_judgements(run.out_dir, dataset.ids, 2)
        ok = votes.judged
        p, y = votes.probs[ok], gold[ok]
        prior = "-" if result.prior is None else "[" + ", ".join(f"{x:.3f}" for x in result.prior) + "]"
        print(f"  {method:<13} {prior:<18} | {scores(p, y)}| "
              f"{scores(cross_fitted(p, y, class_bias=False), y)}| "
              f"{scores(cross_fitted(p, y, class_bias=True), y)}"
              + (f"  ({result.requests} requests)" if result.requests else "")
              + ("; " + "; ".join(result.notes) if result.notes else ""))
    inputs = config.judge.content_free_inputs
    singles = []
    for text in inputs:
        run = config.model_copy(update={"judge": config.judge.model_copy(
            update={"bias_correction": "content_free", "content_free_inputs": [text]})})
        prior = run_judge(run, dataset, few_shot=few_shot).prior
        singles.append(f"{text!r}: " + ("n/a" if prior is None else f"{prior[1]:.3f}"))
    print(f"  [{name}] P(spam) given each content-free input: " + ", ".join(singles))


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
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep run folders and response caches here (default: a temporary "
                        "folder); a second run then sends no request for answered items")
    parser.add_argument("--budget", type=float, default=0.2,
                        help="label-efficiency part: share of items simulated reviewers label")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="label-efficiency part: simulation seeds (about 1 s each)")
    parser.add_argument("--efficiency-sets", nargs="*", default=["youtube", "sms"],
                        choices=list(SETS), help="sets for the label-efficiency part")
    parser.add_argument("--inround", action="store_true",
                        help="only the judge inside the rounds vs no judge (see the module doc)")
    parser.add_argument("--per-round", type=int, default=30,
                        help="--inround: judge.max_requests_per_round")
    parser.add_argument("--schedule", type=float, nargs="+", default=[0.3, 0.25, 0.25, 0.2],
                        help="--inround: the rounds' shares of the budget")
    parser.add_argument("--split", default="test", choices=["train", "valid", "test"],
                        help="--inround: the WRENCH split whose first --n-items are used")
    args = parser.parse_args()
    if args.inround:
        from inround_bench import inround_main  # bench/ is on sys.path when run as a script

        inround_main(args, DATA, SETS)
        return

    with contextlib.ExitStack() as stack:
        if args.work_dir is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="judge-bench-")))
        else:
            tmp = args.work_dir
            tmp.mkdir(parents=True, exist_ok=True)
        server = stack.enter_context(start_local_server(port=0, n_threads=args.threads))
        url = server.base_url
        print(f"llama.cpp server {url}, Gemma 3 270M Q4_K_M, {args.threads} threads; "
              f"first {args.n_items} items of each test split")

        # -- throughput by concurrency, same items, fresh cache each ---------------------------
        shots = {name: few_shot_from_train(name, url, tmp) for name in SETS}
        sweep_config = make_config("youtube", "test", tmp / "sweep", url)
        sweep = head(load_dataset(sweep_config.dataset, n_classes=2), max(args.sweep_items, 1))
        warm = make_config("youtube", "test", tmp / "warm_up", url, bias_correction="none")
        run_judge(warm, head(sweep, 1), few_shot=shots["youtube"])  # load weights, fill the prefix
        rates: dict[int, float] = {}
        for level in args.concurrency if args.sweep_items > 0 else ():
            shutil.rmtree(tmp / f"sweep_c{level}", ignore_errors=True)
            config = make_config("youtube", "test", tmp / f"sweep_c{level}", url, concurrency=level,
                                 bias_correction="none")  # item requests only
            result, seconds = timed_run(config, sweep, shots["youtube"])
            rates[level] = (result.n_items - result.skipped) / seconds
            print(f"  concurrency {level}: {rates[level]:.2f} items/s "
                  f"({result.requests} requests, {seconds:.1f}s)")
        if rates:
            best = max(rates, key=lambda c: rates[c])
            base_rate = rates.get(1, rates[min(rates)])
            print(f"items/s at concurrency 1: {base_rate:.2f}; best: {rates[best]:.2f} at "
                  f"concurrency {best} ({rates[best] / base_rate:.2f}x)")
        else:
            best = max(args.concurrency)

        # -- accuracy and calibration ----------------------------------------------------------
        for name in SETS:
            config = make_config(name, "test", tmp / name, url, concurrency=best,
                                 bias_correction="none")
            dataset = head(load_dataset(config.dataset, n_classes=2), args.n_items)
            result, seconds = timed_run(config, dataset, shots[name])
            votes = load_judgements(config.out_dir, dataset.ids, 2)
            gold = load_gold(config.dataset, config.label_names, dataset.ids)
            ok = votes.judged
            majority_class = float(max(gold.mean(), 1 - gold.mean()))
            mv = majority_vote(dataset.precomputed_L)
            mv_cov = mv >= 0
            mv_acc = float((mv[mv_cov] == gold[mv_cov]).mean())
            outside = pl.read_parquet(config.out_dir / "judge" / "judgements.parquet")[
                "outside_mass"].to_numpy()[ok]
            print(f"\n[{name}] {result.n_items} items: judged {result.judged}, abstained "
                  f"{result.abstained}, failed {result.failed}, skipped {result.skipped}; "
                  f"{result.requests} requests in {seconds:.1f}s "
                  f"({(result.n_items - result.skipped) / seconds:.2f} items/s); mean outside "
                  f"mass {outside.mean():.3f}")
            print(f"  gold ham/spam {1 - gold[ok].mean():.0%}/{gold[ok].mean():.0%}: majority "
                  f"class {majority_class:.3f}; WRENCH LF majority vote {mv_acc:.3f} on its "
                  f"{mv_cov.mean():.0%} coverage")
            corrections_table(name, config, dataset, gold, shots[name])

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
                  f"{big.n_items / seconds:,.0f} items/s, 0 requests")

        if importlib.util.find_spec("hitl_triage.simulate") is None:
            print("\nlabel efficiency with and without the judge: skipped, the round loop "
                  "(hitl_triage/curriculum.py, simulate.py) does not exist yet")
            return
        for name in args.efficiency_sets:
            label_efficiency(name, n_items=args.n_items, budget=args.budget, tmp=tmp, url=url,
                             few_shot=shots[name], seeds=args.seeds)


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
                     few_shot: list[tuple[str, int]], seeds: list[int]) -> None:
    """The simulated round loop on the judged items, without the judge and with it under each
    bias correction (the judge's answers come from the accuracy part's cache)."""
    from hitl_triage.config import load_config
    from hitl_triage.simulate import simulate

    base = load_config(Path(__file__).resolve().parents[1] / "configs" / f"wrench_{name}.yaml")
    dataset_cfg = base.dataset.model_copy(update={
        "path": subset_wrench(name, n_items, tmp / f"{name}_subset"), "split": "test"})
    print(f"\n[{name}] label efficiency: simulated reviewers, budget {budget:.0%} of "
          f"{n_items} items, configs/wrench_{name}.yaml settings, seeds {seeds}")
    for variant in (None, *BIAS_CORRECTIONS):
        accuracies, line = [], ""
        for seed in seeds:
            out = tmp / f"{name}_sim_{variant or 'nojudge'}_s{seed}"
            shutil.rmtree(out, ignore_errors=True)  # a kept --work-dir: simulate from scratch
            bench_config = make_config(name, "test", out, url, bias_correction=variant or "none")
            config = base.model_copy(update={  # same task name and labels as the judged run
                "task": bench_config.task, "labels": bench_config.labels,
                "dataset": dataset_cfg, "run_dir": out})
            if variant is not None:
                config = config.model_copy(update={"judge": bench_config.judge})
                (out / "judge").mkdir(parents=True, exist_ok=True)
                shutil.copy(tmp / name / "judge" / "cache.sqlite", out / "judge" / "cache.sqlite")
                dataset = load_dataset(config.dataset, n_classes=2)
                judged = run_judge(config, dataset, few_shot=few_shot)
                assert judged.requests == 0, judged  # every answer is in the copied cache
            summary = simulate(config, budget=budget, seed=seed, out_dir=out)
            accuracies.append(summary["trainset_accuracy"])
            baselines = {k: v["trainset_accuracy"] for k, v in summary["baselines"].items()}
            if seed == seeds[0] and variant is None:
                line = f"; baselines at the same labels (seed {seed}): " + ", ".join(
                    f"{k} {_fmt(v)}" for k, v in baselines.items())
            elif seed == seeds[0] and "no_human" in baselines:
                line = f"; no human labels (seed {seed}): {_fmt(baselines['no_human'])}"
        label = "without judge" if variant is None else f"judge, {variant}"
        print(f"  {label:<22} training-set accuracy {np.mean(accuracies):.3f} "
              f"({', '.join(_fmt(a) for a in accuracies)})" + line)


if __name__ == "__main__":
    main()
