"""Beyond one machine: the engine's per-item work on a Ray cluster (Ray Data).

``engine: {kind: ray, address: ...}`` in a task config sends the heavy per-item work to Ray;
``kind: local`` (the default) keeps everything in this process. See ``docs/scale.md``.

* :mod:`~hitl_triage.distributed.settings`: the ``engine:`` config section (no Ray import).
* :mod:`~hitl_triage.distributed.cluster`: connecting (``ray.init``) and a throwaway local
  cluster for tests and benchmarks.
* :mod:`~hitl_triage.distributed.lf_runner`: labeling functions on Ray Data ``map_batches``.
* :mod:`~hitl_triage.distributed.features`: the hook that maps batches of texts to feature rows
  (embeddings) on Ray.

Ray is an optional dependency (``pip install 'hitl-triage[ray]'``); it is imported only when an
engine of kind ``ray`` is used.
"""

from hitl_triage.distributed.settings import EngineConfig

__all__ = ["EngineConfig"]
