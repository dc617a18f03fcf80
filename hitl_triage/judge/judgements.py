"""The judge's output in the run directory: ``judge/judgements.parquet``, and reading it back.

Columns: ``id`` (str), ``vote`` (int8, ``-1`` = abstain or no judgement), ``p_0 .. p_{k-1}``
(float64, rows summing to 1; uniform where the judge gave no vote; after bias correction and
calibration), ``raw_p_0 .. raw_p_{k-1}`` (float64, the model's label distribution as answered,
before any correction), ``outside_mass`` (float64, probability the model put outside the label
set), ``rationale`` (str or null), ``error`` (str or null: why the item has no vote, or why its
rationale is missing), ``status`` (``ok``, ``abstain``, ``failed`` or ``skipped``).

The file's parquet metadata key ``hitl_triage.judge`` holds, as JSON, what turned ``raw_p_*``
into ``p_*`` (:func:`judgement_metadata`): ``bias_correction``, ``prior`` (the label distribution
divided out, e.g. ``p_cf``), ``temperature``, ``class_bias`` and ``notes``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from hitl_triage.judge.errors import JudgeError
from hitl_triage.rundir import write_frame

if TYPE_CHECKING:
    from hitl_triage.config import TaskConfig

JUDGE_DIR = "judge"
JUDGEMENTS_FILE = "judgements.parquet"
CACHE_FILE = "cache.sqlite"
STATUSES = ("ok", "abstain", "failed", "skipped")
METADATA_KEY = "hitl_triage.judge"


def judge_dir(run_dir: Path) -> Path:
    return Path(run_dir) / JUDGE_DIR


@dataclass(frozen=True)
class JudgeVotes:
    """The judge's votes aligned with a list of item ids.

    Attributes:
        votes: ``(n,)`` int8 in ``{-1, 0, ..., k-1}``; ``-1`` where the item was not judged,
            failed, or the judge abstained. One column of ``L``.
        probs: ``(n, k)`` float64, rows summing to 1; uniform where ``votes == -1``.
        rationales: ``n`` one-sentence reasons (``None`` where there is none).
        judged: ``(n,)`` bool, True where the judge voted (``votes >= 0``).
    """

    votes: np.ndarray
    probs: np.ndarray
    rationales: list[str | None]
    judged: np.ndarray


def write_judgements(
    run_dir: Path,
    *,
    ids: list[str],
    votes: np.ndarray,
    probs: np.ndarray,
    outside_mass: np.ndarray,
    rationales: list[str | None],
    errors: list[str | None],
    statuses: list[str],
    raw_probs: np.ndarray | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``judge/judgements.parquet`` atomically.

    Arrays are aligned with ``ids``; ``probs`` and ``raw_probs`` (default: ``probs``) are
    ``(n, k)``; ``metadata`` (JSON-serializable) is stored under ``METADATA_KEY``.
    """
    raw_probs = probs if raw_probs is None else raw_probs
    columns: dict[str, pl.Series] = {
        "id": pl.Series("id", ids, dtype=pl.String),
        "vote": pl.Series("vote", votes, dtype=pl.Int8),
    }
    for j in range(probs.shape[1]):
        columns[f"p_{j}"] = pl.Series(f"p_{j}", probs[:, j], dtype=pl.Float64)
    for j in range(probs.shape[1]):
        columns[f"raw_p_{j}"] = pl.Series(f"raw_p_{j}", raw_probs[:, j], dtype=pl.Float64)
    columns["outside_mass"] = pl.Series("outside_mass", outside_mass, dtype=pl.Float64)
    columns["rationale"] = pl.Series("rationale", rationales, dtype=pl.String)
    columns["error"] = pl.Series("error", errors, dtype=pl.String)
    columns["status"] = pl.Series("status", statuses, dtype=pl.String)
    meta = {METADATA_KEY: json.dumps(metadata or {}, sort_keys=True)}
    return write_frame(judge_dir(run_dir) / JUDGEMENTS_FILE, pl.DataFrame(columns),
                       writer=lambda frame, tmp: frame.write_parquet(tmp, metadata=meta))


def judgement_metadata(run_dir: Path) -> dict[str, Any] | None:
    """What the last run applied to the raw distributions, or ``None`` if there is no file.

    Example: ``{"bias_correction": "content_free", "prior": [0.08, 0.92], "temperature": null,
    "class_bias": null, "notes": ["calibration skipped: 0 reviewed labels ..."]}``.
    """
    path = judge_dir(run_dir) / JUDGEMENTS_FILE
    if not path.is_file():
        return None
    return json.loads(pl.read_parquet_metadata(path).get(METADATA_KEY) or "{}")


def load_judgements(run_dir: Path, ids: list[str], n_classes: int) -> JudgeVotes | None:
    """The judge's votes for ``ids``, or ``None`` if the judge has not run in ``run_dir``.

    Items the judgements file does not cover get ``vote -1``, uniform probabilities and no
    rationale.

    Raises:
        JudgeError: the file's class count differs from ``n_classes``.
    """
    path = judge_dir(run_dir) / JUDGEMENTS_FILE
    if not path.is_file():
        return None
    frame = pl.read_parquet(path)
    p_cols = [c for c in frame.columns if c.startswith("p_") and c[2:].isdigit()]
    if len(p_cols) != n_classes:
        raise JudgeError(
            f"{path}: judgements have {len(p_cols)} class probability columns, expected "
            f"{n_classes}; re-run `hitl-triage judge run` for this config"
        )
    p_cols = [f"p_{j}" for j in range(n_classes)]
    aligned = pl.DataFrame({"id": ids}, schema={"id": pl.String}).join(
        frame.select("id", "vote", *p_cols, "rationale"), on="id", how="left",
        maintain_order="left",
    )
    votes = aligned["vote"].fill_null(-1).to_numpy().astype(np.int8)
    probs = aligned.select(p_cols).fill_null(1.0 / n_classes).to_numpy().astype(np.float64)
    judged = votes >= 0
    probs[~judged] = 1.0 / n_classes
    return JudgeVotes(
        votes=votes, probs=probs, rationales=aligned["rationale"].to_list(), judged=judged
    )


def task_judgements(config: TaskConfig, ids: list[str]) -> JudgeVotes | None:
    """The judge's outputs for a task's items; None when the task has no enabled judge or the
    judge has not run yet."""
    if config.judge is None or not config.judge.enabled:
        return None
    return load_judgements(config.out_dir, ids, config.n_classes)
