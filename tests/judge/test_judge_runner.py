"""run_judge against a real HTTP server on loopback that fails in the ways real servers do."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from hitl_triage.answers import save_answers
from hitl_triage.judge import JudgeError, load_judgements, run_judge
from hitl_triage.judge.cache import ResponseCache
from hitl_triage.judge.judgements import judge_dir
from hitl_triage.judge.server import free_port

TEXTS = ["great song", "subscribe to my spam channel", "love it", "free spam here"]


def _judgements(config):
    return pl.read_parquet(judge_dir(config.out_dir) / "judgements.parquet")


def test_votes_probs_and_cache(make_task, fault_server):
    server = fault_server()
    config, dataset = make_task([*TEXTS, None, "  "], base_url=server.base_url)
    result = run_judge(config, dataset)
    assert (result.judged, result.skipped, result.failed, result.requests) == (4, 2, 0, 4)
    votes = load_judgements(config.out_dir, dataset.ids, 2)
    assert votes is not None
    assert votes.votes.dtype == np.int8 and votes.votes.tolist() == [0, 1, 0, 1, -1, -1]
    assert votes.probs.shape == (6, 2)
    np.testing.assert_allclose(votes.probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(votes.probs[1], [0.15 / 0.95, 0.8 / 0.95])
    np.testing.assert_allclose(votes.probs[4], [0.5, 0.5])
    assert votes.judged.tolist() == [True] * 4 + [False] * 2
    frame = _judgements(config)
    np.testing.assert_allclose(frame["outside_mass"][:4].to_numpy(), 0.05, atol=1e-9)
    assert frame["status"].to_list() == ["ok"] * 4 + ["skipped"] * 2

    again = run_judge(config, dataset)
    assert (again.requests, again.cached, again.judged) == (0, 4, 4)
    assert server.requests == 4


def test_retries_429_500_and_timeouts(make_task, fault_server):
    server = fault_server(slow_s=1.0)
    config, dataset = make_task(["a ONCE500", "b ONCE429 spam", "c SLOW"], base_url=server.base_url,
                                timeout_s=0.4, concurrency=3)
    result = run_judge(config, dataset)
    assert (result.judged, result.failed) == (3, 0)
    assert result.requests == 6  # each item failed once, then succeeded
    assert load_judgements(config.out_dir, dataset.ids, 2).votes.tolist() == [0, 1, 0]


def test_errors_become_failures_or_abstains_and_are_not_cached(make_task, fault_server):
    server = fault_server()
    config, dataset = make_task(["ok", "x FAIL500", "y MALFORMED", "z BADLABEL"],
                                base_url=server.base_url, max_retries=2)
    result = run_judge(config, dataset)
    assert (result.judged, result.failed, result.abstained) == (1, 2, 1)
    frame = _judgements(config)
    errors = dict(zip(frame["id"], frame["error"], strict=True))
    assert "HTTP 500" in errors["c1"] and "after 3 attempts" in errors["c1"]
    assert "malformed response body" in errors["c2"]
    assert "'banana' is not one of the labels ['ham', 'spam']" in errors["c3"]
    assert frame["status"].to_list() == ["ok", "failed", "failed", "abstain"]
    with ResponseCache(judge_dir(config.out_dir) / "cache.sqlite") as cache:
        assert len(cache) == 2  # the good answer and the well-formed abstain only
    again = run_judge(config, dataset)
    assert again.requests == 3 + 1  # FAIL500 retried in full, MALFORMED once more
    assert again.cached == 2


def test_server_dies_mid_run_and_rerun_completes_only_the_rest(make_task, fault_server):
    server = fault_server(die_after=5)
    texts = [f"comment {i}" for i in range(12)]
    config, dataset = make_task(texts, base_url=server.base_url, concurrency=1, max_retries=1,
                                max_consecutive_failures=4)
    result = run_judge(config, dataset)
    assert result.judged == 5 and result.failed == 7
    frame = _judgements(config)
    failed = frame.filter(pl.col("status") == "failed")
    assert failed["error"].str.contains("connection error|stopped after 4 failed").all()

    revived = fault_server(port=server.port)
    again = run_judge(config, dataset)
    assert (again.judged, again.failed, again.cached) == (12, 0, 5)
    assert again.requests == revived.requests == 7


def test_unreachable_server_fails_before_any_work(make_task):
    url = f"http://127.0.0.1:{free_port()}/v1"
    config, dataset = make_task(TEXTS, base_url=url)
    with pytest.raises(JudgeError, match=f"judge server {url} is unreachable"):
        run_judge(config, dataset)
    assert not (judge_dir(config.out_dir) / "judgements.parquet").exists()


def test_request_budget(make_task, fault_server):
    server = fault_server()
    config, dataset = make_task([f"item {i}" for i in range(5)], base_url=server.base_url,
                                request_budget=3, concurrency=1)
    result = run_judge(config, dataset)
    assert (result.judged, result.failed, result.requests) == (3, 2, 3)
    assert result.failures == {"request budget of 3 exhausted": 2}


def test_api_key_from_environment_never_stored(make_task, fault_server, monkeypatch):
    server = fault_server()
    config, dataset = make_task(TEXTS[:2], base_url=server.base_url, api_key_env="JUDGE_TEST_KEY")
    with pytest.raises(JudgeError, match="'JUDGE_TEST_KEY', but it is not set"):
        run_judge(config, dataset)
    monkeypatch.setenv("JUDGE_TEST_KEY", "sekrit-123")
    run_judge(config, dataset)
    assert set(server.auth_headers) == {"Bearer sekrit-123"}
    for path in config.out_dir.rglob("*"):
        if path.is_file():
            assert b"sekrit-123" not in path.read_bytes(), path


def test_no_logprobs_falls_back_to_samples(make_task, fault_server):
    server = fault_server()
    config, dataset = make_task(["NOLOGPROBS one"], base_url=server.base_url, samples=5)
    result = run_judge(config, dataset)
    assert result.judged == 1 and result.requests == 1 + 5
    votes = load_judgements(config.out_dir, dataset.ids, 2)
    np.testing.assert_allclose(votes.probs[0], [0.6, 0.4])
    assert votes.votes[0] == 0

    strict, dataset = make_task(["NOLOGPROBS one"], base_url=server.base_url,
                                probabilities="logprobs", run_dir=config.out_dir.parent / "strict")
    result = run_judge(strict, dataset)
    assert result.abstained == 1
    assert "returned no log-probabilities" in next(iter(result.failures))


def test_chat_mode_json_rationale_and_malformed_json(make_task, fault_server):
    server = fault_server()
    config, dataset = make_task(["nice spam", "BADJSON"], base_url=server.base_url, mode="chat",
                                rationale=True)
    result = run_judge(config, dataset)
    assert (result.judged, result.abstained) == (1, 1)
    votes = load_judgements(config.out_dir, dataset.ids, 2)
    assert votes.votes.tolist() == [1, -1]
    np.testing.assert_allclose(votes.probs[0], [0.15 / 0.95, 0.8 / 0.95])
    assert votes.rationales[0] == "It looks like that."
    assert "malformed JSON in chat answer" in _judgements(config)["error"][1]
    assert server.bodies[0]["response_format"] == {"type": "json_object"}


def test_completion_rationale_is_a_second_cached_call(make_task, fault_server):
    server = fault_server()
    config, dataset = make_task(["love it"], base_url=server.base_url, rationale=True)
    assert run_judge(config, dataset).requests == 2
    assert load_judgements(config.out_dir, dataset.ids, 2).rationales == ["Because it says so."]
    assert server.bodies[1]["prompt"].endswith("Label: ham\nReason (one sentence):")
    assert run_judge(config, dataset).requests == 0


def test_few_shot_from_reviewed_labels_never_audit(make_task, fault_server):
    server = fault_server()
    texts = ["first ham", "second spam", "audited ham", "to judge"]
    config, dataset = make_task(texts, base_url=server.base_url, few_shot=4)
    now = datetime.now(UTC).isoformat()
    save_answers(config.out_dir, pl.DataFrame({
        "id": ["c0", "c1", "c2"], "label": [0, 1, 0], "reviewer": ["r"] * 3, "round": [0] * 3,
        "route": ["review", "review", "audit"], "origin": ["simulated"] * 3,
        "answered_at": [now] * 3,
    }))
    run_judge(config, dataset)
    prompt = server.bodies[0]["prompt"]
    assert "Text: first ham\nLabel: ham" in prompt and "Text: second spam\nLabel: spam" in prompt
    assert "Text: audited ham\nLabel" not in prompt

    server.bodies.clear()
    run_judge(config, dataset, few_shot=[("given example", 1)])
    assert "Text: given example\nLabel: spam" in server.bodies[0]["prompt"]


def test_calibration_on_reviewed_labels(make_task, fault_server):
    server = fault_server()
    texts = [f"spam {i}" if i % 2 else f"song {i}" for i in range(24)]
    config, dataset = make_task(texts, base_url=server.base_url, min_calibration_labels=20,
                                concurrency=4)
    save_answers(config.out_dir, pl.DataFrame({
        "id": [f"c{i}" for i in range(24)], "label": [i % 2 for i in range(24)],
        "reviewer": ["r"] * 24, "round": [0] * 24, "route": ["review"] * 24,
        "origin": ["simulated"] * 24, "answered_at": ["2024-01-01T00:00:00+00:00"] * 24,
    }))
    result = run_judge(config, dataset, few_shot=[("x", 0)])
    assert result.temperature is not None and result.temperature < 1.0  # always right: sharpen
    votes = load_judgements(config.out_dir, dataset.ids, 2)
    assert votes.probs.max(axis=1).min() > 0.8 / 0.95
    np.testing.assert_allclose(votes.probs.sum(axis=1), 1.0)


def test_config_errors(make_task, fault_server):
    server = fault_server()
    config, dataset = make_task(TEXTS, base_url=server.base_url)
    with pytest.raises(JudgeError, match=r"few_shot\[0\]: expected a class index in \[0, 2\), got 7"):
        run_judge(config, dataset, few_shot=[("x", 7)])
    no_judge = config.model_copy(update={"judge": None})
    with pytest.raises(JudgeError, match="task 'youtube_spam' has no enabled judge"):
        run_judge(no_judge, dataset)
    bad, dataset = make_task(TEXTS, base_url=server.base_url,
                             examples=[{"text": "x", "label": "eggs"}])
    with pytest.raises(JudgeError, match=r"judge.examples\[0\].label: expected one of \['ham', "
                                          r"'spam'\], got 'eggs'"):
        run_judge(bad, dataset)
    assert server.requests == 0


def test_client_errors_are_not_retried(make_task, fault_server):
    server = fault_server()
    config, dataset = make_task(["x E400"], base_url=server.base_url, max_retries=3)
    result = run_judge(config, dataset)
    assert result.failures == {"HTTP 400: bad request": 1} and server.requests == 1


def test_rejected_api_key_fails_before_any_work(make_task, fault_server, monkeypatch):
    server = fault_server(api_key="right")
    monkeypatch.setenv("JUDGE_TEST_KEY", "wrong")
    config, dataset = make_task(TEXTS, base_url=server.base_url, api_key_env="JUDGE_TEST_KEY")
    with pytest.raises(JudgeError, match=rf"judge server {server.base_url} rejected the API key "
                                         r"\(HTTP 401\); check the variable named by "
                                         r"judge.api_key_env \(JUDGE_TEST_KEY\)"):
        run_judge(config, dataset)
    assert server.requests == 0
