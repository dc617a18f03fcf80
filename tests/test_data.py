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
    with pytest.raises(DatasetError, match=r"d\.parquet: could not read as parquet"):
        load_dataset(_config(tmp_path, path="d.parquet").dataset, n_classes=2)
    (tmp_path / "d.jsonl").write_text("id,text\n1,hello\n")
    with pytest.raises(DatasetError, match=r"d\.jsonl: could not read as jsonl"):
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
    with pytest.raises(DatasetError, match=r"gold column 'y', row 0: 'maybe' is not a class; expected one of \['ham', 'spam'\]"):
        load_gold(bad.dataset, bad.label_names, ["a"])
    nogold = _config(tmp_path, path="d.csv", id_field="id")
    with pytest.raises(DatasetError, match=r"dataset\.gold_field is not set"):
        load_gold(nogold.dataset, nogold.label_names, ["a"])


def test_row_numbers_as_ids_when_no_id_field(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in ["a", "b"]) + "\n")
    assert load_dataset(_config(tmp_path, path="d.jsonl").dataset, n_classes=2).ids == ["0", "1"]
