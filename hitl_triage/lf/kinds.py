"""The kinds of labeling function a task can mix.

1. Row LFs: snorkel's own ``@labeling_function()`` objects, unchanged. They see one item at a
   time as ``x`` (``x.text``, ``x.id`` and the other fields).
2. spaCy row LFs: :func:`nlp_labeling_function` (also snorkel ``LabelingFunction`` objects)
   additionally get ``x.doc``, parsed once per run in batches with ``nlp.pipe`` and shared.
3. Expression LFs: :class:`ExpressionLF`, a polars expression over the whole items frame that
   yields a class index or null (abstain). Built with :func:`expression_lf`,
   :func:`keyword_lf` or :func:`regex_lf`; these run vectorized, far faster than row LFs.

Precomputed vote columns (a fourth kind) come from the dataset config, not from LF modules.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl
from snorkel.labeling import LabelingFunction
from snorkel.labeling import labeling_function as labeling_function

from hitl_triage.errors import LabelingFunctionError
from hitl_triage.schema import ABSTAIN

TEXT = "text"


@dataclass(frozen=True)
class ExpressionLF:
    """A vectorized LF: ``expr`` evaluates over the items frame to a class index or null.

    Attributes:
        name: unique source name.
        expr: polars expression of integer dtype; null or ``-1`` means abstain.
    """

    name: str
    expr: pl.Expr

    def __repr__(self) -> str:
        return f"ExpressionLF({self.name!r})"


class SpacyLabelingFunction(LabelingFunction):
    """A snorkel row LF that reads ``x.doc``, a spaCy ``Doc`` parsed once per run in batches."""

    uses_doc = True


def nlp_labeling_function(
    name: str | None = None, *, resources: dict[str, Any] | None = None
) -> Callable[[Callable[..., int]], SpacyLabelingFunction]:
    """Decorator for a row LF that needs spaCy: ``x.doc`` is the parsed text.

    The pipeline is the task's ``lfs.spacy_pipeline``; documents are made once per run with
    ``nlp.pipe`` and shared by all such LFs (no ``nlp(text)`` per LF per row).

    Example::

        @nlp_labeling_function()
        def many_urls(x):
            return SPAM if sum(t.like_url for t in x.doc) >= 2 else ABSTAIN
    """
    if callable(name):
        raise LabelingFunctionError(
            "nlp_labeling_function is a decorator factory: write @nlp_labeling_function() "
            "with parentheses"
        )

    def wrap(func: Callable[..., int]) -> SpacyLabelingFunction:
        return SpacyLabelingFunction(name or func.__name__, func, resources=resources)

    return wrap


def expression_lf(
    name: str | Callable[[], pl.Expr] | None = None,
) -> ExpressionLF | Callable[[Callable[[], pl.Expr]], ExpressionLF]:
    """Decorator turning a function that *returns* a polars expression into an :class:`ExpressionLF`.

    Works with or without parentheses::

        @expression_lf
        def short_comment():
            return pl.when(pl.col("text").str.len_chars() < 20).then(HAM)
    """
    if callable(name):
        func = name
        return _expression_from(func.__name__, func)

    def wrap(func: Callable[[], pl.Expr]) -> ExpressionLF:
        return _expression_from(name or func.__name__, func)

    return wrap


def _expression_from(name: str, func: Callable[[], pl.Expr]) -> ExpressionLF:
    expr = func()
    if not isinstance(expr, pl.Expr):
        raise LabelingFunctionError(
            f"expression LF {name!r}: the function must return a polars expression, "
            f"got {type(expr).__name__}"
        )
    return ExpressionLF(name, expr)


def keyword_lf(
    name: str, keywords: Iterable[str], label: int, *, field: str = TEXT, whole_word: bool = True
) -> ExpressionLF:
    """Vote ``label`` when ``field`` contains any keyword (case-insensitive), else abstain."""
    words = [re.escape(k) for k in keywords]
    if not words:
        raise LabelingFunctionError(f"keyword LF {name!r}: keywords must not be empty")
    alternation = "|".join(words)
    pattern = rf"(?i)\b(?:{alternation})\b" if whole_word else f"(?i)(?:{alternation})"
    return regex_lf(name, pattern, label, field=field)


def regex_lf(name: str, pattern: str, label: int, *, field: str = TEXT) -> ExpressionLF:
    """Vote ``label`` when ``field`` matches the regex ``pattern``, else abstain.

    The pattern is run by polars, that is by Rust's ``regex`` crate: no look-around and no
    backreferences. It is checked here by that same engine, so a pattern Python's ``re`` would
    accept but polars cannot run fails at definition instead of abstaining on every row.
    """
    expr = pl.when(pl.col(field).str.contains(pattern)).then(pl.lit(label))
    try:
        pl.DataFrame({field: [""]}, schema={field: pl.String}).select(expr)
    except pl.exceptions.PolarsError as exc:
        lines = str(exc).strip().splitlines()
        reason = next((ln for ln in lines if ln.startswith("error:")), lines[0] if lines else "")
        raise LabelingFunctionError(
            f"regex LF {name!r}: invalid pattern {pattern!r} for polars' regex engine (Rust "
            f"regex syntax: no look-around, no backreferences): {reason.removeprefix('error: ')}"
        ) from None
    return ExpressionLF(name, expr)


def uses_doc(lf: LabelingFunction) -> bool:
    """True if a row LF needs ``x.doc`` (ours or snorkel's own spaCy LFs).

    snorkel's spaCy LF module is only looked at when already imported: an LF of that kind was
    built from it, so without it none can be one (importing it would load spaCy, thinc and
    torch, several seconds, for every apply).
    """
    if getattr(lf, "uses_doc", False):
        return True
    nlp = sys.modules.get("snorkel.labeling.lf.nlp")
    return nlp is not None and isinstance(lf, nlp.BaseNLPLabelingFunction)


__all__ = [
    "ABSTAIN",
    "ExpressionLF",
    "SpacyLabelingFunction",
    "expression_lf",
    "keyword_lf",
    "labeling_function",
    "nlp_labeling_function",
    "regex_lf",
    "uses_doc",
]
