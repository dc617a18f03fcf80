"""The terminal review shows bidi overrides and zero-width characters as markers, driven
through a real pseudo-terminal like ``test_terminal``."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from hitl_triage.store import open_store
from tests.review.test_terminal import Terminal
from tests.store.support import items, write_task


def test_terminal_shows_invisible_characters_as_markers(tmp_path: Path):
    config_path, config = write_task(tmp_path, review={"gold_rate": 0.0})
    spoof = "Log in at live.com/\u202emoc.elgoog for a fr\u200bee prize"
    with open_store(config) as store:
        store.enqueue(items(1, texts=[spoof]).with_columns(pl.lit("judge says \u2066hidden\u2069").alias("judge_rationale")))
        store.add_reviewer("solo")
    term = Terminal([sys.executable, "-c", "from hitl_triage.cli import main; main()", "review", str(config_path), "--reviewer", "solo"])
    try:
        screen = term.expect(r"q quit")
        assert "live.com/⟨U+202E⟩moc.elgoog" in screen and "fr⟨U+200B⟩ee prize" in screen
        assert "judge says ⟨U+2066⟩hidden⟨U+2069⟩" in screen
        assert "\u202e" not in screen and "\u200b" not in screen
        term.send("q")
        term.expect(r"Session over")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
