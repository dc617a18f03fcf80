"""Terminal review of items with several fields, with a correction typed through a real
pseudo-terminal (``e``, the corrected lines, ``.``, then a digit)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import yaml
from sqlalchemy import select

from hitl_triage.config import load_config
from hitl_triage.store import open_store
from hitl_triage.store.models import Answer, Item
from tests.review.test_terminal import Terminal
from tests.store.support import items


def test_terminal_shows_fields_and_takes_a_correction(tmp_path: Path):
    pl.DataFrame({"id": ["c0000"], "instruction": ["q"], "response": ["a"]}).write_csv(tmp_path / "data.csv")
    data = {"task": "records_term", "run_dir": "run",
            "labels": [{"name": "good", "description": "g"}, {"name": "fix", "description": "f"}],
            "dataset": {"path": "data.csv", "id_field": "id", "text_field": "response",
                        "fields": [{"name": "instruction", "display_name": "Instruction"},
                                   {"name": "response", "display_name": "Response", "format": "markdown"}]},
            "review": {"gold_rate": 0.0, "correction": {"field": "response"}}}
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    fields = [{"instruction": f"What is {i} + {i}?", "response": f"{i} + {i} = [red]{2 * i + 1}[/red] <b>x</b>"} for i in range(2)]
    with open_store(config) as store:
        frame = items(2, texts=[f["response"] for f in fields]).with_columns(
            pl.Series("fields", [json.dumps(f) for f in fields]), pl.Series("suggested", [1, 1]))
        store.enqueue(frame)
        store.add_reviewer("solo")
    term = Terminal([sys.executable, "-c", "from hitl_triage.cli import main; main()", "review", str(path), "--reviewer", "solo"])
    try:
        screen = term.expect(r"What is 0 \+ 0\?[\s\S]*e correct response[\s\S]*q quit")
        assert "Instruction" in screen and "Response" in screen
        assert "0 + 0 = [red]1[/red] <b>x</b>" in screen  # the field as text, never markup
        term.send("e")
        term.expect(r"response \(original\)[\s\S]*a line holding only \. ends it")
        term.send("0 + 0 = 0.\r")
        term.send("Checked twice.\r")
        term.send(".\r")
        term.expect(r"Label for the corrected item")
        term.send("2")  # fix
        term.expect(r"What is 1 \+ 1\?[\s\S]*q quit")
        term.send("1")  # good, no correction
        term.expect(r"Queue empty")
        term.send("q")
        term.expect(r"Session over: 2 labelled")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    with open_store(config) as store:
        answers = store.read(lambda s: [tuple(r) for r in s.execute(
            select(Answer.label, Answer.correction).order_by(Answer.created_at, Answer.id)).all()])
        originals = store.read(lambda s: [s.get(Item, i).text for i in ("c0000", "c0001")])
    assert answers == [(1, "0 + 0 = 0.\nChecked twice."), (0, None)]
    assert originals == [f["response"] for f in fields]  # the items keep their original text
