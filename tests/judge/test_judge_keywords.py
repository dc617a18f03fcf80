"""The judge proposes LF candidates (keywords per label), scored like the mined ones.

Two kinds of test: with a *stub* client (``StubClient`` below stands in for the judge's HTTP
client so the proposals are known in advance and the scoring can be checked exactly), and with
the real local model (Gemma 3 270M through llama.cpp), which may propose poor keywords: what is
checked there is that whatever it proposes is parsed, cached and scored exactly like a mined
candidate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest

import hitl_triage.judge.keywords as keywords
from hitl_triage.judge.keywords import parse_keywords, propose_keywords
from hitl_triage.judge_settings import JudgeConfig
from hitl_triage.lf.suggest import keyword_pattern, score_candidates, suggest_lfs

LABELS = ["ham", "spam"]
DESCRIPTIONS = ["a genuine comment", "self-promotion or advertising"]
TEXTS = [
    "subscribe to my channel for free giftcards", "love this song", "check out my channel",
    "great voice, love it", "free iphone giveaway subscribe", "the video is so good",
    "song of the year", "subscribe subscribe", "my channel has free stuff", "beautiful lyrics",
]
GOLD = np.array([1, 0, 1, 0, 1, 0, 0, 1, 1, 0])


def test_parse_keywords_keeps_short_distinct_phrases() -> None:
    answer = ' "subscribe", check out my channel; 1. free  \nLabel: x, - Free, giveaway!, a\tb c d e'
    assert parse_keywords(answer, limit=10) == ["subscribe", "free", "giveaway"]
    assert parse_keywords("channel, my channel, subscribe", limit=2) == ["channel", "my channel"]
    assert parse_keywords("", limit=5) == []
    # the embedded model answers with definition lists: the terms are the keywords
    gemma = "\n- song: a song that is popular in the channel.\n- video: a short video of a song."
    assert parse_keywords(gemma, limit=5) == ["song", "video"]


class StubClient:
    """A stub in place of the judge's HTTP client: answers keyword prompts from a fixed table.

    It records the prompts it was sent; nothing is sent anywhere."""

    answers: ClassVar[dict[str, str]] = {"spam": " subscribe, channel, free, giveaway, song",
                                         "ham": " love, song, lyrics, voice"}
    sent: ClassVar[list[str]] = []

    def __init__(self, settings: JudgeConfig, *, api_key: str, random_state: int = 0) -> None:
        self.requests_sent = 0

    async def probe(self) -> None:
        return None

    async def post(self, request: Any) -> dict[str, Any]:
        self.requests_sent += 1
        prompt = request.body["prompt"]
        StubClient.sent.append(prompt)
        label = prompt.rsplit("Keywords for ", 1)[-1].rstrip(":")
        return {"choices": [{"text": self.answers[label]}]}

    async def close(self) -> None:
        return None


def test_stub_proposals_are_scored_exactly_like_mined_candidates(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(keywords, "JudgeClient", StubClient)
    StubClient.sent = []
    human = np.where(np.arange(10) < 8, GOLD, -1)  # the last two items have no human label
    settings = JudgeConfig(propose_keywords=4)
    proposal = propose_keywords(settings, task="youtube_spam", label_names=LABELS,
                                label_descriptions=DESCRIPTIONS, texts=TEXTS, human_labels=human,
                                cache_path=tmp_path / "cache.sqlite", per_label=4, examples_per_label=2)
    assert proposal.requests == 2 and proposal.errors == {}
    # the examples of each label are its first two labeled items
    spam_prompt = next(p for p in StubClient.sent if p.endswith("Keywords for spam:"))
    assert "Text: subscribe to my channel for free giftcards\nText: check out my channel\n" in spam_prompt
    assert "love this song" not in spam_prompt
    cands = proposal.candidates
    assert cands.filter(pl.col("label") == 1)["pattern"].to_list() == ["subscribe", "channel", "free", "giveaway"]
    assert set(cands["origin"]) == {"judge"}
    # scored as keyword_lf would run them, on the human labels only
    scored = score_candidates(cands, TEXTS, human, label_names=LABELS)
    channel = scored.filter((pl.col("pattern") == "channel") & (pl.col("label") == 1)).row(0, named=True)
    fired = pl.Series(TEXTS).str.contains(keyword_pattern("channel")).to_numpy() & (human >= 0)
    assert channel["n"] == fired.sum() == 2 and channel["correct"] == 2
    assert channel["coverage"] == pytest.approx(2 / 8) and channel["origin"] == "judge"
    song_spam = scored.filter((pl.col("pattern") == "song") & (pl.col("label") == 1))
    assert song_spam.is_empty() or song_spam["precision"][0] == 0.0  # a poor proposal scores poorly
    # ranked among the mined suggestions, with its origin
    top = suggest_lfs(TEXTS, human, LABELS, extra=cands, top=50, min_count=2)
    assert {"judge", "mined"} <= set(top["origin"])
    row = top.filter(pl.col("pattern") == "giveaway")
    assert row.is_empty() or row["origin"][0] == "judge"
    # the cache answers a second proposal with the same examples: no request
    again = propose_keywords(settings, task="youtube_spam", label_names=LABELS,
                             label_descriptions=DESCRIPTIONS, texts=TEXTS, human_labels=human,
                             cache_path=tmp_path / "cache.sqlite", per_label=4, examples_per_label=2)
    assert again.requests == 0 and again.candidates.equals(cands)


@pytest.mark.llm
def test_real_model_proposals_are_parsed_cached_and_scored(llama_server: str, tmp_path: Path) -> None:
    settings = JudgeConfig(base_url=llama_server, timeout_s=120.0)
    proposal = propose_keywords(settings, task="youtube_spam", label_names=LABELS,
                                label_descriptions=DESCRIPTIONS, texts=TEXTS, human_labels=GOLD,
                                cache_path=tmp_path / "cache.sqlite", per_label=5)
    assert proposal.errors == {} and 2 <= proposal.requests <= 4  # one per label (retries allowed)
    cands = proposal.candidates
    assert cands.height <= 10 and set(cands["origin"].to_list()) <= {"judge"}
    assert all(parse_keywords(p, limit=1) == [p] for p in cands["pattern"])  # each is a clean keyword
    scored = score_candidates(cands, TEXTS, GOLD, label_names=LABELS)
    for row in scored.iter_rows(named=True):  # whatever the model proposed, the figures are exact
        fired = pl.Series(TEXTS).str.contains(keyword_pattern(row["pattern"])).to_numpy()
        assert row["n"] == fired.sum() and row["correct"] == (fired & (GOLD == row["label"])).sum()
    again = propose_keywords(settings, task="youtube_spam", label_names=LABELS,
                             label_descriptions=DESCRIPTIONS, texts=TEXTS, human_labels=GOLD,
                             cache_path=tmp_path / "cache.sqlite", per_label=5)
    assert again.requests == 0 and again.candidates.equals(cands)
