"""Benchmark: seconds from an edit of one LF to updated workbench figures on a 100k-item task.

Builds a task in a temporary folder: AG News texts (../shared/data/cosine/agnews, dev + test)
repeated to ``--items`` with unique ids (parquet), the nine keyword LFs of its LFS.md and four
regex LFs as expression LFs in one module, and 10% of the items with a simulated human
answer (their gold label; a third through the audit route). Then, in one process (as the
review app's /lf page runs):

1. cold: the first refresh applies every LF (the baseline: what an edit would cost without
   the per-LF vote cache);
2. warm: a refresh with nothing changed (cache lookups, report, label model, estimate);
3. edit: one LF's keyword list is changed in the module file and the workbench refreshed:
   only that LF runs; the LF report, the loop's estimated training-set accuracy and what moved
   are updated. Timed with and without suggestions (the page mines them on its Suggestions tab
   only), and with a fresh Workbench (what `hitl-triage lf` does after Python has started:
   the dataset is read again).

Target: edit -> updated figures <= 5 s on 2 cores. Usage:
python bench/lf_loop.py [--data DIR] [--items 100000] [--label-model majority|snorkel]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from apply_bench import LABELS, REGEXES, agnews_keyword_lists

from hitl_triage.answers import ANSWER_SCHEMA, append_answers, now_iso
from hitl_triage.config import load_config
from hitl_triage.workbench import Workbench


def lf_module(keyword_lists: list[tuple[str, list[str], int]], *, first: list[str] | None = None) -> str:
    lines = ["from hitl_triage.lf import keyword_lf, regex_lf", ""]
    for i, (name, words, label) in enumerate(keyword_lists):
        words = first if (i == 0 and first is not None) else words
        lines.append(f"{name} = keyword_lf({name!r}, {words!r}, {label}, whole_word=False)")
    for name, pattern, label in REGEXES:
        lines.append(f"{name} = regex_lf({name!r}, {'(?i)' + pattern!r}, {label})")
    return "\n".join(lines) + "\n"


def build_task(root: Path, data: Path, n_items: int, label_model: str, seed: int) -> tuple[Path, list]:
    records = []
    for split in ("dev_data.json", "test_data.json"):
        records += json.loads((data / split).read_text(encoding="utf-8"))
    copies = -(-n_items // len(records))
    texts = [r["text"] for r in records] * copies
    gold = [int(r["label"]) for r in records] * copies
    frame = pl.DataFrame({"id": [f"n{i}" for i in range(n_items)], "text": texts[:n_items], "gold": gold[:n_items]})
    frame.write_parquet(root / "items.parquet")
    keyword_lists = agnews_keyword_lists(data / "LFS.md")
    (root / "lfs.py").write_text(lf_module(keyword_lists))
    config = {"task": "agnews_loop", "labels": [{"name": n, "description": n} for n in LABELS],
              "dataset": {"path": "items.parquet", "id_field": "id", "text_field": "text", "gold_field": "gold"},
              "lfs": {"modules": ["lfs.py"]}, "label_model": {"kind": label_model}, "run_dir": "run", "seed": seed}
    path = root / "task.yaml"
    path.write_text(yaml.safe_dump(config))
    rng = np.random.default_rng(seed)
    rows = rng.choice(n_items, size=n_items // 10, replace=False)
    (root / "run").mkdir()
    append_answers(root / "run", pl.DataFrame({
        "id": frame["id"].gather(rows), "label": frame["gold"].gather(rows).to_numpy(), "reviewer": "sim",
        "round": 0, "route": ["audit" if i % 3 == 0 else "review" for i in range(rows.size)],
        "origin": "import", "answered_at": now_iso()}, schema=ANSWER_SCHEMA))
    return path, keyword_lists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/cosine/agnews")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--label-model", choices=["majority", "snorkel", "dawid_skene"], default="majority")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lf_loop_") as tmp:
        root = Path(tmp)
        config_path, keyword_lists = build_task(root, args.data, args.items, args.label_model, args.seed)
        config = load_config(config_path)
        bench = Workbench(config)
        t = time.perf_counter()
        cold = bench.refresh(suggest=False)
        cold_s = time.perf_counter() - t
        t = time.perf_counter()
        bench.refresh(suggest=False)
        warm_s = time.perf_counter() - t

        name, words, _ = keyword_lists[0]
        timings = {}
        for variant, extra in (("edit -> figures", ["reuters"]), ("edit -> figures + suggestions", ["afp"])):
            (root / "lfs.py").write_text(lf_module(keyword_lists, first=[*words, *extra]))
            t = time.perf_counter()
            view = bench.refresh(suggest="suggestions" in variant)
            timings[variant] = time.perf_counter() - t
            assert view.recomputed == [name], view.recomputed
            assert view.moved is not None and view.moved.lfs[0]["source"] == name
        (root / "lfs.py").write_text(lf_module(keyword_lists, first=[*words, "ap"]))
        t = time.perf_counter()
        fresh = Workbench(config).refresh(suggest=False)
        timings["edit -> figures, fresh Workbench (terminal)"] = time.perf_counter() - t
        assert fresh.recomputed == [name]

        moved = fresh.moved
        assert moved is not None
        row = moved.lfs[0]
        print(f"items: {cold.report.n_items:,}  LFs: {len(cold.report.lfs)}  human labels: {cold.report.n_human:,}  "
              f"label model: {args.label_model}")
        print(f"what moved ({name}): coverage {row['coverage_before']:.4f} -> {row['coverage_after']:.4f}, "
              f"accuracy {row['accuracy_before']:.4f} -> {row['accuracy_after']:.4f}; est. training-set accuracy "
              f"{moved.trainset_before['accuracy']:.4f} -> {moved.trainset_after['accuracy']:.4f}")
        print(f"{'cold refresh, every LF applied (baseline)':<48} {cold_s:6.2f} s")
        print(f"{'warm refresh, nothing changed':<48} {warm_s:6.2f} s")
        for variant, seconds in timings.items():
            print(f"{variant:<48} {seconds:6.2f} s  ({cold_s / seconds:.1f}x faster than the baseline)")
        print("target: edit -> updated figures <= 5 s on 2 cores")


if __name__ == "__main__":
    main()
