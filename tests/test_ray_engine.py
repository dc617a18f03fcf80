"""The Ray engine against a real local Ray cluster: a head node and a second worker node, both
``ray start`` processes bound to 127.0.0.1 in a private temp dir, stopped afterwards.

The bundled task runs with the local engine and with the Ray engine; the label matrix, the vote
cache files and the final training set must be identical.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from hitl_triage.config import load_config
from hitl_triage.errors import ConfigError
from hitl_triage.pipeline import run_apply, run_export, run_label
from hitl_triage.simulate import simulate

from .conftest import REPO, make_task

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'hitl-triage[ray]'")

from hitl_triage.distributed.cluster import (  # noqa: E402 (after the skip)
    LocalCluster,
    RayEngineError,
    disconnect,
)
from hitl_triage.distributed.features import map_text_batches  # noqa: E402
from hitl_triage.distributed.settings import EngineConfig  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster():
    """Head + one worker node, one CPU and a 200 MB object store each; stopped (by their own
    process ids, never `ray stop`, which would end other users' clusters) afterwards."""
    local = LocalCluster(n_workers=1, num_cpus=1, object_store_memory=200_000_000)
    local.start(timeout_s=300)
    try:
        yield local
    finally:
        disconnect()
        local.stop()
        shutil.rmtree(local.temp_dir, ignore_errors=True)


def _bundled(root: Path, engine: dict | None) -> Path:
    """configs/youtube_spam.yaml under ``root`` with absolute paths and a run dir in ``root``."""
    config = yaml.safe_load((REPO / "configs" / "youtube_spam.yaml").read_text())
    base = REPO / "configs"
    config["dataset"]["path"] = str((base / config["dataset"]["path"]).resolve())
    config["lfs"]["modules"] = [str((base / m).resolve()) for m in config["lfs"]["modules"]]
    config["run_dir"] = str(root / "run")
    # one round, word n-grams only: the rounds are driver code fed by L; keep the test short
    config["curriculum"] = {"schedule": [1.0]}
    config["confidence"] = {"char_ngrams": None}
    if engine is not None:
        config["engine"] = engine
    root.mkdir(parents=True, exist_ok=True)
    path = root / "task.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _cache(run_dir: Path) -> dict[str, object]:
    """Every vote-cache file: parquet frames and JSON metadata."""
    out: dict[str, object] = {}
    for path in sorted((run_dir / "votes").iterdir()):
        out[path.name] = (pl.read_parquet(path) if path.suffix == ".parquet"
                          else json.loads(path.read_text()))
    return out


def _assert_same_cache(a: dict[str, object], b: dict[str, object]) -> None:
    assert sorted(a) == sorted(b)
    for name, value in a.items():
        if isinstance(value, pl.DataFrame):
            assert_frame_equal(value, b[name])  # type: ignore[arg-type]
        else:
            assert value == b[name], name


def test_bundled_task_identical_on_ray(cluster, tmp_path):
    engine = {"kind": "ray", "address": cluster.address, "batch_size": 500}
    local = load_config(_bundled(tmp_path / "local", None))
    remote = load_config(_bundled(tmp_path / "ray", engine))

    started = time.monotonic()
    run_apply(local)
    local_s = time.monotonic() - started
    started = time.monotonic()
    applied = run_apply(remote)
    print(f"apply: local {local_s:.1f} s, ray {time.monotonic() - started:.1f} s")

    local_rows = applied.n_items
    assert set(applied.recomputed) == set(applied.sources)  # everything computed on the cluster
    assert_frame_equal(pl.read_parquet(local.out_dir / "votes.parquet"),
                       pl.read_parquet(remote.out_dir / "votes.parquet"))
    _assert_same_cache(_cache(local.out_dir), _cache(remote.out_dir))
    assert ((local.out_dir / "lf_errors.jsonl").read_text()
            == (remote.out_dir / "lf_errors.jsonl").read_text())
    ran_on = ray.nodes()
    assert sum(node["Alive"] for node in ran_on) == 2

    again = run_apply(remote)  # the cache answers everything: nothing is sent
    assert again.recomputed == []

    trainsets = []
    for config in (local, remote):
        run_label(config)
        trainsets.append(pl.read_parquet(run_export(config, fmt="parquet").path))
    assert trainsets[0].height == local_rows
    assert_frame_equal(*trainsets)


@pytest.mark.slow
def test_simulated_trainset_identical_on_ray(cluster, tmp_path):
    """The whole loop (apply, rounds with simulated reviewers, export): about 3 minutes here."""
    engine = {"kind": "ray", "address": cluster.address, "batch_size": 500}
    trainsets = []
    for name, settings in (("local", None), ("ray", engine)):
        config = load_config(_bundled(tmp_path / name, settings))
        simulate(config, budget=0.1, seed=0, out_dir=config.out_dir)
        trainsets.append(pl.read_parquet(run_export(config, fmt="parquet").path))
    assert_frame_equal(*trainsets)


TIMEOUT_LFS = '''
import time
import polars as pl
from hitl_triage.lf import ABSTAIN, expression_lf, labeling_function, nlp_labeling_function, regex_lf

HAM, SPAM = 0, 1

link = regex_lf("link", r"(?i)https?://|www\\.", SPAM)


@expression_lf
def longer_than_mean() -> pl.Expr:  # looks at other rows: runs on the driver
    return pl.when(pl.col("text").str.len_chars() > pl.col("text").str.len_chars().mean()).then(pl.lit(SPAM))


@labeling_function()
def slow(x):
    if x.text == "lol":
        time.sleep(30)
    return HAM if "song" in x.text.lower() else ABSTAIN


@labeling_function()
def broken(x):
    if "free" in x.text:
        raise ValueError("no free lunch")
    return ABSTAIN


@nlp_labeling_function()
def url_token(x):
    return SPAM if any(t.like_url for t in x.doc) else ABSTAIN
'''


def test_failures_timeouts_and_frame_wide_expressions_as_locally(cluster, tmp_path):
    """Row LFs that raise or hang, spaCy LFs and an expression over the whole frame give the
    same votes, failures and cache on Ray (a timer in the worker) as locally (forked workers)."""
    configs = []
    for name, engine in (("local", None), ("ray", {"kind": "ray", "address": cluster.address,
                                                   "batch_size": 3})):
        extra = {"lfs": {"modules": ["lfs/task_lfs.py"], "timeout_s": 0.5}} | ({"engine": engine} if engine else {})
        configs.append(load_config(make_task(tmp_path / name, lf_source=TIMEOUT_LFS, extra=extra)))
    results = [run_apply(config) for config in configs]
    assert results[0].failures_by_lf == results[1].failures_by_lf == {"slow": 1, "broken": 1}
    local, remote = (c.out_dir for c in configs)
    assert_frame_equal(pl.read_parquet(local / "votes.parquet"),
                       pl.read_parquet(remote / "votes.parquet"))
    assert (local / "lf_errors.jsonl").read_text() == (remote / "lf_errors.jsonl").read_text()
    assert "timed out after 0.5 s" in (remote / "lf_errors.jsonl").read_text()
    _assert_same_cache(_cache(local), _cache(remote))


def test_text_feature_hook_same_rows_on_ray(cluster):
    from sklearn.feature_extraction.text import HashingVectorizer

    def featurize(texts: list[str]) -> np.ndarray:
        return HashingVectorizer(n_features=32).transform(texts).toarray().astype(np.float32)

    texts = [f"comment {i} about song {i % 7}" if i % 11 else None for i in range(250)]
    here = map_text_batches(texts, featurize, engine=EngineConfig(), batch_size=40)
    there = map_text_batches(texts, featurize, batch_size=40,
                             engine=EngineConfig(kind="ray", address=cluster.address))
    assert there.shape == (250, 32)
    np.testing.assert_array_equal(here, there)


def test_sentence_embeddings_computed_on_ray_match_local(cluster, tmp_path):
    """confidence.features with embeddings: the texts missing from the cache are embedded by the
    cluster's workers (each loads the static model from its own local files); the driver keeps
    the cache. Same vectors as in this process."""
    pytest.importorskip("model2vec", reason="the embeddings extra is not installed")
    from hitl_triage.embeddings import embed

    texts = [f"check out my channel {i % 13}" if i % 9 else None for i in range(300)] + ["nice song"] * 5
    here = embed(texts, model="static")
    engine = EngineConfig(kind="ray", address=cluster.address)
    there = embed(texts, model="static", engine=engine, cache_dir=tmp_path / "features", chunk_size=64)
    assert there.shape == here.shape and np.abs(there).sum() > 0
    np.testing.assert_allclose(there, here, atol=1e-6)
    again = embed(texts, model="static", engine=engine, cache_dir=tmp_path / "features")  # all cached
    np.testing.assert_array_equal(again, there)


def test_unreachable_address_names_it(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    path = make_task(tmp_path, extra={"engine": {"kind": "ray", "address": f"127.0.0.1:{port}"}})
    with pytest.raises(RayEngineError, match=rf"engine.address '127.0.0.1:{port}': no Ray cluster "
                                             rf"reachable at 127.0.0.1:{port}"):
        run_apply(load_config(path))


@pytest.mark.parametrize(("engine", "message"), [
    ({"kind": "local", "address": "127.0.0.1:6379"}, "engine.kind is 'local'"),
    ({"kind": "ray", "address": "not an address"}, "engine.address must be"),
    ({"kind": "ray", "workers": 3}, "unknown key"),
])
def test_engine_config_is_checked(tmp_path, engine, message):
    path = make_task(tmp_path, extra={"engine": engine})
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_local_is_the_default(tmp_path):
    config = load_config(make_task(tmp_path))
    assert config.engine == EngineConfig(kind="local")


@pytest.mark.llm
def test_judge_requests_sent_from_the_cluster_match_local(cluster, llama_server, tmp_path):
    """engine kind ray with a judge: the items' requests go from the cluster's workers to the
    real llama.cpp server (Gemma 3 270M on a loopback port); the driver sends only the
    content-free inputs and stores every answer. A local run over a copy of that cache sends
    nothing and writes the same judgements; an independent local run gets the same votes (the
    server's probabilities move by about 0.01 with its prompt-cache state)."""
    import dataclasses

    from hitl_triage.data import load_dataset
    from hitl_triage.judge import load_judgements, run_judge
    from hitl_triage.judge.cache import ResponseCache
    from hitl_triage.judge.judgements import CACHE_FILE, judge_dir

    base = load_config(REPO / "configs" / "youtube_spam_judge.yaml")
    judge = base.judge.model_copy(update={"base_url": llama_server, "concurrency": 2})
    dataset = load_dataset(base.dataset, n_classes=base.n_classes)
    sample = dataclasses.replace(dataset, items=dataset.items[:12])
    shots = [("check out my channel http://x.y", 1), ("love this song", 0)]
    engine = EngineConfig(kind="ray", address=cluster.address, batch_size=6)
    remote = base.model_copy(update={"judge": judge, "run_dir": tmp_path / "ray", "engine": engine})
    there = run_judge(remote, sample, few_shot=shots)
    n_free = len(judge.content_free_inputs)
    assert there.failed == 0 and there.judged + there.abstained == 12
    assert there.remote_requests >= 12 and there.requests - there.remote_requests == n_free
    assert there.cached == 0
    with ResponseCache(judge_dir(remote.out_dir) / CACHE_FILE) as cache:
        assert len(cache) == there.requests  # every answer the workers got is stored

    def judgements(config):  # type: ignore[no-untyped-def]
        return load_judgements(config.out_dir, sample.ids, base.n_classes)

    replay = base.model_copy(update={"judge": judge, "run_dir": tmp_path / "replay"})
    judge_dir(replay.out_dir).mkdir(parents=True)
    shutil.copy(judge_dir(remote.out_dir) / CACHE_FILE, judge_dir(replay.out_dir) / CACHE_FILE)
    replayed = run_judge(replay, sample, few_shot=shots)
    assert replayed.requests == 0
    np.testing.assert_array_equal(judgements(replay).votes, judgements(remote).votes)
    np.testing.assert_array_equal(judgements(replay).probs, judgements(remote).probs)

    local = base.model_copy(update={"judge": judge, "run_dir": tmp_path / "local"})
    run_judge(local, sample, few_shot=shots)
    here, far = judgements(local), judgements(remote)
    clear = np.abs(here.probs[:, 1] - 0.5) > 0.05
    np.testing.assert_array_equal(here.votes[clear], far.votes[clear])
    np.testing.assert_allclose(here.probs, far.probs, atol=0.05)

    again = run_judge(remote, sample, few_shot=shots)
    assert again.requests == 0 and again.cached == 12
