"""Checks shared by the round-trip tests: the round loop after an import."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from hitl_triage.answers import load_answers
from hitl_triage.cli import app
from hitl_triage.config import TaskConfig
from hitl_triage.curriculum import read_record, read_routing, run_rounds

runner = CliRunner()


def cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def asked_in_round_0(config: TaskConfig) -> list[str]:
    routing = read_routing(config.out_dir, 0)
    return routing.filter(pl.col("route").is_in(["review", "audit"]))["id"].to_list()


def not_asked(config: TaskConfig) -> list[str]:
    routing = read_routing(config.out_dir, 0)
    return routing.filter(~pl.col("route").is_in(["review", "audit"]))["id"].to_list()


def assert_round_loop_sees(config: TaskConfig, expected: dict[str, str], reviewers: set[str]) -> None:
    """The next run completes round 0 with every answer, routes round 1, and the final labels
    carry the imported classes as human labels."""
    answers = load_answers(config.out_dir)
    assert set(answers["reviewer"]) == reviewers
    assert set(answers["origin"]) == {"import"}
    assert set(answers["route"]) <= {"review", "audit"} and set(answers["round"]) == {0}
    result = run_rounds(config, use_store=False)
    assert result.status == "waiting", result.message
    record = read_record(config.out_dir, 0)
    assert record is not None and record["status"] == "complete"
    assert record["answered"] == len(expected) == record["n_review"] + record["n_audit"]
    assert read_record(config.out_dir, 1) is not None  # the loop went on to round 1
    final = pl.read_parquet(config.out_dir / "final_labels.parquet").filter(pl.col("id").is_in(list(expected)))
    names = config.label_names
    assert final.height == len(expected)
    assert set(final["label_source"]) == {"human"}
    assert {i: names[y] for i, y in final.select("id", "label").iter_rows()} == expected
    # round 1 does not ask again for what the reviewers answered
    asked = read_routing(config.out_dir, 1).filter(pl.col("route").is_in(["review", "audit"]))["id"]
    assert not set(asked) & set(expected)


def source_votes(config: TaskConfig) -> dict[str, dict[str, str]]:
    """Item id -> ``{source: class name}`` of the sources that voted (``votes.parquet``)."""
    votes = pl.read_parquet(config.out_dir / "votes.parquet")
    names = [c for c in votes.columns if c != "id"]
    return {row["id"]: {s: config.label_names[row[s]] for s in names if row[s] >= 0}
            for row in votes.iter_rows(named=True)}


def read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))
