"""The terminal review through a real pseudo-terminal: the evidence lines are the web page's
(only voters, with measured accuracy and n; where the suggestion comes from; both models when
they differ; nothing on a blind audit item), and ``/`` searches and relabels past answers."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import polars as pl
from sqlalchemy import select as sql_select

from hitl_triage.store import open_store
from hitl_triage.store.models import Answer, Item, Task
from tests.review.test_terminal import Terminal
from tests.store.support import items, write_task

REVIEW = [sys.executable, "-c", "from hitl_triage.cli import main; main()", "review"]
SOURCES = {"lf_link": 1, "lf_subscribe": 1, "lf_short": None, "lf_caps": 0, "judge": 1}
EVIDENCE = {"suggested": 1, "confidence": 0.62, "votes": json.dumps(SOURCES), "judge_rationale": "Asks to visit a channel.", "suggestion_source": "end_model",
            "label_model_label": 0, "label_model_confidence": 0.55, "end_model_label": 1, "end_model_confidence": 0.62}


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"id": pl.String(), "text": pl.String(), "route": pl.String(), "round": pl.Int64(), "priority": pl.Float64(),
                                      "suggested": pl.Int64(), "confidence": pl.Float64(), "votes": pl.String(), "judge_rationale": pl.String(),
                                      "suggestion_source": pl.String(), "label_model_label": pl.Int64(), "label_model_confidence": pl.Float64(),
                                      "end_model_label": pl.Int64(), "end_model_confidence": pl.Float64()})


def test_terminal_evidence_is_the_web_pages(tmp_path: Path):
    config_path, config = write_task(tmp_path, review={"gold_rate": 0.0})
    with open_store(config) as store:
        store.enqueue(_frame([{"id": f"h{i}", "text": f"history {i}", "route": "review", "round": 0, "votes": json.dumps({"lf_link": 1, "lf_caps": i % 2, "judge": 1})} for i in range(4)]))
        store.add_reviewer("helper")
        store.add_reviewer("solo")
        helper = store.reviewer("helper")
        while (task := store.next_task(helper)) is not None:  # all four settled as spam: lf_link 4/4, lf_caps 2/4, judge 4/4
            store.submit(helper, answer_id=str(uuid.uuid4()), task_id=task.task_id, kind="label", label=1)
        store.enqueue(_frame([
            {"id": "long", "text": "check out my channel", "route": "review", "round": 1, "priority": 10.0, **EVIDENCE},
            {"id": "aud", "text": "an audit item", "route": "audit", "round": 1, "priority": 5.0, **EVIDENCE},
            {"id": "bare", "text": "a review item with no evidence", "route": "review", "round": 1, "priority": 4.0},
        ]))
    term = Terminal([*REVIEW, str(config_path), "--reviewer", "solo"])
    try:
        screen = term.expect(r"check out my channel[\s\S]*q quit")
        assert "Suggested: spam  (62% confidence)" in screen
        assert "Suggested by the end model (a text classifier trained on the labels so far)." in screen
        assert "Models differ: label model ham 55% · end model spam 62%" in screen
        rows = {line.split()[0]: line.split()[1:] for line in screen.splitlines() if line.strip().startswith(("lf_", "judge "))}
        assert rows == {"lf_link": ["spam", "100%", "n=4"], "lf_subscribe": ["spam", "none", "yet", "n=0"], "lf_caps": ["ham", "50%", "n=4"], "judge": ["spam", "100%", "n=4"]}
        assert "lf_short" not in screen  # abstained: not shown
        term.send("2")
        screen = term.expect(r"an audit item[\s\S]*q quit")
        assert "No suggestion" in screen  # blind audit: none of the evidence
        for hidden in ("Suggested by", "Models differ", "lf_link", "judge", "62%", "channel"):
            assert hidden not in screen.split("an audit item", 1)[1], hidden
        term.send("1")
        bare = term.expect(r"a review item with no evidence[\s\S]*q quit")
        assert "No suggestion" in bare and "Suggested by" not in bare and "lf_" not in bare
        term.send("q")
        term.expect(r"Session over")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()


def test_terminal_search_and_relabel(tmp_path: Path):
    config_path, config = write_task(tmp_path, review={"gold_rate": 0.0})
    with open_store(config) as store:
        store.enqueue(items(3, texts=["apple 50%_off today", "banana 50 off", "cherry"]))  # round 0: c0000-c0002
        store.enqueue(items(2, round=1, start=3, texts=["delta 50%_OFF again", "echo"]))  # round 1: c0003, c0004
        store.add_reviewer("solo")
    term = Terminal([*REVIEW, str(config_path), "--reviewer", "solo"])
    try:
        for text in ("apple", "banana", "cherry", "delta"):
            term.expect(rf"{text}[\s\S]*q quit")
            term.send("1")  # ham; after cherry round 0 is finished (a later round exists, none of its tasks pending)
        term.expect(r"echo[\s\S]*q quit")
        term.send("/")
        term.expect(r"Search your answers")
        term.send("50%_\r")  # % and _ match themselves: "banana 50 off" is not a match
        screen = term.expect(r"any other key returns")
        assert "2 answer(s) match '50%_'" in screen and "banana" not in screen
        assert screen.index("c0003") < screen.index("c0000")  # newest first
        assert "(round finished)" in screen.split("c0000", 1)[1]
        term.send("2")  # apple: its round is finished
        screen = term.expect(r"echo[\s\S]*q quit")
        assert "not recorded: round 0 is finished" in screen
        term.send("/")
        term.expect(r"Search your answers")
        term.send("50%_\r")
        term.expect(r"any other key returns")
        term.send("1")  # delta
        term.expect(r"New label for c0003")
        term.send("3")  # other
        screen = term.expect(r"echo[\s\S]*q quit")
        assert "relabelled c0003: other" in screen
        term.send("q")
        term.expect(r"Session over")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    with open_store(config) as store:
        rows = store.read(lambda s: s.execute(
            sql_select(Item.id, Answer.label, Answer.retracted_at.is_not(None), Answer.replaced_by.is_not(None))
            .join(Task, Task.id == Answer.task_id).join(Item, Item.id == Task.item_id).where(Item.id.in_(["c0000", "c0003"]))
            .order_by(Item.id, Answer.retracted_at.is_not(None))
        ).all())
    assert [tuple(r) for r in rows] == [("c0000", 0, False, False), ("c0003", 2, False, False), ("c0003", 0, True, True)]
