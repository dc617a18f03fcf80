"""The run directory: where every stage writes its outputs, atomically.

State that must survive a crash lives here. Every write goes to a temporary file in the same
folder and is renamed into place, so a reader never sees a half-written file.

Layout (relative to ``config.run_dir``)::

    votes/<source>.parquet   per-source vote cache (id, text hash, vote)
    votes.parquet            the assembled label matrix: id + one int8 column per source
    lf_errors.jsonl          rows on which a labeling function raised
    lf_summary.csv           per-source analysis (coverage, overlaps, conflicts, accuracy)
    probs.parquet            label model output: id + one probability column per class
    report.json, report.md   run report
    trainset/                exported training sets
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs follow the umask
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_text(target: Path, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def write_json(target: Path, data: Any) -> Path:
    return write_text(target, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(target: Path, rows: list[dict[str, Any]]) -> Path:
    return write_text(target, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def write_frame(target: Path, frame: pl.DataFrame, writer: Callable[[pl.DataFrame, Path], None] | None = None) -> Path:
    """Write a polars frame atomically; the format follows the suffix (.parquet, .csv, .jsonl)."""
    with atomic_path(target) as tmp:
        if writer is not None:
            writer(frame, tmp)
        elif target.suffix == ".parquet":
            frame.write_parquet(tmp)
        elif target.suffix == ".csv":
            frame.write_csv(tmp)
        elif target.suffix == ".jsonl":
            frame.write_ndjson(tmp)
        else:
            raise ValueError(f"write_frame: unsupported suffix {target.suffix!r} for {target}")
    return target
