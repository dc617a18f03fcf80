"""Per-item text features on Ray: the extension point for embeddings.

:func:`map_text_batches` maps batches of texts to feature rows, in this process
(``engine.kind: local``) or with Ray Data ``map_batches`` on the engine's cluster. It is the hook
for any per-item featurizer, such as a sentence-embedding model: pass a function (or a class
whose instances are such functions, to load a model once per worker) that takes a list of
texts and returns an ``(len(texts), d)`` array. The rows come back in the order of ``texts``.

TF-IDF is not a per-item featurizer (its vocabulary and idf come from every text) and stays on
the driver (:mod:`hitl_triage.textfeatures`, multi-threaded polars).

    >>> def lengths(texts):
    ...     return np.array([[len(t), t.count(" ")] for t in texts], dtype=np.float32)
    >>> map_text_batches(["a b", "abc"], lengths, engine=EngineConfig()).tolist()
    [[3.0, 1.0], [3.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from hitl_triage.distributed.cluster import connect
from hitl_triage.distributed.settings import EngineConfig

Featurizer = Callable[[list[str]], np.ndarray]
ROW, TEXT, VECTOR = "__hitl_row", "text", "vector"


def _embed_batch(batch: Any, featurize: Featurizer | type) -> Any:
    import pyarrow as pa

    texts = [t or "" for t in batch.column(TEXT).to_pylist()]
    fn = featurize() if isinstance(featurize, type) else featurize
    rows = np.asarray(fn(texts))
    flat = pa.array(rows.reshape(-1))
    vectors = pa.FixedSizeListArray.from_arrays(flat, rows.shape[1])
    return pa.table({ROW: batch.column(ROW), VECTOR: vectors})


def map_text_batches(
    texts: Sequence[str | None] | pl.Series,
    featurize: Featurizer | type,
    *,
    engine: EngineConfig,
    batch_size: int | None = None,
) -> np.ndarray:
    """Feature rows of ``texts`` (None is an empty text), computed batch by batch.

    Args:
        featurize: maps a list of texts to an ``(len(texts), d)`` array; or a class whose
            no-argument instances do (on Ray, one instance per batch: load heavy models in a
            module-level cache).
        batch_size: texts per batch (default ``engine.batch_size``).

    Returns:
        ``(n_texts, d)`` array of ``featurize``'s dtype, rows in the order of ``texts``.
    """
    series = pl.Series(TEXT, list(texts) if not isinstance(texts, pl.Series) else texts,
                       dtype=pl.String)
    size = batch_size or engine.batch_size
    if engine.kind == "local":
        fn = featurize() if isinstance(featurize, type) else featurize
        clean = series.fill_null("").to_list()
        parts = [np.asarray(fn(clean[s:s + size])) for s in range(0, len(clean), size)]
        return np.vstack(parts) if parts else np.empty((0, 0))
    ray = connect(engine)
    frame = pl.DataFrame({ROW: np.arange(series.len(), dtype=np.int64), TEXT: series})
    table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    blocks = [table.slice(s, size) for s in range(0, table.num_rows, size)]
    dataset = ray.data.from_arrow(blocks).map_batches(
        _embed_batch, batch_size=size, batch_format="pyarrow", zero_copy_batch=True,
        num_cpus=engine.num_cpus, fn_kwargs={"featurize": featurize})
    out: np.ndarray | None = None
    for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
        rows = batch.column(ROW).to_numpy()
        vectors = batch.column(VECTOR).combine_chunks()
        values = np.asarray(vectors.flatten()).reshape(len(rows), -1)
        if out is None:
            out = np.empty((series.len(), values.shape[1]), dtype=values.dtype)
        out[rows] = values
    return out if out is not None else np.empty((0, 0))
