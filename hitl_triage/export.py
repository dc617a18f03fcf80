"""Writing the training set: where it goes, and never over anything the project did not write.

``--format`` decides the format; ``--out`` only says where:

* ``parquet`` / ``jsonl``: ``--out`` is a file with a matching suffix (``.parquet``/``.pq``,
  ``.jsonl``/``.ndjson``), or a folder (existing, or a name without a suffix) that receives
  ``train.parquet`` / ``train.jsonl``. A contradicting suffix is an error.
* ``hf``: ``--out`` is a folder that receives a Hugging Face dataset (``save_to_disk``).

Every export records what it wrote in a marker file, ``.hitl-triage-export.json``, in the
folder it wrote into (the ``hf`` folder itself, or the folder holding the file)::

    {"written_by": "hitl-triage export", "version": 1,
     "entries": {"train.parquet": {"task": "tiny", "format": "parquet", "rows": 8,
                                   "written_at": "2025-01-01T00:00:00+00:00"}}}

A target that exists is replaced only if the marker lists it as an export of the same task
(``force=True`` also replaces an export of another task). Anything else (a file, or a folder
holding files that no export wrote) is refused, whatever ``force`` says. Temporary files of an
interrupted export (names starting with ``.hitl-triage-export-tmp-``, or the ``.<name>.*.tmp``
files of :func:`hitl_triage.rundir.atomic_path`) are removed by the next export to the same place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from hitl_triage.errors import ExportError
from hitl_triage.rundir import temp_dir, write_error, write_frame, write_json

ExportFormat = Literal["parquet", "jsonl", "hf"]
MARKER = ".hitl-triage-export.json"
TMP_PREFIX = ".hitl-triage-export-tmp-"
WRITTEN_BY = "hitl-triage export"
DEFAULT_NAMES: dict[str, str] = {"parquet": "train.parquet", "jsonl": "train.jsonl", "hf": "hf"}
SUFFIXES: dict[str, tuple[str, ...]] = {"parquet": (".parquet", ".pq"), "jsonl": (".jsonl", ".ndjson")}
# Suffixes that name a single file: an ``hf`` export (a folder) under such a name is a mistake.
FILE_SUFFIXES = (".parquet", ".pq", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".arrow")
# What ``datasets.Dataset.save_to_disk`` writes; recognised as an export only in the run
# directory's own trainset/ (exports made before the marker existed).
_HF_FILES = re.compile(r"(data-\d{5}-of-\d{5}\.arrow|dataset_info\.json|state\.json)")


def resolve_target(fmt: ExportFormat, out: Path | None, default_dir: Path) -> Path:
    """The path an export of format ``fmt`` writes, given ``--out`` (None: ``default_dir``).

    Examples: ``("jsonl", Path("x"), d)`` -> ``x/train.jsonl``; ``("parquet", Path("t.pq"), d)``
    -> ``t.pq``; ``("hf", None, d)`` -> ``d/hf``.

    Raises:
        ExportError: ``out``'s suffix contradicts ``fmt`` (``--format jsonl --out x.parquet``),
            or ``fmt`` is ``hf`` and ``out`` is a file.
    """
    if out is None:
        return default_dir / DEFAULT_NAMES[fmt]
    out = Path(out)
    suffix = out.suffix.lower()
    if fmt == "hf":
        if out.is_file():
            raise ExportError(f"--out {out}: is a file, but --format hf writes a folder; give a folder")
        if suffix in FILE_SUFFIXES and not out.is_dir():
            raise ExportError(
                f"--out {out}: the suffix {out.suffix!r} names a file, but --format hf writes a "
                f"folder; give a folder name, or use --format {_format_of_suffix(suffix) or 'parquet'}"
            )
        return out
    if out.is_dir() or not suffix:
        return out / DEFAULT_NAMES[fmt]
    if suffix in SUFFIXES[fmt]:
        return out
    other = _format_of_suffix(suffix)
    hint = f", or --format {other}" if other else ""
    raise ExportError(
        f"--out {out}: --format {fmt} writes {' or '.join(SUFFIXES[fmt])} files, but the suffix "
        f"is {out.suffix!r}; use a {SUFFIXES[fmt][0]} name or a folder{hint}"
    )


def _format_of_suffix(suffix: str) -> str | None:
    return next((fmt for fmt, suffixes in SUFFIXES.items() if suffix in suffixes), None)


def read_marker(folder: Path) -> dict[str, dict[str, Any]]:
    """The entries (relative path -> task, format, rows, written_at) of ``folder``'s marker.

    A missing, unreadable or foreign marker gives ``{}`` (nothing in the folder is ours).
    """
    path = folder / MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("written_by") != WRITTEN_BY:
        return {}
    entries = data.get("entries")
    if not isinstance(entries, dict):
        return {}
    return {str(k): v for k, v in entries.items() if isinstance(v, dict) and isinstance(v.get("task"), str)}


def _write_marker(folder: Path, entries: dict[str, dict[str, Any]]) -> None:
    write_json(folder / MARKER, {"written_by": WRITTEN_BY, "version": 1, "entries": entries})


def _entry(task: str, fmt: str, rows: int) -> dict[str, Any]:
    return {"task": task, "format": fmt, "rows": rows,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds")}


def clean_leftovers(folder: Path, names: list[str]) -> list[Path]:
    """Remove what an interrupted export left in ``folder``; returns the paths removed.

    Removed: entries named ``.hitl-triage-export-tmp-*``, and the ``.<name>.XXXXXXXX.tmp``
    files that :func:`hitl_triage.rundir.atomic_path` makes for each of ``names`` (and the
    marker). Nothing else is touched.
    """
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    for child in folder.iterdir():
        if not _is_leftover(child.name, names):
            continue
        try:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        except OSError as exc:
            raise write_error(child, exc, doing="cannot remove a leftover of an interrupted export") from None
        removed.append(child)
    return removed


def _check_owner(target: Path, entry: dict[str, Any] | None, *, task: str, force: bool, legacy: bool) -> None:
    if entry is None:
        if legacy:
            return
        raise ExportError(
            f"{target}: already exists and was not written by `hitl-triage export` (no entry in "
            f"{target.parent / MARKER}); refusing to overwrite it: choose another --out or move it away"
        )
    if entry["task"] != task and not force:
        raise ExportError(
            f"{target}: holds the export of task {entry['task']!r}, not {task!r}; pass --force "
            "to replace it, or choose another --out"
        )


def _write_file(frame: pl.DataFrame, *, fmt: ExportFormat, target: Path, task: str, force: bool,
                legacy: bool) -> None:
    folder = target.parent
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder}: is a file, so {target.name} cannot be written into it; choose another --out")
    if target.is_dir():
        raise ExportError(f"{target}: is a folder, expected a {fmt} file name; choose another --out")
    entries = read_marker(folder)
    if target.exists():
        _check_owner(target, entries.get(target.name), task=task, force=force, legacy=legacy)
    clean_leftovers(folder, [target.name])
    # The marker is written first: a crash before the file lands leaves an entry for a missing
    # file (harmless), never our file without an entry (which the next export would refuse).
    entries[target.name] = _entry(task, fmt, frame.height)
    _write_marker(folder, entries)
    writer: Callable[[pl.DataFrame, Path], None] = (
        (lambda f, p: f.write_parquet(p)) if fmt == "parquet" else (lambda f, p: f.write_ndjson(p))
    )
    write_frame(target, frame, writer)


def _is_leftover(name: str, names: list[str]) -> bool:
    """True for the temporary names an export makes (see :func:`clean_leftovers`)."""
    return name.startswith(TMP_PREFIX) or any(
        re.fullmatch(rf"\.{re.escape(n)}\.[A-Za-z0-9_]{{8}}\.tmp", name) for n in [*names, MARKER]
    )


def _files_under(folder: Path) -> set[str]:
    """Relative paths of every file under ``folder``, except the marker and export leftovers."""
    files = set()
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.is_dir() or rel.as_posix() == MARKER or _is_leftover(rel.parts[0], []):
            continue
        files.add(rel.as_posix())
    return files


def _write_hf(frame: pl.DataFrame, *, target: Path, task: str, force: bool, legacy: bool) -> None:
    import datasets  # heavy import, only for this format

    if target.exists() and not target.is_dir():
        raise ExportError(f"{target}: is a file, but --format hf writes a folder; choose another --out")
    old: set[str] = set()
    entries = read_marker(target) if target.is_dir() else {}
    present = _files_under(target) if target.is_dir() else set()
    if present:
        recognised = entries or (legacy and all(_HF_FILES.fullmatch(f) for f in present))
        if not recognised:
            raise ExportError(
                f"{target}: folder is not empty and is not a previous export of this task (no "
                f"{MARKER}); refusing to write into it: give an empty or new folder for --out"
            )
        for owner in {e["task"] for e in entries.values()}:
            _check_owner(target, {"task": owner}, task=task, force=force, legacy=False)
        unknown = sorted(present - set(entries)) if entries else []
        if unknown:
            raise ExportError(
                f"{target}: holds files that no export wrote, for example {unknown[:5]}; refusing "
                "to delete them: move them away or choose another --out"
            )
        old = present
    clean_leftovers(target, [])
    datasets.disable_progress_bars()
    with temp_dir(target, prefix=TMP_PREFIX) as tmp:
        datasets.Dataset.from_polars(frame).save_to_disk(str(tmp))
        new = _files_under(tmp)
        # While files move, the marker lists old and new, so an interrupted swap is still ours.
        _write_marker(target, {f: _entry(task, "hf", frame.height) for f in sorted(old | new)})
        for name in sorted(new):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / name, target / name)
        for name in sorted(old - new):
            (target / name).unlink(missing_ok=True)
        _write_marker(target, {f: _entry(task, "hf", frame.height) for f in sorted(new)})


def write_trainset(frame: pl.DataFrame, *, fmt: ExportFormat, target: Path, task: str,
                   force: bool = False, legacy: bool = False) -> Path:
    """Write ``frame`` to ``target`` (from :func:`resolve_target`) and record it in the marker.

    Args:
        frame: the training set, one row per item.
        fmt: ``parquet``, ``jsonl`` or ``hf``.
        target: a file (``parquet``, ``jsonl``) or a folder (``hf``).
        task: the task name recorded in the marker and checked against a previous export.
        force: also replace a previous export of *another* task (never anything else).
        legacy: ``target`` is the run directory's own default location, where exports made
            before the marker existed are recognised by their file names.

    Raises:
        ExportError: the target holds something this task's exports did not write.
        RunDirError: an OS error while writing (naming the path).
    """
    target = Path(target).absolute()  # messages name the real folder, not "."
    try:
        if fmt == "hf":
            _write_hf(frame, target=target, task=task, force=force, legacy=legacy)
        else:
            _write_file(frame, fmt=fmt, target=target, task=task, force=force, legacy=legacy)
    except OSError as exc:
        raise write_error(target, exc) from None
    return target
