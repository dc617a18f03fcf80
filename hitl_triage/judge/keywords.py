"""The judge proposes LF candidates: keywords per label, from a few human-labeled examples.

For each label the model is shown the task, the labels and up to ``examples_per_label`` texts
that reviewers gave that label, and asked for short keywords or phrases that mark a text as
that label (completion mode: a prompt ending in ``Keywords for <label>:``; chat mode: the same
as messages). The answer is split at line breaks, commas and semicolons; a bulleted line
``- term: what it means`` gives its term (small models answer with such definition lists);
each piece is stripped of quotes, bullets and numbering, lower-cased, and kept if it is 1 to 3
words of letters, digits, apostrophes or hyphens (at most 40 characters). The result is a candidate frame
(``kind`` = ``keyword``, ``pattern``, ``label``, ``origin`` = ``judge``) that
:func:`hitl_triage.lf.suggest.suggest_lfs` scores exactly like the mined candidates (precision
and coverage on the human labels, with intervals).

Requests go through the judge's client and its response cache (``judge/cache.sqlite``), so a
workbench refresh with the same examples sends nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hitl_triage.judge.cache import ResponseCache
from hitl_triage.judge.client import JudgeClient, RequestFailed, read_api_key
from hitl_triage.judge.prompts import JudgeRequest, _clip
from hitl_triage.judge.runner import _run_coroutine
from hitl_triage.judge_settings import JudgeConfig

KEYWORDS_VERSION = "1"
_PIECE = re.compile(r"^[\w][\w'\-]*(?: [\w][\w'\-]*){0,2}$")
CANDIDATE_SCHEMA = {"kind": pl.String, "pattern": pl.String, "label": pl.Int64, "origin": pl.String}


@dataclass(frozen=True)
class Proposal:
    """What the judge proposed.

    Attributes:
        candidates: ``kind``, ``pattern``, ``label``, ``origin`` (``judge``), one row per
            distinct keyword and label.
        requests: HTTP requests sent (0 when every answer was cached).
        errors: per label whose request failed, the reason (nothing proposed for it).
    """

    candidates: pl.DataFrame
    requests: int
    errors: dict[str, str]


def parse_keywords(answer: str, *, limit: int) -> list[str]:
    """Up to ``limit`` distinct keywords from a free-text answer (see the module doc).

    Example: ``' "subscribe", check out my channel; 1. free  \\nLabel: x\\n- giveaway: a prize'``
    gives ``['subscribe', 'free', 'giveaway']`` (more than 3 words is not a keyword, nor is
    ``label: x``; the bulleted definition gives its term).
    """
    out: list[str] = []
    for line in answer.split("\n"):
        bullet = re.match(r"^\s*(?:[-*•]|\d+[.)])\s*", line)
        if bullet and ":" in line:  # "- term: what it means" (a list of definitions): the term
            line = line[bullet.end():].split(":", 1)[0]
        for piece in re.split(r"[,;]", line):
            text = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", piece).strip().strip("\"'`.:!?()[]").strip()
            text = " ".join(text.lower().split())
            if text and len(text) <= 40 and _PIECE.match(text) and text not in out:
                out.append(text)
            if len(out) >= limit:
                return out
    return out



def _request(settings: JudgeConfig, *, task: str, label_names: Sequence[str],
             label_descriptions: Sequence[str], label: int, examples: Sequence[str]) -> JudgeRequest:
    labels = "\n".join(f"- {n}: {d}" for n, d in zip(label_names, label_descriptions, strict=True))
    shown = "".join(f"Text: {_clip(t, settings.max_example_chars)}\n" for t in examples)
    name = label_names[label]
    intro = (f"Task: {task}. Each text has one of these labels:\n{labels}\n\n"
             f"Texts labeled {name}:\n{shown}\n")
    ask = f"Short keywords or phrases that mark a text as {name}, comma-separated."
    if settings.mode == "completion":
        endpoint = "completions"
        body: dict[str, Any] = {"model": settings.model, "prompt": f"{intro}{ask}\nKeywords for {name}:",
                                "max_tokens": 48, "temperature": 0.0, "stop": ["\n\n", "Text:"]}
    else:
        endpoint = "chat/completions"
        body = {"model": settings.model, "temperature": 0.0, "max_tokens": 64,
                "messages": [{"role": "user", "content": f"{intro}{ask} Answer with the keywords only."}]}
    material = json.dumps({"endpoint": endpoint, "body": body, "version": KEYWORDS_VERSION},
                          sort_keys=True, ensure_ascii=False)
    key = hashlib.sha256(material.encode()).hexdigest()
    return JudgeRequest(endpoint=endpoint, body=body, kind="main", key=key)  # type: ignore[arg-type]


def _text(body: dict[str, Any]) -> str:
    choice = (body.get("choices") or [{}])[0]
    if "text" in choice:
        return str(choice.get("text") or "")
    return str((choice.get("message") or {}).get("content") or "")


async def _ask_all(settings: JudgeConfig, requests: list[JudgeRequest], *, api_key: str,
                   cache_path: Path, seed: int) -> tuple[list[str | None], list[str | None], int]:
    client = JudgeClient(settings, api_key=api_key, random_state=seed)
    answers: list[str | None] = []
    errors: list[str | None] = []
    try:
        with ResponseCache(cache_path) as cache:
            if len(cache.contains([r.key for r in requests])) < len({r.key for r in requests}):
                await client.probe()
            for request in requests:
                body = cache.get(request.key)
                if body is None:
                    try:
                        body = await client.post(request)
                    except RequestFailed as exc:
                        answers.append(None)
                        errors.append(str(exc))
                        continue
                    cache.put(request.key, body, model=settings.model, endpoint=request.endpoint,
                              template_version=f"keywords-{KEYWORDS_VERSION}")
                answers.append(_text(body))
                errors.append(None)
        return answers, errors, client.requests_sent
    finally:
        await client.close()


def propose_keywords(settings: JudgeConfig, *, task: str, label_names: Sequence[str],
                     label_descriptions: Sequence[str], texts: Sequence[str | None],
                     human_labels: np.ndarray, cache_path: Path, per_label: int = 5,
                     examples_per_label: int = 4, random_state: int = 0) -> Proposal:
    """Ask the judge for up to ``per_label`` keywords per label (see the module doc).

    Args:
        texts: ``(n,)`` item texts; human_labels: ``(n,)`` class index, ``-1`` none. The
            examples of a label are its first ``examples_per_label`` labeled items with text.
        cache_path: the judge's response cache.

    Raises:
        JudgeError: the API key variable is not set, or the server cannot be reached when a
            request is needed.
    """
    labels = np.asarray(human_labels, dtype=np.int64)
    requests, asked = [], []
    for c in range(len(label_names)):
        rows = [i for i in np.flatnonzero(labels == c) if texts[i] and str(texts[i]).strip()]
        if not rows:
            continue  # nothing to show the model for this label
        examples = [str(texts[i]) for i in rows[:examples_per_label]]
        requests.append(_request(settings, task=task, label_names=label_names,
                                 label_descriptions=label_descriptions, label=c, examples=examples))
        asked.append(c)
    api_key = read_api_key(settings)
    answers, errors, sent = _run_coroutine(lambda: _ask_all(
        settings, requests, api_key=api_key, cache_path=cache_path, seed=random_state))
    rows_out: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    for c, answer, error in zip(asked, answers, errors, strict=True):
        if answer is None:
            failed[label_names[c]] = error or "no answer"
            continue
        rows_out += [{"kind": "keyword", "pattern": k, "label": c, "origin": "judge"}
                     for k in parse_keywords(answer, limit=per_label)]
    return Proposal(candidates=pl.DataFrame(rows_out, schema=CANDIDATE_SCHEMA), requests=sent,
                    errors=failed)
