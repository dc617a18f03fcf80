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


def test_a_refused_answer_is_a_notice_not_a_crash(tmp_path: Path):
    """The reviewer's claim runs out and another reviewer takes the task before the key is
    pressed: the answer is refused and said so, the session goes on."""
    import os
    from datetime import timedelta

    from rich.console import Console
    from sqlalchemy import update

    from hitl_triage.review.terminal import review_in_terminal
    from hitl_triage.store.models import Assignment, utcnow

    _, config = write_task(tmp_path, review={"gold_rate": 0.0})
    with open_store(config) as store:
        store.enqueue(items(1))
        store.add_reviewer("solo")
        store.add_reviewer("other")

    def take_over() -> None:
        with open_store(config) as store:
            store.write(lambda s: s.execute(update(Assignment).values(expires_at=utcnow() - timedelta(minutes=1))))
            assert store.next_task(store.reviewer("other")) is not None

    keys = iter(["1", "q"])

    def read_key() -> str:
        key = next(keys)
        if key == "1":
            take_over()
        return key

    out = tmp_path / "screen.txt"
    with open(out, "w") as screen:
        summary = review_in_terminal(config, reviewer="solo", read_key=read_key, read_line=lambda: "", console=Console(file=screen, width=120))
    assert summary.labelled == 0
    assert "not recorded: your claim on task 1 expired and another reviewer took the task" in " ".join(out.read_text().split())
    assert os.path.getsize(out) > 0
