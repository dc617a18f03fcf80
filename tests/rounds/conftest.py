"""A small synthetic task for the round loop: noisy text, four vote columns, a gold column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

SPAM_WORDS = ["free", "win", "prize", "subscribe", "channel", "click", "offer", "money"]
HAM_WORDS = ["song", "love", "video", "voice", "dance", "lyrics", "great", "beautiful"]
COMMON = ["the", "this", "is", "a", "so", "really", "and", "my", "you", "it"]


def make_items(n: int, *, seed: int = 0, votes: bool = True) -> pl.DataFrame:
    """``n`` items: id, text, gold (0 ham / 1 spam), and vote columns v0..v3 (-1 abstain)."""
    rng = np.random.default_rng(seed)
    gold = (rng.random(n) < 0.4).astype(np.int64)
    texts = []
    for y in gold:
        own, other = (SPAM_WORDS, HAM_WORDS) if y else (HAM_WORDS, SPAM_WORDS)
        words = list(rng.choice(COMMON, 5)) + list(rng.choice(own, 2))
        if rng.random() < 0.25:
            words += list(rng.choice(other, 1))
        rng.shuffle(words)
        texts.append(" ".join(words))
    frame = pl.DataFrame({"id": [f"item{i:04d}" for i in range(n)], "text": texts, "gold": gold})
    if votes:
        cols = {}
        for j, (cover, acc) in enumerate([(0.5, 0.9), (0.4, 0.8), (0.6, 0.7), (0.3, 0.95)]):
            vote = np.where(rng.random(n) < acc, gold, 1 - gold)
            cols[f"v{j}"] = np.where(rng.random(n) < cover, vote, -1)
        frame = frame.with_columns([pl.Series(k, v) for k, v in cols.items()])
    else:
        frame = frame.with_columns([pl.lit(-1).alias(f"v{j}") for j in range(4)])
    return frame


def write_task(folder: Path, items: pl.DataFrame, *, gold: bool = True, **sections: dict) -> Path:
    """Write items.csv and config.yaml into ``folder``; returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    items.write_csv(folder / "items.csv")
    config = {
        "task": "synthetic",
        "labels": [{"name": "ham", "description": "a real comment"},
                   {"name": "spam", "description": "advertising"}],
        "dataset": {"path": "items.csv", "id_field": "id", "text_field": "text",
                    "vote_fields": ["v0", "v1", "v2", "v3"], **({"gold_field": "gold"} if gold else {})},
        "label_model": {"kind": "snorkel", "n_epochs": 100},
        # the texts are shuffled word lists: sentence embeddings of them mean nothing
        "confidence": {"cv_folds": 3, "max_features": 2000, "min_human_labels": 10, "features": "tfidf"},
        "triage": {"audit_fraction": 0.3},
        "curriculum": {"total_budget": 0.15, "schedule": [0.45, 0.33, 0.22]},
        "run_dir": "run",
        "seed": 0,
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def synthetic_task(tmp_path: Path) -> Path:
    return write_task(tmp_path / "task", make_items(300))
