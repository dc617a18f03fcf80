"""Loading datasets into polars: CSV, JSONL, Parquet, Hugging Face datasets on disk, WRENCH.

The loader returns a :class:`Dataset` whose ``items`` frame has a unique string ``id`` column,
a ``text`` column (null or empty text is kept and abstained on) and the file's other fields.
Precomputed votes come out as an ``L`` block. Gold labels are *not* part of a ``Dataset``: they
are read by :func:`load_gold` only, so that nothing but evaluation and the simulated reviewers
can see them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from hitl_triage.config import DatasetConfig
from hitl_triage.errors import DatasetError

ABSTAIN = -1
ID = "id"
TEXT = "text"
WRENCH_GOLD = "label"
WRENCH_VOTES = "weak_labels"


@dataclass(frozen=True)
class Dataset:
    """Items to label, in a fixed order that every array of the run follows.

    Attributes:
        items: polars frame with ``id`` (str, unique), ``text`` (str or null) and the source
            file's other columns (never the gold column, never the vote columns).
        precomputed_L: ``(n_items, n_precomputed)`` int8 votes in ``{-1, 0, ..., k-1}``
            (``-1`` = abstain); zero columns when the config names no vote fields.
        precomputed_names: one source name per column of ``precomputed_L``.
        source: the file or folder the items came from.
    """

    items: pl.DataFrame
    precomputed_L: np.ndarray
    precomputed_names: list[str]
    source: Path

    @property
    def n_items(self) -> int:
        return self.items.height

    @property
    def ids(self) -> list[str]:
        return self.items[ID].to_list()

    @property
    def empty_text_mask(self) -> np.ndarray:
        """``(n_items,)`` bool: True where the text is null or only whitespace."""
        text = self.items[TEXT]
        return (text.is_null() | (text.str.strip_chars() == "")).fill_null(True).to_numpy()


def detect_format(path: Path) -> str:
    """Guess a dataset format from a path: a folder is WRENCH or HF, a file goes by extension."""
    if path.is_dir():
        if (path / "label.json").is_file() or (path / "train.json").is_file():
            return "wrench"
        if any((path / f).is_file() for f in ("dataset_info.json", "dataset_dict.json", "state.json")):
            return "hf"
        raise DatasetError(
            f"{path}: folder is neither a WRENCH dataset (train.json, label.json) nor a Hugging "
            "Face dataset saved with save_to_disk (dataset_info.json or dataset_dict.json)"
        )
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    by_suffix = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                 ".parquet": "parquet", ".pq": "parquet", ".json": "wrench"}
    if suffix.lower() in by_suffix:
        return by_suffix[suffix.lower()]
    raise DatasetError(
        f"{path}: cannot tell the format from the extension {suffix!r}; set dataset.format to "
        "one of csv, jsonl, parquet, hf, wrench"
    )


def _read_wrench(path: Path, split: str | None) -> pl.DataFrame:
    file = path if path.is_file() else path / f"{split or 'train'}.json"
    if not file.is_file():
        raise DatasetError(f"{file}: WRENCH split file not found")
    try:
        records = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{file}: not a WRENCH JSON file: {exc}") from None
    if not isinstance(records, dict):
        raise DatasetError(
            f"{file}: expected a JSON object keyed by record id, got {type(records).__name__}"
        )
    ids, texts, gold, votes = [], [], [], []
    extra: dict[str, list] = {}
    for key, rec in records.items():
        if not isinstance(rec, dict) or "data" not in rec:
            raise DatasetError(f"{file}: record {key!r}: expected keys label, weak_labels, data")
        ids.append(str(key))
        data = rec.get("data") or {}
        texts.append(data.get("text"))
        gold.append(rec.get(WRENCH_GOLD))
        votes.append(rec.get(WRENCH_VOTES) or [])
        for name, value in data.items():  # every other `data` field (entity1, span1...) is kept
            if name != "text" and name not in (ID, WRENCH_GOLD, WRENCH_VOTES):
                extra.setdefault(name, [None] * (len(ids) - 1)).append(value)
        for column in extra.values():
            if len(column) < len(ids):
                column.append(None)
    frame = pl.DataFrame(
        {ID: ids, TEXT: texts, WRENCH_GOLD: gold, WRENCH_VOTES: votes},
        schema={ID: pl.String, TEXT: pl.String, WRENCH_GOLD: pl.Int64,
                WRENCH_VOTES: pl.List(pl.Int64)},
    )
    return frame.with_columns([pl.Series(name, values, strict=False) for name, values in extra.items()])


def _read_hf(path: Path, split: str | None) -> pl.DataFrame:
    import datasets  # heavy import, only when needed

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise DatasetError(f"{path}: not a Hugging Face dataset saved to disk: {exc}") from None
    if isinstance(loaded, datasets.DatasetDict):
        splits = list(loaded)
        if split is None and len(splits) == 1:
            split = splits[0]
        if split not in loaded:
            raise DatasetError(
                f"{path}: dataset.split must name one of the splits {splits}, got {split!r}"
            )
        loaded = loaded[split]
    return pl.from_arrow(loaded.data.table)  # type: ignore[return-value]


def read_table(config: DatasetConfig) -> pl.DataFrame:
    """Read the dataset file into a raw polars frame (all columns, no checks on fields).

    Raises:
        DatasetError: the path is missing, or the file is not what its format says.
    """
    path = config.path
    if not path.exists():
        raise DatasetError(f"{path}: dataset not found")
    fmt = detect_format(path) if config.format == "auto" else config.format
    try:
        if fmt == "wrench":
            return _read_wrench(path, config.split)
        if fmt == "hf":
            return _read_hf(path, config.split)
        if path.is_dir():
            raise DatasetError(f"{path}: is a folder, but dataset.format is {fmt!r}")
        if fmt == "csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            return pl.read_csv(path, separator=sep, infer_schema_length=10_000)
        if fmt == "jsonl":
            return pl.read_ndjson(path, infer_schema_length=10_000)
        return pl.read_parquet(path)
    except DatasetError:
        raise
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{path}: could not read as {fmt}: {first}") from None


def _require_column(frame: pl.DataFrame, column: str, field: str, path: Path) -> None:
    if column not in frame.columns:
        raise DatasetError(
            f"{path}: dataset.{field} names column {column!r}, which is not in the file; "
            f"columns: {frame.columns}"
        )


def _with_ids(frame: pl.DataFrame, config: DatasetConfig, fmt: str) -> pl.DataFrame:
    path = config.path
    if fmt == "wrench":
        return frame
    if config.id_field is None:
        return frame.with_row_index(ID).with_columns(pl.col(ID).cast(pl.String))
    _require_column(frame, config.id_field, "id_field", path)
    ids = frame[config.id_field].cast(pl.String)
    missing = ids.is_null() | (ids.str.strip_chars() == "")
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())[:5].tolist()
        raise DatasetError(
            f"{path}: column {config.id_field!r} (dataset.id_field) is empty in "
            f"{int(missing.sum())} row(s), first rows (0-based): {rows}"
        )
    renamed = frame.drop(ID) if ID in frame.columns and config.id_field != ID else frame
    return renamed.with_columns(ids.alias(ID)).select(
        [ID, *[c for c in renamed.columns if c not in (ID, config.id_field)]]
    )


def _check_unique_ids(frame: pl.DataFrame, path: Path, field: str) -> None:
    dup = frame.select(pl.col(ID).is_duplicated()).to_series()
    if dup.any():
        examples = frame.filter(dup)[ID].unique(maintain_order=True).head(5).to_list()
        raise DatasetError(
            f"{path}: ids must be unique, but {int(dup.sum())} rows share an id in column "
            f"{field!r}; for example {examples}"
        )


def _vote_block(frame: pl.DataFrame, config: DatasetConfig, n_classes: int) -> tuple[np.ndarray, list[str]]:
    """Precomputed vote columns to an ``(n, p)`` int8 block and names."""
    blocks: list[np.ndarray] = []
    names: list[str] = []
    path = config.path
    for field in config.vote_fields:
        _require_column(frame, field, "vote_fields", path)
        col = frame[field]
        if isinstance(col.dtype, pl.List | pl.Array):
            lengths = col.list.len().fill_null(0)
            width = int(lengths.max() or 0)
            bad = (lengths != width).to_numpy()
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise DatasetError(
                    f"{path}: vote column {field!r} must have {width} votes in every row; "
                    f"row {row} (id {frame[ID][row]!r}) has {int(lengths[row])}"
                )
            values = np.array(col.fill_null([]).to_list(), dtype=np.float64).reshape(len(col), width)
            given = config.vote_names.get(field)
            if given is not None and len(given) != width:
                raise DatasetError(
                    f"{path}: dataset.vote_names.{field} has {len(given)} names for {width} votes"
                )
            names.extend(given or [f"{field}_{i}" for i in range(width)])
        elif col.dtype.is_numeric() or col.dtype == pl.Null:
            values = col.cast(pl.Float64).fill_null(ABSTAIN).to_numpy().reshape(-1, 1)
            names.append(field)
        else:
            raise DatasetError(
                f"{path}: vote column {field!r} must hold integers or lists of integers, "
                f"got {col.dtype}"
            )
        values = np.nan_to_num(values, nan=ABSTAIN)
        bad = (values < ABSTAIN) | (values >= n_classes) | (values != np.round(values))
        if bad.any():
            row, j = (int(v[0]) for v in np.nonzero(bad))
            raise DatasetError(
                f"{path}: vote column {field!r}, row {row} (id {frame[ID][row]!r}): vote "
                f"{float(values[row, j]):g} is outside {{-1, 0, ..., {n_classes - 1}}}"
            )
        blocks.append(values.astype(np.int8))
    if not blocks:
        return np.empty((frame.height, 0), dtype=np.int8), []
    return np.hstack(blocks), names


def _format_of(config: DatasetConfig) -> str:
    return detect_format(config.path) if config.format == "auto" else config.format


def load_dataset(config: DatasetConfig, *, n_classes: int) -> Dataset:
    """Load the items of a task, with unique string ids and a text column.

    Args:
        config: the ``dataset:`` section of a task config.
        n_classes: number of classes ``k``; precomputed votes must be in ``{-1, ..., k-1}``.

    Raises:
        DatasetError: missing file, unreadable file, missing id or text column, duplicate ids,
            or a vote outside the label range. Each message names the file, column and row.
    """
    frame = read_table(config)
    fmt = _format_of(config)
    frame = _with_ids(frame, config, fmt)
    _check_unique_ids(frame, config.path, config.id_field or ID)
    text_field = TEXT if fmt == "wrench" else config.text_field
    _require_column(frame, text_field, "text_field", config.path)
    vote_fields = config.vote_fields or ([WRENCH_VOTES] if fmt == "wrench" else [])
    vote_config = config.model_copy(update={"vote_fields": vote_fields}) if vote_fields else config
    L, names = _vote_block(frame, vote_config, n_classes)
    text = frame[text_field]
    text = text.cast(pl.String) if text.dtype != pl.String else text
    hidden = {config.gold_field, WRENCH_GOLD if fmt == "wrench" else None, *vote_fields}
    keep = [c for c in frame.columns if c not in hidden and c not in (ID, text_field, TEXT)]
    items = frame.select([pl.col(ID), text.alias(TEXT), *keep])
    return Dataset(items=items, precomputed_L=L, precomputed_names=names, source=config.path)


def gold_field(config: DatasetConfig) -> str | None:
    """The column of gold labels: ``dataset.gold_field``, or WRENCH's ``label``; None if none."""
    if config.gold_field is None and _format_of(config) == "wrench":
        return WRENCH_GOLD
    return config.gold_field


def load_gold(config: DatasetConfig, label_names: list[str], ids: list[str]) -> np.ndarray:
    """Read the gold labels of a task, aligned with ``ids``.

    For evaluation and simulated reviewers only: nothing else may call this.

    Returns:
        ``(len(ids),)`` int64 array of class indices in ``[0, k)``, ``-1`` where the gold value
        is missing. String gold values are matched to ``label_names``.

    Raises:
        DatasetError: no gold field configured or present, or a value that is not a class.
    """
    fmt = _format_of(config)
    field = gold_field(config)
    if field is None:
        raise DatasetError(
            f"{config.path}: this needs gold labels, but dataset.gold_field is not set"
        )
    frame = _with_ids(read_table(config), config, fmt)
    _require_column(frame, field, "gold_field", config.path)
    gold = frame[field]
    k = len(label_names)
    if gold.dtype == pl.String or gold.dtype == pl.Categorical:
        lookup = {name: i for i, name in enumerate(label_names)}
        lookup.update({name.lower(): i for i, name in enumerate(label_names)})
        values = gold.cast(pl.String).to_list()
        codes = np.full(len(values), ABSTAIN, dtype=np.int64)
        for row, value in enumerate(values):
            if value is None:
                continue
            index = lookup.get(value, lookup.get(value.strip().lower()))
            if index is None and value.strip().lstrip("-").isdigit():
                index = int(value)
            if index is None or not 0 <= index < k:
                raise DatasetError(
                    f"{config.path}: gold column {field!r}, row {row}: {value!r} is not a class; "
                    f"expected one of {label_names} or 0..{k - 1}"
                )
            codes[row] = index
    else:
        codes = gold.cast(pl.Int64).fill_null(ABSTAIN).to_numpy().astype(np.int64)
        bad = (codes < ABSTAIN) | (codes >= k)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DatasetError(
                f"{config.path}: gold column {field!r}, row {row}: {codes[row]} is not a class "
                f"index in 0..{k - 1}"
            )
    order = dict(zip(frame[ID].to_list(), range(frame.height), strict=True))
    missing = [i for i in ids if i not in order]
    if missing:
        raise DatasetError(f"{config.path}: gold labels missing for ids {missing[:5]}")
    return codes[[order[i] for i in ids]]
