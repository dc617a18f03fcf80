"""`hitl-triage lf` and the workbench's Python API on a real task folder."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from hitl_triage.cli import app
from hitl_triage.config import load_config
from hitl_triage.lf.sources import suggested_module
from hitl_triage.lf.workbench import WorkbenchError
from hitl_triage.workbench import Workbench
from tests.workbench_support import LF_SOURCE, XSS, workbench_task

runner = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_terminal_workbench_accept_and_what_moved(tmp_path: Path) -> None:
    config = workbench_task(tmp_path)
    out = _run("lf", str(config), "--lf", "song", "--uncovered")
    assert "Labeling functions (60 items, 50 with a human label" in out
    assert "Wrong on human labels (song)" in out and XSS[:20] in out  # shown as text, not markup
    assert "human-labeled items no LF covers, by label:" in out
    assert "What moved" not in out  # nothing changed yet

    out = _run("lf", str(config), "--suggest")
    assert "Suggested LFs" in out and "keyword_lf(" in out
    out = _run("lf", str(config), "--accept", "1")
    module = suggested_module(load_config(config))
    code = module.read_text()
    assert "from hitl_triage.lf import keyword_lf, regex_lf" in code and "# accepted " in code
    name = code.strip().splitlines()[-1].split(" = ")[0]
    assert f"recomputed: {name};" in out  # only the new LF ran; the others came from the cache
    assert "What moved" in out and f"{name}" in out and "added" in out

    # edit one LF in the task's module: only it reruns, and the page says what moved
    lf_file = config.parent / "lfs" / "task_lfs.py"
    lf_file.write_text(LF_SOURCE.replace('["song"]', '["song", "video"]'))
    out = _run("lf", str(config))
    assert "recomputed: song;" in out
    assert "│ song " in out and "changed" in out
    assert "estimated training-set accuracy:" in out and " → " in out


def test_terminal_workbench_errors(tmp_path: Path) -> None:
    config = workbench_task(tmp_path)
    out = _run("lf", str(config), "--lf", "nope", code=1)
    assert "unknown LF 'nope'; the sources are ['link', 'song']" in out
    out = _run("lf", str(config), "--accept", "99", code=1)
    assert "--accept 99: there are" in out


def test_python_api_report_suggestions_and_accept(tmp_path: Path) -> None:
    bench = Workbench(load_config(workbench_task(tmp_path)), top=3)
    view = bench.refresh()
    assert view.report.source("link")["accuracy"] == 1.0
    assert view.estimate.basis == "audit" and view.estimate.accuracy is not None
    assert view.suggestions is not None and 0 < view.suggestions.height <= 3
    assert view.moved is None
    with pytest.raises(WorkbenchError, match=r"no current suggestion is named 'nope'; the suggestions are \["):
        bench.accept("nope")
    name = view.suggestions["name"][0]
    done = bench.accept(name)
    assert done.view.recomputed == [name]
    assert done.view.moved is not None and done.view.moved.lfs[0]["status"] == "added"
    again = bench.refresh()
    assert again.recomputed == [] and again.moved == done.view.moved  # kept until the next change
    assert name in again.report.lfs["source"].to_list()
    assert name not in pl.Series(again.suggestions["name"]).to_list()  # type: ignore[index]
