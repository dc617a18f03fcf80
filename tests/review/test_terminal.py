"""The terminal review driven for real through a pseudo-terminal: answer three items, undo one."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select as sql_select

from hitl_triage.store import open_store
from hitl_triage.store.models import Answer, Item, Task
from tests.store.support import items, write_task

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


class Terminal:
    """A child process on a pseudo-terminal; ``expect`` waits for text on its screen."""

    def __init__(self, args: list[str]) -> None:
        master, slave = pty.openpty()
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.fd = master
        self.seen = ""

    def expect(self, pattern: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            plain = ANSI.sub("", self.seen)
            found = re.search(pattern, plain)
            if found:
                self.seen = ""  # consume
                return plain
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; screen so far:\n{plain[-2000:]}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    self.seen += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    if self.proc.poll() is not None:
                        raise AssertionError(f"process ended before {pattern!r}:\n{ANSI.sub('', self.seen)}") from None

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.fd)


def test_terminal_review_three_answers_and_one_undo(tmp_path: Path):
    config_path, config = write_task(tmp_path, review={"gold_rate": 0.0})
    with open_store(config) as store:
        store.enqueue(items(5, texts=[f"terminal item {i} <b>not html</b> [red]no markup[/red]" for i in range(5)]))
        store.add_reviewer("solo")
    term = Terminal([sys.executable, "-c", "from hitl_triage.cli import main; main()", "review", str(config_path), "--reviewer", "solo"])
    try:
        screen = term.expect(r"terminal item 0[\s\S]*q quit")
        assert "[red]no markup[/red]" in screen and "<b>not html</b>" in screen  # shown as text
        assert "Suggested: ham" in screen and "lf_link" in screen and "Looks like a genuine reaction." in screen
        term.send("2")  # spam
        term.expect(r"terminal item 1[\s\S]*q quit")
        term.send("\r")  # accept the suggestion (spam: item 1 suggests class 1)
        term.expect(r"terminal item 2[\s\S]*q quit")
        term.send("3")  # other
        term.expect(r"terminal item 3[\s\S]*q quit")
        term.send("u")  # undo: item 2 comes back
        screen = term.expect(r"terminal item 2[\s\S]*q quit")
        assert "undone" in screen
        term.send("q")
        term.expect(r"Session over: 3 labelled, 0 skipped, 0 flagged, 1 undone")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    with open_store(config) as store:
        rows = store.read(
            lambda s: s.execute(
                sql_select(Item.id, Answer.label, Answer.retracted_at.is_not(None))
                .join(Task, Task.id == Answer.task_id)
                .join(Item, Item.id == Task.item_id)
                .order_by(Answer.created_at)
            ).all()
        )
    assert [tuple(r) for r in rows] == [("c0000", 1, False), ("c0001", 1, False), ("c0002", 2, True)]


def test_terminal_review_needs_a_terminal(tmp_path: Path):
    import pytest

    from hitl_triage.review.terminal import review_in_terminal
    from hitl_triage.store.errors import TerminalError

    _, config = write_task(tmp_path)
    with pytest.raises(TerminalError, match="run it in an interactive terminal"):
        review_in_terminal(config, reviewer="nobody")


def test_terminal_review_with_scripted_keys(tmp_path: Path):
    """The same loop with keys from a list (no terminal): skip, flag with a comment, unknown
    reviewer error."""
    import pytest
    from rich.console import Console

    from hitl_triage.review.terminal import review_in_terminal
    from hitl_triage.store import ReviewerError

    _, config = write_task(tmp_path, review={"gold_rate": 0.0})
    with open_store(config) as store:
        store.enqueue(items(3))
        store.add_reviewer("solo")
    keys = iter(["9", "s", "f", "g", "x", "h", "x", "1", "x"])
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    summary = review_in_terminal(config, reviewer="solo", read_key=lambda: next(keys), read_line=lambda: "bad text", console=quiet)
    assert (summary.labelled, summary.skipped, summary.flagged) == (1, 1, 1)
    with open_store(config) as store:
        kinds = store.read(lambda s: s.execute(sql_select(Answer.kind, Answer.comment).order_by(Answer.created_at)).all())
    assert [tuple(k) for k in kinds] == [("skip", None), ("flag", "bad text"), ("label", None)]
    with pytest.raises(ReviewerError, match="unknown reviewer 'ghost'"):
        review_in_terminal(config, reviewer="ghost", read_key=lambda: "q", read_line=lambda: "", console=quiet)
