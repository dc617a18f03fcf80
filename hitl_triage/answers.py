"""Human answers: the labels that experts gave, and how they get into the run directory.

``answers.parquet`` in the run directory is the one record of human labels that the round
loop learns from (storage, locking and merge rules: :mod:`hitl_triage.answer_table`). Answers
arrive from the review store, from ``hitl-triage answers import FILE`` (labels made in any
other tool), or from simulated reviewers.

An import is checked before anything is written: every row names an item of the dataset and a
class; a ``task`` column, if present, must name the config's task; answers for items that no
round routed to review or audit are counted and skipped unless ``allow_unrouted``. A reviewer's
later answer on an item (later in the file, or a later import) replaces their earlier one.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hitl_triage.answer_table import (
    ADJUDICATED,
    ANSWER_COLUMNS,
    ANSWER_SCHEMA,
    ANSWERS_FILE,
    STORED_SCHEMA,
    AnswersBusyError,
    MergeResult,
    answers_lock,
    append_answers,
    conform,
    drop_origin,
    empty_answers,
    known_labels,
    load_answers,
    merge_answers,
    now_iso,
    replace_store_answers,
    save_answers,
    update_answers,
)
from hitl_triage.config import TaskConfig
from hitl_triage.errors import HitlTriageError
from hitl_triage.rundir import write_frame
from hitl_triage.schema import LabelValueError, schema_of

__all__ = [
    "ADJUDICATED",
    "ANSWERS_FILE",
    "ANSWER_COLUMNS",
    "ANSWER_SCHEMA",
    "STORED_SCHEMA",
    "AnswerImportError",
    "AnswersBusyError",
    "ImportResult",
    "MergeResult",
    "add_imported_answers",
    "answers_lock",
    "append_answers",
    "drop_origin",
    "empty_answers",
    "export_requests",
    "import_answers",
    "known_labels",
    "load_answers",
    "merge_answers",
    "now_iso",
    "open_requests",
    "read_answer_file",
    "replace_store_answers",
    "routed_items",
    "save_answers",
    "update_answers",
]
IMPORT_FIELDS = ("id", "label", "reviewer")


class AnswerImportError(HitlTriageError):
    """An answers file is unreadable or has a bad row (the message names file, row and field)."""


def _read_rows(path: Path) -> list[dict[str, object]]:
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv", ".tsv"):
        raise AnswerImportError(f"{path}: expected a .jsonl or .csv file, got {suffix or 'no extension'!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnswerImportError(f"{path}: cannot read: {exc}") from None
    if suffix in (".jsonl", ".ndjson"):
        rows: list[dict[str, object]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AnswerImportError(f"{path}: row {number}: not valid JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise AnswerImportError(f"{path}: row {number}: expected a JSON object, got {type(row).__name__}")
            if isinstance(row.get("id"), int | float) and not isinstance(row["id"], bool):
                # ids are text: a JSON number id keeps its literal (1.10 stays "1.10", not 1.1)
                row["id"] = json.loads(line, parse_int=str, parse_float=str)["id"]
            row["__row__"] = number
            rows.append(row)
        return rows
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")
        missing = [f for f in IMPORT_FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise AnswerImportError(
                f"{path}: header must have the columns {list(IMPORT_FIELDS)}; missing {missing} "
                f"(got {reader.fieldnames})"
            )
        return [{**row, "__row__": number} for number, row in enumerate(reader, start=2)]
    raise AnswerImportError(f"{path}: expected a .jsonl or .csv file, got {suffix or 'no extension'!r}")


def _parse_label(value: object, label_names: list[str]) -> int | None:
    """A class index from an answer's label (name in any case, index, or index as text);
    None when it is not a class (abstain included: an answer must name a class)."""
    try:
        index = schema_of(label_names).index_of(value, lenient=True)
    except LabelValueError:
        return None
    return index if index >= 0 else None


def _check_task(path: Path, rows: list[dict[str, object]], task: str | None) -> None:
    """Raises AnswerImportError if a row's ``task`` field names another task than ``task``."""
    if task is None:
        return
    for row in rows:
        value = row.get("task")
        if value not in (None, "") and str(value) != task:
            raise AnswerImportError(
                f"{path}: row {row['__row__']}: field 'task': {value!r} is another task's answers; "
                f"this config's task is {task!r}"
            )


def read_answer_file(path: Path, *, label_names: list[str], ids: list[str], rounds: dict[str, int] | None = None,
                     task: str | None = None) -> pl.DataFrame:
    """Read and validate an answers file made in any annotation tool.

    Args:
        path: ``.jsonl`` (one object per line) or ``.csv`` (header row) with the fields
            ``id``, ``label`` (class name or index) and ``reviewer``; an optional ``task``
            field must then equal ``task``.
        label_names: class names in index order.
        ids: the dataset's item ids.
        rounds: item id -> the round that routed it (for the ``round`` column), if known.
        task: the config's task name (None: the ``task`` field is not checked).

    Returns:
        Frame with ``ANSWER_SCHEMA``, ``origin`` = ``import``.

    Raises:
        AnswerImportError: naming the file, the row (1-based line) and the field at fault.
    """
    path = Path(path)
    known_ids = set(ids)
    rounds = rounds or {}
    stamp = now_iso()
    out: list[dict[str, object]] = []
    rows = _read_rows(path)
    _check_task(path, rows, task)
    for row in rows:
        number = row["__row__"]
        for field in IMPORT_FIELDS:
            if row.get(field) in (None, ""):
                raise AnswerImportError(f"{path}: row {number}: field {field!r} is missing or empty")
        item = str(row["id"])
        if item not in known_ids:
            raise AnswerImportError(f"{path}: row {number}: field 'id': {item!r} is not an item of this dataset")
        label = _parse_label(row["label"], label_names)
        if label is None:
            raise AnswerImportError(
                f"{path}: row {number}: field 'label': {row['label']!r} is not a class; expected "
                f"one of {label_names} or 0..{len(label_names) - 1}"
            )
        out.append({"id": item, "label": label, "reviewer": str(row["reviewer"]),
                    "round": rounds.get(item, -1), "route": "import", "origin": "import",
                    "answered_at": stamp})
    if not out:
        raise AnswerImportError(f"{path}: no answers in the file")
    return pl.DataFrame(out, schema=ANSWER_SCHEMA)


def from_store(resolved: pl.DataFrame) -> pl.DataFrame:
    """The review store's ``resolved_answers()`` frame as answer rows (``origin`` = ``store``)."""
    return conform(resolved.with_columns(pl.lit("store").alias("origin")))


def _routings(run_dir: Path) -> list[tuple[int, pl.DataFrame]]:
    """Every round's routing (``rounds/round_NNN/routing.parquet``), in round order."""
    out = []
    for path in sorted((Path(run_dir) / "rounds").glob("round_*/routing.parquet")):
        out.append((int(path.parent.name.split("_")[1]), pl.read_parquet(path)))
    return out


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_answers` did.

    Attributes:
        read: answer rows in the file.
        added: answers added to the table (exact repeats of live answers are not).
        replaced: earlier answers of the same reviewer on the same item that the file's answers
            replaced (earlier rows of the same file included).
        unrouted: answers for items that no round routed to review or audit.
        unrouted_added: True when those were imported (``allow_unrouted``), False when skipped.
        unrouted_examples: up to five of their item ids.
    """

    read: int
    added: int
    replaced: int
    unrouted: int
    unrouted_added: bool
    unrouted_examples: list[str]


def routed_items(run_dir: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Items that a round sent to review or audit: item id -> the first round that asked, and
    item id -> the latest route (``review`` or ``audit``)."""
    rounds: dict[str, int] = {}
    routes: dict[str, str] = {}
    for r, routing in _routings(run_dir):
        asked = routing.filter(pl.col("route").is_in(["review", "audit"]))
        for item, route in asked.select("id", "route").iter_rows():
            rounds.setdefault(item, r)
            routes[item] = route
    return rounds, routes


def import_answers(config: TaskConfig, path: Path, *, allow_unrouted: bool = False) -> ImportResult:
    """Validate ``path`` (JSONL or CSV: id, label, reviewer; optional task) and add it to
    ``answers.parquet`` (under the answers lock).

    A reviewer's later answer on an item (later in the file, or a later import) replaces their
    earlier one. Answers for items that no round routed are counted and skipped unless
    ``allow_unrouted``.

    Raises:
        AnswerImportError: naming file, row and field (also when the file's ``task`` column
            names another task).
    """
    from hitl_triage.data import load_dataset

    ids = load_dataset(config.dataset, n_classes=config.n_classes, label_names=config.label_names).ids
    frame = read_answer_file(Path(path), label_names=config.label_names, ids=ids, task=config.task)
    return add_imported_answers(config, frame, allow_unrouted=allow_unrouted)


def add_imported_answers(config: TaskConfig, frame: pl.DataFrame, *, allow_unrouted: bool = False) -> ImportResult:
    """Add validated answer rows to ``answers.parquet`` (under the answers lock), as an import.

    Args:
        frame: one row per answer with ``id`` (an item of the dataset), ``label`` (class index
            in ``[0, k)``), ``reviewer`` and ``answered_at`` (ISO-8601), in file order (a
            reviewer's later row on an item replaces their earlier one). ``round`` and
            ``route`` are filled in from the rounds' routings; ``origin`` is ``import``.

    Returns:
        :class:`ImportResult`; answers for items that no round routed are counted and skipped
        unless ``allow_unrouted``.
    """
    rounds, routes = routed_items(config.out_dir)
    frame = frame.with_columns(
        pl.col("id").replace_strict(rounds, default=-1, return_dtype=pl.Int64).alias("round"),
        pl.col("id").replace_strict(routes, default="import", return_dtype=pl.String).alias("route"),
        pl.lit("import").alias("origin"),
    ).select(list(ANSWER_SCHEMA)).cast(ANSWER_SCHEMA)
    read = frame.height
    unrouted = frame.filter(~pl.col("id").is_in(list(routes)))
    if unrouted.height and not allow_unrouted:
        frame = frame.filter(pl.col("id").is_in(list(routes)))
    who = ["id", "reviewer"]
    in_file = frame.height - frame.unique(who, keep="last").height
    merged = merge_answers(config.out_dir, frame) if frame.height else MergeResult(0, 0)
    return ImportResult(read=read, added=merged.added, replaced=in_file + merged.superseded,
                        unrouted=unrouted.height, unrouted_added=allow_unrouted,
                        unrouted_examples=unrouted["id"].unique(maintain_order=True).head(5).to_list())


def open_requests(config: TaskConfig) -> pl.DataFrame:
    """Items routed to review or audit (any round) that have no answer yet, with what a
    reviewer needs: id, text, route, round, priority, suggested (class name), confidence."""
    from hitl_triage.data import load_dataset

    dataset = load_dataset(config.dataset, n_classes=config.n_classes, label_names=config.label_names)
    answered = set(load_answers(config.out_dir)["id"].to_list())
    frames = [routing.filter(pl.col("route").is_in(["review", "audit"])).with_columns(pl.lit(r).alias("round"))
              for r, routing in _routings(config.out_dir)]
    schema = {"id": pl.String, "text": pl.String, "route": pl.String, "round": pl.Int64,
              "priority": pl.Float64, "suggested": pl.String, "confidence": pl.Float64}
    if not frames:
        return pl.DataFrame(schema=schema)
    asked = pl.concat(frames).filter(~pl.col("id").is_in(list(answered))).unique("id", keep="last")
    names = {i: name for i, name in enumerate(config.label_names)}
    return (
        asked.join(dataset.items.select("id", "text"), on="id", how="left")
        .with_columns(pl.col("label").replace_strict(names, return_dtype=pl.String).alias("suggested"),
                      pl.col("score").alias("confidence"), pl.col("round").cast(pl.Int64))
        .sort(["round", "priority"], descending=[False, True], nulls_last=True)
        .select(list(schema))
    )


def export_requests(config: TaskConfig, target: Path) -> int:
    """Write :func:`open_requests` to ``target`` (.jsonl or .csv, by suffix); returns rows.

    Reviewers fill in ``label`` (class name or index) and ``reviewer``; the file then goes back
    through :func:`import_answers` unchanged.
    """
    # Audit items must look like review items (no route, no priority), and the rows are mixed
    # by a hash of the id so that their position does not give them away either.
    frame = (
        open_requests(config)
        .sort(["round", pl.col("id").hash(seed=7)])
        .select("id", "text", "round", "suggested", "confidence")
        .with_columns(pl.lit("").alias("label"), pl.lit("").alias("reviewer"))
    )
    if Path(target).suffix.lower() not in (".jsonl", ".csv"):
        raise AnswerImportError(f"{target}: export writes .jsonl or .csv files, got {Path(target).suffix!r}")
    write_frame(Path(target), frame)
    return frame.height
