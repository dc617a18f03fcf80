"""The label schema, defined once: class names in index order, and ``ABSTAIN``.

Votes, human labels and model outputs are class indices ``0 .. k-1``; ``ABSTAIN`` (-1) is
"no vote". Label names map to indices in one place, :meth:`LabelSchema.index_of` (one value)
and :meth:`LabelSchema.indices` (a whole column, vectorized).

    >>> schema = LabelSchema(("ham", "spam"))
    >>> schema.index_of("spam"), schema.index_of(0), schema.index_of(None)
    (1, 0, -1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from hitl_triage import ABSTAIN  # defined once, in the light package file
from hitl_triage.errors import HitlTriageError


class LabelValueError(HitlTriageError):
    """A value is neither a class index, a label name nor an abstain (names what was got)."""


@dataclass(frozen=True)
class LabelSchema:
    """Class names in index order (``names[i]`` is class ``i``)."""

    names: tuple[str, ...]

    def __init__(self, names: Sequence[str]) -> None:
        names = tuple(str(n) for n in names)
        if len(names) < 2:
            raise LabelValueError(f"a label schema needs at least 2 classes, got {list(names)}")
        if len(set(names)) != len(names):
            raise LabelValueError(f"label names must be unique, got {list(names)}")
        object.__setattr__(self, "names", names)

    @property
    def n_classes(self) -> int:
        return len(self.names)

    def index_of(self, value: Any, *, lenient: bool = False) -> int:
        """The class index of one value: an index in ``[0, k)``, a label name, or ``ABSTAIN``
        for ``-1`` / None. ``lenient`` (for files people write: answers, gold columns) also
        takes names in any case with surrounding spaces, and indices written as text.

        Raises:
            LabelValueError: anything else (a float, an unknown name, an index out of range).
        """
        if value is None:
            return ABSTAIN
        if isinstance(value, bool | float | np.floating):
            raise LabelValueError(self._expected(value))
        if isinstance(value, int | np.integer):
            if ABSTAIN <= int(value) < self.n_classes:
                return int(value)
            raise LabelValueError(self._expected(value))
        if isinstance(value, str):
            if value in self.names:
                return self.names.index(value)
            if lenient and (found := self._lenient_index(value)) is not None:
                return found
        raise LabelValueError(self._expected(value))

    def _lenient_index(self, text: str) -> int | None:
        clean = text.strip()
        lowered = [n.lower() for n in self.names]
        if clean.lower() in lowered:
            return lowered.index(clean.lower())
        if clean.lstrip("-").isdigit() and ABSTAIN <= int(clean) < self.n_classes:
            return int(clean)
        return None

    def indices(self, column: pl.Series, *, lenient: bool = False) -> np.ndarray:
        """``(len(column),)`` int64 class indices of a column of indices or names (nulls
        abstain); ``lenient`` as in :meth:`index_of`. Vectorized (polars expressions).

        Raises:
            LabelValueError: the first value that is not a class, with its row.
        """
        x = pl.col("x")
        codes = list(range(self.n_classes))
        if column.dtype in (pl.String, pl.Categorical, pl.Enum):
            text = x.cast(pl.String)
            code = text.replace_strict(list(self.names), codes, default=None, return_dtype=pl.Int64)
            if lenient:
                clean = text.str.strip_chars()
                code = pl.coalesce(
                    code,
                    clean.str.to_lowercase().replace_strict([n.lower() for n in self.names], codes,
                                                            default=None, return_dtype=pl.Int64),
                    clean.cast(pl.Int64, strict=False),
                )
            code = pl.when(code.is_between(ABSTAIN, self.n_classes - 1)).then(code).otherwise(-2)
        elif column.dtype.is_integer():
            code = pl.when(x.is_between(ABSTAIN, self.n_classes - 1)).then(x.cast(pl.Int64)).otherwise(-2)
        else:
            bad = column.drop_nulls()
            if bad.len():
                raise LabelValueError(f"row {int(column.is_not_null().arg_true()[0])}: " + self._expected(bad[0]))
            return np.full(column.len(), ABSTAIN, dtype=np.int64)
        values = pl.DataFrame({"x": column}).select(
            pl.when(x.is_null()).then(pl.lit(ABSTAIN, pl.Int64)).otherwise(code).alias("x"))["x"].to_numpy()
        wrong = np.flatnonzero(values == -2)
        if wrong.size:
            row = int(wrong[0])
            raise LabelValueError(f"row {row}: " + self._expected(column[row]))
        return values.astype(np.int64)

    def _expected(self, value: Any) -> str:
        return (f"expected a class index in 0..{self.n_classes - 1}, a label name in "
                f"{list(self.names)}, or -1/None for abstain; got {value!r}")


@lru_cache(maxsize=64)
def _cached_schema(names: tuple[str, ...]) -> LabelSchema:
    return LabelSchema(names)


def schema_of(names: Sequence[str]) -> LabelSchema:
    """The (cached) schema of these class names; cheap to call once per item."""
    return _cached_schema(tuple(names))
