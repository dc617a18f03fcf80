"""A judge template that names the item's fields ({instruction}, {response}), run against the
real llama.cpp server with the embedded Gemma 3 270M weights."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hitl_triage.config import parse_config
from hitl_triage.data import field_values, load_dataset
from hitl_triage.judge import load_judgements, run_judge
from hitl_triage.judge.cache import ResponseCache
from hitl_triage.judge.judgements import CACHE_FILE, judge_dir
from hitl_triage.judge.prompts import ItemText, RequestBuilder

pytestmark = pytest.mark.llm
TEMPLATE = ("Task: {task}. Judge the response to the instruction with one of these labels:\n{labels}\n\n"
            "{examples}Text: Instruction: {instruction} Response: {response}\nLabel:")


def test_template_fields_reach_the_real_model(tmp_path: Path, llama_server: str):
    pl.DataFrame({
        "id": ["a", "b", "c"],
        "instruction": ["What is 2 + 2?", "Name the capital of France.", "Write hello in uppercase."],
        "response": ["2 + 2 = 4.", "I'm sorry, I cannot help with that.", "HELLO"],
    }).write_csv(tmp_path / "pairs.csv")
    config = parse_config({
        "task": "instruction_review",
        "labels": [{"name": "good", "description": "A correct answer."},
                   {"name": "reject", "description": "Not an answer."}],
        "dataset": {"path": "pairs.csv", "id_field": "id", "text_field": "response",
                    "fields": [{"name": "instruction"}, {"name": "response", "format": "markdown"}]},
        "judge": {"base_url": llama_server, "template": TEMPLATE, "bias_correction": "none",
                  "examples": [{"text": "Instruction: What is 1 + 1? Response: 1 + 1 = 2.", "label": "good"},
                               {"text": "Instruction: Name a colour. Response: Sorry, I cannot.", "label": "reject"}]},
        "run_dir": "run",
    }, base_dir=tmp_path)
    dataset = load_dataset(config.dataset, n_classes=2)
    result = run_judge(config, dataset)
    assert (result.judged, result.failed) == (3, 0), result.failures
    assert load_judgements(config.out_dir, dataset.ids, 2).judged.all()
    # the requests the model answered are the ones rendered with both fields of each item
    builder = RequestBuilder(task=config.task, label_names=config.label_names,
                             label_descriptions=[c.description for c in config.labels],
                             settings=config.judge, field_names=["instruction", "response"],
                             examples=[(e.text, config.label_names.index(e.label)) for e in config.judge.examples])
    rows = field_values(dataset.items, config.dataset).iter_rows(named=True)
    requests = [builder.main_request(ItemText(row["response"], row)) for row in rows]
    assert "Instruction: Name the capital of France. Response: I'm sorry" in requests[1].body["prompt"]
    with ResponseCache(judge_dir(config.out_dir) / CACHE_FILE) as cache:
        assert cache.contains([r.key for r in requests]) == {r.key for r in requests}
