"""The review commands through the real console entry point."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hitl_triage.store import open_store
from tests.store.support import cli, write_task


def test_reviewers_commands(tmp_path: Path):
    config_path, _ = write_task(tmp_path)
    added = cli("reviewers", "add", str(config_path), "eve", "--role", "admin")
    assert added.returncode == 0 and "password:" in added.stdout and "API token: htr_" in added.stdout
    listed = cli("reviewers", "list", str(config_path))
    assert "eve" in listed.stdout and "admin" in listed.stdout
    again = cli("reviewers", "add", str(config_path), "eve")
    assert again.returncode == 1 and "reviewer 'eve' already exists" in again.stderr
    reset = cli("reviewers", "reset", str(config_path), "eve", "--no-password")
    assert reset.returncode == 0 and "API token:" in reset.stdout and "password:" not in reset.stdout
    assert "now disabled" in cli("reviewers", "disable", str(config_path), "eve").stdout
    assert "now enabled" in cli("reviewers", "enable", str(config_path), "eve").stdout
    missing = cli("reviewers", "disable", str(config_path), "zed")
    assert missing.returncode == 1 and "unknown reviewer 'zed'" in missing.stderr


def test_queue_command(tmp_path: Path):
    config_path, config = write_task(tmp_path, n_items=10)
    (tmp_path / "ids.txt").write_text("c0003\nc0007\n")
    done = cli("queue", str(config_path), "--ids", str(tmp_path / "ids.txt"), "--round", "2")
    assert done.returncode == 0 and "Queued 2 new item(s) for review in round 2" in done.stdout
    config.out_dir.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": [f"c{i:04d}" for i in range(10)], "p_ham": [i / 10 for i in range(10)], "p_spam": [1 - i / 10 for i in range(10)], "p_other": [0.0] * 10}).write_parquet(config.out_dir / "probs.parquet")
    done = cli("queue", str(config_path), "--least-confident", "3", "--round", "3")
    assert done.returncode == 0 and "Queued 3 new item(s)" in done.stdout
    with open_store(config) as store:
        assert store.pending_count(2) == 2 and store.pending_count(3) == 3
    both = cli("queue", str(config_path))
    assert both.returncode != 0 and "exactly one of --ids FILE or --least-confident N" in both.stderr
    bad = cli("queue", str(config_path), "--ids", str(tmp_path / "nope.txt"))
    assert bad.returncode == 1 and "ids file not found" in bad.stderr


def test_review_refuses_a_non_terminal(tmp_path: Path):
    config_path, _ = write_task(tmp_path)
    done = cli("review", str(config_path), "--reviewer", "x", stdin="")
    assert done.returncode == 1 and "interactive terminal" in done.stderr
