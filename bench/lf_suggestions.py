"""Benchmark: are the workbench's suggested LFs precise on labels they were not mined from?

For each WRENCH set (youtube, sms, trec; train split), 10% of the items get their gold label
as a simulated human label (a seeded uniform draw). Those are split in two halves: candidates
are mined and ranked on one half (:func:`hitl_triage.lf.suggest.suggest_lfs`, with the
dataset's own weak labels as the existing LFs), and the precision of each of the top 10 is
measured on the other half. Printed per set and seed: how many of the top 10 reach precision
>= 0.9 on the held-out half (candidates that never fire there are counted as not reaching it),
their mean held-out precision, and the same for a baseline in the same run: the 10 most
frequent tokens of each label's items (not the most precise ones), with their majority label.

Usage: python bench/lf_suggestions.py [--data DIR] [--share 0.1] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from hitl_triage.lf.suggest import KEYWORD, TOKEN, score_candidates, suggest_lfs


def load_wrench(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    records = json.loads((folder / "train.json").read_text(encoding="utf-8"))
    names = json.loads((folder / "label.json").read_text(encoding="utf-8"))
    label_names = [names[str(i)] for i in range(len(names))]
    texts = [r["data"]["text"] for r in records.values()]
    gold = np.array([r["label"] for r in records.values()], dtype=np.int64)
    weak = np.array([r["weak_labels"] for r in records.values()], dtype=np.int8)
    return texts, gold, weak, label_names


def frequent_tokens(texts: list[str], y: np.ndarray, n: int) -> pl.DataFrame:
    """Baseline: the ``n`` most frequent tokens in the labeled items, with their majority label."""
    frame = pl.DataFrame({"doc": np.flatnonzero(y >= 0), "text": [texts[i] for i in np.flatnonzero(y >= 0)],
                          "label": y[y >= 0]})
    toks = (frame.select("doc", "label", pl.col("text").str.to_lowercase().str.extract_all(TOKEN).alias("t"))
            .explode("t").drop_nulls("t").unique(["doc", "t"]))
    best = (toks.group_by("t", "label").len().sort("len", descending=True).unique("t", keep="first")
            .sort("len", descending=True).head(n))
    return best.select(pl.lit(KEYWORD).alias("kind"), pl.col("t").alias("pattern"), pl.col("label").cast(pl.Int64))


def held_out(top: pl.DataFrame, texts: list[str], y_test: np.ndarray, label_names: list[str]) -> np.ndarray:
    """Held-out precision of each row of ``top`` (NaN where it never fires there)."""
    scored = score_candidates(top.select("kind", "pattern", "label"), texts, y_test, label_names=label_names)
    by = {(r["kind"], r["pattern"], r["label"]): r["precision"] for r in scored.iter_rows(named=True)}
    # score_candidates drops repeats of a fired set; score each candidate alone for those
    out = []
    for row in top.select("kind", "pattern", "label").iter_rows():
        if row not in by:
            alone = score_candidates(pl.DataFrame([row], schema=["kind", "pattern", "label"], orient="row"),
                                     texts, y_test, label_names=label_names)
            by[row] = alone["precision"][0] if alone.height else float("nan")
        out.append(by[row])
    return np.array(out, dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/wrench")
    parser.add_argument("--share", type=float, default=0.1, help="share of items with a simulated human label")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()

    print(f"{'set':<8} {'seed':>4} {'labels':>6} {'ours >=0.9':>10} {'ours mean':>9} "
          f"{'base >=0.9':>10} {'base mean':>9} {'mine s':>6}")
    totals: dict[str, list[int]] = {}
    for name in ("youtube", "sms", "trec"):
        texts, gold, weak, label_names = load_wrench(args.data / name)
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            rows = rng.choice(gold.size, size=round(args.share * gold.size), replace=False)
            half = rows.size // 2
            y_mine = np.full(gold.size, -1)
            y_test = np.full(gold.size, -1)
            y_mine[rows[:half]] = gold[rows[:half]]
            y_test[rows[half:]] = gold[rows[half:]]
            start = time.perf_counter()
            top = suggest_lfs(texts, y_mine, label_names, existing_L=weak, top=args.top)
            seconds = time.perf_counter() - start
            ours = held_out(top, texts, y_test, label_names)
            base = held_out(frequent_tokens(texts, y_mine, args.top), texts, y_test, label_names)
            good, base_good = int((ours >= 0.9).sum()), int((base >= 0.9).sum())
            totals.setdefault(name, []).append(good)
            print(f"{name:<8} {seed:>4} {half:>6} {good:>7}/{top.height:<2} {np.nanmean(ours):>9.3f} "
                  f"{base_good:>7}/{len(base):<2} {np.nanmean(base):>9.3f} {seconds:>6.2f}")
    print("mean of the top 10 with held-out precision >= 0.9: "
          + ", ".join(f"{k} {np.mean(v):.1f}" for k, v in totals.items()))


if __name__ == "__main__":
    main()
