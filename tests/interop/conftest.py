"""A real run directory of the bundled YouTube-spam task with round 0 routed (built once per
module, copied for each test), and the gold labels a reviewer would give."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import yaml

from hitl_triage.config import TaskConfig, load_config
from hitl_triage.curriculum import run_rounds

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "hitl_triage" / "examples" / "youtube_spam" / "youtube_spam.csv"
LABELS = ["ham", "spam"]


def write_youtube_task(root: Path) -> Path:
    """configs/youtube_spam.yaml under ``root`` with absolute data/LF paths, a run folder
    ``root/run`` and two short rounds (49 items in round 0)."""
    config = yaml.safe_load((REPO / "configs" / "youtube_spam.yaml").read_text())
    base = REPO / "configs"
    config["dataset"]["path"] = str((base / config["dataset"]["path"]).resolve())
    config["lfs"]["modules"] = [str((base / m).resolve()) for m in config["lfs"]["modules"]]
    config["run_dir"] = "run"
    config["curriculum"] = {"total_budget": 0.05, "schedule": [0.5, 0.5]}
    config["confidence"] = {"char_ngrams": None}
    root.mkdir(parents=True, exist_ok=True)
    path = root / "task.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def routed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A task folder whose run has round 0 routed and waiting for answers (no review store)."""
    root = tmp_path_factory.mktemp("youtube")
    config_path = write_youtube_task(root)
    result = run_rounds(load_config(config_path), use_store=False)
    assert result.status == "waiting", result.message
    return root


@pytest.fixture
def routed(routed_template: Path, tmp_path: Path) -> Callable[..., tuple[Path, TaskConfig]]:
    """A fresh copy of the routed task folder: ``(config path, config)``; ``blind_audit=False``
    sets ``review.blind_audit`` off (a review setting: the rounds stay valid)."""
    def copy(*, blind_audit: bool = True) -> tuple[Path, TaskConfig]:
        root = tmp_path / "task"
        shutil.copytree(routed_template, root)
        path = root / "task.yaml"
        if not blind_audit:
            config = yaml.safe_load(path.read_text())
            config["review"] = {"blind_audit": False}
            path.write_text(yaml.safe_dump(config))
        return path, load_config(path)

    return copy


@pytest.fixture(scope="session")
def gold() -> dict[str, str]:
    """Item id -> the true class name (the dataset's CLASS column)."""
    frame = pl.read_csv(DATA, schema_overrides={"COMMENT_ID": pl.String})
    return {item: LABELS[int(y)] for item, y in frame.select("COMMENT_ID", "CLASS").iter_rows()}
