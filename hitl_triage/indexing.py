"""Positions of item ids, by a join instead of a Python loop over items."""

from __future__ import annotations

import numpy as np
import polars as pl


def row_index(ids: list[str] | pl.Series, query: pl.Series | list[str]) -> np.ndarray:
    """``(len(query),)`` int64 position of each queried id in ``ids``, ``-1`` where absent.

    Example: ``row_index(["a", "b", "c"], ["c", "x"])`` is ``array([2, -1])``.
    """
    table = pl.DataFrame({"id": pl.Series(ids, dtype=pl.String)}).with_row_index("row")
    found = pl.DataFrame({"id": pl.Series(query, dtype=pl.String)}).join(
        table, on="id", how="left", maintain_order="left")
    return found["row"].fill_null(-1).cast(pl.Int64).to_numpy()
