"""Run the judge over a dataset: cached requests, concurrent calls, per-item outcomes.

``run_judge`` is the library entry point of ``hitl-triage judge run`` and of the round loop. Per
item it asks for the label (with log-probabilities), falls back to k sampled answers where the
server gives no log-probabilities (``probabilities: auto``), optionally asks for a rationale, and
records one of four outcomes: ``ok`` (a vote), ``abstain`` (the answer named no label, or chat
JSON was malformed), ``failed`` (the request failed; a re-run retries it) or ``skipped`` (empty
text). Nothing is lost: answered requests are in the cache before the run moves on.

After the requests, the label distributions are corrected for the model's label bias
(``bias_correction``, see :mod:`hitl_triage.judge.bias`; the content-free inputs are judged once,
before the items, through the same cache), then scaled on reviewed labels (``calibrate``), and
the votes are the argmax of the result. All of this reads cached answers, so changing these
settings re-runs without a request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from hitl_triage.answers import load_answers
from hitl_triage.config import TaskConfig
from hitl_triage.data import Dataset, field_values
from hitl_triage.judge.adjust import adjust_probs
from hitl_triage.judge.cache import MemoryCache, ResponseCache
from hitl_triage.judge.client import JudgeClient, RequestFailed, read_api_key
from hitl_triage.judge.errors import JudgeError
from hitl_triage.judge.fewshot import choose_examples
from hitl_triage.judge.judgements import CACHE_FILE, judge_dir, write_judgements
from hitl_triage.judge.parsing import (
    MalformedResponse,
    Verdict,
    parse_chat,
    parse_completion,
    parse_rationale,
)
from hitl_triage.judge.prompts import ItemText, JudgeRequest, RequestBuilder
from hitl_triage.judge_settings import PLACEHOLDERS, template_fields
from hitl_triage.progress import Progress, report
from hitl_triage.rundir import write_json

STAGE = "judge"
T = TypeVar("T")


@dataclass(frozen=True)
class JudgeRunResult:
    """What one judge run did.

    Attributes:
        n_items: items in the dataset.
        judged: items with a vote.
        abstained: items whose answer named no label (reasons in ``failures``).
        failed: items whose requests failed; a re-run retries exactly these.
        skipped: items with empty text (never sent).
        cached: items answered entirely from the cache (no request sent for them).
        requests: HTTP requests sent (retries included), by this process and the cluster.
        remote_requests: of ``requests``, those sent by a Ray cluster's workers (``engine:
            {kind: ray}``; see :mod:`hitl_triage.judge.remote`).
        failures: reason → number of items, for abstained and failed items.
        temperature: the fitted calibration temperature, or ``None`` if not fitted.
        bias_correction: the label-bias correction applied (``none`` if the configured one
            could not be estimated; ``notes`` says why).
        prior: ``(k,)`` the label distribution divided out (for ``content_free``, ``p_cf``).
        class_bias: ``(k,)`` the fitted per-class bias on reviewed labels, or ``None``.
        notes: corrections or fits that were configured but skipped, and why.
        path: the judgements file written.
    """

    n_items: int
    judged: int
    abstained: int
    failed: int
    skipped: int
    cached: int
    requests: int
    remote_requests: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    temperature: float | None = None
    bias_correction: str = "none"
    prior: tuple[float, ...] | None = None
    class_bias: tuple[float, ...] | None = None
    notes: tuple[str, ...] = ()
    path: Path | None = None


@dataclass
class _Outcome:
    status: str = "failed"
    vote: int = -1
    probs: np.ndarray | None = None
    outside_mass: float = 0.0
    rationale: str | None = None
    error: str | None = None
    cached: bool = True


class _Judge:
    """The per-item logic, shared by every item of one run."""

    def __init__(self, builder: RequestBuilder, client: JudgeClient, cache: ResponseCache,
                 label_names: list[str]) -> None:
        self.builder = builder
        self.settings = builder.settings
        self.client = client
        self.cache = cache
        self.label_names = label_names
        self.no_logprobs = self.settings.probabilities == "samples"

    async def fetch(self, request: JudgeRequest, outcome: _Outcome,
                    parse: Callable[[Any], T]) -> T:
        """The parsed answer to ``request``, from the cache or the server (then cached)."""
        body = self.cache.get(request.key)
        if body is not None:
            return parse(body)
        outcome.cached = False
        body = await self.client.post(request)
        try:
            parsed = parse(body)
        except MalformedResponse as exc:
            raise RequestFailed(f"malformed response body: {exc}") from None
        self.cache.put(request.key, body, model=self.settings.model, endpoint=request.endpoint,
                       template_version=self.builder.template_version)
        return parsed

    def _parse_main(self, body: Any) -> tuple[Verdict, bool]:
        parse = parse_chat if self.settings.mode == "chat" else parse_completion
        verdict = parse(body, self.label_names)
        choice = body["choices"][0]
        return verdict, isinstance(choice.get("logprobs"), dict)

    async def judge(self, text: str) -> _Outcome:
        outcome = _Outcome()
        try:
            verdict = await self._verdict(text, outcome)
            outcome.outside_mass = verdict.outside_mass
            outcome.rationale = verdict.rationale
            if verdict.label is None:
                outcome.status, outcome.error = "abstain", verdict.error
                return outcome
            outcome.status, outcome.vote, outcome.probs = "ok", verdict.label, verdict.probs
        except RequestFailed as exc:
            outcome.status, outcome.error = "failed", str(exc)
            return outcome
        if self.settings.rationale and self.settings.mode == "completion":
            request = self.builder.rationale_request(text, self.label_names[outcome.vote])
            try:
                outcome.rationale = await self.fetch(request, outcome, parse_rationale)
            except RequestFailed as exc:
                outcome.error = f"rationale request failed: {exc}"
        return outcome

    async def content_free(self, text: str) -> tuple[np.ndarray | None, str | None]:
        """The label distribution of a content-free input, or ``None`` and the reason."""
        try:
            verdict = await self._verdict(text, _Outcome())
        except RequestFailed as exc:
            return None, f"{text!r}: request failed: {exc}"
        if verdict.probs is None:
            return None, f"{text!r}: {verdict.error or 'no label probabilities'}"
        return verdict.probs, None

    async def _verdict(self, text: str, outcome: _Outcome) -> Verdict:
        s = self.settings
        if not self.no_logprobs:
            request = self.builder.main_request(text, logprobs=True)
            verdict, had_logprobs = await self.fetch(request, outcome, self._parse_main)
            if had_logprobs or verdict.label is None or s.probabilities == "logprobs":
                if verdict.probs is None and verdict.label is not None:
                    return Verdict(None, None, 0.0, verdict.rationale,
                                   error="the server returned no log-probabilities; set "
                                         "judge.probabilities to auto or samples")
                return verdict
            self.no_logprobs = True  # this server gives none: go straight to samples
        return await self._sampled(text, outcome)

    async def _sampled(self, text: str, outcome: _Outcome) -> Verdict:
        k = len(self.label_names)
        parse = parse_chat if self.settings.mode == "chat" else parse_completion
        requests = self.builder.sample_requests(text)
        verdicts = await asyncio.gather(
            *(self.fetch(r, outcome, lambda b, p=parse: p(b, self.label_names)) for r in requests)
        )
        counts = np.bincount([v.label for v in verdicts if v.label is not None], minlength=k)
        if counts.sum() == 0:
            return Verdict(None, None, 1.0, error=f"no sampled answer named a label; first: "
                                                  f"{verdicts[0].error}")
        probs = counts / counts.sum()
        rationale = next((v.rationale for v in verdicts if v.rationale), None)
        return Verdict(int(np.argmax(counts)), probs.astype(np.float64),
                       1.0 - counts.sum() / len(verdicts), rationale)


def _run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even under an already running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


async def _judge_all(
    builder: RequestBuilder, *, settings_seed: int, api_key: str,
    open_cache: Callable[[], ResponseCache | MemoryCache],
    texts: list[str | None], label_names: list[str], progress: Progress | None,
    content_free: list[str],
) -> tuple[list[_Outcome], list[tuple[np.ndarray | None, str | None]], int]:
    """Judge ``texts`` (None: skipped) and the ``content_free`` inputs through one client.

    Returns:
        ``(outcomes, content-free distributions, requests sent)``; every answered request is
        in the cache that ``open_cache`` opens.
    """
    settings = builder.settings
    client = JudgeClient(settings, api_key=api_key, random_state=settings_seed)
    try:
        with open_cache() as cache:
            todo = [(i, t) for i, t in enumerate(texts) if t is not None]
            asked = [t for _, t in todo] + content_free
            if settings.probabilities == "samples":
                main_keys = [r.key for t in asked for r in builder.sample_requests(t)]
            else:
                main_keys = [builder.main_request(t).key for t in asked]
            if len(cache.contains(main_keys)) < len(set(main_keys)):
                await client.probe()
            judge = _Judge(builder, client, cache, label_names)
            # the model's answers to content-free inputs: once per run, before the items
            free = [await judge.content_free(t) for t in content_free]
            outcomes = [_Outcome(status="skipped", error="empty text") for _ in texts]
            done, total, last = 0, len(todo), 0.0
            report(progress, STAGE, 0, total)

            async def one(i: int, text: str) -> None:
                nonlocal done, last
                outcomes[i] = await judge.judge(text)
                done += 1
                now = time.monotonic()
                if done == total or now - last > 0.1:
                    last = now
                    report(progress, STAGE, done, total)

            # a few workers share one queue of items: the client's semaphore bounds requests in
            # flight, the workers keep it busy (an item may need several requests in turn)
            queue = iter(todo)

            async def worker() -> None:
                for i, text in queue:
                    await one(i, text)

            await asyncio.gather(*(worker() for _ in range(2 * settings.concurrency + 2)))
            return outcomes, free, client.requests_sent
    finally:
        await client.close()


def run_judge(
    config: TaskConfig,
    dataset: Dataset,
    *,
    few_shot: Sequence[tuple[str, int]] = (),
    progress: Progress | None = None,
) -> JudgeRunResult:
    """Judge every item of ``dataset`` and write ``judge/judgements.parquet`` in the run directory.

    Args:
        config: the task (``config.judge`` must be set and enabled).
        dataset: the items; items with empty text are skipped.
        few_shot: ``(text, class index)`` examples to use; empty: chosen from reviewed labels
            (never audit ones), else from ``judge.examples``.
        progress: ``(stage, done, total)`` callback.

    Raises:
        JudgeError: no judge section, a missing API key variable, a bad example, or a server
            that cannot be reached when requests are needed (before any request is sent).
    """
    settings = config.judge
    if settings is None or not settings.enabled:
        raise JudgeError(f"task {config.task!r} has no enabled judge: add a `judge:` section to "
                         "its config (see docs/judge.md)")
    label_names = config.label_names
    k = config.n_classes
    for i, (_, label) in enumerate(few_shot):
        if not 0 <= int(label) < k:
            raise JudgeError(f"few_shot[{i}]: expected a class index in [0, {k}), got {label!r}")
    api_key = read_api_key(settings)
    run_dir = config.out_dir
    examples = list(few_shot) or choose_examples(settings, load_answers(run_dir), dataset,
                                                 label_names=label_names)
    used = set(template_fields(settings.template)) if settings.template else set()
    field_names = [n for n in config.dataset.field_names if n in used and n not in PLACEHOLDERS]
    builder = RequestBuilder(task=config.task, label_names=label_names,
                             label_descriptions=[c.description for c in config.labels],
                             settings=settings, examples=examples, field_names=field_names)
    empty = dataset.empty_text_mask
    texts: list[str | None] = [None if empty[i] else t for i, t in enumerate(dataset.items["text"].to_list())]
    if field_names:  # each item carries the fields its template names
        values = field_values(dataset.items, config.dataset).select(field_names).iter_rows(named=True)
        texts = [None if t is None else ItemText(t, row) for t, row in zip(texts, values, strict=True)]
    content_free = (list(settings.content_free_inputs)
                    if settings.bias_correction == "content_free" else [])
    cache_path = judge_dir(run_dir) / CACHE_FILE
    remote_requests, remote_texts = 0, set[str]()
    if config.engine.kind != "local":  # the cluster's workers send what the cache lacks
        from hitl_triage.judge.remote import judge_on_ray

        remote_requests, remote_texts = judge_on_ray(builder, settings_seed=config.seed, api_key=api_key,
                                       cache_path=cache_path, texts=texts,
                                       label_names=label_names, engine=config.engine,
                                       progress=progress)
    outcomes, free, requests = _run_coroutine(lambda: _judge_all(
        builder, settings_seed=config.seed, api_key=api_key,
        open_cache=lambda: ResponseCache(cache_path), texts=texts, label_names=label_names,
        progress=progress, content_free=content_free,
    ))
    requests += remote_requests

    ids = dataset.ids
    n = len(ids)
    ok = np.array([o.status == "ok" for o in outcomes], dtype=bool)
    raw = np.full((n, k), 1.0 / k)
    for i, o in enumerate(outcomes):
        if o.status == "ok":
            raw[i] = o.probs if o.probs is not None else np.eye(k)[o.vote]
    adjusted = adjust_probs(settings, run_dir=run_dir, ids=ids, raw=raw, ok=ok,
                            content_free=free)
    # votes follow the corrected distribution; abstains, failures and skips stay -1
    votes = np.where(ok, adjusted.probs.argmax(axis=1), -1).astype(np.int8)
    correction = adjusted.correction
    applied = {
        "bias_correction": correction.method,
        "prior": list(correction.prior) if correction.prior is not None else None,
        "temperature": adjusted.temperature,
        "class_bias": adjusted.class_bias.tolist() if adjusted.class_bias is not None else None,
        "notes": list(adjusted.notes),
    }
    path = write_judgements(
        run_dir, ids=ids, votes=votes, probs=adjusted.probs, raw_probs=raw,
        outside_mass=np.array([o.outside_mass for o in outcomes], dtype=np.float64),
        rationales=[o.rationale for o in outcomes], errors=[o.error for o in outcomes],
        statuses=[o.status for o in outcomes], metadata=applied,
    )
    statuses = Counter(o.status for o in outcomes)
    failures = Counter(o.error for o in outcomes if o.status in ("abstain", "failed") and o.error)
    result = JudgeRunResult(
        n_items=n, judged=statuses["ok"], abstained=statuses["abstain"],
        failed=statuses["failed"], skipped=statuses["skipped"],
        cached=sum(o.cached and str(t) not in remote_texts
                   for o, t in zip(outcomes, texts, strict=True) if o.status != "skipped"),
        requests=requests,
        remote_requests=remote_requests,
        failures=dict(failures.most_common()), temperature=adjusted.temperature,
        bias_correction=correction.method, prior=correction.prior,
        class_bias=(tuple(adjusted.class_bias.tolist())
                    if adjusted.class_bias is not None else None),
        notes=adjusted.notes, path=path,
    )
    write_json(judge_dir(run_dir) / "summary.json", {
        **{k_: v for k_, v in result.__dict__.items() if k_ != "path"},
        "model": settings.model, "base_url": settings.base_url, "mode": settings.mode,
        "template_version": builder.template_version, "n_examples": len(examples),
        "bias_correction_configured": settings.bias_correction,
        "content_free_inputs": content_free,
    })
    return result
