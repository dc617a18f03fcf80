"""The judge's requests sent from a Ray cluster's workers (``engine: {kind: ray}``).

With a Ray engine, :func:`hitl_triage.judge.runner.run_judge` first calls :func:`judge_on_ray`:
the items whose main request is not in the run directory's response cache are split into
batches (``engine.batch_size``) and mapped with Ray Data ``map_batches``; each batch task opens
its own client to ``judge.base_url`` (which must be reachable from the workers) and judges its
items with the same per-item logic as a local run (log-probabilities, the sampled fallback,
rationales), collecting the answered bodies in a :class:`~hitl_triage.judge.cache.MemoryCache`.
The driver stores each batch's bodies in the SQLite cache as the batch arrives, so a run that
fails midway keeps every answer received. The local pass that follows reads every vote from the
cache: the judgements are the same as a local run's, and only requests that failed on the
workers are tried once more from the driver.

The API key (read on the driver from the variable ``judge.api_key_env`` names) travels to the
workers with the task; the few content-free inputs of the bias correction are asked by the
driver.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hitl_triage.distributed.cluster import connect
from hitl_triage.distributed.settings import EngineConfig
from hitl_triage.judge.cache import MemoryCache, ResponseCache
from hitl_triage.judge.prompts import ItemText, RequestBuilder
from hitl_triage.progress import Progress, report

STAGE = "judge"
_TEXT, _FIELDS = "text", "fields"
_KEY, _BODY, _MODEL, _ENDPOINT, _VERSION, _SENT, _DONE = (
    "key", "body", "model", "endpoint", "template_version", "sent", "done")


def _main_keys(builder: RequestBuilder, text: str) -> list[str]:
    if builder.settings.probabilities == "samples":
        return [r.key for r in builder.sample_requests(text)]
    return [builder.main_request(text).key]


def _judge_batch(batch: Any, builder: RequestBuilder, settings_seed: int, api_key: str,
                 label_names: list[str]) -> Any:
    """One Ray Data batch (``text``, ``fields`` JSON or null) → the bodies its requests got.

    Returns a pyarrow table with one row per new body (``key``, ``body`` JSON, ``model``,
    ``endpoint``, ``template_version``) and, on its first row, ``sent`` (HTTP requests of the
    batch) and ``done`` (items in the batch); a batch with no new body returns one row whose
    ``key`` is null.
    """
    import pyarrow as pa

    from hitl_triage.judge.runner import _judge_all, _run_coroutine

    fields = batch.column(_FIELDS).to_pylist()
    texts: list[str | None] = [
        t if f is None else ItemText(t, json.loads(f))
        for t, f in zip(batch.column(_TEXT).to_pylist(), fields, strict=True)
    ]
    memory = MemoryCache()
    _, _, sent = _run_coroutine(lambda: _judge_all(
        builder, settings_seed=settings_seed, api_key=api_key, open_cache=lambda: memory,
        texts=texts, label_names=label_names, progress=None, content_free=[]))
    rows = [(k, json.dumps(b, ensure_ascii=False), m, e, v) for k, (b, m, e, v) in memory.new.items()]
    rows = rows or [(None, None, None, None, None)]
    columns = list(zip(*rows, strict=True))
    counts = [0] * len(rows)
    done = [0] * len(rows)
    counts[0], done[0] = sent, len(texts)
    return pa.table({_KEY: pa.array(columns[0], pa.string()), _BODY: pa.array(columns[1], pa.string()),
                     _MODEL: pa.array(columns[2], pa.string()),
                     _ENDPOINT: pa.array(columns[3], pa.string()),
                     _VERSION: pa.array(columns[4], pa.string()),
                     _SENT: pa.array(counts, pa.int64()), _DONE: pa.array(done, pa.int64())})


def judge_on_ray(
    builder: RequestBuilder,
    *,
    settings_seed: int,
    api_key: str,
    cache_path: Path,
    texts: list[str | None],
    label_names: list[str],
    engine: EngineConfig,
    progress: Progress | None = None,
) -> tuple[int, set[str]]:
    """Send the requests of the ``texts`` missing from the cache at ``cache_path`` from the
    cluster's workers and store every answered body there.

    Args:
        texts: ``n`` item texts (:class:`ItemText` where the template names fields); None is
            skipped, as in a local run.
        engine: a ``kind: ray`` engine (see :func:`hitl_triage.distributed.cluster.connect`).

    Returns:
        ``(requests, texts)``: HTTP requests sent by the workers (retries included) and the
        texts they judged (those not answered from the cache).
    """
    asked = list(dict.fromkeys(t for t in texts if t is not None))
    with ResponseCache(cache_path) as cache:
        keys = [_main_keys(builder, t) for t in asked]
        stored = cache.contains([k for ks in keys for k in ks])
        todo = [t for t, ks in zip(asked, keys, strict=True) if not set(ks) <= stored]
        if not todo:
            return 0, set()
        ray = connect(engine)
        frame = pl.DataFrame({
            _TEXT: [str(t) for t in todo],
            _FIELDS: [json.dumps(t.fields, ensure_ascii=False) if isinstance(t, ItemText) else None
                      for t in todo],
        }, schema={_TEXT: pl.String, _FIELDS: pl.String})
        table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
        size = engine.batch_size
        dataset = ray.data.from_arrow([table.slice(s, size) for s in range(0, table.num_rows, size)])
        answers = dataset.map_batches(
            _judge_batch, batch_size=size, batch_format="pyarrow", zero_copy_batch=True,
            num_cpus=engine.num_cpus,
            fn_kwargs={"builder": builder, "settings_seed": settings_seed, "api_key": api_key,
                       "label_names": label_names})
        sent = done = 0
        report(progress, STAGE, 0, len(todo))
        for part in answers.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in part.to_pylist():
                if row[_KEY] is not None:
                    cache.put(row[_KEY], json.loads(row[_BODY]), model=row[_MODEL],
                              endpoint=row[_ENDPOINT], template_version=row[_VERSION])
                sent += int(row[_SENT])
                done += int(row[_DONE])
            report(progress, STAGE, int(np.minimum(done, len(todo))), len(todo))
    return sent, set(map(str, todo))
