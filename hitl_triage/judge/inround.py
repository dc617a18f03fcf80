"""The judge inside the rounds: which items to ask between rounds, with which examples, at what cost.

Between two rounds the round driver (:func:`hitl_triage.loop.run_loop`,
:func:`hitl_triage.curriculum.run_rounds`) calls :meth:`InRoundJudge.step` with the last
round's review values and routes and every human label so far. It

1. keeps the items whose judge answer can still change a decision: not accepted, no human
   label, not answered by the judge before, with text (:func:`eligible_order`), highest
   review value first, and takes at most ``judge.max_requests_per_round`` of them (an answer
   found in the response cache counts as an item asked but costs no request, so a rerun asks
   exactly the same items and sends nothing);
2. builds the prompt with few-shot examples from the *latest* human labels (reviewed ones,
   never audit ones; label-diverse, see :func:`latest_examples`);
3. asks the first model (cached in the SQLite response cache), then, with ``judge.escalate``,
   the second model about the items where the first is unsure: its largest temperature-scaled
   class probability is below ``escalate.below``, or it gave no answer. The second model's
   answer replaces the first's for that item;
4. records per model the items asked, the HTTP requests sent, the cache hits, the failures and
   the cost (requests x ``cost_per_request``).

:meth:`InRoundJudge.probs` gives the engine its ``judge_probs``: ``(n, k)``, each answer
temperature-scaled per model on the reviewed human labels of the items that model answered
(``judge.min_calibration_labels`` of them, else unscaled), NaN rows where the judge was not
asked. The engine's stacked model then weighs the judge as one source by the human labels
(:func:`hitl_triage.combine.judge_features`). No label-bias correction is applied here: a
constant label preference of the model is absorbed by the stacked model's per-class weights
on its "asked" indicator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hitl_triage.engine import HumanLabels, RoundResult
from hitl_triage.judge.cache import ResponseCache
from hitl_triage.judge.calibration import apply_temperature, fit_temperature
from hitl_triage.judge.client import JudgeClient, read_api_key
from hitl_triage.judge.errors import JudgeError
from hitl_triage.judge.fewshot import pick_diverse
from hitl_triage.judge.prompts import RequestBuilder
from hitl_triage.judge.runner import _Judge, _Outcome, _run_coroutine
from hitl_triage.judge_settings import JudgeConfig
from hitl_triage.triage import ACCEPT

FIRST, SECOND = 0, 1
NOT_ASKED = -1


@dataclass(frozen=True)
class ModelUsage:
    """One model's share of one round's judging.

    Attributes:
        model: the model's name; role: ``first`` or ``escalate``.
        asked: items asked (from the cache or the server).
        requests: HTTP requests sent (retries included).
        cache_hits: items answered from the response cache alone.
        failed: items asked that got no label (request failed, or the answer named none).
        cost: ``requests * cost_per_request``.
    """

    model: str
    role: str
    asked: int
    requests: int
    cache_hits: int
    failed: int
    cost: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class RoundAnswers:
    """The answers of one round's judging.

    Attributes:
        rows: ``(q,)`` int64 item indices asked (by either model).
        probs: ``(q, k)`` float64 raw label distributions (rows sum to 1), NaN rows where no
            model gave a label.
        model: ``(q,)`` int8, which model's answer ``probs`` holds: 0 first, 1 escalate.
        examples: the few-shot ``(text, class index)`` pairs of the prompt.
        usage: per model asked, its :class:`ModelUsage`.
    """

    rows: np.ndarray
    probs: np.ndarray
    model: np.ndarray
    examples: list[tuple[str, int]]
    usage: list[ModelUsage]

    @property
    def requests(self) -> int:
        return sum(u.requests for u in self.usage)

    @property
    def cost(self) -> float:
        return float(sum(u.cost for u in self.usage))


def eligible_order(value: np.ndarray, route: np.ndarray, known: np.ndarray, answered: np.ndarray,
                   has_text: np.ndarray) -> np.ndarray:
    """Indices of the items the judge may be asked about, highest review value first.

    Args:
        value: ``(n,)`` float review value (higher = review first; NaN sorts last).
        route: ``(n,)`` str routes of the last round (``accept`` items are left out).
        known: ``(n,)`` int64 human label, ``-1`` none (labeled items are left out).
        answered: ``(n,)`` bool, the judge answered the item before (left out).
        has_text: ``(n,)`` bool, the item has text (others are left out).

    Returns:
        ``(e,)`` int64; ties keep item order. Example: values ``[0.2, 0.9, 0.5]``, routes
        ``[review, accept, review]`` and nothing known give ``[2, 0]``.
    """
    ok = (np.asarray(route).astype(str) != ACCEPT) & (np.asarray(known) < 0) & ~answered & has_text
    rows = np.flatnonzero(ok)
    v = np.nan_to_num(np.asarray(value, dtype=np.float64)[rows], nan=-np.inf)
    return rows[np.argsort(-v, kind="stable")]


def latest_examples(texts: Sequence[str | None], human: HumanLabels, *, n: int,
                    n_classes: int) -> list[tuple[str, int]]:
    """Up to ``n`` few-shot examples from the latest reviewed human labels.

    Reviewed labels only (the audit sample must stay an unbiased check, so the judge never
    learns from it); the most recent round first, then item order; label-diverse (one per
    class in turn, :func:`hitl_triage.judge.fewshot.pick_diverse`).
    """
    labels = human.labels
    label_round = human.round if human.round is not None else np.zeros(labels.size, dtype=np.int64)
    rows = np.flatnonzero((labels >= 0) & ~human.audited)
    rows = rows[[bool(texts[i] and str(texts[i]).strip()) for i in rows]]
    rows = rows[np.argsort(-label_round[rows], kind="stable")]
    candidates = [(str(texts[i]), int(labels[i])) for i in rows]
    return pick_diverse(candidates, n=n, n_classes=n_classes)


def fit_model_temperature(probs: np.ndarray, human: HumanLabels, *, min_labels: int) -> float:
    """Temperature of one model's answers ``(n, k)`` (NaN rows: not answered) fitted on the
    reviewed human labels of the answered items; 1.0 with fewer than ``min_labels``."""
    rows = np.flatnonzero(~np.isnan(probs).any(axis=1) & (human.labels >= 0) & ~human.audited)
    if rows.size < min_labels:
        return 1.0
    return float(fit_temperature(probs[rows], human.labels[rows]))


def _second_settings(settings: JudgeConfig) -> JudgeConfig:
    esc = settings.escalate
    if esc is None:
        raise JudgeError("judge.escalate is not set")
    return settings.model_copy(update={
        "base_url": esc.base_url, "model": esc.model, "api_key_env": esc.api_key_env,
        "cost_per_request": esc.cost_per_request, "escalate": None,
    })


async def _ask(builder: RequestBuilder, texts: list[str], *, api_key: str, cache_path: Path,
               label_names: list[str], seed: int) -> tuple[list[_Outcome], int]:
    """Every text's outcome (cached or asked) and the requests sent."""
    settings = builder.settings
    client = JudgeClient(settings, api_key=api_key, random_state=seed)
    try:
        with ResponseCache(cache_path) as cache:
            if settings.probabilities == "samples":
                keys = [r.key for t in texts for r in builder.sample_requests(t)]
            else:
                keys = [builder.main_request(t).key for t in texts]
            if texts and len(cache.contains(keys)) < len(set(keys)):
                await client.probe()
            judge = _Judge(builder, client, cache, label_names)
            outcomes = [_Outcome() for _ in texts]
            queue = iter(enumerate(texts))

            async def worker() -> None:
                for i, text in queue:
                    outcomes[i] = await judge.judge(text)

            await asyncio.gather(*(worker() for _ in range(2 * settings.concurrency + 2)))
            return outcomes, client.requests_sent
    finally:
        await client.close()


class InRoundJudge:
    """The judge's answers over a run's rounds, and the planning of each round's requests.

    Parameters:
        settings: the ``judge:`` section (``max_requests_per_round`` must be set).
        task: the task name; label_names, label_descriptions: ``k`` each.
        texts: ``n`` item texts (None or blank ones are never asked).
        cache_path: the SQLite response cache (shared by both models; keys include the model).
        random_state: seed of the clients' backoff jitter.

    State (``(n, k)`` and ``(n,)``, updated by :meth:`merge`): ``raw_`` the latest raw answer
    per item (NaN rows: none), ``model_`` which model gave it (-1 none, 0 first, 1 escalate),
    ``answered_`` items asked before (with or without a label); ``usage_`` per round asked,
    its list of :class:`ModelUsage`.
    """

    def __init__(self, settings: JudgeConfig, *, task: str, label_names: Sequence[str],
                 label_descriptions: Sequence[str], texts: Sequence[str | None], cache_path: Path,
                 random_state: int = 0) -> None:
        if settings.max_requests_per_round is None:
            raise JudgeError("judge.max_requests_per_round is not set: in-round judging is off")
        self.settings = settings
        self.task = task
        self.label_names = list(label_names)
        self.label_descriptions = list(label_descriptions)
        self.texts = list(texts)
        self.cache_path = Path(cache_path)
        self.random_state = random_state
        n, k = len(self.texts), len(self.label_names)
        self.raw_ = np.full((n, k), np.nan)
        self.model_ = np.full(n, NOT_ASKED, dtype=np.int8)
        self.answered_ = np.zeros(n, dtype=bool)
        self.usage_: dict[int, list[ModelUsage]] = {}
        self.has_text_ = np.array([bool(t and str(t).strip()) for t in self.texts], dtype=bool)

    def _builder(self, settings: JudgeConfig, examples: list[tuple[str, int]]) -> RequestBuilder:
        return RequestBuilder(task=self.task, label_names=self.label_names,
                              label_descriptions=self.label_descriptions, settings=settings,
                              examples=examples)

    def _run(self, settings: JudgeConfig, role: str, rows: np.ndarray,
             examples: list[tuple[str, int]], seed: int) -> tuple[np.ndarray, ModelUsage]:
        """Ask one model about ``rows``: ``(q, k)`` raw probabilities (NaN: no label), usage."""
        k = len(self.label_names)
        probs = np.full((rows.size, k), np.nan)
        if not rows.size:
            return probs, ModelUsage(settings.model, role, 0, 0, 0, 0, 0.0)
        api_key = read_api_key(settings)
        builder = self._builder(settings, examples)
        texts = [str(self.texts[i]) for i in rows]
        outcomes, requests = _run_coroutine(lambda: _ask(
            builder, texts, api_key=api_key, cache_path=self.cache_path,
            label_names=self.label_names, seed=seed))
        for j, o in enumerate(outcomes):
            if o.status == "ok":
                probs[j] = o.probs if o.probs is not None else np.eye(k)[o.vote]
        failed = int(np.isnan(probs).any(axis=1).sum())
        hits = sum(o.cached and o.status == "ok" for o in outcomes)
        return probs, ModelUsage(settings.model, role, int(rows.size), int(requests), int(hits),
                                 failed, float(requests * settings.cost_per_request))

    def plan(self, *, value: np.ndarray, route: np.ndarray, known: np.ndarray) -> np.ndarray:
        """The items to ask this round (``(q,)`` int64, at most ``max_requests_per_round``)."""
        order = eligible_order(value, route, known, self.answered_, self.has_text_)
        return order[: self.settings.max_requests_per_round]

    def step(self, r: int, *, value: np.ndarray, route: np.ndarray,
             human: HumanLabels) -> RoundAnswers:
        """Plan, ask and merge round ``r``'s judging (see the module doc).

        Args:
            value: ``(n,)`` review values of the last round (higher first).
            route: ``(n,)`` routes of the last round.
            human: every human label so far.
        """
        s = self.settings
        rows = self.plan(value=value, route=route, known=human.labels)
        examples = latest_examples(self.texts, human, n=s.few_shot, n_classes=len(self.label_names))
        probs, first = self._run(s, "first", rows, examples, seed=self.random_state + 1000 * r)
        model = np.full(rows.size, FIRST, dtype=np.int8)
        usage = [first]
        if s.escalate is not None:
            t = fit_model_temperature(np.where((self.model_ == FIRST)[:, None], self.raw_, np.nan),
                                      human, min_labels=s.min_calibration_labels)
            answered = ~np.isnan(probs).any(axis=1)
            top = np.zeros(rows.size)
            if answered.any():
                top[answered] = apply_temperature(probs[answered], t).max(axis=1)
            unsure = np.flatnonzero(~answered | (top < s.escalate.below))
            if s.escalate.max_requests_per_round is not None:
                unsure = unsure[: s.escalate.max_requests_per_round]  # rows are by value already
            second_probs, second = self._run(_second_settings(s), "escalate", rows[unsure],
                                             examples, seed=self.random_state + 1000 * r + 1)
            got = ~np.isnan(second_probs).any(axis=1)
            probs[unsure[got]] = second_probs[got]
            model[unsure[got]] = SECOND
            usage.append(second)
        answers = RoundAnswers(rows=rows, probs=probs, model=model, examples=examples, usage=usage)
        self.merge(r, answers)
        return answers

    def merge(self, r: int, answers: RoundAnswers) -> None:
        """Add one round's answers (also used to reload a run's saved rounds)."""
        rows = answers.rows
        self.answered_[rows] = True
        got = ~np.isnan(answers.probs).any(axis=1)
        self.raw_[rows[got]] = answers.probs[got]
        self.model_[rows[got]] = answers.model[got]
        self.usage_[r] = list(answers.usage)

    def between_rounds(self, r: int, result: RoundResult, human: HumanLabels) -> np.ndarray | None:
        """:data:`hitl_triage.loop.JudgeStep`: judge after round ``r`` (its review values and
        routes), return the next evidence's ``judge_probs``."""
        self.step(r + 1, value=result.evidence.value, route=result.route, human=human)
        return self.probs(human)

    def probs(self, human: HumanLabels) -> np.ndarray | None:
        """The engine's ``judge_probs``: ``(n, k)`` answers temperature-scaled per model on the
        reviewed human labels (when ``judge.calibrate``), NaN rows where not asked; None while
        the judge has answered nothing."""
        if not (self.model_ >= 0).any():
            return None
        out = np.full_like(self.raw_, np.nan)
        for m in (FIRST, SECOND):
            mine = self.model_ == m
            if not mine.any():
                continue
            t = 1.0
            if self.settings.calibrate:
                t = fit_model_temperature(np.where(mine[:, None], self.raw_, np.nan), human,
                                          min_labels=self.settings.min_calibration_labels)
            out[mine] = apply_temperature(self.raw_[mine], t)
        return out


__all__ = ["InRoundJudge", "ModelUsage", "RoundAnswers", "eligible_order", "fit_model_temperature",
           "latest_examples"]
