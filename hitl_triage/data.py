"""Loading datasets into polars: CSV, JSONL, Parquet, Hugging Face datasets on disk, WRENCH.

The loader returns a :class:`Dataset` whose ``items`` frame has a unique string ``id`` column,
a ``text`` column (null or empty text is kept and abstained on) and the file's other fields.
Ids are read as text, never type-guessed: ``0001`` stays ``0001`` and ``1.10`` stays ``1.10``
in CSV/TSV and JSONL (Parquet and HF datasets keep the type they were stored with; float ids
are refused because they cannot round-trip).
Precomputed votes come out as an ``L`` block. Gold labels are *not* part of a ``Dataset``: they
are read by :func:`load_gold` only, so that nothing but evaluation and the simulated reviewers
can see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from hitl_triage.config import DatasetConfig
from hitl_triage.errors import DatasetError
from hitl_triage.indexing import row_index
from hitl_triage.readers import (
    ID,
    TEXT,
    WRENCH_GOLD,
    WRENCH_VOTES,
    check_wrench_labels,
    detect_format,
    read_table,
)
from hitl_triage.schema import ABSTAIN, LabelSchema, LabelValueError

__all__ = ["ABSTAIN", "ID", "TEXT", "Dataset", "check_wrench_labels", "detect_format",
           "field_column", "field_values", "fields_json", "gold_field", "load_dataset", "load_gold", "read_table"]



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
    if frame[config.id_field].dtype.is_float():
        raise DatasetError(
            f"{path}: column {config.id_field!r} (dataset.id_field) holds floats, which cannot "
            "keep ids as written (1.10 would become 1.1); store the ids as text or integers"
        )
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


def load_dataset(config: DatasetConfig, *, n_classes: int, label_names: list[str] | None = None) -> Dataset:
    """Load the items of a task, with unique string ids and a text column.

    Args:
        config: the ``dataset:`` section of a task config.
        n_classes: number of classes ``k``; precomputed votes must be in ``{-1, ..., k-1}``.
        label_names: the config's class names in index order; when given, a WRENCH folder's
            ``label.json`` must list the same classes in the same order.

    Raises:
        DatasetError: missing, unreadable or empty file, missing id or text column, duplicate
            ids, a vote outside the label range, or WRENCH classes that differ from
            ``label_names``. Each message names the file, column and row.
    """
    fmt = _format_of(config)
    if fmt == "wrench" and label_names is not None:
        check_wrench_labels(config.path, label_names)
    frame = read_table(config)
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
    listed = {f.name for f in config.fields}
    for name in sorted(listed - {text_field, TEXT, ID}):
        _require_column(frame, name, "fields", config.path)
    # A listed text field stays readable under its own name too (LFs, the judge's template).
    own = [text.alias(text_field)] if text_field in listed and text_field not in (TEXT, ID) else []
    items = frame.select([pl.col(ID), text.alias(TEXT), *own, *keep])
    return Dataset(items=items, precomputed_L=L, precomputed_names=names, source=config.path)


def field_column(config: DatasetConfig, name: str) -> str:
    """The column of ``Dataset.items`` holding shown field ``name`` (the text field is ``text``)."""
    return TEXT if name == config.text_field else name


def field_values(items: pl.DataFrame, config: DatasetConfig) -> pl.DataFrame:
    """The shown fields of ``items`` (``dataset.fields``, or the text field alone).

    Returns:
        frame of ``items.height`` rows, one String column (nulls kept) per shown field, named
        as the config names it, in the configured order.
    """
    return items.select(
        [pl.col(field_column(config, f.name)).cast(pl.String).alias(f.name) for f in config.shown_fields]
    )


def fields_json(items: pl.DataFrame, config: DatasetConfig) -> pl.DataFrame:
    """``id`` and ``fields``: each item's shown fields as a JSON object (field name -> text or
    null, configured order), the form the review store takes them in."""
    values = field_values(items, config)
    return pl.DataFrame({ID: items[ID]}).with_columns(
        values.select(pl.struct(values.columns).struct.json_encode().alias("fields")).to_series()
    )


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
    try:  # names in any case, indices, or indices written as text; nulls are unknown
        codes = LabelSchema(label_names).indices(frame[field], lenient=True)
    except LabelValueError as exc:
        raise DatasetError(f"{config.path}: gold column {field!r}, {exc}") from None
    rows = row_index(frame[ID], ids)
    if (rows < 0).any():
        missing = [ids[i] for i in np.flatnonzero(rows < 0)[:5]]
        raise DatasetError(f"{config.path}: gold labels missing for ids {missing}")
    return codes[rows]
