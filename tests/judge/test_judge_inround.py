"""In-round judging: which items are asked, with which examples, from the cache or a server,
where the second model is asked, and what it costs.

The servers are the fault server (a real HTTP server on loopback speaking the OpenAI API; it
stands in for the first model and, on a second port, for the stronger second model). It answers
"spam" when the text says spam, else "ham", with probability 0.8 (0.53 for texts marked LEAN,
an unsure answer).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hitl_triage.engine import HumanLabels
from hitl_triage.judge import JudgeError
from hitl_triage.judge.inround import InRoundJudge, eligible_order, latest_examples
from hitl_triage.judge.inround_files import load_round_answers, save_round_answers, usage_record
from hitl_triage.judge_settings import JudgeConfig

LABELS = ["ham", "spam"]
TEXTS = [f"comment {i} " + ("buy spam now" if i % 3 == 0 else "nice song") for i in range(12)]
TEXTS[5] = "LEAN maybe an ad"
TEXTS[7] = "LEAN hard to say"
TEXTS[9] = None  # no text: never asked


def _settings(url: str, **extra: object) -> JudgeConfig:
    return JudgeConfig(base_url=url, bias_correction="none", backoff_s=0.01, max_backoff_s=0.05,
                       timeout_s=5.0, max_requests_per_round=4, cost_per_request=0.5, **extra)


def _judge(settings: JudgeConfig, cache: Path, texts: list[str | None] = TEXTS) -> InRoundJudge:
    return InRoundJudge(settings, task="youtube_spam", label_names=LABELS,
                        label_descriptions=["a genuine comment", "an advert"], texts=texts,
                        cache_path=cache)


def _human() -> HumanLabels:
    human = HumanLabels.empty(len(TEXTS))
    human = human.add(np.array([0, 1]), np.array([1, 0]), audited=False, round=0)
    return human.add(np.array([2]), np.array([0]), audited=True, round=0)


VALUE = np.array([0.9, 0.8, 0.7, 0.1, 0.6, 0.95, 0.45, 0.85, 0.3, 0.99, 0.5, 0.4])
ROUTE = np.array(["review", "review", "audit", "defer", "accept", "defer", "defer", "defer",
                  "accept", "defer", "defer", "defer"])


def test_eligible_order_leaves_out_accepted_labeled_answered_and_empty() -> None:
    known = np.full(12, -1)
    known[[0, 1, 2]] = [1, 0, 0]
    answered = np.zeros(12, dtype=bool)
    answered[10] = True
    has_text = np.array([t is not None for t in TEXTS])
    order = eligible_order(VALUE, ROUTE, known, answered, has_text)
    # 4 and 8 accepted, 0-2 labeled, 9 without text, 10 answered; the rest by value, highest first
    assert order.tolist() == [5, 7, 6, 11, 3]
    value = VALUE.copy()
    value[11] = np.nan  # an unknown value sorts last
    assert eligible_order(value, ROUTE, known, answered, has_text).tolist() == [5, 7, 6, 3, 11]


def test_latest_examples_are_reviewed_latest_first_and_label_diverse() -> None:
    texts = ["old ham", "old spam", "new ham", "new spam", "audited spam", "newer ham"]
    human = HumanLabels.empty(6)
    human = human.add(np.array([0, 1]), np.array([0, 1]), round=0)
    human = human.add(np.array([2, 3]), np.array([0, 1]), round=1)
    human = human.add(np.array([4]), np.array([1]), audited=True, round=2)
    human = human.add(np.array([5]), np.array([0]), round=2)
    shots = latest_examples(texts, human, n=3, n_classes=2)
    assert shots == [("newer ham", 0), ("new spam", 1), ("new ham", 0)]


def test_planner_asks_the_top_eligible_items_caches_and_costs(fault_server, tmp_path: Path) -> None:
    server = fault_server()
    judge = _judge(_settings(server.base_url), tmp_path / "cache.sqlite")
    answers = judge.step(1, value=VALUE, route=ROUTE, human=_human())
    assert answers.rows.tolist() == [5, 7, 10, 6]  # the cap of 4, highest value first
    assert server.requests == 4  # one request per item (log-probabilities), nothing else
    (usage,) = answers.usage
    assert (usage.asked, usage.requests, usage.cache_hits, usage.failed) == (4, 4, 0, 0)
    assert usage.cost == pytest.approx(2.0) and answers.cost == pytest.approx(2.0)
    # the few-shot examples are the reviewed labels (item 2 was audited: never an example)
    assert sorted(answers.examples) == sorted([(TEXTS[0], 1), (TEXTS[1], 0)])
    assert "Text: " + TEXTS[0] in server.bodies[0]["prompt"]
    assert TEXTS[2] not in server.bodies[0]["prompt"]
    probs = judge.probs(_human())
    assert probs is not None and probs.shape == (12, 2)
    assert np.isnan(probs[[0, 1, 2, 3, 4, 8, 9, 11]]).all()
    assert probs[10].argmax() == 0 and probs[6].argmax() == 1  # "nice song" ham, "spam" spam
    # the next round never asks an answered item again
    again = judge.step(2, value=VALUE, route=ROUTE, human=_human())
    assert again.rows.tolist() == [11, 3]
    assert server.requests == 6
    # a rerun with the same labels and cache asks the same items and sends nothing
    rerun = _judge(_settings(server.base_url), tmp_path / "cache.sqlite")
    same = rerun.step(1, value=VALUE, route=ROUTE, human=_human())
    assert same.rows.tolist() == [5, 7, 10, 6] and server.requests == 6
    assert (same.usage[0].requests, same.usage[0].cache_hits, same.cost) == (0, 4, 0.0)
    np.testing.assert_allclose(same.probs, answers.probs)


def test_escalation_asks_the_second_model_only_where_the_first_is_unsure(fault_server,
                                                                         tmp_path: Path) -> None:
    first, second = fault_server(), fault_server()
    settings = _settings(first.base_url, escalate={
        "base_url": second.base_url, "model": "big-model", "cost_per_request": 3.0, "below": 0.6})
    judge = _judge(settings, tmp_path / "cache.sqlite")
    answers = judge.step(1, value=VALUE, route=ROUTE, human=_human())
    assert answers.rows.tolist() == [5, 7, 10, 6]
    assert first.requests == 4
    assert second.requests == 2  # items 5 and 7 (LEAN: 0.53 < 0.6); 10 and 6 were sure
    assert {b["model"] for b in second.bodies} == {"big-model"}
    assert sorted(b["prompt"].rsplit("Text: ", 1)[-1] for b in second.bodies) == \
        sorted(f"{TEXTS[i]}\nLabel:" for i in (5, 7))
    assert answers.model.tolist() == [1, 1, 0, 0]
    assert judge.model_[[5, 7, 10, 6]].tolist() == [1, 1, 0, 0]
    roles = {u.role: u for u in answers.usage}
    assert (roles["first"].requests, roles["first"].cost) == (4, 2.0)
    assert (roles["escalate"].asked, roles["escalate"].requests, roles["escalate"].cost) == (2, 2, 6.0)
    assert answers.requests == 6 and answers.cost == pytest.approx(8.0)
    record = usage_record(judge, 1)
    assert record["judge_requests"] == 6 and record["judge_cost"] == pytest.approx(8.0)
    assert [u["model"] for u in record["judge_usage"]] == ["gemma-3-270m", "big-model"]


def test_escalation_cap_and_saved_answers_round_trip(fault_server, tmp_path: Path) -> None:
    first, second = fault_server(), fault_server()
    settings = _settings(first.base_url, escalate={
        "base_url": second.base_url, "model": "big-model", "max_requests_per_round": 1})
    judge = _judge(settings, tmp_path / "cache.sqlite")
    answers = judge.step(1, value=VALUE, route=ROUTE, human=_human())
    assert second.requests == 1 and answers.model.tolist() == [1, 0, 0, 0]
    ids = [f"i{j}" for j in range(12)]
    path = save_round_answers(tmp_path / "judge.parquet", ids, answers)
    loaded = load_round_answers(path, ids, 2)
    assert loaded.rows.tolist() == answers.rows.tolist()
    np.testing.assert_allclose(loaded.probs, answers.probs)
    assert [u.as_dict() for u in loaded.usage] == [u.as_dict() for u in answers.usage]
    with pytest.raises(JudgeError, match=r"expected class columns \['p_0', 'p_1', 'p_2'\]"):
        load_round_answers(path, ids, 3)


def test_in_round_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="max_requests_per_round"):
        JudgeConfig(max_requests_per_round=-1)
    with pytest.raises(ValueError, match="below"):
        JudgeConfig(escalate={"base_url": "http://127.0.0.1:1/v1", "model": "m", "below": 1.5})
    with pytest.raises(ValueError, match="expected an http"):
        JudgeConfig(escalate={"base_url": "ftp://x", "model": "m"})
    with pytest.raises(ValueError, match="extra"):
        JudgeConfig(escalate={"base_url": "http://127.0.0.1:1/v1", "model": "m", "cost": 1})
    with pytest.raises(JudgeError, match="max_requests_per_round is not set"):
        _judge(JudgeConfig(), Path("unused.sqlite"))


def test_run_loop_with_a_helpful_judge_between_rounds(fault_server, tmp_path: Path) -> None:
    """The in-memory loop with the fault server as a judge that is right on 90 % of the items
    (their text says "spam" exactly when they are spam, but for 10 % flipped), allowed to answer
    every eligible item: it is asked between rounds only, its source wins the selection on the
    audit labels, and the loop's labels are better than without it at the same human budget."""
    from hitl_triage.engine import RoundEngine
    from hitl_triage.loop import run_loop
    from tests.rounds.test_engine_judge import N, _problem

    gold, L, X, _ = _problem(0)
    rng = np.random.default_rng(5)
    says_spam = np.where(rng.random(N) < 0.9, gold == 1, gold == 0)
    texts = [f"item {i} " + ("spam offer" if s else "a comment") for i, s in enumerate(says_spam)]
    server = fault_server(max_requests=5000)
    settings = _settings(server.base_url).model_copy(update={"max_requests_per_round": N})
    judge = _judge(settings, tmp_path / "cache.sqlite", texts=texts)
    engine = RoundEngine(2)
    kwargs = {"reviewer": lambda rows, routes: gold[rows], "total_budget": 0.25,
              "schedule": [0.4, 0.3, 0.3], "seed": 0}
    without = run_loop(engine, L, X, **kwargs)
    with_judge = run_loop(engine, L, X, judge=judge.between_rounds, **kwargs)
    assert sorted(judge.usage_) == [1, 2, 3]  # after each round, the last one before the final labels
    assert server.requests == sum(u.requests for us in judge.usage_.values() for u in us) <= N
    assert int(with_judge.human.known.sum()) == int(without.human.known.sum())  # equal human budget
    acc = [float((r.final.label == gold).mean()) for r in (without, with_judge)]
    assert with_judge.final.figures["posterior"] == "stacked_judge"
    assert acc[1] >= acc[0] + 0.1, acc  # measured 0.767 -> 0.942
