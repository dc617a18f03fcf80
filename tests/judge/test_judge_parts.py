"""The judge's pure parts: settings, prompts, parsing, calibration, few-shot, cache, judgements."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitl_triage.config import parse_config
from hitl_triage.errors import ConfigError
from hitl_triage.judge import JudgeConfig, JudgeError, load_judgements
from hitl_triage.judge.cache import ResponseCache
from hitl_triage.judge.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
)
from hitl_triage.judge.fewshot import pick_diverse
from hitl_triage.judge.judgements import judgement_metadata, write_judgements
from hitl_triage.judge.parsing import (
    MalformedResponse,
    match_label,
    parse_chat,
    parse_completion,
    probs_from_top_logprobs,
    token_labels,
)
from hitl_triage.judge.prompts import RequestBuilder

NAMES = ["ham", "spam"]


# -- settings ----------------------------------------------------------------------------------
def test_settings_defaults_point_at_the_local_server():
    s = JudgeConfig()
    assert (s.mode, s.base_url, s.model, s.api_key_env) == (
        "completion", "http://127.0.0.1:8080/v1", "gemma-3-270m", None)


@pytest.mark.parametrize(("judge", "message"), [
    ({"template": "{text} {foo}"}, r"unknown placeholder\(s\) \['foo'\]; allowed"),
    ({"template": "no item here"}, r"completion mode needs a \{text\} placeholder"),
    ({"mode": "chat", "template": "say {text}"}, r"in chat mode the template is the system"),
    ({"template": "{text"}, r"cannot parse placeholders"),
    ({"base_url": "localhost:8080"}, r"expected an http:// or https:// URL, got 'localhost:8080'"),
    ({"api_key_env": "sk-abc123"}, r"expected the NAME of an environment variable"),
    ({"temperature": 1}, r"judge.temperature: unknown key; allowed keys here: .*api_key_env"),
])
def test_settings_errors_name_the_field(tmp_path, judge, message):
    data = {"task": "t", "labels": [{"name": n, "description": n} for n in NAMES],
            "dataset": {"path": str(tmp_path / "x.csv")}, "judge": judge}
    with pytest.raises(ConfigError, match=message):
        parse_config(data, source="task.yaml")


# -- prompts -----------------------------------------------------------------------------------
def _builder(**overrides):
    return RequestBuilder(task="youtube_spam", label_names=NAMES,
                          label_descriptions=["a real comment", "an advert"],
                          settings=JudgeConfig(**overrides), examples=[("buy now", 1), ("nice", 0)])


def test_completion_prompt_has_schema_examples_and_item():
    prompt = _builder().completion_prompt("what a   song\n")
    assert prompt == ("Task: youtube_spam. Label each text with one of these labels:\n"
                      "- ham: a real comment\n- spam: an advert\n\n"
                      "Text: buy now\nLabel: spam\n\nText: nice\nLabel: ham\n\n"
                      "Text: what a song\nLabel:")


def test_chat_messages_and_custom_template():
    messages = _builder(mode="chat", rationale=True).chat_messages("hello")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant",
                                             "user"]
    assert '"rationale"' in messages[0]["content"] and "- spam: an advert" in messages[0]["content"]
    assert json.loads(messages[2]["content"]) == {"label": "spam"}
    custom = _builder(template="{label_names}? {text} =>", max_text_chars=20)
    assert custom.completion_prompt("x" * 50) == "ham, spam? " + "x" * 19 + "… =>"


def test_cache_key_covers_model_prompt_parameters_and_template():
    base = _builder().main_request("hi")
    assert base.key == _builder().main_request("hi").key
    others = [_builder(model="other").main_request("hi"), _builder().main_request("hi!"),
              _builder(top_logprobs=5).main_request("hi"),
              _builder(template="{text}:").main_request("hi"),
              _builder().main_request("hi", logprobs=False)]
    assert len({base.key, *(o.key for o in others)}) == 6
    seeds = [r.body["seed"] for r in _builder(samples=3).sample_requests("hi")]
    assert seeds == [0, 1, 2]


# -- parsing -----------------------------------------------------------------------------------
def test_tokens_map_onto_labels():
    assert token_labels(" Spam", NAMES) == [1]
    assert token_labels(" h", NAMES) == [0]
    assert token_labels(" hamster", NAMES) == []
    assert token_labels('spam",', NAMES) == [1]
    assert token_labels("", NAMES) == []
    assert match_label(' "Spam".', NAMES) == 1
    assert match_label("spam because links", NAMES) == 1
    assert match_label("sp", NAMES) == 1
    assert match_label("banana", NAMES) is None
    assert match_label("  ", NAMES) is None


def test_docstring_example_of_probabilities():
    top = {" spam": -0.51, " ham": -1.92, " Spam": -2.79, " hamster": -5.4}
    probs, outside = probs_from_top_logprobs(top, NAMES)
    spam, ham = math.exp(-0.51) + math.exp(-2.79), math.exp(-1.92)
    np.testing.assert_allclose(probs, [ham / (ham + spam), spam / (ham + spam)])
    assert outside == pytest.approx(1 - ham - spam)
    probs, outside = probs_from_top_logprobs({" the": -0.1}, NAMES)
    assert probs.tolist() == [0.5, 0.5] and outside == 1.0


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([" ham", " spam", "h", " Spam", "x", " the", "sp", ""]),
                       st.floats(min_value=-30, max_value=0), max_size=8))
def test_probabilities_sum_to_one(top):
    probs, outside = probs_from_top_logprobs(top, NAMES)
    assert probs.shape == (2,) and probs.sum() == pytest.approx(1.0)
    assert 0.0 <= outside <= 1.0


def test_malformed_bodies_raise():
    with pytest.raises(MalformedResponse, match="expected a non-empty 'choices' list"):
        parse_completion({"choices": []}, NAMES)
    with pytest.raises(MalformedResponse, match="expected a JSON object, got list"):
        parse_completion([1], NAMES)
    with pytest.raises(MalformedResponse, match=r"choices\[0\].text"):
        parse_completion({"choices": [{"text": 3}]}, NAMES)
    with pytest.raises(MalformedResponse, match=r"choices\[0\].message.content"):
        parse_chat({"choices": [{"message": {}}]}, NAMES)


def test_chat_answers():
    def body(content):
        return {"choices": [{"message": {"content": content}}]}

    assert parse_chat(body('{"label": "spam"}'), NAMES).label == 1
    assert "no string 'label' field" in parse_chat(body('{"x": 1}'), NAMES).error
    assert "malformed JSON" in parse_chat(body("spam"), NAMES).error
    assert "'eggs' is not one of the labels" in parse_chat(body('{"label": "eggs"}'), NAMES).error


# -- calibration -------------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0.01, max_value=0.99), min_size=1, max_size=20),
       st.floats(min_value=0.05, max_value=50))
def test_temperature_keeps_rows_normalized_and_argmax(p, temperature):
    probs = np.column_stack([p, 1 - np.array(p)])
    scaled = apply_temperature(probs, temperature)
    np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
    undecided = np.isclose(probs[:, 0], 0.5)
    assert (scaled.argmax(1) == probs.argmax(1))[~undecided].all()


def test_fit_temperature_softens_overconfidence():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    right = rng.random(400) < 0.7  # 70% accurate but claims 99%
    pred = np.where(right, labels, 1 - labels)
    probs = np.where(pred[:, None] == np.arange(2), 0.99, 0.01)
    temperature = fit_temperature(probs, labels)
    assert temperature > 1.0
    before = expected_calibration_error(probs, labels)
    after = expected_calibration_error(apply_temperature(probs, temperature), labels)
    assert after < before / 3
    assert fit_temperature(probs[:0], labels[:0]) == 1.0
    assert expected_calibration_error(probs[:0], labels[:0]) == 0.0


# -- few-shot, cache, judgements ---------------------------------------------------------------
def test_pick_diverse_takes_classes_in_turn():
    candidates = [("a", 0), ("b", 0), ("c", 0), ("d", 1), ("e", 2)]
    assert pick_diverse(candidates, n=4, n_classes=3) == [("a", 0), ("d", 1), ("e", 2), ("b", 0)]
    assert pick_diverse(candidates, n=0, n_classes=3) == []


def test_cache_persists_and_reports_membership(tmp_path):
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        cache.put("k1", {"a": 1}, model="m", endpoint="completions", template_version="1")
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        assert cache.get("k1") == {"a": 1} and cache.get("k2") is None
        assert cache.contains(["k1", "k2"]) == {"k1"} and len(cache) == 1


def test_load_judgements_aligns_and_checks_classes(tmp_path):
    assert load_judgements(tmp_path, ["a"], 2) is None
    write_judgements(tmp_path, ids=["b", "a"], votes=np.array([1, -1]),
                     probs=np.array([[0.2, 0.8], [0.5, 0.5]]), outside_mass=np.zeros(2),
                     rationales=["r", None], errors=[None, "x"], statuses=["ok", "abstain"],
                     raw_probs=np.array([[0.1, 0.9], [0.5, 0.5]]),
                     metadata={"bias_correction": "content_free", "prior": [0.3, 0.7]})
    votes = load_judgements(tmp_path, ["a", "b", "zz"], 2)
    assert votes.votes.tolist() == [-1, 1, -1] and votes.votes.dtype == np.int8
    np.testing.assert_allclose(votes.probs, [[0.5, 0.5], [0.2, 0.8], [0.5, 0.5]])
    assert votes.rationales == [None, "r", None] and votes.judged.tolist() == [False, True, False]
    frame = pl.read_parquet(tmp_path / "judge" / "judgements.parquet")
    assert frame.columns == ["id", "vote", "p_0", "p_1", "raw_p_0", "raw_p_1", "outside_mass",
                             "rationale", "error", "status"]
    assert frame["raw_p_1"].to_list() == [0.9, 0.5]
    assert judgement_metadata(tmp_path) == {"bias_correction": "content_free", "prior": [0.3, 0.7]}
    assert judgement_metadata(tmp_path / "elsewhere") is None
    with pytest.raises(JudgeError, match="have 2 class probability columns, expected 3"):
        load_judgements(tmp_path, ["a"], 3)
