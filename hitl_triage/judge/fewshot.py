"""Few-shot examples: from reviewers' labels once there are some, else from the config.

Reviewed labels are the human answers whose route is not ``audit`` (the audit sample must stay
an unbiased check of what is auto-accepted, so the judge never learns from it). The choice is
label-diverse (round-robin over classes, in class order) and stable: within a class the earliest
answered items come first, so once every class has its share, later rounds keep the same prompt
and the response cache stays valid.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from hitl_triage.data import Dataset
from hitl_triage.judge.errors import JudgeError
from hitl_triage.judge_settings import JudgeConfig


def config_examples(settings: JudgeConfig, label_names: Sequence[str]) -> list[tuple[str, int]]:
    """The config's fixed examples as ``(text, class index)``.

    Raises:
        JudgeError: an example's label is not a label name of the task.
    """
    out = []
    for i, example in enumerate(settings.examples):
        if example.label not in label_names:
            raise JudgeError(
                f"judge.examples[{i}].label: expected one of {list(label_names)}, "
                f"got {example.label!r}"
            )
        out.append((example.text, list(label_names).index(example.label)))
    return out


def reviewed_examples(
    answers: pl.DataFrame, dataset: Dataset, *, n_classes: int
) -> list[tuple[str, int]]:
    """Every reviewed item usable as an example, ordered for round-robin selection.

    Args:
        answers: human answers (``hitl_triage.answers`` schema).
        dataset: the items, for their texts.
        n_classes: k; answers with labels outside ``[0, k)`` are ignored.

    Returns:
        ``(text, class index)`` pairs, earliest answered first; items whose reviewers disagree,
        audit answers and items without text are left out.
    """
    if answers.height == 0:
        return []
    reviewed = (
        answers.filter((pl.col("route") != "audit") & pl.col("label").is_between(0, n_classes - 1))
        .group_by("id")
        .agg(pl.col("label").n_unique().alias("n_labels"), pl.col("label").first(),
             pl.col("answered_at").min())
        .filter(pl.col("n_labels") == 1)
        .join(dataset.items.select("id", "text"), on="id", how="inner")
        .filter(pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != ""))
        .sort("answered_at", "id")
    )
    # a short per-row comprehension: the result is a handful of (text, label) tuples
    return list(zip(reviewed["text"].to_list(), reviewed["label"].to_list(), strict=True))


def pick_diverse(candidates: Sequence[tuple[str, int]], *, n: int, n_classes: int) -> list[tuple[str, int]]:
    """Up to ``n`` examples, taking one per class in turn (class 0, 1, ..., k-1, 0, ...)."""
    by_class: list[list[tuple[str, int]]] = [[] for _ in range(n_classes)]
    for text, label in candidates:
        by_class[label].append((text, label))
    chosen: list[tuple[str, int]] = []
    depth = 0
    while len(chosen) < n and any(len(c) > depth for c in by_class):
        for bucket in by_class:
            if depth < len(bucket) and len(chosen) < n:
                chosen.append(bucket[depth])
        depth += 1
    return chosen


def choose_examples(
    settings: JudgeConfig, answers: pl.DataFrame, dataset: Dataset, *, label_names: Sequence[str]
) -> list[tuple[str, int]]:
    """The run's few-shot set: reviewed labels if any, else the config's examples."""
    k = len(label_names)
    fixed = config_examples(settings, label_names)  # validated even when not used
    candidates = reviewed_examples(answers, dataset, n_classes=k) or fixed
    return pick_diverse(candidates, n=settings.few_shot, n_classes=k)
