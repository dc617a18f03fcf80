"""Records with several fields and reviewer corrections, outside the web app: config validation,
what LFs and the judge's template can read, synced answers carrying corrections, the export's
corrected column, and the bundled instruction/response example run end to end."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from hitl_triage.answer_table import latest_corrections, load_answers, replace_store_answers
from hitl_triage.config import load_config, parse_config
from hitl_triage.data import field_values, load_dataset
from hitl_triage.errors import ConfigError, DatasetError
from hitl_triage.judge.prompts import ItemText, RequestBuilder
from hitl_triage.lf import apply_sources

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "configs" / "instruction_review.yaml"

BASE = {
    "task": "records",
    "labels": [{"name": "good", "description": "g"}, {"name": "fix", "description": "f"}],
    "dataset": {"path": "data.csv", "id_field": "id", "text_field": "response", "gold_field": "label",
                "fields": [{"name": "instruction", "display_name": "Instruction"},
                           {"name": "response", "format": "markdown"}]},
    "review": {"correction": {"field": "response"}},
}


def _config(change=None, base_dir: Path | None = None):  # type: ignore[no-untyped-def]
    data = copy.deepcopy(BASE)
    if change is not None:
        change(data)
    return parse_config(data, source="task.yaml", base_dir=base_dir)


def test_fields_default_to_the_text_field_alone():
    config = parse_config({"task": "t", "labels": BASE["labels"], "dataset": {"path": "x.csv", "text_field": "body"}})
    assert config.dataset.fields == [] and config.dataset.field_names == ["body"]
    assert config.review.correction is None


def test_fields_and_correction_validate():
    config = _config()
    assert config.dataset.field_names == ["instruction", "response"]
    assert [f.title for f in config.dataset.shown_fields] == ["Instruction", "response"]
    assert config.review.correction.field == "response"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["review"].update(correction={"field": "answer"}),
         r"review.correction.field: 'answer' is not one of the shown fields \['instruction', 'response'\]"),
        (lambda d: d["review"].update(correction={"field": "response", "mode": "x"}), r"review.correction.mode: unknown key"),
        (lambda d: d["dataset"]["fields"].append({"name": "instruction"}), r"fields: names must be unique; repeated: \['instruction'\]"),
        (lambda d: d["dataset"]["fields"].append({"name": "label"}), r"fields: \['label'\] is the gold or a vote column"),
        (lambda d: d["dataset"]["fields"].append({"name": "x", "format": "html"}), r"dataset.fields\[2\].format: Input should be 'text' or 'markdown'"),
        (lambda d: d.update(judge={"template": "{instruction} {reply}"}),
         r"judge: template: unknown placeholder\(s\) \['reply'\]; allowed: \[.*'instruction', 'response'\]"),
    ],
)
def test_bad_fields_or_correction_name_the_key(change, message):
    with pytest.raises(ConfigError, match=message) as info:
        _config(change)
    assert str(info.value).startswith("task.yaml: invalid config")


def test_judge_template_may_use_every_shown_field_without_text():
    config = _config(lambda d: d.update(judge={"template": "Q: {instruction}\nA: {response}\nLabel:"}))
    builder = RequestBuilder(task="records", label_names=["good", "fix"], label_descriptions=["g", "f"],
                             settings=config.judge, field_names=["instruction", "response"])
    prompt = builder.completion_prompt(ItemText("It is 5.", {"instruction": "What is 2+2?", "response": "It is 5."}))
    assert prompt == "Q: What is 2+2?\nA: It is 5.\nLabel:"
    assert builder.completion_prompt("N/A") == "Q: N/A\nA: N/A\nLabel:"  # content-free input fills every field


def _write_data(folder: Path) -> None:
    pl.DataFrame({
        "id": ["a", "b", "c"],
        "instruction": ["What is 2 + 2?", "Name a colour.", "Say hi."],
        "response": ["2 + 2 = 5.", "Blue.", "<script>x()</script>"],
        "topic": ["math", "art", "chat"],
        "label": ["fix", "good", "fix"],
    }).write_csv(folder / "data.csv")


def test_every_column_reaches_lfs_and_the_fields_frame(tmp_path: Path):
    _write_data(tmp_path)
    config = _config(base_dir=tmp_path)
    dataset = load_dataset(config.dataset, n_classes=2)
    assert {"text", "instruction", "response", "topic"} <= set(dataset.items.columns)
    assert "label" not in dataset.items.columns  # gold stays hidden
    assert field_values(dataset.items, config.dataset).rows() == [
        ("What is 2 + 2?", "2 + 2 = 5."), ("Name a colour.", "Blue."), ("Say hi.", "<script>x()</script>")]

    module = tmp_path / "lfs.py"
    module.write_text(
        "import polars as pl\n"
        "from hitl_triage.lf import ABSTAIN, expression_lf, labeling_function\n"
        "@expression_lf\n"
        "def asks_math() -> pl.Expr:\n"
        "    return pl.when(pl.col('instruction').str.contains(r'\\d') & (pl.col('topic') == 'math')).then(pl.lit(1))\n"
        "@labeling_function()\n"
        "def row_reads_both(x):\n"
        "    return 0 if x.instruction.startswith('Name') and x.response == x.text else ABSTAIN\n"
    )
    config = _config(lambda d: d.update(lfs={"modules": [str(module)]}), base_dir=tmp_path)
    votes = apply_sources(config, dataset)
    by_name = dict(zip(votes.names, votes.L.T.tolist(), strict=True))
    assert by_name["asks_math"] == [1, -1, -1]
    assert by_name["row_reads_both"] == [-1, 0, -1]


def test_a_listed_field_missing_from_the_file_is_an_error(tmp_path: Path):
    _write_data(tmp_path)
    config = _config(lambda d: d["dataset"]["fields"].append({"name": "context"}), base_dir=tmp_path)
    with pytest.raises(DatasetError, match=r"data.csv: dataset.fields names column 'context', which is not in the file"):
        load_dataset(config.dataset, n_classes=2)


def test_synced_answers_carry_corrections_and_a_new_correction_replaces_the_old(tmp_path: Path):
    row = {"id": "a", "label": 1, "reviewer": "ann", "round": 0, "route": "review", "origin": "store",
           "answered_at": "2026-01-01T00:00:00+00:00", "correction": "2 + 2 = 4."}
    replace_store_answers(tmp_path, pl.DataFrame([row]))
    assert load_answers(tmp_path)["correction"].to_list() == ["2 + 2 = 4."]
    replace_store_answers(tmp_path, pl.DataFrame([{**row, "correction": "2 + 2 = 4!"}]))
    everything = load_answers(tmp_path, include_superseded=True)
    assert everything.height == 2  # the old correction is kept, superseded
    assert latest_corrections(load_answers(tmp_path), ["a", "b"]).to_list() == ["2 + 2 = 4!", None]


def test_an_answers_table_written_before_corrections_reads_as_none(tmp_path: Path):
    pl.DataFrame({"id": ["a"], "label": [0], "reviewer": ["ann"], "round": [0], "route": ["review"], "origin": ["import"],
                  "answered_at": ["2026-01-01T00:00:00+00:00"], "superseded_at": [None]},
                 schema_overrides={"superseded_at": pl.String}).write_parquet(tmp_path / "answers.parquet")
    assert load_answers(tmp_path).row(0, named=True)["correction"] is None


def _example(tmp_path: Path) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["dataset"]["path"] = str(REPO / "hitl_triage/examples/instruction_review/instruction_review.csv")
    data["lfs"]["modules"] = [str(REPO / "labeling_functions/instruction_review.py")]
    data["run_dir"] = str(tmp_path / "run")
    path = tmp_path / "instruction_review.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bundled_example_data_is_what_its_script_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_data", REPO / "hitl_triage/examples/instruction_review/make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    on_disk = pl.read_csv(REPO / "hitl_triage/examples/instruction_review/instruction_review.csv")
    assert on_disk.to_dicts() == module.rows()
    assert set(on_disk["label"]) == {"good", "fix", "reject"}


def test_example_rounds_send_fields_to_the_store_and_export_the_correction(tmp_path: Path):
    """The bundled example on the real round loop: round 0 routes items with both fields to the
    review store (SQLite), a reviewer corrects one response, the next run syncs the answer and
    the export carries the corrected text beside the original, marked human."""
    from hitl_triage.curriculum import run_rounds
    from hitl_triage.pipeline import run_apply, run_export, run_label
    from hitl_triage.store import open_store

    config = load_config(_example(tmp_path))
    assert config.review.correction.field == "response"
    result = run_rounds(config, max_new_rounds=1)
    assert result.status == "waiting"
    with open_store(config) as store:
        ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
        task = store.next_task(ann)
        assert list(task.fields) == ["instruction", "response"]
        original = task.fields["response"]
        store.submit(ann, answer_id="fix-1", task_id=task.task_id, kind="label", label=1, correction="Corrected: " + original)
    run_rounds(config, max_new_rounds=0)  # syncs the store's answers into the run
    synced = load_answers(config.out_dir)
    assert synced.filter(pl.col("id") == task.item_id)["correction"].to_list() == ["Corrected: " + original]
    run_apply(config)
    run_label(config)
    out = run_export(config, fmt="jsonl", out=tmp_path / "train.jsonl")
    rows = {r["id"]: r for r in map(json.loads, out.path.read_text().splitlines())}
    row = rows[task.item_id]
    assert row["response_corrected"] == "Corrected: " + original
    assert row["text"] == original and row["instruction"] == task.fields["instruction"]  # original kept
    assert row["label"] == "fix" and row["label_source"] == "human"
    others = [r for k, r in rows.items() if k != task.item_id]
    assert all(r["response_corrected"] is None for r in others)


def test_example_simulation_beats_the_no_human_baseline(tmp_path: Path):
    """`hitl-triage simulate` on the bundled example (reviewers answered from its gold column)."""
    from typer.testing import CliRunner

    from hitl_triage.cli import app

    out = tmp_path / "sim"
    result = CliRunner().invoke(app, ["simulate", str(_example(tmp_path)), "--budget", "0.2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "instruction_review" and summary["n_items"] == 360
    assert summary["human_share"] <= 0.2 + 1e-9
    assert summary["trainset_accuracy"] > summary["baselines"]["no_human"]["trainset_accuracy"]
