"""On real WRENCH data (when the shared data is present): the loop beats every baseline."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitl_triage.config import load_config
from hitl_triage.simulate import simulate
from tests.conftest import REPO, requires_shared, shared_data


@pytest.mark.slow
@requires_shared
def test_youtube_at_ten_percent_beats_every_baseline(tmp_path: Path) -> None:
    config = load_config(REPO / "configs" / "wrench_youtube.yaml")
    data = shared_data()
    assert data is not None
    dataset = config.dataset.model_copy(update={"path": data / "wrench" / "youtube"})
    config = config.model_copy(update={"dataset": dataset, "curriculum": config.curriculum.model_copy(update={"schedule": [0.5, 0.3, 0.2]})})
    summary = simulate(config, budget=0.1, seed=0, out_dir=tmp_path / "sim")
    best = max(row["trainset_accuracy"] for row in summary["baselines"].values())
    assert summary["human_share"] == pytest.approx(0.1, abs=0.002)
    assert summary["trainset_accuracy"] > best
    assert summary["trainset_accuracy"] > 0.95
