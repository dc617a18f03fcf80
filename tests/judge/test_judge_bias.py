"""Label-bias correction and class-bias scaling: the math, the settings, and run_judge's wiring."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hitl_triage.answers import save_answers
from hitl_triage.config import parse_config
from hitl_triage.errors import ConfigError
from hitl_triage.judge import load_judgements, run_judge
from hitl_triage.judge.bias import (
    MIN_PRIOR_ITEMS,
    PRIOR_FLOOR,
    correct_bias,
    estimate_prior,
    mean_distribution,
)
from hitl_triage.judge.calibration import apply_class_bias, apply_temperature, fit_class_bias
from hitl_triage.judge.judgements import judge_dir, judgement_metadata

ROWS = hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(2, 5)),
                  elements=st.floats(0.0, 1.0)).filter(lambda a: (a.sum(axis=1) > 1e-3).all())


def _normalize(a: np.ndarray) -> np.ndarray:
    return a / a.sum(axis=1, keepdims=True)


# -- the math ----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(ROWS, st.data())
def test_correction_keeps_rows_normalized(rows, data):
    probs = _normalize(rows)
    k = probs.shape[1]
    prior = data.draw(hnp.arrays(np.float64, k, elements=st.floats(0.0, 1.0)))
    prior = np.full(k, 1 / k) if prior.sum() <= 0 else prior / prior.sum()
    corrected = correct_bias(probs, prior)
    assert corrected.shape == probs.shape and np.isfinite(corrected).all()
    np.testing.assert_allclose(corrected.sum(axis=1), 1.0, atol=1e-9)
    assert (corrected >= 0).all()


@settings(max_examples=40, deadline=None)
@given(ROWS)
def test_uniform_prior_is_the_identity(rows):
    probs = _normalize(rows)
    k = probs.shape[1]
    np.testing.assert_allclose(correct_bias(probs, np.full(k, 1 / k)), probs, atol=1e-12)


def test_biased_judge_flips_where_the_bias_explains_the_vote():
    prior = np.array([0.2, 0.8])  # the docstring example: a judge that says class 1 to nothing
    probs = np.array([[0.3, 0.7], [0.1, 0.9], [0.6, 0.4]])
    corrected = correct_bias(probs, prior)
    np.testing.assert_allclose(corrected[0], [1.5 / 2.375, 0.875 / 2.375])
    assert probs.argmax(axis=1).tolist() == [1, 1, 0]
    assert corrected.argmax(axis=1).tolist() == [0, 1, 0]  # only the hesitant item flips


def test_zero_prior_entry_is_floored():
    corrected = correct_bias(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([1.0, 0.0]))
    np.testing.assert_allclose(corrected[0], [PRIOR_FLOOR / (1 + PRIOR_FLOOR),
                                              1 / (1 + PRIOR_FLOOR)])
    np.testing.assert_allclose(corrected[1], [1.0, 0.0])


def test_estimate_prior_by_method():
    items = np.tile([[0.3, 0.7]], (MIN_PRIOR_ITEMS, 1))
    free = [np.array([0.2, 0.8]), np.array([0.4, 0.6])]
    cf = estimate_prior("content_free", item_probs=items, content_free_probs=free)
    assert cf.method == "content_free" and cf.note is None
    np.testing.assert_allclose(cf.prior, [0.3, 0.7])
    mp = estimate_prior("mean_prior", item_probs=items, content_free_probs=[])
    np.testing.assert_allclose(mp.prior, mean_distribution(items))
    assert estimate_prior("none", item_probs=items, content_free_probs=free).prior is None

    missing = estimate_prior("content_free", item_probs=items, content_free_probs=[],
                             content_free_errors=["'N/A': request failed: HTTP 500"])
    assert missing.method == "none" and missing.prior is None
    assert "no content-free answer had label probabilities ('N/A': request failed" in missing.note
    few = estimate_prior("mean_prior", item_probs=items[:3], content_free_probs=[])
    assert few.method == "none" and f"3 judged items, need at least {MIN_PRIOR_ITEMS}" in few.note


@settings(max_examples=30, deadline=None)
@given(ROWS, st.floats(0.1, 10.0))
def test_zero_class_bias_is_temperature_scaling(rows, temperature):
    probs = _normalize(rows)
    k = probs.shape[1]
    np.testing.assert_allclose(apply_class_bias(probs, temperature, np.zeros(k)),
                               apply_temperature(probs, temperature), atol=1e-12)


def test_class_bias_fit_moves_the_boundary():
    rng = np.random.default_rng(0)
    spam_score = rng.uniform(0.55, 0.95, 200)  # says spam for everything...
    labels = (spam_score > 0.75).astype(np.int64)  # ...but only the confident ones are
    probs = np.column_stack([1 - spam_score, spam_score])
    temperature, bias = fit_class_bias(probs, labels)
    assert bias[0] == 0.0 and bias[1] < 0 and 0.05 <= temperature <= 50
    scaled = apply_class_bias(probs, temperature, bias)
    np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
    assert (scaled.argmax(axis=1) == labels).mean() > 0.9 > (probs.argmax(axis=1) == labels).mean()


# -- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("judge", "message"), [
    ({"bias_correction": "prior"},
     r"judge.bias_correction: .*'none', 'content_free' or 'mean_prior'"),
    ({"content_free_inputs": []}, r"bias_correction content_free needs at least one "
                                  r"content-free input .*got \[\]"),
    ({"min_labels_per_class": 1}, r"judge.min_labels_per_class: .*greater than or equal to 2"),
    ({"vector_scaling": True}, r"judge.vector_scaling: unknown key; allowed keys here: "
                               r".*class_bias"),
])
def test_correction_settings_errors(tmp_path, judge, message):
    data = {"task": "t", "labels": [{"name": n, "description": n} for n in ("ham", "spam")],
            "dataset": {"path": str(tmp_path / "x.csv")}, "judge": judge}
    with pytest.raises(ConfigError, match=message):
        parse_config(data, source="task.yaml")


def test_no_content_free_inputs_are_fine_without_content_free(tmp_path):
    data = {"task": "t", "labels": [{"name": n, "description": n} for n in ("ham", "spam")],
            "dataset": {"path": str(tmp_path / "x.csv")},
            "judge": {"bias_correction": "mean_prior", "content_free_inputs": []}}
    assert parse_config(data).judge.content_free_inputs == []


# -- run_judge against the fault server --------------------------------------------------------
TEXTS = ["great song", "subscribe spam", "LEAN maybe", "z BADLABEL", "free spam here"]


def test_content_free_once_cached_then_other_corrections_free(make_task, fault_server):
    server = fault_server()
    config, dataset = make_task(TEXTS, base_url=server.base_url, bias_correction="content_free")
    result = run_judge(config, dataset)
    assert result.requests == len(TEXTS) + 3  # the three content-free inputs, once each
    assert result.bias_correction == "content_free"
    np.testing.assert_allclose(result.prior, [0.8 / 0.95, 0.15 / 0.95])  # all three say ham
    prompts = [b["prompt"] for b in server.bodies]
    assert sum(p.endswith("Text: N/A\nLabel:") for p in prompts) == 1
    assert sum(p.endswith("Text: \nLabel:") for p in prompts) == 1

    votes = load_judgements(config.out_dir, dataset.ids, 2)
    assert votes.votes[1:].tolist() == [1, 1, -1, 1]  # LEAN flips to spam; abstain stays
    np.testing.assert_allclose(votes.probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(votes.probs[3], [0.5, 0.5])
    frame = pl.read_parquet(judge_dir(config.out_dir) / "judgements.parquet")
    raw = frame.select("raw_p_0", "raw_p_1").to_numpy()
    np.testing.assert_allclose(raw[2], [0.5 / 0.95, 0.45 / 0.95])
    ok = votes.judged
    np.testing.assert_allclose(votes.probs[ok], correct_bias(raw[ok], np.array(result.prior)))
    meta = judgement_metadata(config.out_dir)
    assert meta["bias_correction"] == "content_free" and meta["prior"] == list(result.prior)
    summary = json.loads((judge_dir(config.out_dir) / "summary.json").read_text())
    assert summary["content_free_inputs"] == ["N/A", "", "[MASK]"]

    assert run_judge(config, dataset).requests == 0
    plain = config.model_copy(update={"judge": config.judge.model_copy(
        update={"bias_correction": "none"})})
    again = run_judge(plain, dataset)
    assert again.requests == 0 and again.bias_correction == "none" and again.prior is None
    assert load_judgements(config.out_dir, dataset.ids, 2).votes[2] == 0  # LEAN: ham as answered
    few = config.model_copy(update={"judge": config.judge.model_copy(
        update={"bias_correction": "mean_prior"})})
    again = run_judge(few, dataset)
    assert again.requests == 0 and again.bias_correction == "none"
    assert again.notes[0] == "mean_prior not applied: 4 judged items, need at least 10"


def test_mean_prior_and_failed_content_free(make_task, fault_server):
    server = fault_server()
    texts = [f"spam {i}" for i in range(8)] + ["LEAN a", "LEAN b"]
    config, dataset = make_task(texts, base_url=server.base_url, bias_correction="mean_prior")
    result = run_judge(config, dataset)
    assert result.requests == len(texts) and result.bias_correction == "mean_prior"
    votes = load_judgements(config.out_dir, dataset.ids, 2)
    assert votes.votes.tolist() == [1] * 8 + [0, 0]  # the spam-heavy mean keeps LEAN on ham

    broken = config.model_copy(update={"judge": config.judge.model_copy(update={
        "bias_correction": "content_free", "content_free_inputs": ["FAIL500 n/a"],
        "max_retries": 0})})
    failed = run_judge(broken, dataset)
    assert failed.requests == 1 and failed.bias_correction == "none" and failed.prior is None
    assert "content_free not applied" in failed.notes[0] and "HTTP 500" in failed.notes[0]
    assert judgement_metadata(config.out_dir)["notes"] == list(failed.notes)
    assert run_judge(broken, dataset).requests == 1  # not cached: the next run asks again


def _answers(ids: list[str], labels: list[int]) -> pl.DataFrame:
    now = datetime.now(UTC).isoformat()
    n = len(ids)
    return pl.DataFrame({"id": ids, "label": labels, "reviewer": ["r"] * n, "round": [0] * n,
                         "route": ["review"] * n, "origin": ["simulated"] * n,
                         "answered_at": [now] * n})


def test_class_bias_on_reviewed_labels_only_with_enough_per_class(make_task, fault_server):
    server = fault_server()
    texts = ([f"spam {i}" for i in range(12)] + [f"LEAN {i}" for i in range(12)]
             + [f"song {i}" for i in range(12)])
    config, dataset = make_task(texts, base_url=server.base_url, min_calibration_labels=20,
                                concurrency=4)
    # reviewers call the hesitant ham answers (LEAN) spam: a class bias the judge can learn
    save_answers(config.out_dir, _answers(dataset.ids, [1] * 24 + [0] * 12))
    result = run_judge(config, dataset, few_shot=[("x", 0)])
    assert result.class_bias is not None and result.class_bias[1] > 0 and result.notes == ()
    votes = load_judgements(config.out_dir, dataset.ids, 2)
    np.testing.assert_allclose(votes.probs.sum(axis=1), 1.0)
    assert votes.votes.tolist() == [1] * 24 + [0] * 12  # LEAN flipped by the fitted bias
    assert judgement_metadata(config.out_dir)["class_bias"] == list(result.class_bias)

    save_answers(config.out_dir, _answers(dataset.ids[:24], [1] * 16 + [0] * 8))
    few = run_judge(config, dataset, few_shot=[("x", 0)])
    assert few.class_bias is None and few.temperature is not None and few.requests == 0
    assert few.notes == ("class bias skipped: reviewed labels per class [8, 16], need 10 each",)
    assert load_judgements(config.out_dir, dataset.ids, 2).votes[12] == 0  # back to the answer
