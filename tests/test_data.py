import json
from pathlib import Path

import datasets
import numpy as np
import polars as pl
import pytest

from hitl_triage.config import load_config, parse_config
from hitl_triage.data import load_dataset, load_gold
from hitl_triage.errors import DatasetError

from .conftest import FIXTURES, GOLD, TEXTS, make_task, requires_shared, shared_data

LABELS = [{"name": "ham", "description": "g"}, {"name": "spam", "description": "s"}]


def _config(tmp_path: Path, **dataset):
    return parse_config({"task": "t", "labels": LABELS, "dataset": dataset}, base_dir=tmp_path)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_file_loaders_keep_empty_text_and_hide_gold(tmp_path: Path, fmt: str) -> None:
    config = load_config(make_task(tmp_path, data_format=fmt))
    dataset = load_dataset(config.dataset, n_classes=2)
    assert dataset.items.columns == ["id", "text"]  # gold column is not visible to the pipeline
    assert dataset.ids == [f"c{i}" for i in range(len(TEXTS))]
    assert dataset.items["id"].dtype == pl.String
    assert dataset.empty_text_mask.tolist() == [t is None or t.strip() == "" for t in TEXTS]
    gold = load_gold(config.dataset, config.label_names, dataset.ids)
    assert gold.tolist() == GOLD


def test_hf_dataset_saved_to_disk(tmp_path: Path) -> None:
    data = datasets.DatasetDict({"train": datasets.Dataset.from_dict(
        {"uid": [1, 2, 3], "sentence": ["a", "b", None], "y": ["spam", "ham", "spam"]})})
    data.save_to_disk(str(tmp_path / "hf"))
    config = _config(tmp_path, path="hf", id_field="uid", text_field="sentence", gold_field="y")
    dataset = load_dataset(config.dataset, n_classes=2)
    assert dataset.ids == ["1", "2", "3"]
    assert load_gold(config.dataset, config.label_names, dataset.ids).tolist() == [1, 0, 1]
    wrong = _config(tmp_path, path="hf", split="test", id_field="uid", text_field="sentence")
    with pytest.raises(DatasetError, match=r"dataset\.split must name one of the splits \['train'\], got 'test'"):
        load_dataset(wrong.dataset, n_classes=2)


def test_wrench_folder_votes_and_gold(tmp_path: Path) -> None:
    config = _config(tmp_path, path=str(FIXTURES / "wrench_tiny"))
    dataset = load_dataset(config.dataset, n_classes=2)
    assert dataset.precomputed_L.shape == (10, 3) and dataset.precomputed_L.dtype == np.int8
    assert dataset.precomputed_names == ["weak_labels_0", "weak_labels_1", "weak_labels_2"]
    assert "label" not in dataset.items.columns and "weak_labels" not in dataset.items.columns
    assert load_gold(config.dataset, config.label_names, dataset.ids).tolist() == [i % 2 for i in range(10)]


@requires_shared
def test_wrench_youtube_from_shared_data(tmp_path: Path) -> None:
    folder = shared_data() / "wrench" / "youtube"
    config = _config(tmp_path, path=str(folder), split="test")
    dataset = load_dataset(config.dataset, n_classes=2)
    assert dataset.n_items == 250 and dataset.precomputed_L.shape == (250, 10)
    assert set(np.unique(dataset.precomputed_L)) <= {-1, 0, 1}


def test_duplicate_ids(tmp_path: Path) -> None:
    pl.DataFrame({"id": ["a", "b", "a"], "text": ["x", "y", "z"]}).write_csv(tmp_path / "d.csv")
    with pytest.raises(DatasetError, match=r"d\.csv: ids must be unique, but 2 rows share an id in column 'id'; for example \['a'\]"):
        load_dataset(_config(tmp_path, path="d.csv", id_field="id").dataset, n_classes=2)


def test_missing_id_and_text_columns(tmp_path: Path) -> None:
    pl.DataFrame({"key": ["a"], "body": ["x"]}).write_csv(tmp_path / "d.csv")
    with pytest.raises(DatasetError, match=r"dataset\.id_field names column 'id', which is not in the file; columns: \['key', 'body'\]"):
        load_dataset(_config(tmp_path, path="d.csv", id_field="id").dataset, n_classes=2)
    with pytest.raises(DatasetError, match=r"dataset\.text_field names column 'text'"):
        load_dataset(_config(tmp_path, path="d.csv", id_field="key").dataset, n_classes=2)


def test_empty_id_value(tmp_path: Path) -> None:
    pl.DataFrame({"id": ["a", None], "text": ["x", "y"]}).write_csv(tmp_path / "d.csv")
    with pytest.raises(DatasetError, match=r"column 'id' \(dataset\.id_field\) is empty in 1 row\(s\), first rows \(0-based\): \[1\]"):
        load_dataset(_config(tmp_path, path="d.csv", id_field="id").dataset, n_classes=2)


def test_file_that_is_not_what_its_extension_says(tmp_path: Path) -> None:
    (tmp_path / "d.parquet").write_text("id,text\n1,hello\n")
    with pytest.raises(DatasetError, match=r"d\.parquet: not a Parquet file"):
        load_dataset(_config(tmp_path, path="d.parquet").dataset, n_classes=2)
    (tmp_path / "d.jsonl").write_text("id,text\n1,hello\n")
    with pytest.raises(DatasetError, match=r"d\.jsonl: line 1 is not valid JSON"):
        load_dataset(_config(tmp_path, path="d.jsonl").dataset, n_classes=2)
    (tmp_path / "d.json").write_text("[1, 2]")
    with pytest.raises(DatasetError, match=r"expected a JSON object keyed by record id, got list"):
        load_dataset(_config(tmp_path, path="d.json").dataset, n_classes=2)


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope\.csv: dataset not found"):
        load_dataset(_config(tmp_path, path="nope.csv").dataset, n_classes=2)
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"cannot tell the format from the extension '\.txt'"):
        load_dataset(_config(tmp_path, path="d.txt").dataset, n_classes=2)


def test_vote_columns_validated(tmp_path: Path) -> None:
    pl.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "ext": [1, 5]}).write_parquet(tmp_path / "d.parquet")
    config = _config(tmp_path, path="d.parquet", id_field="id", vote_fields=["ext"])
    with pytest.raises(DatasetError, match=r"vote column 'ext', row 1 \(id 'b'\): vote 5 is outside \{-1, 0, \.\.\., 1\}"):
        load_dataset(config.dataset, n_classes=2)
    pl.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "ext": [[1, 0], [0]]}).write_parquet(tmp_path / "d.parquet")
    with pytest.raises(DatasetError, match=r"must have 2 votes in every row; row 1 \(id 'b'\) has 1"):
        load_dataset(config.dataset, n_classes=2)


def test_gold_values_by_name_and_errors(tmp_path: Path) -> None:
    pl.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"], "y": ["Spam", None, "ham"]}).write_csv(tmp_path / "d.csv")
    config = _config(tmp_path, path="d.csv", id_field="id", gold_field="y")
    assert load_gold(config.dataset, config.label_names, ["c", "a", "b"]).tolist() == [0, 1, -1]
    (tmp_path / "e.csv").write_text("id,text,y\na,x,maybe\n")
    bad = _config(tmp_path, path="e.csv", id_field="id", gold_field="y")
    with pytest.raises(DatasetError, match=r"gold column 'y', row 0: expected a class index in 0\.\.1, a label name in \['ham', 'spam'\], or -1/None for abstain; got 'maybe'"):
        load_gold(bad.dataset, bad.label_names, ["a"])
    nogold = _config(tmp_path, path="d.csv", id_field="id")
    with pytest.raises(DatasetError, match=r"dataset\.gold_field is not set"):
        load_gold(nogold.dataset, nogold.label_names, ["a"])


def test_row_numbers_as_ids_when_no_id_field(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in ["a", "b"]) + "\n")
    assert load_dataset(_config(tmp_path, path="d.jsonl").dataset, n_classes=2).ids == ["0", "1"]


# --- ids are text, never type-guessed ------------------------------------------------------------

@pytest.mark.parametrize("ids", [["0001", "2", "030"],                # all integers: 0001 was 1
                                 ["1.10", "1.1", "1e3", "-0", "2.50"],  # all floats: 1.10 = 1.1
                                 ["0001", "1.10", "1.1", "abc"]])
@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_ids_are_read_as_written(tmp_path: Path, fmt: str, ids: list[str]) -> None:
    sep = "\t" if fmt == "tsv" else ","
    lines = [sep.join(["id", "text"])] + [sep.join([i, f"{n}0"]) for n, i in enumerate(ids)]
    (tmp_path / f"d.{fmt}").write_text("\n".join(lines) + "\n")
    dataset = load_dataset(_config(tmp_path, path=f"d.{fmt}", id_field="id").dataset, n_classes=2)
    assert dataset.ids == ids
    assert dataset.items["text"].to_list() == [f"{n}0" for n in range(len(ids))]  # text is text too


def test_jsonl_number_ids_keep_their_literal_text(tmp_path: Path) -> None:
    lines = ['{"id": 0.1e2, "text": "a"}', '{"id": 1.10, "text": "b"}', '{"id": 1.1, "text": "c"}',
             "", '{"id": "abc", "text": "d", "nested": {"id": 5}}', '{"id": 7, "text": "e"}']
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    dataset = load_dataset(_config(tmp_path, path="d.jsonl", id_field="id").dataset, n_classes=2)
    assert dataset.ids == ["0.1e2", "1.10", "1.1", "abc", "7"]
    assert dataset.items["text"].to_list() == ["a", "b", "c", "d", "e"]


def test_csv_with_numeric_ids_then_text_after_10000_rows(tmp_path: Path) -> None:
    rows = [f"{i},text {i},{i}" for i in range(10_020)] + ["abc,last,late"]
    (tmp_path / "d.csv").write_text("id,text,extra\n" + "\n".join(rows) + "\n")
    dataset = load_dataset(_config(tmp_path, path="d.csv", id_field="id").dataset, n_classes=2)
    assert dataset.n_items == 10_021 and dataset.ids[-1] == "abc" and dataset.ids[0] == "0"
    assert dataset.items["extra"][-1] == "late"  # other columns are typed from every row


def test_float_id_columns_are_refused(tmp_path: Path) -> None:
    pl.DataFrame({"id": [1.1, 1.10], "text": ["a", "b"]}).write_parquet(tmp_path / "d.parquet")
    with pytest.raises(DatasetError, match=r"column 'id' \(dataset\.id_field\) holds floats, which cannot keep ids as written"):
        load_dataset(_config(tmp_path, path="d.parquet", id_field="id").dataset, n_classes=2)


def test_hf_and_wrench_ids_are_text(tmp_path: Path) -> None:
    datasets.Dataset.from_dict({"uid": ["0001", "1.10"], "sentence": ["a", "b"]}).save_to_disk(str(tmp_path / "hf"))
    hf = load_dataset(_config(tmp_path, path="hf", id_field="uid", text_field="sentence").dataset, n_classes=2)
    assert hf.ids == ["0001", "1.10"]
    (tmp_path / "w").mkdir()
    records = {"0001": {"label": 0, "weak_labels": [0], "data": {"text": "a"}},
               "1.10": {"label": 1, "weak_labels": [1], "data": {"text": "b"}}}
    (tmp_path / "w" / "train.json").write_text(json.dumps(records))
    wrench = load_dataset(_config(tmp_path, path="w").dataset, n_classes=2)
    assert wrench.ids == ["0001", "1.10"]


# --- WRENCH label.json ---------------------------------------------------------------------------


def test_wrench_label_order_must_match_the_config(tmp_path: Path) -> None:
    folder = str(FIXTURES / "wrench_tiny")  # label.json: {"0": "HAM", "1": "SPAM"}
    swapped = parse_config({"task": "t", "labels": LABELS[::-1], "dataset": {"path": folder}}, base_dir=tmp_path)
    with pytest.raises(DatasetError, match=r"label\.json: the dataset's classes in index order are \['HAM', 'SPAM'\], but the config's labels are \['spam', 'ham'\]"):
        load_dataset(swapped.dataset, n_classes=2, label_names=swapped.label_names)
    renamed = [{"name": "neg", "description": "n"}, {"name": "pos", "description": "p"}]
    other = parse_config({"task": "t", "labels": renamed, "dataset": {"path": folder}}, base_dir=tmp_path)
    with pytest.raises(DatasetError, match=r"but the config's labels are \['neg', 'pos'\]; list the same classes in the same order"):
        load_dataset(other.dataset, n_classes=2, label_names=other.label_names)
    same = _config(tmp_path, path=folder)  # ham, spam: case does not count
    assert load_dataset(same.dataset, n_classes=2, label_names=same.label_names).n_items == 10


@requires_shared
def test_wrench_names_with_spaces_match_the_init_config(tmp_path: Path) -> None:
    from hitl_triage.scaffold import init_from_wrench

    result = init_from_wrench(shared_data() / "wrench" / "chemprot", "chem", configs_dir=tmp_path)
    config = load_config(result.config_path)  # "Part of" -> Part_of, "Substrate/Product" -> Substrate_Product
    assert load_dataset(config.dataset, n_classes=10, label_names=config.label_names).n_items == 3214


# --- bad inputs: one clear message before any work -----------------------------------------------


@pytest.mark.parametrize(("name", "content"), [("d.csv", "id,text\n"), ("d.csv", ""), ("d.jsonl", "\n"),
                                               ("d.tsv", "id\ttext\n")])
def test_a_dataset_with_no_rows_is_refused(tmp_path: Path, name: str, content: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(DatasetError, match=rf"{name.replace('.', '[.]')}: the dataset has 0 rows, expected at least one item; check dataset\.path"):
        load_dataset(_config(tmp_path, path=name, id_field="id").dataset, n_classes=2)


def test_empty_wrench_split_and_parquet_are_refused(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "train.json").write_text("{}")
    with pytest.raises(DatasetError, match=r"w \(split 'train'\): the dataset has 0 rows.*dataset\.split"):
        load_dataset(_config(tmp_path, path="w", split="train").dataset, n_classes=2)
    pl.DataFrame(schema={"id": pl.String, "text": pl.String}).write_parquet(tmp_path / "d.parquet")
    with pytest.raises(DatasetError, match=r"d\.parquet: the dataset has 0 rows"):
        load_dataset(_config(tmp_path, path="d.parquet", id_field="id").dataset, n_classes=2)


def test_csv_with_bare_carriage_returns(tmp_path: Path) -> None:
    (tmp_path / "mac.csv").write_bytes(b"id,text\r1,a\r2,b\r")
    with pytest.raises(DatasetError, match=r"mac\.csv: line 1 ends with a bare carriage return \(\\r without \\n\).*mac2unix"):
        load_dataset(_config(tmp_path, path="mac.csv", id_field="id").dataset, n_classes=2)
    (tmp_path / "stray.csv").write_bytes(b"id,text\r\n1,a\r\n2,b\r3,c\r\n")
    with pytest.raises(DatasetError, match=r"stray\.csv: line 3 ends with a bare carriage return"):
        load_dataset(_config(tmp_path, path="stray.csv", id_field="id").dataset, n_classes=2)
    (tmp_path / "ok.csv").write_bytes(b'id,text\r\n1,"a\rb ""q"" c"\r\n2,d\r\n')  # inside quotes: kept
    ok = load_dataset(_config(tmp_path, path="ok.csv", id_field="id").dataset, n_classes=2)
    assert ok.items["text"].to_list() == ['a\rb "q" c', "d"]


def test_broken_jsonl_line_is_named(tmp_path: Path) -> None:
    lines = ['{"id": "a", "text": "x"}', "", '{"id": "b", "text": "y"}', '{"id": "c", "text": "z"']
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"d\.jsonl: line 4 is not valid JSON \(Expecting ',' delimiter at column 24\); fix or remove that line"):
        load_dataset(_config(tmp_path, path="d.jsonl", id_field="id").dataset, n_classes=2)
    (tmp_path / "e.jsonl").write_text('{"id": "a", "text": "x"}\n[1, 2]\n')
    with pytest.raises(DatasetError, match=r"e\.jsonl: line 2 is a JSON list, expected an object"):
        load_dataset(_config(tmp_path, path="e.jsonl", id_field="id").dataset, n_classes=2)


def test_parquet_file_named_csv_says_what_it_is(tmp_path: Path) -> None:
    pl.DataFrame({"id": ["a"], "text": ["x"]}).write_parquet(tmp_path / "d.csv")
    with pytest.raises(DatasetError, match=r"d\.csv: this is a Parquet file \(it starts with b'PAR1'\), not csv; rename it to \.parquet or set dataset\.format: parquet"):
        load_dataset(_config(tmp_path, path="d.csv", id_field="id").dataset, n_classes=2)
    pl.DataFrame({"id": ["a"], "text": ["x"]}).write_parquet(tmp_path / "d.jsonl")
    with pytest.raises(DatasetError, match=r"d\.jsonl: this is a Parquet file"):
        load_dataset(_config(tmp_path, path="d.jsonl", id_field="id").dataset, n_classes=2)
    (tmp_path / "t.parquet").write_text("id,text\n1,hello\n")
    with pytest.raises(DatasetError, match=r"t\.parquet: not a Parquet file .*looks like text\); if it is CSV or JSON Lines, rename it"):
        load_dataset(_config(tmp_path, path="t.parquet", id_field="id").dataset, n_classes=2)
