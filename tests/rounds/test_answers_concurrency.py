"""Concurrent writers of the answers table: separate processes importing at the same moment
must all find their rows in ``answers.parquet`` (issue 8, case 3)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from hitl_triage.answers import append_answers, export_requests, load_answers, update_answers
from hitl_triage.config import load_config
from hitl_triage.curriculum import run_rounds

ROOT = Path(__file__).resolve().parents[2]
# Each process loads the CLI first, says it is ready, and starts the import only when the test
# creates the start file, so that the imports really run at the same time.
CHILD = """
import sys, time
from pathlib import Path
ready, start, config, answers = sys.argv[1:5]
from hitl_triage.cli import main
Path(ready).touch()
deadline = time.monotonic() + 120
while not Path(start).exists() and time.monotonic() < deadline:
    time.sleep(0.001)
sys.argv = ["hitl-triage", "answers", "import", config, answers]
main()
"""
REVIEWERS = ("alice", "bob", "carol", "dan")


def _wait_for(paths: list[Path], procs: list[subprocess.Popen], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"an import process exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("import processes did not start in time")
        time.sleep(0.01)


def test_four_imports_at_once_keep_every_row(synthetic_task: Path, tmp_path: Path) -> None:
    config = load_config(synthetic_task)
    assert run_rounds(config, use_store=False).status == "waiting"
    export = tmp_path / "open.csv"
    n = export_requests(config, export)
    assert n > 10
    files = []
    for k, name in enumerate(REVIEWERS):
        path = tmp_path / f"{name}.csv"
        pl.read_csv(export).with_columns(pl.lit(k % 2).alias("label"), pl.lit(name).alias("reviewer")).write_csv(path)
        files.append(path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = tmp_path / "start"
    ready = [tmp_path / f"ready{k}" for k in range(len(files))]
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(ready[k]), str(start), str(synthetic_task), str(f)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
             for k, f in enumerate(files)]
    try:
        _wait_for(ready, procs)
        start.touch()
        outputs = [proc.communicate(timeout=300) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert f"added {n} new" in out
    answers = load_answers(config.out_dir)
    assert answers.height == len(REVIEWERS) * n
    counts = dict(answers.group_by("reviewer").len().iter_rows())
    assert counts == dict.fromkeys(REVIEWERS, n)


def test_a_writer_waits_for_the_lock_instead_of_overwriting(tmp_path: Path) -> None:
    """A second writer that starts while the first is between read and replace must see the
    first one's rows (the lock is held across read, merge and replace)."""
    run_dir = tmp_path / "run"
    row = {"label": 1, "round": 0, "route": "review", "origin": "import", "answered_at": "2024-01-01T00:00:00+00:00"}
    first = pl.DataFrame([{"id": "a", "reviewer": "ann", **row}])
    second = pl.DataFrame([{"id": "b", "reviewer": "bob", **row}])
    started = tmp_path / "started"
    child = ("import sys, pathlib, polars as pl\n"
             "from hitl_triage.answers import append_answers\n"
             "pathlib.Path(sys.argv[2]).touch()\n"
             f"append_answers(sys.argv[1], pl.DataFrame([{{'id': 'b', 'reviewer': 'bob', **{row!r}}}]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs: list[subprocess.Popen] = []

    def slow_change(old: pl.DataFrame) -> pl.DataFrame:
        # another process writes while this one holds the table between read and replace
        procs.append(subprocess.Popen([sys.executable, "-c", child, str(run_dir), str(started)], env=env,
                                      stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(1.0)
        assert started.exists() and procs[0].poll() is None  # it is writing, so it waits for the lock
        return pl.concat([old, first.with_columns(pl.lit(None, dtype=pl.String).alias("superseded_at"))],
                         how="diagonal_relaxed")

    update_answers(run_dir, slow_change)
    _out, err = procs[0].communicate(timeout=120)
    assert procs[0].returncode == 0, err
    assert sorted(load_answers(run_dir)["id"].to_list()) == ["a", "b"]
    assert append_answers(run_dir, second) == 0  # bob's row is there already
