"""Benchmark: the vectorized expression-LF applier against snorkel's PandasLFApplier.

The same keyword and regex LFs are written twice: as hitl-triage expression LFs (polars) and as
snorkel ``@labeling_function()`` row LFs (Python ``in`` / ``re``). Both label the AG News texts
(../shared/data/cosine/agnews, dev + test, repeated to at least ``--min-items``); the two label
matrices must be identical, and the speed ratio is printed. Baseline: snorkel 0.10
``PandasLFApplier`` in the same run.

Usage: python bench/apply_bench.py [--data DIR] [--min-items 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from snorkel.labeling import LabelingFunction, PandasLFApplier

from hitl_triage.lf import LFSet, apply_lfs, keyword_lf, regex_lf

LABELS = ["World", "Sports", "Business", "SciTech"]
# Regex LFs added to the nine keyword LFs of LFS.md, to measure regexes too.
REGEXES = [
    ("money_amount", r"\$\s?\d+(?:\.\d+)?\s?(?:million|billion|bn|m)\b", 2),
    ("percent_change", r"\b(?:rose|fell|gained|dropped|up|down)\s+\d+(?:\.\d+)?\s?(?:%|percent)", 2),
    ("software_version", r"\b(?:windows|linux|os x|version)\s+\d+(?:\.\d+)*\b", 3),
    ("score_line", r"\b\d{1,3}-\d{1,3}\b.*\b(?:win|victory|defeat|beat)\b", 1),
]


def agnews_keyword_lists(lfs_md: Path) -> list[tuple[str, list[str], int]]:
    """The nine keyword lists of LFS.md as (name, keywords, label)."""
    text = lfs_md.read_text(encoding="utf-8").replace("\\\n", "\n")
    heads = re.findall(r"## LF(\d+)\s+(?:-\s*)?(\d)\s*:", text)
    lists = re.findall(r"\br(\d+)\s*=\s*(\[.*?\])", text, flags=re.S)
    label_of = {int(n): int(c) for n, c in heads}
    return [(f"keywords_{n}", ast.literal_eval(body), label_of[int(n)]) for n, body in lists]


def snorkel_keyword_lf(name: str, words: list[str], label: int) -> LabelingFunction:
    def f(x, words=tuple(words)):
        text = x.text.lower()
        return label if any(w in text for w in words) else -1

    return LabelingFunction(name, f)


def snorkel_regex_lf(name: str, pattern: str, label: int) -> LabelingFunction:
    compiled = re.compile(pattern, re.IGNORECASE)

    def f(x):
        return label if compiled.search(x.text) else -1

    return LabelingFunction(name, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/cosine/agnews")
    parser.add_argument("--min-items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of ours (best is kept)")
    args = parser.parse_args()

    texts: list[str] = []
    for split in ("dev_data.json", "test_data.json"):
        texts += [r["text"] for r in json.loads((args.data / split).read_text(encoding="utf-8"))]
    copies = -(-args.min_items // len(texts))
    texts = (texts * copies)
    items = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    keyword_lists = agnews_keyword_lists(args.data / "LFS.md")

    # Keyword LFs are substring tests (as in LFS.md's source); regex LFs are case-insensitive.
    ours = [keyword_lf(n, w, c, whole_word=False) for n, w, c in keyword_lists]
    ours += [regex_lf(n, f"(?i){p}", c) for n, p, c in REGEXES]
    theirs = [snorkel_keyword_lf(n, w, c) for n, w, c in keyword_lists]
    theirs += [snorkel_regex_lf(n, p, c) for n, p, c in REGEXES]

    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        L_ours = apply_lfs(LFSet(expression=ours), items, label_names=LABELS).L
        best = min(best, time.perf_counter() - start)

    frame = pd.DataFrame({"text": texts})
    start = time.perf_counter()
    L_snorkel = PandasLFApplier(theirs).apply(frame, progress_bar=False)
    snorkel_seconds = time.perf_counter() - start

    np.testing.assert_array_equal(L_ours, L_snorkel.astype(np.int8))
    print(f"items: {len(texts):,}  LFs: {len(ours)} ({len(keyword_lists)} keyword, {len(REGEXES)} regex)")
    print(f"coverage: {(L_ours != -1).any(axis=1).mean():.3f}  label matrices identical: yes")
    print(f"snorkel PandasLFApplier: {snorkel_seconds:8.2f} s  ({len(texts) / snorkel_seconds:,.0f} items/s)")
    print(f"hitl-triage expression:  {best:8.2f} s  ({len(texts) / best:,.0f} items/s, best of {args.repeats})")
    print(f"speed-up: {snorkel_seconds / best:.1f}x (target >= 30x)")


if __name__ == "__main__":
    main()
