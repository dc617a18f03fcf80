"""The vote cache: one file per labeling function, keyed by everything the LF's votes depend on.

A cached vote is reused when the LF's fingerprint is unchanged and the item has the same id
and the same text. Editing one LF changes only its fingerprint, so only it is re-applied; new
items are applied by every LF, old ones are not.

What the fingerprint of a row LF covers (read from the function, not from the whole module, so
that editing one LF or its constants leaves the other LFs' votes cached):

* the source of the LF's function, its default arguments, closure values and resources, its
  preprocessors, and the spaCy pipeline when it reads ``x.doc``;
* every module-level name the function reads (its code's ``co_names``, nested functions,
  lambdas and comprehensions included): constants by value (sets sorted, so the key is the same
  in every process), functions and classes of the user's own files by source, followed
  recursively through the globals *they* read; a user module read as ``helpers.WORDS`` by
  the attributes read; a library module by its name and version; other objects by a hash of
  their pickle (if they cannot be pickled, by type only).

Not covered: what an LF reads at call time from outside Python values (a file, a database, the
network), and objects mutated at call time. An expression LF's fingerprint is its serialized
expression; its values are part of it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import pickle
import re
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from snorkel.labeling import LabelingFunction
from snorkel.map.core import BaseMapper

from hitl_triage.lf.kinds import ExpressionLF, uses_doc
from hitl_triage.rundir import write_frame, write_json

CACHE_VERSION = "2"  # 2: expression LF outputs are checked; module-level values in the key
_MISSING = object()


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # hitl_triage itself
    return tuple(os.path.realpath(d) + os.sep for d in dirs)


def _is_user_code(obj: Any) -> bool:
    """True for a function, class or module defined in a file of the user's (not a library)."""
    code = getattr(obj, "__code__", None)
    try:
        filename = code.co_filename if code is not None else inspect.getfile(obj)
    except (TypeError, OSError):
        return False  # built-in
    return not os.path.realpath(filename).startswith(_library_dirs())


def _version(module: types.ModuleType) -> str:
    top = sys.modules.get(module.__name__.partition(".")[0], module)
    return str(getattr(top, "__version__", ""))


def _names(code: types.CodeType) -> list[str]:
    """Global and attribute names read by ``code`` and the code objects nested in it."""
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _names(const)
    return names


def _describe(value: Any, seen: dict[int, Any]) -> str:
    """A text that is the same in every process exactly when ``value`` is the same."""
    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        return repr(value)
    if id(value) in seen:
        return "<cycle>"
    seen[id(value)] = value  # kept alive: a temporary's id must not be reused while hashing
    if isinstance(value, list | tuple):
        return f"{type(value).__name__}[{','.join(_describe(v, seen) for v in value)}]"
    if isinstance(value, set | frozenset):
        return f"set[{','.join(sorted(_describe(v, seen) for v in value))}]"
    if isinstance(value, dict):
        items = (f"{_describe(k, seen)}:{_describe(v, seen)}" for k, v in value.items())
        return f"dict{{{','.join(items)}}}"
    if isinstance(value, types.FunctionType | functools.partial):
        return _function_source(value, seen)
    if isinstance(value, LabelingFunction):
        return "lf:" + _function_source(value._f, seen) + _describe(value._resources, seen)
    if isinstance(value, ExpressionLF):
        return "expr:" + value.expr.meta.serialize(format="json")
    if isinstance(value, pl.Expr):
        return "expr:" + value.meta.serialize(format="json")
    if isinstance(value, re.Pattern):
        return f"re({value.pattern!r},{value.flags})"
    if isinstance(value, np.ndarray):
        return f"ndarray({value.dtype},{value.shape},{hashlib.sha256(value.tobytes()).hexdigest()})"
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__} {_version(value)}"
    if isinstance(value, type):
        return _class_source(value) if _is_user_code(value) else f"class {value.__qualname__}"
    if isinstance(value, BaseMapper) or _is_user_code(type(value)):
        state = {k: v for k, v in vars(value).items() if k != "_cache"}  # snorkel's memo cache
        return f"{_describe(type(value), seen)}({_describe(state, seen)})"
    try:
        return f"{type(value).__qualname__}:{hashlib.sha256(pickle.dumps(value)).hexdigest()}"
    except Exception:
        return f"{type(value).__module__}.{type(value).__qualname__}"  # opaque: by type only


def _class_source(cls: type) -> str:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return f"class {cls.__qualname__}"


def _function_source(func: Any, seen: dict[int, Any]) -> str:
    """Source of ``func`` and a description of every module-level value it reads."""
    if isinstance(func, functools.partial):
        return _describe(func.func, seen) + _describe((func.args, func.keywords), seen)
    if not _is_user_code(func):
        module = sys.modules.get(getattr(func, "__module__", "") or "")
        version = _version(module) if module is not None else ""
        return f"function {getattr(func, '__module__', '')}.{func.__qualname__} {version}"
    seen[id(func)] = func
    code = func.__code__
    try:
        parts = [inspect.getsource(func)]
    except (OSError, TypeError):
        parts = [code.co_code.hex() + repr(code.co_consts)]
    parts.append(_describe((func.__defaults__, func.__kwdefaults__), seen))
    for cell in func.__closure__ or ():
        try:
            parts.append(_describe(cell.cell_contents, seen))
        except ValueError:  # an empty cell
            continue
    module_globals = func.__globals__
    for name in sorted(set(_names(code))):
        value = module_globals.get(name, _MISSING)
        if value is _MISSING or id(value) in seen:
            continue
        if isinstance(value, types.ModuleType) and _is_user_code(value):
            read = {a: getattr(value, a) for a in sorted(set(_names(code))) if hasattr(value, a)}
            parts.append(f"{name}=module {value.__name__}:{_describe(read, seen)}")
        else:
            parts.append(f"{name}={_describe(value, seen)}")
    return "\n".join(parts)


def fingerprint(lf: ExpressionLF | LabelingFunction, *, spacy_pipeline: str) -> str:
    """A stable hash that changes when the LF's behaviour may have changed (see the module doc)."""
    if isinstance(lf, ExpressionLF):
        body = "expr:" + lf.expr.meta.serialize(format="json")
    else:
        seen: dict[int, Any] = {}
        pre = [] if uses_doc(lf) else [_describe(p, seen) for p in getattr(lf, "_pre", [])]
        body = "row:" + "\n".join([
            _function_source(lf._f, seen),  # snorkel keeps the user's function in _f
            _describe(lf._resources, seen),
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

    def fingerprint_of(self, name: str) -> str | None:
        """The fingerprint the LF's cached votes were made with (None if there are none)."""
        _, meta_path = self._paths(name)
        try:
            return str(json.loads(meta_path.read_text())["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, name: str, fp: str, keys: pl.DataFrame, votes: np.ndarray) -> None:
        """Replace the LF's cache file with ``votes`` ``(len(keys),)`` for ``keys``."""
        data_path, meta_path = self._paths(name)
        frame = keys.with_columns(pl.Series("vote", votes.astype(np.int8)))
        write_frame(data_path, frame)
        write_json(meta_path, {"name": name, "fingerprint": fp, "n_items": keys.height})
