"""The run directory's writers: atomic, and every OS error is one message naming the path."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hitl_triage.errors import RunDirError
from hitl_triage.rundir import atomic_path, check_run_dir, temp_dir, write_frame, write_text


def test_check_run_dir_creates_a_missing_folder_and_refuses_a_file(tmp_path: Path) -> None:
    assert check_run_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match=r"file: run_dir must be a folder, but it is a file"):
        check_run_dir(tmp_path / "file")
    with pytest.raises(RunDirError, match=r"file/run: cannot create run_dir: Not a directory"):
        check_run_dir(tmp_path / "file" / "run")


def test_write_errors_name_the_path_and_leave_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "taken.txt").mkdir()
    with pytest.raises(RunDirError, match=r"taken\.txt: cannot write: Is a directory"):
        write_text(tmp_path / "taken.txt", "hello")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match=r"file/out\.txt: cannot write: "):
        write_text(tmp_path / "file" / "out.txt", "hello")


def test_write_frame_needs_a_known_suffix(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match=r"cannot tell the format from the suffix '\.xlsx'; expected \.parquet, \.csv or \.jsonl"):
        write_frame(tmp_path / "x.xlsx", pl.DataFrame({"a": [1]}))
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = write_text(tmp_path / "t.txt", "old")
    with pytest.raises(KeyError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyError("writer failed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_temp_dir_removes_only_its_own_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep")
    with temp_dir(tmp_path, prefix=".tmp-") as tmp:
        (tmp / "x").write_text("y")
        assert tmp.parent == tmp_path and tmp.name.startswith(".tmp-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
