"""Putting items into the review queue: validation of routed items, gold items, and the
admin's stop-gap ways to queue items before the round loop does (``hitl-triage queue``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from hitl_triage.review_settings import OverlapConfig
from hitl_triage.store.errors import IntakeError
from hitl_triage.store.models import (
    GOLD_ROUND,
    GOLD_ROUTE,
    ROUTES,
    GoldItem,
    Item,
    Round,
    Task,
    utcnow,
)

REQUIRED = ("id", "route", "round")
OPTIONAL: dict[str, Any] = {
    "text": None,
    "fields": None,
    "priority": 0.0,
    "suggested": None,
    "confidence": None,
    "votes": "{}",
    "judge_rationale": None,
    "suggestion_source": None,
    "label_model_label": None,
    "label_model_confidence": None,
    "end_model_label": None,
    "end_model_confidence": None,
}
SUGGESTION_SOURCES = ("label_model", "end_model", "stacked", "stacked_judge", "crowdlab")
GOLD_OVERLAP = 1_000_000  # every reviewer may answer a gold item once
INT_MAX = 2**31 - 1  # integer columns are 32-bit on PostgreSQL
DEFAULT_MAX_CHARS = 100_000


def _parse_votes(raw: Any, item_id: str, n_classes: int) -> str:
    if raw is None or raw == "":
        return "{}"
    try:
        votes = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise IntakeError(f"item {item_id!r}: votes is not valid JSON ({exc.msg})") from None
    if not isinstance(votes, dict):
        raise IntakeError(
            f"item {item_id!r}: votes must be a JSON object source -> class index, got {type(votes).__name__}"
        )
    clean: dict[str, int | None] = {}
    for source, vote in votes.items():
        if vote is None or vote == -1:
            clean[str(source)] = None
        elif isinstance(vote, int) and not isinstance(vote, bool) and 0 <= vote < n_classes:
            clean[str(source)] = vote
        else:
            raise IntakeError(
                f"item {item_id!r}: vote of {source!r} must be a class index in [0, {n_classes}), "
                f"-1 or null, got {vote!r}"
            )
    return json.dumps(clean, sort_keys=True)


def check_text(item_id: str, field: str, value: Any, max_chars: int) -> None:
    """Raises IntakeError if ``value`` (text or rationale) is not a string of at most
    ``max_chars`` characters (``review.max_item_chars``)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise IntakeError(f"item {item_id!r}: {field} must be a string or null, got {type(value).__name__}")
    if len(value) > max_chars:
        raise IntakeError(
            f"item {item_id!r}: {field} has {len(value)} characters, at most {max_chars} "
            "(review.max_item_chars)"
        )


def _parse_fields(raw: Any, item_id: str, max_chars: int) -> str | None:
    """The ``fields`` JSON of an item: an object field name -> text or null, order kept."""
    if raw is None or raw == "":
        return None
    try:
        fields = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise IntakeError(f"item {item_id!r}: fields is not valid JSON ({exc.msg})") from None
    if not isinstance(fields, dict) or not fields:
        raise IntakeError(
            f"item {item_id!r}: fields must be a non-empty JSON object field name -> text, got "
            f"{type(fields).__name__}"
        )
    for name, value in fields.items():
        if not isinstance(name, str) or not name or len(name) > 128:
            raise IntakeError(f"item {item_id!r}: field names must be strings of 1 to 128 characters, got {name!r}")
        check_text(item_id, f"field {name!r}", value, max_chars)
    return json.dumps(fields, ensure_ascii=False)


def _models(raw: dict[str, Any], item_id: str, n_classes: int) -> str | None:
    """The ``models`` JSON of a task: where its suggestion comes from and both models' guesses."""
    out: dict[str, Any] = {}
    source = raw["suggestion_source"]
    if source is not None:
        if source not in SUGGESTION_SOURCES:
            raise IntakeError(f"item {item_id!r}: suggestion_source must be one of {list(SUGGESTION_SOURCES)} or null, got {source!r}")
        out["source"] = source
    for model in ("label_model", "end_model"):
        label, confidence = raw[f"{model}_label"], raw[f"{model}_confidence"]
        if label is None:
            continue
        if not 0 <= int(label) < n_classes:
            raise IntakeError(f"item {item_id!r}: {model}_label must be a class index in [0, {n_classes}) or null, got {label!r}")
        if confidence is not None and (math.isnan(confidence) or not 0.0 <= confidence <= 1.0):
            raise IntakeError(f"item {item_id!r}: {model}_confidence must be in [0, 1] or null, got {confidence!r}")
        out[model] = [int(label), None if confidence is None else float(confidence)]
    return json.dumps(out, sort_keys=True) if out else None


def _row(raw: dict[str, Any], n_classes: int, max_chars: int) -> dict[str, Any]:
    item_id = raw["id"]
    if not isinstance(item_id, str) or not item_id or len(item_id) > 256:
        raise IntakeError(f"item id must be a non-empty string of at most 256 characters, got {item_id!r}")
    check_text(item_id, "text", raw["text"], max_chars)
    fields = _parse_fields(raw["fields"], item_id, max_chars)
    check_text(item_id, "judge_rationale", raw["judge_rationale"], max_chars)
    if raw["route"] not in ROUTES:
        raise IntakeError(f"item {item_id!r}: route must be one of {list(ROUTES)}, got {raw['route']!r}")
    if not isinstance(raw["round"], int) or raw["round"] < 0:
        raise IntakeError(f"item {item_id!r}: round must be an integer >= 0, got {raw['round']!r}")
    if raw["round"] > INT_MAX:
        raise IntakeError(f"item {item_id!r}: round must be at most {INT_MAX}, got {raw['round']!r}")
    suggested, confidence = raw["suggested"], raw["confidence"]
    if suggested is not None and not 0 <= int(suggested) < n_classes:
        raise IntakeError(f"item {item_id!r}: suggested must be a class index in [0, {n_classes}) or null, got {suggested!r}")
    if confidence is not None and (math.isnan(confidence) or not 0.0 <= confidence <= 1.0):
        raise IntakeError(f"item {item_id!r}: confidence must be in [0, 1] or null, got {confidence!r}")
    priority = float(raw["priority"] if raw["priority"] is not None else 0.0)
    if math.isnan(priority):
        raise IntakeError(f"item {item_id!r}: priority must be a number, got NaN")
    return {
        "id": item_id,
        "text": raw["text"],
        "fields": fields,
        "route": raw["route"],
        "round": int(raw["round"]),
        "priority": priority,
        "suggested": None if suggested is None else int(suggested),
        "confidence": None if confidence is None else float(confidence),
        "votes": _parse_votes(raw["votes"], item_id, n_classes),
        "judge_rationale": raw["judge_rationale"],
        "models": _models(raw, item_id, n_classes),
    }


def validate_items(
    items: pl.DataFrame, *, n_classes: int, max_chars: int = DEFAULT_MAX_CHARS
) -> list[dict[str, Any]]:
    """Rows of ``items`` checked and normalized (see ``ReviewStore.enqueue`` for columns);
    ``text`` and ``judge_rationale`` have at most ``max_chars`` characters.

    Raises:
        IntakeError: a missing required column or a bad value (naming the item id).
    """
    missing = [c for c in REQUIRED if c not in items.columns]
    if missing:
        raise IntakeError(f"items to enqueue lack column(s) {missing}; got columns {items.columns}")
    frame = items.with_columns(
        [pl.lit(default).alias(name) for name, default in OPTIONAL.items() if name not in items.columns]
    )
    dupes = frame.group_by("id", "round").len().filter(pl.col("len") > 1)
    if dupes.height:
        raise IntakeError(f"items to enqueue repeat (id, round): {dupes.rows()[:5]}")
    # Row-wise on purpose: each row becomes database rows, and messages name the item.
    return [_row(raw, n_classes, max_chars) for raw in frame.select(*REQUIRED, *OPTIONAL).iter_rows(named=True)]


def enqueue_frame(
    session: Session,
    items: pl.DataFrame,
    *,
    n_classes: int,
    overlap: OverlapConfig,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> int:
    rows = validate_items(items, n_classes=n_classes, max_chars=max_chars)
    if not rows:
        return 0
    now = utcnow()
    known_items = set(session.scalars(select(Item.id).where(Item.id.in_({r["id"] for r in rows}))))
    rounds = {r["round"] for r in rows}
    known_rounds = set(session.scalars(select(Round.number).where(Round.number.in_(rounds))))
    session.add_all(Round(number=n, created_at=now) for n in sorted(rounds - known_rounds))
    existing = set(
        session.execute(
            select(Task.item_id, Task.round).where(Task.item_id.in_({r["id"] for r in rows}))
        ).all()
    )
    new = 0
    for r in rows:
        if r["id"] not in known_items:
            session.add(Item(id=r["id"], text=r["text"], fields=r["fields"], created_at=now))
            known_items.add(r["id"])
        if (r["id"], r["round"]) in existing:
            continue
        session.add(
            Task(
                item_id=r["id"],
                round=r["round"],
                route=r["route"],
                priority=r["priority"],
                suggested=r["suggested"],
                confidence=r["confidence"],
                votes=r["votes"],
                judge_rationale=r["judge_rationale"],
                models=r["models"],
                overlap=overlap.for_route(r["route"]),
                status="open",
                created_at=now,
            )
        )
        new += 1
    session.flush()
    return new


def add_gold(
    session: Session,
    *,
    item_id: str,
    label: int,
    admin: str,
    text: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> None:
    """Mark ``item_id`` as a gold item with a known ``label``; creates its gold task, which
    shows the evidence of the item's latest routed task (so it looks like any other item).

    Raises:
        IntakeError: the item is unknown and no ``text`` is given, or the text is too long.
    """
    check_text(item_id, "text", text, max_chars)
    item = session.get(Item, item_id)
    if item is None:
        if text is None:
            raise IntakeError(f"gold item {item_id!r} is not in the store; give its text to add it")
        item = Item(id=item_id, text=text, created_at=utcnow())
        session.add(item)
    gold = session.get(GoldItem, item_id)
    if gold is None:
        session.add(GoldItem(item_id=item_id, label=label, created_by=admin, created_at=utcnow()))
    else:
        gold.label, gold.created_by = label, admin
    if session.scalar(select(Task.id).where(Task.item_id == item_id, Task.round == GOLD_ROUND)) is None:
        latest = session.scalar(
            select(Task).where(Task.item_id == item_id, Task.route != GOLD_ROUTE).order_by(Task.round.desc()).limit(1)
        )
        session.add(
            Task(
                item_id=item_id,
                round=GOLD_ROUND,
                route=GOLD_ROUTE,
                priority=0.0,
                suggested=latest.suggested if latest else None,
                confidence=latest.confidence if latest else None,
                votes=latest.votes if latest else "{}",
                judge_rationale=latest.judge_rationale if latest else None,
                models=latest.models if latest else None,
                overlap=GOLD_OVERLAP,
                status="open",
                created_at=utcnow(),
            )
        )
    session.flush()


def items_from_probs(
    run_dir: Path, texts: pl.DataFrame, label_names: list[str], *, n: int, round: int
) -> pl.DataFrame:
    """The ``n`` least confident items of ``run_dir/probs.parquet`` as an enqueue frame
    (suggested = argmax, confidence = max probability, priority = 1 - confidence).

    ``texts``: frame with ``id`` and ``text``.

    Raises:
        IntakeError: probs.parquet is missing or lacks a ``p_<label>`` column.
    """
    path = Path(run_dir) / "probs.parquet"
    if not path.is_file():
        raise IntakeError(f"{path} not found; run `hitl-triage label CONFIG` first or use --ids")
    probs = pl.read_parquet(path)
    cols = [f"p_{name}" for name in label_names]
    missing = [c for c in ["id", *cols] if c not in probs.columns]
    if missing:
        raise IntakeError(f"{path}: missing column(s) {missing}; got {probs.columns}")
    return (
        probs.select(
            pl.col("id").cast(pl.String),
            pl.concat_list(cols).list.arg_max().cast(pl.Int64).alias("suggested"),
            pl.max_horizontal(cols).cast(pl.Float64).alias("confidence"),
        )
        .with_columns((1.0 - pl.col("confidence")).alias("priority"))
        .sort("confidence")
        .head(n)
        .join(texts.select(pl.col("id").cast(pl.String), "text"), on="id", how="left")
        .with_columns(pl.lit("review").alias("route"), pl.lit(round).alias("round"))
    )


def items_from_ids(path: Path, texts: pl.DataFrame, *, round: int) -> pl.DataFrame:
    """Items listed one id per line in ``path`` (blank lines ignored) as an enqueue frame.

    Raises:
        IntakeError: the file is missing or names ids not in the dataset.
    """
    if not Path(path).is_file():
        raise IntakeError(f"{path}: ids file not found")
    ids = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = pl.DataFrame({"id": ids}, schema={"id": pl.String()}).unique("id", maintain_order=True)
    found = frame.join(texts.select(pl.col("id").cast(pl.String), "text"), on="id", how="left")
    unknown = found.filter(pl.col("text").is_null() & ~pl.col("id").is_in(texts["id"].cast(pl.String).implode()))
    if unknown.height:
        raise IntakeError(f"{path}: {unknown.height} id(s) not in the dataset, e.g. {unknown['id'].head(3).to_list()}")
    return found.with_columns(
        pl.lit("review").alias("route"), pl.lit(round).alias("round"), pl.lit(0.0).alias("priority")
    )
