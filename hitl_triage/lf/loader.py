"""Load labeling functions from the Python files a task config names.

Every module-level snorkel ``LabelingFunction`` and :class:`ExpressionLF` is collected, in the
order they appear in the file; a module-level list or tuple of them (e.g. ``LFS = [...]``) is
collected too. Names must be unique across all modules.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from snorkel.labeling import LabelingFunction

from hitl_triage.errors import LabelingFunctionError
from hitl_triage.lf.kinds import ExpressionLF


@dataclass(frozen=True)
class LFSet:
    """The LFs of a task, split by how they run. ``origin`` maps each LF name to its file."""

    expression: list[ExpressionLF] = field(default_factory=list)
    row: list[LabelingFunction] = field(default_factory=list)
    origin: dict[str, Path] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [lf.name for lf in self.expression] + [lf.name for lf in self.row]


def _import_file(path: Path) -> object:
    if not path.is_file():
        raise LabelingFunctionError(f"{path}: labeling function module not found (lfs.modules)")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    module_name = f"hitl_triage_lfs_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise LabelingFunctionError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except LabelingFunctionError as exc:
        del sys.modules[module_name]
        raise LabelingFunctionError(f"{path}: {exc}") from None
    except Exception as exc:
        del sys.modules[module_name]
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        where = f" (line {frames[-1].lineno})" if frames else ""
        raise LabelingFunctionError(
            f"{path}{where}: importing the module failed: {type(exc).__name__}: {exc}"
        ) from None
    return module


def _collect(module: object) -> list[ExpressionLF | LabelingFunction]:
    found: list[ExpressionLF | LabelingFunction] = []
    seen: set[int] = set()
    for value in vars(module).values():
        candidates = value if isinstance(value, list | tuple) else [value]
        for item in candidates:
            if isinstance(item, ExpressionLF | LabelingFunction) and id(item) not in seen:
                seen.add(id(item))
                found.append(item)
    return found


def load_lfs(paths: list[Path], *, reserved: tuple[str, ...] = ()) -> LFSet:
    """Import LF modules and collect their labeling functions.

    Args:
        paths: Python files (``lfs.modules`` of a config, already resolved).
        reserved: source names already taken (precomputed vote columns, ``judge``).

    Raises:
        LabelingFunctionError: a module is missing or fails to import (names file and line),
            defines no LF, or two sources share a name (names both places).
    """
    result = LFSet()
    for path in paths:
        module = _import_file(path)
        lfs = _collect(module)
        if not lfs:
            raise LabelingFunctionError(
                f"{path}: defines no labeling functions (expected module-level "
                "@labeling_function(), @nlp_labeling_function(), or ExpressionLF objects)"
            )
        for lf in lfs:
            if lf.name in result.origin:
                raise LabelingFunctionError(
                    f"two labeling functions are named {lf.name!r}: in {result.origin[lf.name]} "
                    f"and in {path}; LF names must be unique"
                )
            if lf.name in reserved:
                raise LabelingFunctionError(
                    f"{path}: labeling function {lf.name!r} has the name of another vote source "
                    f"(precomputed vote column or judge); rename it"
                )
            result.origin[lf.name] = path
            (result.expression if isinstance(lf, ExpressionLF) else result.row).append(lf)
    return result
