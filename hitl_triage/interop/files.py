"""The edge of the interop formats: the run directory's review queue out to a file in another
tool's format, and that tool's answers file back into the answers table.

Exports (``hitl-triage answers export --format``):

* ``labelstudio``: ``OUT.json`` (tasks with predictions) and ``OUT.label_config.xml`` beside it;
* ``prodigy``: ``OUT.jsonl`` (``choice`` tasks);
* ``argilla``: the folder ``OUT`` as ``rg.Dataset.to_disk`` writes it (must be new or empty).

Imports (``hitl-triage answers import --format``) read Label Studio's JSON export, Prodigy's
``db-out`` JSONL, or an Argilla ``to_disk`` folder (or its ``records.json``), and add the answers
through the same path as every import (:func:`hitl_triage.answers.add_imported_answers`: the
answers lock, repeats not added twice, unrouted items counted and held back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from hitl_triage.answers import ImportResult, add_imported_answers, open_requests
from hitl_triage.config import TaskConfig
from hitl_triage.interop import argilla as argilla_format
from hitl_triage.interop.labelstudio import from_labelstudio, labeling_config, to_labelstudio
from hitl_triage.interop.prodigy import from_prodigy, to_prodigy
from hitl_triage.interop.queue import (
    Checker,
    ForeignAnswers,
    InteropError,
    ReviewQueue,
    build_queue,
)
from hitl_triage.round_state import ROUNDS_DIR
from hitl_triage.rundir import write_json, write_jsonl, write_text

__all__ = ["FORMATS", "ExportResult", "ForeignImportResult", "export_queue", "import_foreign_answers", "load_queue",
           "read_foreign_answers"]
FORMATS = ("labelstudio", "prodigy", "argilla")
ARGILLA_RECORDS = "records.json"
ARGILLA_SETTINGS = ".argilla/settings.json"
ARGILLA_DATASET = ".argilla/dataset.json"


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InteropError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")


def _suggested_by(run_dir: Path) -> dict[int, str | None]:
    """Round -> the posterior that suggested its labels (``record.json``'s ``posterior``)."""
    out: dict[int, str | None] = {}
    for path in sorted((Path(run_dir) / ROUNDS_DIR).glob("round_*/record.json")):
        out[int(path.parent.name.split("_")[1])] = json.loads(path.read_text(encoding="utf-8")).get("posterior")
    return out


def load_queue(config: TaskConfig) -> ReviewQueue:
    """The run's open review queue: items routed to review or audit (any round) that no answer
    covers yet, with suggestions, scores and votes (hidden on audit items under
    ``review.blind_audit``)."""
    requests = open_requests(config)
    votes_path = config.out_dir / "votes.parquet"
    votes = pl.read_parquet(votes_path) if votes_path.is_file() else pl.DataFrame({"id": []}, schema={"id": pl.String})
    return build_queue(requests, votes, label_names=config.label_names,
                       suggested_by=_suggested_by(config.out_dir), blind_audit=config.review.blind_audit)


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_queue` wrote: ``items`` queued items, into ``paths``."""

    items: int
    paths: list[Path]


def export_queue(config: TaskConfig, fmt: str, out: Path) -> ExportResult:
    """Write the open review queue in ``fmt`` (see the module doc for the files).

    Raises:
        InteropError: an unknown format, a target of the wrong kind (``.json`` for Label
            Studio, ``.jsonl`` for Prodigy, a new or empty folder for Argilla), or an existing
            file that an earlier queue export did not write (answered records, say): it is
            never replaced.
    """
    _check_format(fmt)
    out = Path(out)
    if fmt == "labelstudio" and out.suffix.lower() != ".json":
        raise InteropError(f"{out}: the labelstudio export writes a .json file, got {out.suffix or 'no extension'!r}")
    if fmt == "prodigy" and out.suffix.lower() != ".jsonl":
        raise InteropError(f"{out}: the prodigy export writes a .jsonl file, got {out.suffix or 'no extension'!r}")
    if fmt == "argilla" and (out.is_file() or (out.is_dir() and any(out.iterdir()))):
        raise InteropError(f"{out}: the argilla export writes a dataset folder; give a new or empty folder")
    targets = [out, out.with_suffix(".label_config.xml")] if fmt == "labelstudio" else [out]
    for target in targets:
        if target.exists() and not _earlier_export(target, fmt):
            raise InteropError(f"{target}: exists and is not an earlier {fmt} queue export (it may hold answers); "
                               "nothing was written: choose another --out, or move the file away")
    queue = load_queue(config)
    names, task = config.label_names, config.task
    if fmt == "labelstudio":
        xml = out.with_suffix(".label_config.xml")
        write_json(out, to_labelstudio(queue, label_names=names, task=task))
        write_text(xml, labeling_config(names))
        return ExportResult(len(queue), [out, xml])
    if fmt == "prodigy":
        write_jsonl(out, to_prodigy(queue, label_names=names, task=task))
        return ExportResult(len(queue), [out])
    settings, records = argilla_format.to_argilla(queue, label_names=names, task=task)
    paths = [write_json(out / ARGILLA_SETTINGS, settings.serialize()),
             write_json(out / ARGILLA_DATASET, argilla_format.dataset_model(task)),
             write_text(out / ARGILLA_RECORDS, json.dumps([r.to_dict() for r in records], ensure_ascii=False))]
    return ExportResult(len(queue), paths)


def _earlier_export(path: Path, fmt: str) -> bool:
    """True when ``path`` is what an earlier export wrote (so replacing it loses nothing): a
    labeling config, or queue records that hold no answers."""
    if not path.is_file():
        return False
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".xml":
            return text.startswith("<View>") and "<Choices name=" in text
        if fmt == "labelstudio":
            tasks = json.loads(text)
            return isinstance(tasks, list) and all(isinstance(t, dict) and "data" in t and not t.get("annotations")
                                                   for t in tasks)
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        return all(isinstance(r, dict) and "options" in r and "answer" not in r for r in rows)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InteropError(f"{path}: cannot read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InteropError(f"{path}: line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}") from None


def _read_jsonl(path: Path) -> list[tuple[int, object]]:
    """``(line number, parsed value)`` of every non-empty line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InteropError(f"{path}: cannot read: {exc}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InteropError(f"{path}: line {number}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    return rows


def read_foreign_answers(path: Path, fmt: str, check: Checker, *, default_reviewer: str | None = None) -> ForeignAnswers:
    """Parse and validate an answers file in ``fmt`` (nothing is written).

    Raises:
        InteropError: naming the file, the record or line, and the field.
    """
    _check_format(fmt)
    path = Path(path)
    if not path.exists():
        raise InteropError(f"{path}: no such file or folder")
    if fmt == "labelstudio":
        return from_labelstudio(_read_json(path), check, default_reviewer=default_reviewer)
    if fmt == "prodigy":
        return from_prodigy(_read_jsonl(path), check, default_reviewer=default_reviewer)
    records = path / ARGILLA_RECORDS if path.is_dir() else path
    if not records.is_file():
        raise InteropError(f"{path}: no {ARGILLA_RECORDS} in this folder; give the folder that "
                           "`dataset.to_disk(...)` wrote, or its records.json")
    return argilla_format.from_argilla(_read_json(records), Checker(str(records), check.label_names, check.ids, check.task))


@dataclass(frozen=True)
class ForeignImportResult:
    """What :func:`import_foreign_answers` did: the import's counts, and the records that gave
    no answer by reason (``cancelled``, ``rejected``, ``ignored``, ``not annotated``...)."""

    result: ImportResult
    skipped: dict[str, int] = field(default_factory=dict)


def import_foreign_answers(config: TaskConfig, path: Path, fmt: str, *, allow_unrouted: bool = False,
                           default_reviewer: str | None = None) -> ForeignImportResult:
    """Validate ``path`` (in ``fmt``) and add its answers to ``answers.parquet`` as an import.

    Every record is checked before anything is written. A reviewer's later answer on an item
    replaces their earlier one; answers already in the table are not added again; answers for
    items no round routed are counted and skipped unless ``allow_unrouted``.

    Raises:
        InteropError: naming the file, the record or line, and the field (an unknown id or
            class, another task's record, a malformed record).
    """
    from hitl_triage.data import load_dataset

    ids = load_dataset(config.dataset, n_classes=config.n_classes, label_names=config.label_names).ids
    check = Checker(str(path), list(config.label_names), frozenset(ids), config.task)
    answers = read_foreign_answers(Path(path), fmt, check, default_reviewer=default_reviewer)
    result = add_imported_answers(config, answers.frame(), allow_unrouted=allow_unrouted)
    return ForeignImportResult(result, dict(answers.skipped))
