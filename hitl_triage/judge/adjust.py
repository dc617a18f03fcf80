"""From the model's raw label distributions to the judge's final ones.

Two steps, both on cached answers (no request): the label-bias correction configured by
``bias_correction`` (:mod:`hitl_triage.judge.bias`), then, with ``calibrate`` and enough reviewed
labels (human answers whose route is not ``audit``), temperature scaling, or temperature plus a
per-class bias once every class has ``min_labels_per_class`` labels
(:mod:`hitl_triage.judge.calibration`). Whatever was skipped is recorded in ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from hitl_triage.answers import load_answers
from hitl_triage.judge.bias import BiasCorrection, correct_bias, estimate_prior
from hitl_triage.judge.calibration import (
    apply_class_bias,
    apply_temperature,
    fit_class_bias,
    fit_temperature,
)
from hitl_triage.judge_settings import JudgeConfig


def reviewed_labels(run_dir: Path, ids: list[str], ok: np.ndarray,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of judged items with a reviewed (non-audit) label, and those labels."""
    answers = load_answers(run_dir)
    if answers.height == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    reviewed = (answers.filter((pl.col("route") != "audit") & pl.col("label").is_between(0, k - 1))
                .sort("answered_at").unique("id", keep="last"))
    label_of = dict(zip(reviewed["id"].to_list(), reviewed["label"].to_list(), strict=True))
    rows = np.array([i for i, item in enumerate(ids) if ok[i] and item in label_of],
                    dtype=np.int64)
    labels = np.array([label_of[ids[i]] for i in rows], dtype=np.int64)
    return rows, labels


@dataclass(frozen=True)
class Adjusted:
    """Final probabilities ``(n, k)`` and what produced them (see ``JudgeRunResult``)."""

    probs: np.ndarray
    correction: BiasCorrection
    temperature: float | None
    class_bias: np.ndarray | None
    notes: tuple[str, ...]


def adjust_probs(
    settings: JudgeConfig, *, run_dir: Path, ids: list[str], raw: np.ndarray, ok: np.ndarray,
    content_free: list[tuple[np.ndarray | None, str | None]],
) -> Adjusted:
    """Bias correction, then temperature (and class bias) fitted on reviewed labels.

    Args:
        settings: the judge section (``bias_correction``, ``calibrate`` and their options).
        run_dir: where reviewed labels are read (``answers.parquet``, never audit answers).
        ids: ``n`` item ids.
        raw: ``(n, k)`` the model's label distributions, rows summing to 1.
        ok: ``(n,)`` bool, items with a vote; other rows are returned unchanged.
        content_free: per content-free input, its ``(k,)`` distribution or ``None`` and why.
    """
    k = raw.shape[1]
    correction = estimate_prior(
        settings.bias_correction, item_probs=raw[ok],
        content_free_probs=[p for p, _ in content_free if p is not None],
        content_free_errors=[e for _, e in content_free if e is not None],
    )
    notes = [correction.note] if correction.note else []
    probs = raw.copy()
    if correction.prior is not None and ok.any():
        probs[ok] = correct_bias(raw[ok], np.array(correction.prior))
    temperature, bias = None, None
    if settings.calibrate:
        rows, labels = reviewed_labels(run_dir, ids, ok, k)
        per_class = np.bincount(labels, minlength=k)
        if len(rows) < settings.min_calibration_labels:
            notes.append(f"calibration skipped: {len(rows)} reviewed labels of judged items, "
                         f"need {settings.min_calibration_labels}")
        elif settings.class_bias and per_class.min() >= settings.min_labels_per_class:
            temperature, bias = fit_class_bias(probs[rows], labels)
            probs[ok] = apply_class_bias(probs[ok], temperature, bias)
        else:
            if settings.class_bias:
                notes.append(f"class bias skipped: reviewed labels per class "
                             f"{per_class.tolist()}, need {settings.min_labels_per_class} each")
            temperature = fit_temperature(probs[rows], labels)
            probs[ok] = apply_temperature(probs[ok], temperature)
    return Adjusted(probs, correction, temperature, bias, tuple(notes))
