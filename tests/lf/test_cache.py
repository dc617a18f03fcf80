"""The vote cache key covers the module-level values an LF reads, and nothing else."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from hitl_triage.config import load_config
from hitl_triage.data import load_dataset
from hitl_triage.lf import apply_sources, load_lfs
from hitl_triage.lf.cache import fingerprint

from ..conftest import REPO, make_task

BUNDLED = REPO / "labeling_functions" / "youtube_spam.py"

MODULE = '''
import re
from hitl_triage.lf import ABSTAIN, labeling_function

HAM, SPAM = 0, 1
ORDERS = {"check", "visit"}
FAN_WORDS = ("love", "beautiful")
PROMO = re.compile(r"my channel")


def first_word(text):
    return text.split()[0].lower() if text.split() else ""


@labeling_function()
def orders(x):
    return SPAM if first_word(x.text) in ORDERS else ABSTAIN


@labeling_function()
def fan(x):
    return HAM if any(w in x.text.lower() for w in FAN_WORDS) else ABSTAIN


@labeling_function()
def promo(x):
    return SPAM if PROMO.search(x.text) else ABSTAIN
'''

TEXTS = ["Check my channel", "Visit my page", "I love this", "Follow me now", "so beautiful"]


def _apply(config_path: Path):
    config = load_config(config_path)
    return apply_sources(config, load_dataset(config.dataset, n_classes=2))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _column(votes, name: str) -> list[int]:
    return votes.L[:, votes.names.index(name)].tolist()


def test_editing_a_constant_an_lf_reads_recomputes_only_that_lf(tmp_path: Path) -> None:
    config = make_task(tmp_path, lf_source=MODULE, texts=TEXTS, gold=None)
    module = tmp_path / "lfs" / "task_lfs.py"
    first = _apply(config)
    assert _column(first, "orders") == [1, 1, -1, -1, -1]
    _edit(module, 'ORDERS = {"check", "visit"}', 'ORDERS = {"check", "visit", "follow"}')
    edited = _apply(config)
    assert edited.recomputed == ["orders"]
    assert _column(edited, "orders") == [1, 1, -1, 1, -1]
    _edit(module, 'FAN_WORDS = ("love", "beautiful")', 'FAN_WORDS = ("love",)')  # read in a genexpr
    assert _apply(config).recomputed == ["fan"]
    _edit(module, 'r"my channel"', 'r"my (channel|page)"')
    assert _apply(config).recomputed == ["promo"]
    _edit(module, "split()[0].lower()", "split()[-1].lower()")  # a helper function it calls
    assert _apply(config).recomputed == ["orders"]
    assert _apply(config).recomputed == []


def test_editing_an_unrelated_lf_keeps_the_others_cached(tmp_path: Path) -> None:
    config = make_task(tmp_path, lf_source=MODULE, texts=TEXTS, gold=None)
    module = tmp_path / "lfs" / "task_lfs.py"
    _apply(config)
    _edit(module, "return HAM if any(", "return SPAM if any(")
    _edit(module, "\n@labeling_function()\ndef orders", "\nUNUSED = 1\n\n\n@labeling_function()\ndef orders")
    edited = _apply(config)
    assert edited.recomputed == ["fan"]
    assert _column(edited, "fan") == [-1, -1, 1, -1, 1]


def test_bundled_imperatives_constant_changes_the_votes(tmp_path: Path) -> None:
    lfs_dir = tmp_path / "lfs"
    lfs_dir.mkdir()
    shutil.copy(BUNDLED, lfs_dir / "task_lfs.py")
    texts = ["Try my new music page for more songs", "Check out my new song please",
             "this is the best song ever made"]
    items = tmp_path / "items.csv"
    pl.DataFrame({"item_id": ["a", "b", "c"], "body": texts, "VIDEO": ["Psy"] * 3}).write_csv(items)
    config = tmp_path / "task.yaml"
    config.write_text(textwrap.dedent('''
        task: tiny
        labels: [{name: ham, description: Genuine.}, {name: spam, description: Ads.}]
        dataset: {path: items.csv, id_field: item_id, text_field: body}
        lfs: {modules: [lfs/task_lfs.py]}
        run_dir: run
    '''))
    first = _apply(config)
    assert _column(first, "imperative_opening") == [-1, 1, -1]
    _edit(lfs_dir / "task_lfs.py", 'IMPERATIVES = {"check",', 'IMPERATIVES = {"try", "check",')
    edited = _apply(config)
    assert edited.recomputed == ["imperative_opening"]
    assert _column(edited, "imperative_opening") == [1, 1, -1]


@pytest.mark.slow
def test_fingerprints_are_the_same_in_every_process() -> None:
    """Sets iterate in a per-process order; the key must not (or the cache never hits)."""
    script = ("import sys; from pathlib import Path; from hitl_triage.lf import load_lfs; "
              "from hitl_triage.lf.cache import fingerprint; "
              "s = load_lfs([Path(sys.argv[1])]); "
              "print(*[fingerprint(lf, spacy_pipeline='blank:en') for lf in s.row])")
    env = {**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script, str(BUNDLED)], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout.split()
    here = [fingerprint(lf, spacy_pipeline="blank:en") for lf in load_lfs([BUNDLED]).row]
    assert out == here and len(here) == 4


def test_values_reached_only_through_default_arguments_are_in_the_key(tmp_path: Path) -> None:
    source = '''
from hitl_triage.lf import ABSTAIN, labeling_function

FAN = ("love",)


def has_any(text, words=FAN):
    return any(w in text for w in words)


@labeling_function()
def fan(x, threshold=1):
    return 0 if has_any(x.text.lower()) else ABSTAIN
'''
    config = make_task(tmp_path, lf_source=source, texts=TEXTS, gold=None)
    assert _column(_apply(config), "fan") == [-1, -1, 0, -1, -1]
    _edit(tmp_path / "lfs" / "task_lfs.py", 'FAN = ("love",)', 'FAN = ("love", "beautiful")')
    edited = _apply(config)
    assert edited.recomputed == ["fan"]
    assert _column(edited, "fan") == [-1, -1, 0, -1, 0]
