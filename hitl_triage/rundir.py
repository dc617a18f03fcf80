"""The run directory: where every stage writes its outputs, atomically.

State that must survive a crash lives here. Every write goes to a temporary file in the same
folder and is renamed into place, so a reader never sees a half-written file. Stages call
:func:`check_run_dir` before any work, and every OS error while writing becomes a
:class:`~hitl_triage.errors.RunDirError` that names the path. Nothing here deletes a folder it
did not create.

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

from hitl_triage.errors import RunDirError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_error(path: Path, exc: OSError, *, doing: str = "cannot write") -> RunDirError:
    """An OS error while writing ``path`` as one line: the path, what failed and why."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    return RunDirError(f"{path}: {doing}: {reason}{where}; check that the folder exists, is "
                       "writable and has free space")


def check_run_dir(run_dir: Path) -> Path:
    """Make sure ``run_dir`` is (or can become) a writable folder, before any work starts.

    Creates the folder if it does not exist, then writes and removes one empty file in it.

    Raises:
        RunDirError: ``run_dir`` is a file, cannot be created, or is not writable; the message
            names the path and the reason.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(
            f"{run_dir}: run_dir must be a folder, but it is a file; set run_dir in the config "
            "to a folder (it is created if missing)"
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(run_dir, exc, doing="cannot create run_dir") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=run_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise write_error(run_dir, exc, doing="run_dir is not writable") from None
    return run_dir


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    Raises:
        RunDirError: an OS error while creating, writing or renaming (naming ``target``).
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise write_error(target, exc) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs follow the umask
        os.replace(tmp_path, target)
    except OSError as exc:
        raise write_error(target, exc) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def temp_dir(parent: Path, *, prefix: str) -> Iterator[Path]:
    """Yield a new empty folder ``parent/<prefix><random>``; it is removed afterwards.

    Only the folder this call created is ever removed. A process killed inside the block
    leaves it behind, under a name that starts with ``prefix`` (the caller cleans those).

    Raises:
        RunDirError: an OS error while creating the folder or writing into it.
    """
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    except OSError as exc:
        raise write_error(parent, exc) from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
    except OSError as exc:
        raise write_error(parent, exc) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(target: Path, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def write_json(target: Path, data: Any) -> Path:
    return write_text(target, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(target: Path, rows: list[dict[str, Any]]) -> Path:
    return write_text(target, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def write_frame(target: Path, frame: pl.DataFrame, writer: Callable[[pl.DataFrame, Path], None] | None = None) -> Path:
    """Write a polars frame atomically.

    The format follows the suffix (.parquet, .csv, .jsonl) unless ``writer(frame, path)`` is
    given. Raises :class:`RunDirError` on an unknown suffix or an OS error.
    """
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
            raise RunDirError(
                f"{target}: cannot tell the format from the suffix {target.suffix!r}; "
                "expected .parquet, .csv or .jsonl"
            )
    return target
