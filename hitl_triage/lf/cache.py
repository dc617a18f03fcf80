"""The vote cache: one file per labeling function, keyed by the LF's source and each item.

A cached vote is reused when the LF's fingerprint is unchanged and the item has the same id
and the same text. Editing one LF changes only its fingerprint, so only it is re-applied; new
items are applied by every LF, old ones are not.

The fingerprint of a row LF hashes its function's source, the source of module-level functions
it calls (one level deep, recursively), its resources, closure values and preprocessors, and the
spaCy pipeline when it reads ``x.doc``. An expression LF's fingerprint is its serialized
expression.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import types
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from snorkel.labeling import LabelingFunction

from hitl_triage.lf.kinds import ExpressionLF, uses_doc
from hitl_triage.rundir import write_frame, write_json

CACHE_VERSION = "1"


def _function_source(func: Any, seen: set[int]) -> str:
    """Source of ``func`` plus that of same-module functions it references by global name."""
    if id(func) in seen:
        return ""
    seen.add(id(func))
    if isinstance(func, functools.partial):
        return _function_source(func.func, seen) + repr((func.args, sorted(func.keywords.items())))
    parts: list[str] = []
    try:
        parts.append(inspect.getsource(func))
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        parts.append(code.co_code.hex() + repr(code.co_consts) if code else repr(func))
    code = getattr(func, "__code__", None)
    if code is None:
        return "".join(parts)
    for cell in getattr(func, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        parts.append(_function_source(value, seen) if callable(value) else repr(value))
    module_globals = getattr(func, "__globals__", {})
    for name in code.co_names:
        value = module_globals.get(name)
        if isinstance(value, types.FunctionType) and value.__module__ == func.__module__:
            parts.append(_function_source(value, seen))
    return "\n".join(parts)


def fingerprint(lf: ExpressionLF | LabelingFunction, *, spacy_pipeline: str) -> str:
    """A stable hash that changes when the LF's behaviour may have changed."""
    if isinstance(lf, ExpressionLF):
        body = "expr:" + lf.expr.meta.serialize(format="json")
    else:
        seen: set[int] = set()
        pre = [_function_source(type(p), seen) + repr(vars(p)) for p in getattr(lf, "_pre", [])
               if not uses_doc(lf)]
        body = "row:" + "\n".join([
            _function_source(lf._f, seen),  # snorkel keeps the user's function in _f
            repr(sorted((k, repr(v)) for k, v in lf._resources.items())),
            *pre,
            f"spacy={spacy_pipeline}" if uses_doc(lf) else "",
        ])
    # text hashes come from polars, so its version is part of every key
    key = f"{CACHE_VERSION}|polars={pl.__version__}|{lf.name}|{body}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def text_hashes(items: pl.DataFrame) -> pl.Series:
    """``(n_items,)`` uint64 hash of each item's text (null text hashes too)."""
    return items["text"].hash(seed=0).alias("text_hash")


class VoteCache:
    """Per-LF vote files under ``<run_dir>/votes/``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _paths(self, name: str) -> tuple[Path, Path]:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.directory / f"{safe}.parquet", self.directory / f"{safe}.json"

    def lookup(self, name: str, fp: str, keys: pl.DataFrame) -> np.ndarray:
        """Cached votes for ``keys`` (columns id, text_hash); ``-2`` where not cached.

        Returns:
            ``(len(keys),)`` int16: a cached vote in ``{-1, ..., k-1}`` or ``-2`` for a miss.
        """
        data_path, meta_path = self._paths(name)
        missing = np.full(keys.height, -2, dtype=np.int16)
        if not (data_path.is_file() and meta_path.is_file()):
            return missing
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("fingerprint") != fp:
                return missing
            cached = pl.read_parquet(data_path)
        except (OSError, ValueError, pl.exceptions.PolarsError):
            return missing  # a damaged cache file is recomputed, never trusted
        joined = keys.join(cached, on=["id", "text_hash"], how="left", maintain_order="left")
        return joined["vote"].fill_null(-2).cast(pl.Int16).to_numpy()

    def store(self, name: str, fp: str, keys: pl.DataFrame, votes: np.ndarray) -> None:
        """Replace the LF's cache file with ``votes`` ``(len(keys),)`` for ``keys``."""
        data_path, meta_path = self._paths(name)
        frame = keys.with_columns(pl.Series("vote", votes.astype(np.int8)))
        write_frame(data_path, frame)
        write_json(meta_path, {"name": name, "fingerprint": fp, "n_items": keys.height})
