"""The applier: one schema check for expression and row LFs, progress per item, no stale failures."""

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from hitl_triage.config import load_config
from hitl_triage.data import load_dataset
from hitl_triage.errors import LabelingFunctionError
from hitl_triage.lf import LFSet, apply_lfs, apply_sources, labeling_function
from hitl_triage.lf.kinds import ExpressionLF

from ..conftest import LF_MODULE, make_task

LABELS = ["ham", "spam"]


def _apply(config_path: Path, **kwargs: Any):
    config = load_config(config_path)
    return apply_sources(config, load_dataset(config.dataset, n_classes=2), **kwargs)


def _expression_module(body: str) -> str:
    return LF_MODULE + textwrap.dedent(f'''
        @expression_lf
        def odd() -> pl.Expr:
            return pl.when(pl.col("text").str.contains("song")).then({body})
    ''')


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("pl.lit(1.7)", "1.7"),  # was truncated to class 1
        ("pl.lit(0.0)", "0.0"),  # a float is not a class index, as for row LFs
        ("pl.lit(100_000)", "100000"),  # was a silent abstain (did not fit the int16 cast)
        ("pl.lit(-5)", "-5"),
        ("pl.lit(2)", "2"),
        ("pl.lit('hamm')", "'hamm'"),  # an unknown label name was a silent abstain
        ("pl.lit(True)", "True"),
    ],
)
def test_expression_value_outside_schema_names_lf_value_and_item(tmp_path: Path, body: str, shown: str) -> None:
    config = make_task(tmp_path, lf_source=_expression_module(body))
    with pytest.raises(LabelingFunctionError,
                       match=rf"expression LF 'odd' returned {shown} for item 'c1'; .*label name"):
        _apply(config)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("pl.lit('ham')", 0),
        ("pl.lit('spam', dtype=pl.Categorical)", 1),
        ("pl.lit('spam', dtype=pl.Enum(['ham', 'spam']))", 1),
    ],
)
def test_expression_label_names_are_votes(tmp_path: Path, body: str, code: int) -> None:
    votes = _apply(make_task(tmp_path, lf_source=_expression_module(body)))
    assert votes.L[:, votes.names.index("odd")].tolist() == [-1, code, -1, -1, -1, -1, -1, -1]


@pytest.mark.parametrize(
    ("value", "code"),
    [(1, 1), (0, 0), (-1, -1), (None, -1), ("spam", 1), ("ham", 0),
     (1.0, None), (True, None), (2, None), (-2, None), ("eggs", None)],
)
def test_expression_and_row_lfs_follow_one_rule(value: Any, code: int | None) -> None:
    items = pl.DataFrame({"id": ["a", "b"], "text": ["one", "two"]})
    for lf in (ExpressionLF("same", pl.lit(value)), labeling_function(name="same")(lambda x: value)):
        lfset = LFSet(expression=[lf], origin={"same": Path("m.py")}) if isinstance(lf, ExpressionLF) \
            else LFSet(row=[lf], origin={"same": Path("m.py")})
        if code is None:
            with pytest.raises(LabelingFunctionError, match=rf"'same' returned {value!r} for item 'a'"):
                apply_lfs(lfset, items, label_names=LABELS)
        else:
            assert apply_lfs(lfset, items, label_names=LABELS).L[:, 0].tolist() == [code, code]


def test_good_expression_votes_are_cached_when_another_is_bad(tmp_path: Path) -> None:
    config = make_task(tmp_path, lf_source=_expression_module("pl.lit(1.5)"))
    with pytest.raises(LabelingFunctionError, match=r"'odd' returned 1\.5"):
        _apply(config)
    module = tmp_path / "lfs" / "task_lfs.py"
    module.write_text(module.read_text().replace("pl.lit(1.5)", "pl.lit(1)"))
    fixed = _apply(config)
    assert fixed.recomputed == ["odd"]
    assert fixed.L[1, fixed.names.index("odd")] == 1


def test_slow_row_lf_reports_progress_per_item(tmp_path: Path) -> None:
    source = LF_MODULE + textwrap.dedent('''
        import time

        @labeling_function()
        def slow(x):
            time.sleep(0.12)
            return ABSTAIN
    ''')
    texts = [f"comment {i}" for i in range(5)]
    calls: list[tuple[str, int, int]] = []
    _apply(make_task(tmp_path, lf_source=source, texts=texts, gold=None),
           progress=lambda stage, done, total: calls.append((stage, done, total)))
    rows = [(done, total) for stage, done, total in calls if stage == "apply: row LFs"]
    assert rows == [(i, 5) for i in range(1, 6)]


def test_progress_per_item_in_worker_processes(tmp_path: Path) -> None:
    source = LF_MODULE + textwrap.dedent('''
        import time

        @labeling_function()
        def slow(x):
            time.sleep(0.15)
            return ABSTAIN
    ''')
    texts = [f"comment {i}" for i in range(6)]
    calls: list[int] = []
    config = make_task(tmp_path, lf_source=source, texts=texts, gold=None,
                       extra={"lfs": {"modules": ["lfs/task_lfs.py"], "timeout_s": 5}})
    _apply(config, progress=lambda stage, done, total: calls.append(done) if stage == "apply: row LFs" else None)
    assert calls == sorted(calls) and calls[-1] == 6
    assert len(set(calls) & {1, 2, 3, 4, 5}) >= 3  # not one jump per chunk of 32 items


def test_failed_items_are_not_cached_and_are_reported_again(tmp_path: Path) -> None:
    source = LF_MODULE + textwrap.dedent('''
        @labeling_function()
        def fragile(x):
            if "song" in x.text:
                raise ValueError("cannot parse")
            return HAM if x.text == "lol" else ABSTAIN

        @expression_lf
        def broken() -> pl.Expr:
            return pl.col("no_such_column")
    ''')
    config = make_task(tmp_path, lf_source=source)
    first = _apply(config)
    again = _apply(config)
    for votes in (first, again):
        assert sorted((f.lf, f.item_id) for f in votes.failures) == [("broken", "*"), ("fragile", "c1")]
        assert votes.L[7, votes.names.index("fragile")] == 0
    assert sorted(again.recomputed) == ["broken", "fragile"]
    np.testing.assert_array_equal(first.L, again.L)
