from pathlib import Path

import pytest
import yaml

from hitl_triage.config import load_config, parse_config
from hitl_triage.errors import ConfigError

from .conftest import make_task

BASE = {
    "task": "t",
    "labels": [{"name": "a", "description": "A."}, {"name": "b", "description": "B."}],
    "dataset": {"path": "data.csv"},
}


def test_valid_config_resolves_paths_against_its_folder(task_config: Path) -> None:
    config = load_config(task_config)
    assert config.dataset.path == (task_config.parent / "items.csv").resolve()
    assert config.lfs.modules == [(task_config.parent / "lfs" / "task_lfs.py").resolve()]
    assert config.out_dir == (task_config.parent / "run").resolve()
    assert config.label_names == ["ham", "spam"]


def test_default_run_dir_is_beside_the_config(tmp_path: Path) -> None:
    config = parse_config(BASE, source="x.yaml", base_dir=tmp_path)
    assert config.out_dir == tmp_path / "runs" / "t"


def test_unknown_key_names_file_field_and_allowed_keys(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, "dataset": {"path": "d.csv", "txt_field": "x"}}))
    with pytest.raises(ConfigError, match=r"bad\.yaml.*\n.*dataset\.txt_field: unknown key; allowed keys here: .*text_field"):
        load_config(path)


def test_unknown_top_level_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"labelz: unknown key"):
        parse_config({**BASE, "labelz": []}, source="c.yaml")


def test_wrong_value_says_expected_and_got() -> None:
    with pytest.raises(ConfigError, match=r"c\.yaml.*\n  - lfs\.n_jobs: Input should be greater than or equal to 1 \(got 0\)"):
        parse_config({**BASE, "lfs": {"n_jobs": 0}}, source="c.yaml")


def test_label_model_kind_lists_choices() -> None:
    with pytest.raises(ConfigError, match=r"label_model\.kind: Input should be 'snorkel', 'majority', 'dawid_skene' or 'auto'"):
        parse_config({**BASE, "label_model": {"kind": "dawid"}}, source="c.yaml")


def test_duplicate_label_names_rejected() -> None:
    labels = [{"name": "a", "description": "x"}, {"name": "a", "description": "y"}]
    with pytest.raises(ConfigError, match=r"labels: label names must be unique; repeated: \['a'\]"):
        parse_config({**BASE, "labels": labels}, source="c.yaml")


def test_missing_required_field() -> None:
    with pytest.raises(ConfigError, match=r"dataset: Field required"):
        parse_config({k: v for k, v in BASE.items() if k != "dataset"}, source="c.yaml")


def test_one_label_is_not_a_task() -> None:
    with pytest.raises(ConfigError, match=r"labels: List should have at least 2 items"):
        parse_config({**BASE, "labels": BASE["labels"][:1]}, source="c.yaml")


def test_vote_names_must_match_vote_fields() -> None:
    dataset = {"path": "d", "vote_names": {"weak": ["a"]}}
    with pytest.raises(ConfigError, match=r"vote_names has entries for \['weak'\]"):
        parse_config({**BASE, "dataset": dataset}, source="c.yaml")


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match=r"expected a YAML mapping at the top level, got list"):
        load_config(bad)


def test_bundled_config_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "youtube_spam.yaml")
    assert config.dataset.path.is_file()
    assert all(p.is_file() for p in config.lfs.modules)


def test_make_task_helper_round_trip(tmp_path: Path) -> None:
    assert load_config(make_task(tmp_path, data_format="jsonl")).dataset.path.suffix == ".jsonl"
