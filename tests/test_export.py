"""`hitl-triage export`: format and target, never deleting what no export wrote, ids as written.

Everything runs through the real CLI (typer's runner, or a subprocess where the process must
die) on real files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hitl_triage.cli import app
from hitl_triage.export import MARKER, TMP_PREFIX

from .conftest import REPO, make_task

runner = CliRunner()

EXPRESSION_LFS = '''
from hitl_triage.lf import keyword_lf, regex_lf

link = regex_lf("link", r"(?i)https?://|www\\.", 1)
song = keyword_lf("song", ["song"], 0)
'''


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert not isinstance(result.exception, Exception), \
        f"traceback instead of an error line: {result.exception!r}\n{result.output}"
    return result.exit_code, result.output


def _ok(*args: str) -> str:
    code, out = _invoke(*args)
    assert code == 0, out
    return out


def _refused(*args: str) -> str:
    code, out = _invoke(*args)
    assert code == 1, out
    assert out.startswith("error: ") and len(out.strip().splitlines()) == 1, out
    return out


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """A small task after `apply` and `label`; returns its config."""
    config = make_task(tmp_path / "task", lf_source=EXPRESSION_LFS)
    _ok("apply", str(config))
    _ok("label", str(config))
    return config


def _user_files(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"notes.txt": b"my notes", "sub/data.csv": b"a,b\n1,2\n"}
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return files


def _still_there(folder: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        assert (folder / name).read_bytes() == content


# --- hf exports never delete what no export wrote ---------------------------------------------


def test_hf_export_refuses_a_folder_it_did_not_write(labelled: Path, tmp_path: Path) -> None:
    target = tmp_path / "mine"
    files = _user_files(target)
    out = _refused("export", str(labelled), "--format", "hf", "--out", str(target))
    assert f"{target}: folder is not empty and is not a previous export of this task" in out
    assert "give an empty or new folder for --out" in out
    _still_there(target, files)
    out = _refused("export", str(labelled), "--format", "hf", "--out", str(target), "--force")
    _still_there(target, files)


def test_hf_export_to_the_current_directory_keeps_it(labelled: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "work"
    files = _user_files(cwd)
    monkeypatch.chdir(cwd)
    out = _refused("export", str(labelled), "--format", "hf", "--out", ".")
    assert "folder is not empty and is not a previous export of this task" in out
    _still_there(cwd, files)
    assert sorted(p.name for p in cwd.iterdir()) == ["notes.txt", "sub"]


def test_hf_export_into_an_empty_folder_then_replaces_its_own_export(labelled: Path, tmp_path: Path) -> None:
    target = tmp_path / "hf_out"
    target.mkdir()
    _ok("export", str(labelled), "--format", "hf", "--out", str(target))
    marker = json.loads((target / MARKER).read_text())
    assert marker["written_by"] == "hitl-triage export"
    assert {e["task"] for e in marker["entries"].values()} == {"tiny"}
    assert set(marker["entries"]) == {p.name for p in target.iterdir() if p.name != MARKER}
    _ok("export", str(labelled), "--format", "hf", "--out", str(target))  # again: replaced
    assert datasets.load_from_disk(str(target)).num_rows == 8
    assert not [p for p in target.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_hf_export_will_not_delete_files_added_to_a_previous_export(labelled: Path, tmp_path: Path) -> None:
    target = tmp_path / "hf_out"
    _ok("export", str(labelled), "--format", "hf", "--out", str(target))
    (target / "README.md").write_text("my description")
    for extra in ((), ("--force",)):
        out = _refused("export", str(labelled), "--format", "hf", "--out", str(target), *extra)
        assert "holds files that no export wrote, for example ['README.md']" in out
    assert (target / "README.md").read_text() == "my description"
    assert datasets.load_from_disk(str(target)).num_rows == 8


def test_force_replaces_only_a_previous_export_of_another_task(labelled: Path, tmp_path: Path) -> None:
    target = tmp_path / "shared_out"
    _ok("export", str(labelled), "--format", "hf", "--out", str(target))
    other = labelled.parent / "other.yaml"
    other.write_text(yaml.safe_dump({**yaml.safe_load(labelled.read_text()), "task": "other"}))
    out = _refused("export", str(other), "--format", "hf", "--out", str(target))
    assert "holds the export of task 'tiny', not 'other'; pass --force to replace it" in out
    _ok("export", str(other), "--format", "hf", "--out", str(target), "--force")
    marker = json.loads((target / MARKER).read_text())
    assert {e["task"] for e in marker["entries"].values()} == {"other"}


def test_default_location_replaces_an_export_made_before_the_marker(labelled: Path) -> None:
    hf = labelled.parent / "run" / "trainset" / "hf"
    datasets.Dataset.from_dict({"id": ["x"]}).save_to_disk(str(hf))  # as older versions left it
    _ok("export", str(labelled), "--format", "hf")
    assert datasets.load_from_disk(str(hf)).num_rows == 8 and (hf / MARKER).is_file()


INTERRUPTING_EXPORT = textwrap.dedent('''
    import os, sys
    import datasets
    save = datasets.Dataset.save_to_disk
    def save_then_die(self, path, **kwargs):
        save(self, path, **kwargs)
        os._exit(9)  # killed after the data is written, before it is moved into place
    datasets.Dataset.save_to_disk = save_then_die
    from hitl_triage.cli import main
    sys.argv = ["hitl-triage", *sys.argv[1:]]
    main()
''')


def test_leftovers_of_an_interrupted_export_are_cleaned_by_the_next(labelled: Path, tmp_path: Path) -> None:
    target = tmp_path / "hf_out"
    _ok("export", str(labelled), "--format", "hf", "--out", str(target))
    before = {p.name for p in target.iterdir()}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    killed = subprocess.run([sys.executable, "-c", INTERRUPTING_EXPORT, "export", str(labelled),
                             "--format", "hf", "--out", str(target)], env=env, capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == 9, killed.stderr
    leftovers = [p for p in target.iterdir() if p.name.startswith(TMP_PREFIX)]
    assert leftovers and {p.name for p in target.iterdir()} == before | {p.name for p in leftovers}
    assert datasets.load_from_disk(str(target)).num_rows == 8  # the previous export is intact
    _ok("export", str(labelled), "--format", "hf", "--out", str(target))
    assert {p.name for p in target.iterdir()} == before
    assert datasets.load_from_disk(str(target)).num_rows == 8


# --- --format decides; --out is a file with its suffix, or a folder ----------------------------


@pytest.mark.parametrize(("fmt", "name"), [("jsonl", "x.parquet"), ("parquet", "x.jsonl"),
                                           ("parquet", "x.csv"), ("hf", "x.parquet")])
def test_a_suffix_that_contradicts_the_format_is_an_error(labelled: Path, tmp_path: Path, fmt: str, name: str) -> None:
    out = _refused("export", str(labelled), "--format", fmt, "--out", str(tmp_path / name))
    assert f"--out {tmp_path / name}:" in out and "--format" in out
    assert not (tmp_path / name).exists()


def test_the_format_decides_what_is_written(labelled: Path, tmp_path: Path) -> None:
    _ok("export", str(labelled), "--format", "jsonl", "--out", str(tmp_path / "x.jsonl"))
    rows = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and rows[0]["id"] == "c0"
    _ok("export", str(labelled), "--format", "parquet", "--out", str(tmp_path / "x.pq"))
    assert pl.read_parquet(tmp_path / "x.pq").height == 8


@pytest.mark.parametrize("existing", [True, False])
def test_out_folder_gets_train_files(labelled: Path, tmp_path: Path, existing: bool) -> None:
    folder = tmp_path / "out_folder"
    if existing:
        folder.mkdir()
    _ok("export", str(labelled), "--format", "parquet", "--out", str(folder))
    _ok("export", str(labelled), "--format", "jsonl", "--out", str(folder))
    assert pl.read_parquet(folder / "train.parquet").height == 8
    assert pl.read_ndjson(folder / "train.jsonl").height == 8
    entries = json.loads((folder / MARKER).read_text())["entries"]
    assert {n: e["format"] for n, e in entries.items()} == {"train.parquet": "parquet", "train.jsonl": "jsonl"}


def test_file_export_never_overwrites_a_file_it_did_not_write(labelled: Path, tmp_path: Path) -> None:
    mine = tmp_path / "items.parquet"
    pl.DataFrame({"mine": [1, 2]}).write_parquet(mine)
    out = _refused("export", str(labelled), "--format", "parquet", "--out", str(mine))
    assert f"{mine}: already exists and was not written by `hitl-triage export`" in out
    assert pl.read_parquet(mine).columns == ["mine"]
    fresh = tmp_path / "train_v1.parquet"
    _ok("export", str(labelled), "--out", str(fresh))
    _ok("export", str(labelled), "--out", str(fresh))  # its own previous export: replaced
    assert pl.read_parquet(fresh).height == 8


def test_file_export_cleans_its_interrupted_temporary_files(labelled: Path, tmp_path: Path) -> None:
    target = tmp_path / "x.parquet"
    _ok("export", str(labelled), "--out", str(target))
    leftover = tmp_path / ".x.parquet.ab12cd34.tmp"  # what atomic writes leave when killed
    leftover.write_bytes(b"partial")
    unrelated = tmp_path / ".x.parquet.notes"
    unrelated.write_text("keep")
    _ok("export", str(labelled), "--out", str(target))
    assert not leftover.exists() and unrelated.read_text() == "keep"


def test_export_of_an_empty_dataset_is_one_line(labelled: Path) -> None:
    (labelled.parent / "items.csv").write_text("item_id,body,truth\n")
    out = _refused("export", str(labelled))
    assert "items.csv: the dataset has 0 rows, expected at least one item" in out


# --- ids round-trip unchanged: load -> apply -> export -----------------------------------------

ID_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                  min_size=1, max_size=12).filter(lambda s: s.strip() != "")


def _write_items(path: Path, ids: list[str], fmt: str) -> None:
    frame = pl.DataFrame({"item_id": ids, "body": [f"text {i} song" for i in range(len(ids))]},
                         schema={"item_id": pl.String, "body": pl.String})
    if fmt in ("hf", "wrench"):
        shutil.rmtree(path, ignore_errors=True)
    if fmt == "hf":
        datasets.Dataset.from_polars(frame).save_to_disk(str(path))
    elif fmt == "wrench":
        path.mkdir()
        (path / "label.json").write_text(json.dumps({"0": "ham", "1": "spam"}))
        records = {i: {"label": 0, "weak_labels": [-1], "data": {"text": t}} for i, t in frame.iter_rows()}
        (path / "train.json").write_text(json.dumps(records))
    elif fmt == "csv":
        frame.write_csv(path)
    elif fmt == "tsv":
        frame.write_csv(path, separator="\t")
    elif fmt == "jsonl":
        frame.write_ndjson(path)
    else:
        frame.write_parquet(path)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet", "hf", "wrench"])
def test_ids_round_trip_unchanged(tmp_path_factory: pytest.TempPathFactory, fmt: str) -> None:
    root = tmp_path_factory.mktemp(f"ids_{fmt}")
    config = make_task(root, lf_source=EXPRESSION_LFS, gold=None)
    spec = yaml.safe_load(config.read_text())
    spec["dataset"]["path"] = f"items.{fmt}"
    if fmt == "wrench":
        spec["dataset"] = {"path": "items.wrench", "format": "wrench"}
    config.write_text(yaml.safe_dump(spec))

    tricky = ["0001", "1", "1.10", "1.1", "1e3", " 7 ", "NA", "null", "-0", "a\rb", "x\ny",
              'q"uote', "a,b", "t\tab"]

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(ID_TEXT | st.sampled_from(tricky), min_size=1, max_size=8, unique=True))
    @example(tricky)
    def round_trip(ids: list[str]) -> None:
        _write_items(root / f"items.{fmt}", ids, fmt)
        _ok("apply", str(config))
        _ok("label", str(config))
        _ok("export", str(config), "--format", "jsonl")
        lines = (root / "run" / "trainset" / "train.jsonl").read_text(encoding="utf-8").split("\n")
        exported = [json.loads(line)["id"] for line in lines if line]
        assert exported == ids

    round_trip()
