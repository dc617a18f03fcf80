"""``hitl-triage init``: write a ready task config (and an LF module) for a new task.

* :func:`init_task` scaffolds ``configs/<name>.yaml`` and ``labeling_functions/<name>.py``.
* :func:`init_from_wrench` writes a config for a WRENCH folder: its ``weak_labels`` become
  precomputed vote columns (named from the folder's README when it lists them) and its
  ``label`` becomes the gold column, used only for scoring and simulation.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from hitl_triage.config import NAME_PATTERN, load_config
from hitl_triage.errors import ConfigError, DatasetError
from hitl_triage.rundir import write_text


@dataclass(frozen=True)
class InitResult:
    config_path: Path
    lf_path: Path | None


LF_TEMPLATE = '''"""Labeling functions for the {name} task (configs/{name}.yaml).

Each LF votes a class index (see the config's labels, in order), or ABSTAIN (-1).
Mix expression LFs (fast, vectorized), snorkel row LFs and spaCy row LFs (x.doc).
"""

import polars as pl

from hitl_triage.lf import ABSTAIN, expression_lf, keyword_lf, labeling_function, nlp_labeling_function

{constants}

example_keywords = keyword_lf("example_keywords", ["replace", "these", "words"], {first})


@expression_lf
def example_short_text() -> pl.Expr:
    """Short texts: replace with a rule that holds for your data."""
    return pl.when(pl.col("text").str.len_chars() < 10).then(pl.lit({first}))


@labeling_function()
def example_row_rule(x):
    """A row LF sees one item: x.text, x.id and the dataset's other fields."""
    return {first} if "example" in (x.text or "").lower() else ABSTAIN


@nlp_labeling_function()
def example_numbers(x):
    """A spaCy LF reads x.doc, parsed once per run in batches."""
    return {first} if any(t.like_num for t in x.doc) else ABSTAIN
'''


def _check_name(name: str) -> None:
    if not re.match(NAME_PATTERN, name):
        raise ConfigError(
            f"task name {name!r} is not valid: use letters, digits, '_' or '-', starting with a letter"
        )


def _refuse_overwrite(*paths: Path) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        raise ConfigError(f"refusing to overwrite existing file(s): {', '.join(existing)}")


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())


def _dump(config: dict, header: str) -> str:
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)


def init_task(
    name: str,
    *,
    labels: list[str],
    configs_dir: Path = Path("configs"),
    lf_dir: Path = Path("labeling_functions"),
    data_path: Path | None = None,
) -> InitResult:
    """Scaffold a config and an LF module for a new task; refuses to overwrite files."""
    _check_name(name)
    if len(labels) < 2:
        raise ConfigError(f"a task needs at least two labels, got {labels}")
    config_path, lf_path = configs_dir / f"{name}.yaml", lf_dir / f"{name}.py"
    _refuse_overwrite(config_path, lf_path)
    data = data_path or Path("data") / f"{name}.csv"
    config = {
        "task": name,
        "labels": [{"name": n, "description": f"Describe when an item is '{n}' (reviewers and the judge read this)."}
                   for n in labels],
        "dataset": {"path": _rel(data, configs_dir) if data_path else f"../data/{name}.csv",
                    "id_field": "id", "text_field": "text", "gold_field": None},
        "lfs": {"modules": [_rel(lf_path, configs_dir)], "n_jobs": 1, "spacy_pipeline": "blank:en"},
        "label_model": {"kind": "snorkel", "n_epochs": 500, "lr": 0.01},
        "run_dir": _rel(Path("runs") / name, configs_dir),
    }
    constants = "\n".join(f"{re.sub(r'[^A-Za-z0-9_]', '_', n).upper()} = {i}" for i, n in enumerate(labels))
    first = re.sub(r"[^A-Za-z0-9_]", "_", labels[0]).upper()
    write_text(config_path, _dump(config, f"# Task config for {name}; see README.md for every field.\n"))
    lf_path.parent.mkdir(parents=True, exist_ok=True)
    write_text(lf_path, LF_TEMPLATE.format(name=name, constants=constants, first=first))
    return InitResult(config_path=config_path, lf_path=lf_path)


def wrench_lf_names(folder: Path, n_votes: int) -> list[str] | None:
    """LF names from a WRENCH README's "Labeling functions list:" block, if it has n_votes."""
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8", errors="replace")
    match = re.search(r"Labeling functions list:\s*\n((?:\s*[A-Za-z_][\w]*,?\s*\n)+)", text)
    if not match:
        return None
    names = [n.strip().strip(",") for n in match.group(1).splitlines() if n.strip()]
    return names if len(names) == n_votes and len(set(names)) == n_votes else None


EXAMPLE_CHARS = 110
"""Longest example text quoted in a written class description."""
MIN_EXAMPLE_WORDS = 4
"""Shortest example quoted: a few words say more about a class than an emoji does."""


def readme_label_names(folder: Path, n_classes: int) -> list[str | None]:
    """Long class names a WRENCH README lists as ``Long name (ABBR) : i`` (None where absent)."""
    readme = folder / "README.md"
    names: list[str | None] = [None] * n_classes
    if readme.is_file():
        text = readme.read_text(encoding="utf-8", errors="replace")
        for long, abbr, index in re.findall(r"^\s*([A-Z][\w ]*?)\s*\(([A-Z]+)\)\s*:\s*(\d+)", text, flags=re.M):
            if int(index) < n_classes:
                names[int(index)] = f"{long.strip()} ({abbr})"
    return names


def class_descriptions(classes: list[str], records: list[dict], long_names: list[str | None], *,
                       per_class: int = 2) -> list[str]:
    """A first description per class, for reviewers and the judge, written from what the data says.

    Each says the class's name (the README's long name where it has one) and quotes up to
    ``per_class`` distinct short texts (of at least ``MIN_EXAMPLE_WORDS`` words) on which the
    precomputed votes agree: at least two sources
    vote for the class and none for another. The gold ``label`` is never read. The user is
    told to edit it; a class with no such text says so.
    """
    examples: dict[int, list[str]] = {c: [] for c in range(len(classes))}
    for record in records:
        votes = [v for v in record.get("weak_labels", []) if isinstance(v, int) and v >= 0]
        text = str((record.get("data") or {}).get("text", "")).strip()
        if len(votes) < 2 or len(set(votes)) != 1 or not text or votes[0] >= len(classes):
            continue
        examples[votes[0]].append(" ".join(text.replace("\ufeff", "").split()))
    out = []
    for c, name in enumerate(classes):
        head = f"Class '{name}'" + (f": {long_names[c]}" if long_names[c] else "")
        distinct = sorted({t for t in examples[c] if len(t.split()) >= MIN_EXAMPLE_WORDS}, key=lambda t: (len(t), t))
        chosen = distinct[:per_class]
        quotes = "; ".join(f'"{t[:EXAMPLE_CHARS]}{"..." if len(t) > EXAMPLE_CHARS else ""}"' for t in chosen)
        body = f". Texts the sources agree on: {quotes}" if quotes else ". No text has agreeing votes for it yet"
        out.append((head + body + ". (Written by init from the votes; edit it.)")[:500])
    return out


def init_from_wrench(folder: Path, name: str, *, configs_dir: Path = Path("configs"), split: str = "train") -> InitResult:
    """Write ``configs/<name>.yaml`` for a WRENCH dataset folder (no LF module needed)."""
    _check_name(name)
    folder = Path(folder)
    label_file, split_file = folder / "label.json", folder / f"{split}.json"
    for required in (label_file, split_file):
        if not required.is_file():
            raise DatasetError(f"{required}: not found; a WRENCH folder has label.json and {split}.json")
    config_path = configs_dir / f"{name}.yaml"
    _refuse_overwrite(config_path)
    try:
        label_map = json.loads(label_file.read_text(encoding="utf-8"))
        first = next(iter(json.loads(split_file.read_text(encoding="utf-8")).values()))
        if not isinstance(first, dict):
            raise AttributeError("records are not objects")
    except (json.JSONDecodeError, StopIteration, AttributeError) as exc:
        raise DatasetError(f"{folder}: not a WRENCH dataset: {exc}") from None
    classes = [label_map[str(i)] for i in range(len(label_map))]
    n_votes = len(first.get("weak_labels", []))
    lf_names = wrench_lf_names(folder, n_votes)
    dataset: dict = {"path": _rel(folder, configs_dir), "format": "wrench", "split": split,
                     "gold_field": "label", "vote_fields": ["weak_labels"]}
    if lf_names:
        dataset["vote_names"] = {"weak_labels": lf_names}
    records = json.loads(split_file.read_text(encoding="utf-8"))
    descriptions = class_descriptions(classes, list(records.values()), readme_label_names(folder, len(classes)))
    config = {
        "task": name,
        "labels": [{"name": re.sub(r"[^A-Za-z0-9_\-]", "_", str(c)), "description": d}
                   for c, d in zip(classes, descriptions, strict=True)],
        "dataset": dataset,
        "lfs": {"modules": []},
        "label_model": {"kind": "auto"},
        "run_dir": _rel(Path("runs") / name, configs_dir),
    }
    header = (f"# WRENCH dataset {folder.name}: weak_labels are precomputed votes; label is the gold\n"
              "# column, used only to score runs and to simulate reviewers. Every field of the\n"
              "# records' `data` object is a column (LFs and reviewers see it).\n"
              "# label_model auto: majority vote (more accurate than snorkel's LabelModel on every\n"
              "# shared WRENCH set, 2-7x faster) until the audit labels show Dawid-Skene is better;\n"
              "# the loop's confidence.combine: select likewise moves off the label model only\n"
              "# when audit labels say so (docs/labelmodel.md).\n")
    write_text(config_path, _dump(config, header))
    load_config(config_path)  # the written config must validate
    return InitResult(config_path=config_path, lf_path=None)
