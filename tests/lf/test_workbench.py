"""The workbench's in-memory core: the LF report, intervals, paging, suggestions."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitl_triage.lf import LFSet, apply_lfs, keyword_lf, regex_lf
from hitl_triage.lf.suggest import score_candidates, suggest_lfs
from hitl_triage.lf.workbench import (
    WorkbenchError,
    estimate_trainset_accuracy,
    lf_report,
    page,
    wilson_interval,
)

LABELS = ["ham", "spam"]
TEXTS = ["buy now http://x", "love this song", "buy cheap pills", "<b>song</b> buy", "hello", "great song"]
IDS = [f"i{i}" for i in range(6)]
# columns: link (spam), buy (spam), song (ham), judge
L = np.array([
    [1, 1, -1, 1],
    [-1, -1, 0, 0],
    [-1, 1, -1, 1],
    [-1, 1, 0, 0],
    [-1, -1, -1, 0],
    [-1, -1, 0, 0],
], dtype=np.int8)
NAMES = ["link", "buy", "song", "judge"]
KINDS = ["expression", "expression", "row", "judge"]
HUMAN = np.array([1, 0, 1, 0, 0, -1])


def report(**kw):  # type: ignore[no-untyped-def]
    return lf_report(L, NAMES, texts=TEXTS, ids=IDS, human_labels=HUMAN, label_names=LABELS, kinds=KINDS, **kw)


def test_report_figures_wrong_items_conflicts_and_uncovered() -> None:
    r = report(strong=["judge"])
    buy = r.source("buy")
    assert (buy["n"], buy["correct"], buy["n_wrong"]) == (3, 2, 1)
    assert buy["accuracy"] == pytest.approx(2 / 3)
    assert buy["accuracy_low"] < 2 / 3 < buy["accuracy_high"]
    assert buy["coverage"] == pytest.approx(3 / 6)
    assert r.source("song")["accuracy"] == 1.0
    wrong = r.wrong.filter(pl.col("source") == "buy")
    assert wrong.select("id", "text", "vote", "human").row(0) == ("i3", "<b>song</b> buy", "spam", "ham")
    conflicts = r.conflicts.filter(pl.col("source") == "buy")
    assert conflicts["id"].to_list() == ["i3"]
    assert conflicts["strong_votes"].to_list() == ["judge: ham"]
    # item i4 is human-labeled and only the judge votes on it: the judge is not an LF
    assert r.uncovered.select("id", "human").rows() == [("i4", "ham")]
    assert r.uncovered_by_label().rows() == [("ham", 1)]
    assert r.n_human == 5


def test_strong_sources_default_to_a_high_accuracy_interval() -> None:
    r = report(strong_min_accuracy=0.3)
    assert set(r.strong) == set(r.lfs.filter(pl.col("accuracy_low") >= 0.3)["source"])
    assert r.lfs.filter(pl.col("source").is_in(r.strong))["strong"].all()


def test_report_errors_say_expected_and_got() -> None:
    with pytest.raises(WorkbenchError, match=r"L must be \(n_items, 3\) for 3 source names, got shape \(6, 4\)"):
        lf_report(L, NAMES[:3], texts=TEXTS, ids=IDS, human_labels=HUMAN, label_names=LABELS)
    with pytest.raises(WorkbenchError, match="texts has 5 entries but L has 6 rows"):
        lf_report(L, NAMES, texts=TEXTS[:5], ids=IDS, human_labels=HUMAN, label_names=LABELS)
    with pytest.raises(WorkbenchError, match="votes outside"):
        lf_report(L + 1, NAMES, texts=TEXTS, ids=IDS, human_labels=HUMAN, label_names=LABELS)
    with pytest.raises(WorkbenchError, match=r"strong sources \['nope'\] are not sources"):
        report(strong=["nope"])
    with pytest.raises(WorkbenchError, match=r"unknown LF 'nope'; the sources are \['link'"):
        report().source("nope")
    with pytest.raises(WorkbenchError, match=r"expected offset >= 0 and limit in 1\.\.1000"):
        page(report().wrong, limit=0)


def test_page_searches_text_and_id_case_insensitively() -> None:
    r = report(strong=["judge"])
    got = page(r.conflicts, query="SONG")
    assert got.total == 1 and got.rows["id"].to_list() == ["i3"]
    assert page(r.uncovered, query="I4").total == 1
    first = page(r.wrong, limit=1)
    assert first.total == len(r.wrong) and first.rows.height == 1


@given(st.integers(0, 200), st.integers(0, 200), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_interval_contains_the_estimate(k: int, extra: int, confidence: float) -> None:
    n = k + extra
    low, high = wilson_interval(k, n, confidence=confidence)
    if n == 0:
        assert np.isnan(low) and np.isnan(high)
        return
    assert 0.0 <= low <= k / n <= high <= 1.0
    wider_low, wider_high = wilson_interval(k, n, confidence=min(confidence + 0.009, 0.999))
    assert wider_low <= low + 1e-12 and wider_high >= high - 1e-12


def test_trainset_estimate_counts_human_labels_as_right() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    human = np.array([0, 0, -1, -1])
    est = estimate_trainset_accuracy(probs, human)
    assert est.basis == "human" and est.label_model_accuracy == 0.5
    assert est.accuracy == pytest.approx(0.5 + 0.5 * 0.5)
    audit = estimate_trainset_accuracy(probs, human, audited=np.array([True, False, False, False]))
    assert audit.basis == "audit" and audit.n_basis == 1 and audit.accuracy == 1.0
    assert estimate_trainset_accuracy(probs, np.full(4, -1)).accuracy is None


def _planted(n: int = 400, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    words = ["the", "video", "nice", "song", "music", "today", "good", "really"]
    texts, y = [], []
    for i in range(n):
        body = " ".join(rng.choice(words, size=6))
        spam = i % 3 == 0
        texts.append(f"{body} free giftcard now" if spam else body.capitalize())
        y.append(int(spam))
    return texts, np.array(y)


def test_suggestions_find_a_planted_keyword_and_their_code_runs() -> None:
    texts, y = _planted()
    human = np.where(np.arange(y.size) % 2 == 0, y, -1)
    top = suggest_lfs(texts, human, LABELS, top=5)
    best = top.row(0, named=True)
    assert best["rank"] == 1 and best["label_name"] == "spam" and best["precision"] == 1.0
    assert best["precision_low"] > 0.9 and best["coverage"] == pytest.approx((human == 1).sum() / (human >= 0).sum())
    assert "free" in best["pattern"] or "giftcard" in best["pattern"]
    # the pasted code defines a working LF whose votes on all items match the reported precision
    scope: dict[str, object] = {"keyword_lf": keyword_lf, "regex_lf": regex_lf}
    exec(best["code"], scope)
    lf = scope[best["name"]]
    votes = apply_lfs(LFSet(expression=[lf]), pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts}),  # type: ignore[list-item]
                      label_names=LABELS).L[:, 0]
    fired = votes[human >= 0] == 1
    assert fired.sum() == best["n"] and (y[human >= 0][fired] == 1).all()
    # repeats of one fired set are shown once; an existing LF's name is never suggested
    assert top["n"].n_unique() == top.height or top["pattern"].n_unique() == top.height
    again = suggest_lfs(texts, human, LABELS, top=5, existing=[best["name"]])
    assert best["name"] not in again["name"].to_list()


def test_suggestions_skip_what_existing_lfs_already_vote() -> None:
    texts, y = _planted()
    human = y.copy()
    existing = np.where(pl.Series(texts).str.contains("free").to_numpy(), 1, -1).reshape(-1, 1)
    top = suggest_lfs(texts, human, LABELS, existing_L=existing, top=10)
    assert "free" not in top["pattern"].to_list()  # fires exactly where the existing LF votes spam
    assert (top.filter(pl.col("label_name") == "spam")["new_items"] == 0).all()


def test_extra_candidates_are_scored_the_same_way() -> None:
    texts, y = _planted()
    extra = pl.DataFrame({"kind": ["regex"], "pattern": [r"(?i)gift\w+"], "label": [1]})
    scored = score_candidates(extra, texts, y, label_names=LABELS)
    assert scored.row(0, named=True)["precision"] == 1.0
    top = suggest_lfs(texts, y, LABELS, extra=extra, top=50)
    assert r"(?i)gift\w+" in top["pattern"].to_list()


def test_candidate_errors_name_the_problem() -> None:
    texts, y = _planted(30)
    with pytest.raises(WorkbenchError, match=r"candidate labels must be class indices 0..1, got \[7\]"):
        score_candidates(pl.DataFrame({"kind": ["keyword"], "pattern": ["x"], "label": [7]}), texts, y, label_names=LABELS)
    with pytest.raises(WorkbenchError, match=r"candidate regex '\(\?=x\)' does not compile"):
        score_candidates(pl.DataFrame({"kind": ["regex"], "pattern": ["(?=x)"], "label": [1]}), texts, y, label_names=LABELS)
    with pytest.raises(WorkbenchError, match="candidate kind must be 'keyword' or 'regex', got 'glob'"):
        score_candidates(pl.DataFrame({"kind": ["glob"], "pattern": ["x"], "label": [1]}), texts, y, label_names=LABELS)
    with pytest.raises(WorkbenchError, match="top must be >= 1, got 0"):
        suggest_lfs(texts, y, LABELS, top=0)
    with pytest.raises(WorkbenchError, match="texts has 30 entries but human_labels has 3"):
        suggest_lfs(texts, y[:3], LABELS)


def test_no_human_labels_no_suggestions() -> None:
    texts, _ = _planted(30)
    assert suggest_lfs(texts, np.full(30, -1), LABELS).is_empty()
