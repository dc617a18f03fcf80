"""Human answers: the table of labels that experts gave, kept in the run directory.

``answers.parquet`` in the run directory is the canonical record of human labels that the
round loop learns from. Answers arrive from the review store, from ``hitl-triage answers
import FILE`` (labels made in any other tool), or from simulated reviewers.

Columns (``ANSWER_SCHEMA``): ``id`` (str, item id), ``label`` (int, class index in [0, k)),
``reviewer`` (str), ``round`` (int, the round that routed the item; -1 if unknown), ``route``
(str: ``review``, ``audit`` or ``import``), ``origin`` (str: ``store``, ``import``, ``simulated``),
``answered_at`` (str, ISO-8601 UTC).

An item may have several answers (several reviewers); :func:`known_labels` reduces them to
one label per item (the most frequent, ties to the latest).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from hitl_triage.config import TaskConfig
from hitl_triage.errors import HitlTriageError
from hitl_triage.rundir import write_frame

ANSWERS_FILE = "answers.parquet"
ANSWER_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "label": pl.Int64(),
    "reviewer": pl.String(),
    "round": pl.Int64(),
    "route": pl.String(),
    "origin": pl.String(),
    "answered_at": pl.String(),
}
IMPORT_FIELDS = ("id", "label", "reviewer")


class AnswerImportError(HitlTriageError):
    """An answers file is unreadable or has a bad row (the message names file, row and field)."""


def empty_answers() -> pl.DataFrame:
    return pl.DataFrame(schema=ANSWER_SCHEMA)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_answers(run_dir: Path) -> pl.DataFrame:
    """All human answers recorded for a run (empty frame with ``ANSWER_SCHEMA`` if none)."""
    path = Path(run_dir) / ANSWERS_FILE
    if not path.is_file():
        return empty_answers()
    return pl.read_parquet(path).select(list(ANSWER_SCHEMA)).cast(ANSWER_SCHEMA)


def save_answers(run_dir: Path, answers: pl.DataFrame) -> Path:
    """Replace the answers table atomically (columns as in ``ANSWER_SCHEMA``)."""
    return write_frame(Path(run_dir) / ANSWERS_FILE, answers.select(list(ANSWER_SCHEMA)).cast(ANSWER_SCHEMA))


def append_answers(run_dir: Path, new: pl.DataFrame) -> int:
    """Add answers, dropping exact repeats of (id, reviewer, label, origin); returns rows added."""
    old = load_answers(run_dir)
    new = new.select(list(ANSWER_SCHEMA)).cast(ANSWER_SCHEMA)
    key = ["id", "reviewer", "label", "origin"]
    fresh = new.unique(key, keep="last", maintain_order=True).join(old.select(key), on=key, how="anti")
    if fresh.height:
        save_answers(run_dir, pl.concat([old, fresh]))
    return fresh.height


def known_labels(answers: pl.DataFrame, ids: list[str]) -> np.ndarray:
    """``(len(ids),)`` int64 human label per item (most frequent answer, ties to the latest),
    ``-1`` where no answer exists."""
    y = np.full(len(ids), -1, dtype=np.int64)
    if answers.is_empty():
        return y
    top = (
        answers.group_by("id", "label")
        .agg(pl.len().alias("n"), pl.col("answered_at").max())
        .sort(["n", "answered_at"], descending=True)
        .unique("id", keep="first")
    )
    index = {item: i for i, item in enumerate(ids)}
    for item, label in top.select("id", "label").iter_rows():
        if item in index:
            y[index[item]] = label
    return y


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
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < len(label_names) else None
    if isinstance(value, str):
        text = value.strip()
        if text in label_names:
            return label_names.index(text)
        lowered = [n.lower() for n in label_names]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        if text.lstrip("-").isdigit() and 0 <= int(text) < len(label_names):
            return int(text)
    return None


def read_answer_file(path: Path, *, label_names: list[str], ids: list[str], rounds: dict[str, int] | None = None) -> pl.DataFrame:
    """Read and validate an answers file made in any annotation tool.

    Args:
        path: ``.jsonl`` (one object per line) or ``.csv`` (header row) with the fields
            ``id``, ``label`` (class name or index) and ``reviewer``.
        label_names: class names in index order.
        ids: the dataset's item ids.
        rounds: item id -> the round that routed it (for the ``round`` column), if known.

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
    for row in _read_rows(path):
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
    return resolved.with_columns(pl.lit("store").alias("origin")).select(list(ANSWER_SCHEMA)).cast(ANSWER_SCHEMA)


def _routings(run_dir: Path) -> list[tuple[int, pl.DataFrame]]:
    """Every round's routing (``rounds/round_NNN/routing.parquet``), in round order."""
    out = []
    for path in sorted((Path(run_dir) / "rounds").glob("round_*/routing.parquet")):
        out.append((int(path.parent.name.split("_")[1]), pl.read_parquet(path)))
    return out


def import_answers(config: TaskConfig, path: Path) -> tuple[int, int]:
    """Validate ``path`` (JSONL or CSV: id, label, reviewer) and add it to ``answers.parquet``.

    Returns:
        ``(rows read, rows added)``; exact repeats of earlier imports are not added twice.

    Raises:
        AnswerImportError: naming file, row and field.
    """
    from hitl_triage.data import load_dataset

    ids = load_dataset(config.dataset, n_classes=config.n_classes).ids
    rounds: dict[str, int] = {}
    for r, routing in _routings(config.out_dir):
        for item in routing.filter(pl.col("route").is_in(["review", "audit"]))["id"].to_list():
            rounds.setdefault(item, r)
    frame = read_answer_file(Path(path), label_names=config.label_names, ids=ids, rounds=rounds)
    routes = {item: route for _, routing in _routings(config.out_dir)
              for item, route in routing.filter(pl.col("route").is_in(["review", "audit"])).select("id", "route").iter_rows()}
    frame = frame.with_columns(pl.col("id").replace_strict(routes, default="import").alias("route"))
    return frame.height, append_answers(config.out_dir, frame)


def open_requests(config: TaskConfig) -> pl.DataFrame:
    """Items routed to review or audit (any round) that have no answer yet, with what a
    reviewer needs: id, text, route, round, priority, suggested (class name), confidence."""
    from hitl_triage.data import load_dataset

    dataset = load_dataset(config.dataset, n_classes=config.n_classes)
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
