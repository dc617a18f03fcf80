"""Benchmark: the review queue out to Label Studio, Prodigy and Argilla and their answers back,
against the project's own table format (JSONL rows: id, label, reviewer) in the same run.

A synthetic queue of ``--items`` items (two classes, five vote sources, a suggestion on every
item) is written in each format; every item is then answered in that format (as the tool's
export would hold it) and read back with the checks of ``answers import --format``. Printed per
format: seconds to convert and write, seconds to read and check, and the ratio to the table
format's read (``read_answer_file``). The Argilla rows need the ``argilla`` SDK.

Usage: python bench/interop_bench.py [--items 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hitl_triage.answers import read_answer_file
from hitl_triage.interop import Checker, ReviewQueue, read_foreign_answers
from hitl_triage.interop.labelstudio import to_labelstudio
from hitl_triage.interop.prodigy import to_prodigy

LABELS = ["ham", "spam"]
TASK = "bench"


def make_queue(n: int, seed: int = 0) -> tuple[ReviewQueue, np.ndarray]:
    """``n`` queued items and their ``(n,)`` int64 true classes."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, n)
    votes = np.where(rng.random((n, 5)) < 0.4, gold[:, None], -1).astype(np.int8)
    queue = ReviewQueue(ids=[f"item{i:07d}" for i in range(n)], texts=[f"comment number {i}" for i in range(n)],
                        rounds=np.zeros(n, np.int64), suggested=gold.copy(), score=rng.random(n),
                        suggested_by=["end_model"] * n, votes=votes, sources=[f"lf_{j}" for j in range(5)])
    return queue, gold


def timed(func: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    queue, gold = make_queue(args.items)
    names = [LABELS[g] for g in gold]
    check_for = lambda path: Checker(str(path), LABELS, frozenset(queue.ids), TASK)  # noqa: E731
    rows: list[tuple[str, float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        table = root / "answers.jsonl"
        write_s, _ = timed(lambda: table.write_text("".join(
            json.dumps({"id": i, "label": y, "reviewer": "ann"}) + "\n" for i, y in zip(queue.ids, names, strict=True))),
            args.repeats)
        read_s, frame = timed(lambda: read_answer_file(table, label_names=LABELS, ids=queue.ids), args.repeats)
        rows.append(("table", write_s, read_s, frame.height))

        def labelstudio() -> Path:
            tasks = to_labelstudio(queue, label_names=LABELS, task=TASK)
            for n, (task, y) in enumerate(zip(tasks, names, strict=True)):
                task.update(id=n, annotations=[{"completed_by": 1, "was_cancelled": False,
                                                "updated_at": "2026-01-05T10:00:00Z",
                                                "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                                            "value": {"choices": [y]}}]}])
            path = root / "ls.json"
            path.write_text(json.dumps(tasks))
            return path

        def prodigy() -> Path:
            path = root / "prodigy.jsonl"
            path.write_text("".join(json.dumps({**t, "accept": [y], "answer": "accept", "_annotator_id": "p-ann",
                                                "_timestamp": 1767607200}) + "\n"
                                    for t, y in zip(to_prodigy(queue, label_names=LABELS, task=TASK), names, strict=True)))
            return path

        formats: list[tuple[str, Callable[[], Path]]] = [("labelstudio", labelstudio), ("prodigy", prodigy)]
        try:
            import argilla as rg

            from hitl_triage.interop.argilla import to_argilla

            def argilla() -> Path:
                _, records = to_argilla(queue, label_names=LABELS, task=TASK)
                user = uuid.uuid4()
                for record, y in zip(records, names, strict=True):
                    record.responses.add(rg.Response("label", y, user_id=user))
                path = root / "records.json"
                path.write_text(json.dumps([r.to_dict() for r in records]))
                return path

            formats.append(("argilla", argilla))
        except ImportError:
            print("argilla: skipped (pip install 'hitl-triage[interop]')")
        for fmt, write in formats:
            write_s, path = timed(write, args.repeats)
            read_s, answers = timed(lambda fmt=fmt, path=path: read_foreign_answers(path, fmt, check_for(path)),
                                    args.repeats)
            got = answers.frame()
            assert got["label"].to_list() == gold.tolist(), f"{fmt}: labels differ"
            rows.append((fmt, write_s, read_s, got.height))
    base = rows[0][2]
    print(f"{args.items} items, best of {args.repeats}")
    print(f"{'format':12} {'export+answer s':>16} {'import s':>9} {'vs table':>9} {'answers':>8}")
    for fmt, write_s, read_s, n in rows:
        print(f"{fmt:12} {write_s:16.3f} {read_s:9.3f} {read_s / base:8.1f}x {n:8d}")


if __name__ == "__main__":
    main()
