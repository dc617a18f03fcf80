"""Fixtures of the judge tests: task configs over small CSVs, the fault server, the real LLM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fault_server import FaultServer  # tests/judge is on sys.path (rootdir conftest)

from hitl_triage.config import TaskConfig, parse_config
from hitl_triage.data import Dataset, load_dataset

LABELS = [
    {"name": "ham", "description": "A genuine comment about the video or the artist."},
    {"name": "spam", "description": "Self-promotion, links, or requests to subscribe."},
]

MakeTask = Callable[..., tuple[TaskConfig, Dataset]]


@pytest.fixture
def make_task(tmp_path: Path) -> MakeTask:
    """``make_task(texts, **judge_settings)`` → (config, dataset) over a CSV in ``tmp_path``.

    ``bias_correction`` defaults to ``none`` here, so tests of other behaviours see the fault
    server's probabilities as answered; tests of the correction set it.
    """

    def make(texts: list[str | None], *, run_dir: Path | None = None,
             **judge: Any) -> tuple[TaskConfig, Dataset]:
        csv = tmp_path / "items.csv"
        pl.DataFrame({"cid": [f"c{i}" for i in range(len(texts))], "body": texts},
                     schema={"cid": pl.String, "body": pl.String}).write_csv(csv)
        judge = {"backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 5.0,
                 "bias_correction": "none", **judge}
        config = parse_config({
            "task": "youtube_spam", "labels": LABELS,
            "dataset": {"path": str(csv), "id_field": "cid", "text_field": "body"},
            "run_dir": str(run_dir or tmp_path / "run"),
            "judge": judge,
        })
        return config, load_dataset(config.dataset, n_classes=config.n_classes)

    return make


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    """``fault_server(**options)`` starts a :class:`FaultServer`; all are stopped afterwards."""
    started: list[FaultServer] = []

    def start(**options: Any) -> FaultServer:
        server = FaultServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
