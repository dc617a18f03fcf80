"""Reading dataset files into raw polars frames: CSV/TSV, JSONL, Parquet, HF datasets, WRENCH.

Each reader checks what it can before the data is used: a file that is not what its extension
says (and what it is instead), a CSV line ending in a bare carriage return, a broken JSONL line
(by number), WRENCH classes that differ from the config's, a dataset with no rows. The id and
text columns of CSV/TSV and JSONL files are read as text exactly as written; no type is guessed.
:mod:`hitl_triage.data` builds the task's :class:`~hitl_triage.data.Dataset` from these frames.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl

from hitl_triage.config import DatasetConfig
from hitl_triage.errors import DatasetError

ID = "id"
TEXT = "text"
WRENCH_GOLD = "label"
WRENCH_VOTES = "weak_labels"


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


def _normalise_label(name: str) -> str:
    """Compare class names as ``hitl-triage init --from-wrench`` writes them: case and
    characters outside ``[A-Za-z0-9_-]`` do not count (``Part of`` = ``part_of``)."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", str(name)).lower()


def check_wrench_labels(path: Path, label_names: list[str]) -> None:
    """Check a WRENCH folder's ``label.json`` against the config's labels, names and order.

    ``label.json`` maps class index to name (``{"0": "HAM", "1": "SPAM"}``); the config's
    ``labels`` must list the same classes in the same order (case and punctuation aside), or
    every gold label and vote would be read as the wrong class. A folder without
    ``label.json`` is not checked.

    Raises:
        DatasetError: ``label.json`` is unreadable, or its classes differ from the config's;
            the message shows both lists.
    """
    file = (path if path.is_dir() else path.parent) / "label.json"
    if not file.is_file():
        return
    try:
        mapping = json.loads(file.read_text(encoding="utf-8"))
        names = [str(mapping[str(i)]) for i in range(len(mapping))]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"{file}: expected a JSON object mapping class index to name, e.g. "
            f'{{"0": "ham", "1": "spam"}}; could not read it: {exc}'
        ) from None
    if [_normalise_label(n) for n in names] != [_normalise_label(n) for n in label_names]:
        raise DatasetError(
            f"{file}: the dataset's classes in index order are {names}, but the config's labels "
            f"are {list(label_names)}; list the same classes in the same order under labels:"
        )


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


_MAGIC = ((b"PAR1", "a Parquet file", "parquet"), (b"ARROW1", "an Arrow IPC file", None),
          (b"PK\x03\x04", "a zip archive", None), (b"SQLite format 3", "an SQLite database", None))


def _sniff(path: Path, fmt: str) -> None:
    """Refuse a file whose first bytes say it is something other than ``fmt``."""
    with path.open("rb") as handle:
        head = handle.read(16)
    for magic, what, real in _MAGIC:
        if head.startswith(magic) and real != fmt:
            fix = (f"rename it to .{real} or set dataset.format: {real}" if real
                   else "convert it to one of csv, jsonl, parquet")
            raise DatasetError(f"{path}: this is {what} (it starts with {magic!r}), not {fmt}; {fix}")
    if fmt == "parquet" and not head.startswith(b"PAR1"):
        looks = "text" if head and all(b in b"\t\n\r" or 32 <= b != 127 for b in head) else "binary data"
        text_hint = "; if it is CSV or JSON Lines, rename it to .csv or .jsonl" if looks == "text" else ""
        raise DatasetError(
            f"{path}: not a Parquet file (Parquet files start with b'PAR1'; this one starts with "
            f"{head[:8]!r}, which looks like {looks}){text_hint}"
        )


def _check_line_ends(path: Path, data: bytes, quote: bytes = b'"') -> None:
    """Refuse a bare CR (``\\r`` not followed by ``\\n``) outside quotes: the CSV reader
    would silently glue lines together or split rows wrongly."""
    quotes_before, last = 0, 0
    for match in re.finditer(rb"\r(?!\n)", data):
        quotes_before += data.count(quote, last, match.start())
        last = match.start()
        if quotes_before % 2 == 0:  # outside a quoted field ("" escapes keep the parity)
            line = data.count(b"\n", 0, match.start()) + 1
            raise DatasetError(
                f"{path}: line {line} ends with a bare carriage return (\\r without \\n): old Mac "
                "line ends or a stray \\r; convert the line ends to \\n (e.g. `mac2unix FILE`) "
                "or quote the field that holds it"
            )


def _read_csv(path: Path, config: DatasetConfig) -> pl.DataFrame:
    _check_line_ends(path, path.read_bytes())
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    # The id and text are text whatever they look like; other columns are typed from all rows
    # (a sample can miss a late non-numeric value and fail at row 10,001).
    as_text = {f: pl.String for f in (config.id_field, config.text_field) if f}
    return pl.read_csv(path, separator=sep, infer_schema_length=None, schema_overrides=as_text)


def _first_bad_json_line(path: Path) -> str | None:
    """``line N ...`` for the first line that is not a JSON object, else None."""
    with path.open("rb") as handle:  # binary: lines end at \n only, as for the reader
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line.rstrip(b"\r\n"))
            except UnicodeDecodeError:
                return f"line {number} is not UTF-8 text"
            except json.JSONDecodeError as exc:
                return f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})"
            if not isinstance(value, dict):
                return f"line {number} is a JSON {type(value).__name__}, expected an object"
    return None


def _literal_json_ids(path: Path, field: str) -> list[str | None]:
    """The id of each non-blank line as written in the file: ``1.10`` stays ``1.10``.

    polars parses JSON numbers to floats (``1.10`` -> ``1.1``), so ids that are JSON numbers
    are re-read line by line with numbers kept as their text; only files that have such ids
    pay for this Python loop.
    """
    ids: list[str | None] = []
    with path.open("rb") as handle:  # binary: lines end at \n only, as for the reader
        for line in handle:
            if not line.strip():
                continue
            value = json.loads(line, parse_int=str, parse_float=str).get(field)
            ids.append(value if value is None or isinstance(value, str) else json.dumps(value))
    return ids


def _read_jsonl(path: Path, config: DatasetConfig) -> pl.DataFrame:
    data = path.read_bytes()
    if not data.strip():
        return pl.DataFrame()  # no rows: reported by read_table
    as_text = {f: pl.String for f in (config.id_field, config.text_field) if f}
    try:
        try:
            frame = pl.read_ndjson(path, infer_schema_length=None, schema_overrides=as_text)
        except pl.exceptions.SchemaFieldNotFoundError:  # a missing field is reported later
            frame = pl.read_ndjson(path, infer_schema_length=None)
    except pl.exceptions.PolarsError as exc:
        bad = _first_bad_json_line(path)
        if bad is None:
            raise
        raise DatasetError(f"{path}: {bad}; fix or remove that line") from exc
    field = config.id_field
    if field and field in frame.columns:
        number_id = rb'"' + re.escape(json.dumps(field)[1:-1].encode()) + rb'"\s*:\s*[-0-9]'
        if re.search(number_id, data):
            ids = _literal_json_ids(path, field)
            if len(ids) == frame.height:
                frame = frame.with_columns(pl.Series(field, ids, dtype=pl.String))
    return frame


def read_table(config: DatasetConfig) -> pl.DataFrame:
    """Read the dataset file into a raw polars frame (all columns, no checks on fields).

    The id and text columns of CSV/TSV and JSONL files are read as text, exactly as written.

    Raises:
        DatasetError: the path is missing; the file is not what its format says (naming what
            it is); a CSV line ends in a bare ``\r``; a JSONL line is broken (naming the
            line); or the dataset has no rows.
    """
    path = config.path
    if not path.exists():
        raise DatasetError(f"{path}: dataset not found")
    fmt = detect_format(path) if config.format == "auto" else config.format
    try:
        if fmt == "wrench":
            frame = _read_wrench(path, config.split)
        elif fmt == "hf":
            frame = _read_hf(path, config.split)
        elif path.is_dir():
            raise DatasetError(f"{path}: is a folder, but dataset.format is {fmt!r}")
        else:
            _sniff(path, fmt)
            if fmt == "csv":
                frame = _read_csv(path, config)
            elif fmt == "jsonl":
                frame = _read_jsonl(path, config)
            else:
                frame = pl.read_parquet(path)
    except DatasetError:
        raise
    except pl.exceptions.NoDataError:
        frame = pl.DataFrame()
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{path}: could not read as {fmt}: {first}") from None
    if frame.height == 0:
        where = f" (split {config.split!r})" if config.split else ""
        raise DatasetError(
            f"{path}{where}: the dataset has 0 rows, expected at least one item; check "
            "dataset.path" + (" and dataset.split" if fmt in ("wrench", "hf") else "")
        )
    return frame
