import textwrap
from pathlib import Path

import numpy as np
import pytest

from hitl_triage.config import load_config
from hitl_triage.data import load_dataset
from hitl_triage.errors import LabelingFunctionError
from hitl_triage.lf import apply_sources, lf_summary, load_lfs, nlp_labeling_function
from hitl_triage.lf.kinds import keyword_lf, regex_lf

from .conftest import LF_MODULE, make_task


def _apply(config_path: Path):
    config = load_config(config_path)
    return apply_sources(config, load_dataset(config.dataset, n_classes=2))


def test_three_kinds_vote_and_empty_text_abstains(task_config: Path) -> None:
    votes = _apply(task_config)
    assert votes.names == ["link", "subscribe", "short", "song", "url_token"]
    assert votes.kinds == ["expression"] * 3 + ["row"] * 2
    assert votes.L.dtype == np.int8 and votes.L.shape == (8, 5)
    L = dict(zip(votes.names, votes.L.T, strict=True))
    assert L["link"].tolist() == [1, -1, -1, -1, -1, -1, 1, -1]
    assert L["subscribe"].tolist()[2] == 1
    assert L["short"].tolist() == [-1, -1, -1, -1, -1, -1, -1, 0]  # empty/null text abstain
    assert L["song"].tolist()[1] == 0
    assert L["url_token"].tolist()[0] == 1  # spaCy LF read x.doc
    assert (votes.L[3:5] == -1).all()


def test_parallel_row_lfs_match_serial(tmp_path: Path) -> None:
    serial = _apply(make_task(tmp_path / "a"))
    parallel = _apply(make_task(tmp_path / "b", extra={"lfs": {"modules": ["lfs/task_lfs.py"], "n_jobs": 2}}))
    np.testing.assert_array_equal(serial.L, parallel.L)


def test_raising_lf_abstains_and_is_recorded(tmp_path: Path) -> None:
    source = LF_MODULE + textwrap.dedent('''
        @labeling_function()
        def fragile(x):
            if "song" in x.text:
                raise ValueError("cannot parse")
            return ABSTAIN
    ''')
    votes = _apply(make_task(tmp_path, lf_source=source))
    column = votes.names.index("fragile")
    assert (votes.L[:, column] == -1).all()
    assert [(f.lf, f.item_id) for f in votes.failures] == [("fragile", "c1")]
    assert "ValueError: cannot parse" in votes.failures[0].error


def test_label_outside_schema_names_the_lf(tmp_path: Path) -> None:
    source = LF_MODULE + "\n@labeling_function()\ndef wild(x):\n    return 7\n"
    with pytest.raises(LabelingFunctionError, match=r"labeling function 'wild' returned 7 for item 'c0'"):
        _apply(make_task(tmp_path, lf_source=source))


def test_expression_label_outside_schema_names_the_lf(tmp_path: Path) -> None:
    source = LF_MODULE + "\nbig = regex_lf('big', 'song', 3)\n"
    with pytest.raises(LabelingFunctionError, match=r"expression LF 'big' returned 3 for item 'c1'"):
        _apply(make_task(tmp_path, lf_source=source))


def test_duplicate_lf_names(tmp_path: Path) -> None:
    source = LF_MODULE + "\nagain = keyword_lf('link', ['x'], 1)\n"
    with pytest.raises(LabelingFunctionError, match=r"two labeling functions are named 'link'"):
        _apply(make_task(tmp_path, lf_source=source))


def test_lf_module_import_error_names_file_and_line(tmp_path: Path) -> None:
    module = tmp_path / "broken.py"
    module.write_text("x = 1\nraise RuntimeError('boom')\n")
    with pytest.raises(LabelingFunctionError, match=r"broken\.py \(line 2\): importing the module failed: RuntimeError: boom"):
        load_lfs([module])
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    with pytest.raises(LabelingFunctionError, match=r"empty\.py: defines no labeling functions"):
        load_lfs([empty])
    with pytest.raises(LabelingFunctionError, match=r"missing\.py: labeling function module not found"):
        load_lfs([tmp_path / "missing.py"])


def test_decorator_misuse_and_bad_regex() -> None:
    with pytest.raises(LabelingFunctionError, match=r"write @nlp_labeling_function\(\) with parentheses"):
        nlp_labeling_function(lambda x: 0)
    with pytest.raises(LabelingFunctionError, match=r"regex LF 'r': invalid pattern"):
        regex_lf("r", "(unclosed", 1)
    with pytest.raises(LabelingFunctionError, match=r"keyword LF 'k': keywords must not be empty"):
        keyword_lf("k", [], 1)


def test_lf_name_clashing_with_precomputed_column(tmp_path: Path) -> None:
    with pytest.raises(LabelingFunctionError, match=r"has the name of another vote source"):
        lfs = tmp_path / "m.py"
        lfs.write_text("from hitl_triage.lf import keyword_lf\njudge = keyword_lf('judge', ['a'], 1)\n")
        load_lfs([lfs], reserved=("judge",))


def test_vote_cache_reruns_only_the_edited_lf(tmp_path: Path) -> None:
    config_path = make_task(tmp_path)
    first = _apply(config_path)
    assert sorted(first.recomputed) == sorted(first.names)
    again = _apply(config_path)
    assert again.recomputed == []
    np.testing.assert_array_equal(first.L, again.L)
    module = tmp_path / "lfs" / "task_lfs.py"
    module.write_text(module.read_text().replace('"song" in x.text.lower()', '"love" in x.text.lower()'))
    edited = _apply(config_path)
    assert edited.recomputed == ["song"]
    assert edited.L[1, edited.names.index("song")] == 0


def test_cache_applies_only_new_items(tmp_path: Path) -> None:
    config_path = make_task(tmp_path, texts=["a song", "subscribe"], gold=None)
    _apply(config_path)
    make_task(tmp_path, texts=["a song", "subscribe", "my song"], gold=None)
    config = load_config(config_path)
    votes = apply_sources(config, load_dataset(config.dataset, n_classes=2))
    assert votes.L[2, votes.names.index("song")] == 0
    assert set(votes.recomputed) == set(votes.names)  # every LF saw the one new item


def test_lf_summary_matches_hand_counts() -> None:
    L = np.array([[0, 0, -1], [1, 0, -1], [-1, -1, 1], [1, -1, -1]], dtype=np.int8)
    summary = lf_summary(L, ["a", "b", "c"], label_names=["ham", "spam"], y=np.array([0, 1, 1, -1]))
    rows = {r["source"]: r for r in summary.to_dicts()}
    assert rows["a"]["polarity"] == "ham,spam" and rows["a"]["coverage"] == 0.75
    assert rows["a"]["overlaps"] == 0.5 and rows["a"]["conflicts"] == 0.25
    assert rows["b"]["conflicts"] == 0.25
    assert rows["c"]["overlaps"] == 0.0
    assert (rows["a"]["correct"], rows["a"]["incorrect"], rows["a"]["emp_acc"]) == (2, 0, 1.0)
    assert (rows["b"]["correct"], rows["b"]["incorrect"], rows["b"]["emp_acc"]) == (1, 1, 0.5)
