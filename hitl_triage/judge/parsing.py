"""From a server's answer to a vote and class probabilities.

The label's probability comes from the token log-probabilities at the position where the label
starts: each alternative token whose text begins a label name (case-insensitive, leading space
ignored) adds ``exp(logprob)`` to that label; tokens that begin several labels share their mass
equally. The label masses are renormalized to sum to 1, and ``outside_mass = 1 - sum`` records
how much of the distribution fell on other tokens (including tokens beyond ``top_logprobs``).

Example: top log-probs ``{" spam": -0.51, " ham": -1.92, " Spam": -2.79, " hamster": -5.4}``
for labels ``[ham, spam]`` give masses ham 0.147, spam 0.661 (``" hamster"`` is not a prefix of
``ham`` and counts as outside), so ``probs = [0.18, 0.82]`` and ``outside_mass = 0.19``.

Responses are validated here: a body without the expected structure raises
:class:`MalformedResponse` (the request failed); an answer that names no label, or chat content
that is not JSON, is a valid response that becomes an abstain with the reason recorded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_STRIP = " \t\r\n\"'`.,;:!?()[]{}<>*_"


class MalformedResponse(Exception):
    """The server's body is not an OpenAI-compatible answer (the request counts as failed)."""


@dataclass(frozen=True)
class Verdict:
    """What one main (or sampled) answer says.

    Attributes:
        label: class index named by the answer, or ``None`` if it names none.
        probs: ``(k,)`` float64 label probabilities summing to 1, or ``None`` when the answer
            carried no log-probabilities.
        outside_mass: probability that fell outside the label set, in [0, 1] (0 if unknown).
        rationale: the model's one-sentence reason if the answer had one.
        error: why the answer is an abstain (``None`` if it names a label).
    """

    label: int | None
    probs: np.ndarray | None
    outside_mass: float
    rationale: str | None = None
    error: str | None = None


def _norm(text: str) -> str:
    return text.strip().lower()


def token_labels(token: str, label_names: Sequence[str]) -> list[int]:
    """Indices of labels that ``token`` could begin (``[]`` if none).

    A token matches a label if, lower-cased and stripped of surrounding spaces, it is a
    non-empty prefix of the label name, or the label name followed only by punctuation.
    """
    tok = _norm(token)
    if not tok:
        return []
    names = [n.lower() for n in label_names]
    hits = [i for i, n in enumerate(names) if n.startswith(tok)]
    if hits:
        return hits
    return [i for i, n in enumerate(names) if tok.startswith(n) and not tok[len(n):].strip(_STRIP)]


def match_label(answer: str, label_names: Sequence[str]) -> int | None:
    """The label a free-text answer names, or ``None``.

    Exact name (case-insensitive, surrounding quotes and punctuation ignored) first, then a
    unique label the answer is a prefix of, then a label the answer starts with as a word.
    """
    first = answer.strip().splitlines()[0] if answer.strip() else ""
    text = first.strip(_STRIP).lower()
    if not text:
        return None
    names = [n.lower() for n in label_names]
    if text in names:
        return names.index(text)
    prefixed = [i for i, n in enumerate(names) if n.startswith(text)]
    if len(prefixed) == 1:
        return prefixed[0]
    starts = [i for i, n in enumerate(names) if re.match(re.escape(n) + r"\b", text)]
    if starts:
        return max(starts, key=lambda i: len(names[i]))
    return None


def probs_from_top_logprobs(
    top: dict[str, float], label_names: Sequence[str]
) -> tuple[np.ndarray, float]:
    """Label probabilities ``(k,)`` (sum 1) and the outside mass from one position's top tokens.

    With no mass on any label the probabilities are uniform and ``outside_mass`` is 1.
    """
    k = len(label_names)
    mass = np.zeros(k, dtype=np.float64)
    for token, logprob in top.items():
        hits = token_labels(token, label_names)
        if hits and logprob is not None and math.isfinite(logprob):
            mass[hits] += math.exp(logprob) / len(hits)
    total = float(mass.sum())
    if total <= 0.0:
        return np.full(k, 1.0 / k), 1.0
    return mass / total, float(min(max(1.0 - total, 0.0), 1.0))


def _choice(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MalformedResponse(f"expected a JSON object, got {type(body).__name__}")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse("expected a non-empty 'choices' list")
    return choices[0]


def parse_completion(body: Any, label_names: Sequence[str]) -> Verdict:
    """Read a ``/v1/completions`` answer.

    Raises:
        MalformedResponse: the body lacks ``choices[0].text``.
    """
    choice = _choice(body)
    text = choice.get("text")
    if not isinstance(text, str):
        raise MalformedResponse("expected a string at choices[0].text")
    probs, outside = None, 0.0
    logprobs = choice.get("logprobs")
    if isinstance(logprobs, dict):
        tops = logprobs.get("top_logprobs")
        if isinstance(tops, list) and tops and isinstance(tops[0], dict):
            probs, outside = probs_from_top_logprobs(tops[0], label_names)
    if probs is not None:
        hits = token_labels(text, label_names)
        if not hits:
            return Verdict(None, probs, outside, error=_not_a_label(text, label_names))
        return Verdict(int(np.argmax(probs)), probs, outside)
    label = match_label(text, label_names)
    if label is None:
        return Verdict(None, None, 0.0, error=_not_a_label(text, label_names))
    return Verdict(label, None, 0.0)


def parse_rationale(body: Any) -> str | None:
    """The first non-empty line of a rationale request's answer (``None`` if there is none).

    Raises:
        MalformedResponse: the body lacks ``choices[0].text``.
    """
    text = _choice(body).get("text")
    if not isinstance(text, str):
        raise MalformedResponse("expected a string at choices[0].text")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return next((line for line in lines if line), None)


def _not_a_label(answer: str, label_names: Sequence[str]) -> str:
    return f"answer {answer.strip()[:80]!r} is not one of the labels {list(label_names)}"


def parse_chat(body: Any, label_names: Sequence[str]) -> Verdict:
    """Read a ``/v1/chat/completions`` answer whose content is ``{"label": ..., "rationale": ...}``.

    Raises:
        MalformedResponse: the body lacks ``choices[0].message.content``.
    """
    choice = _choice(body)
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise MalformedResponse("expected a string at choices[0].message.content")
    try:
        answer = json.loads(content)
    except json.JSONDecodeError as exc:
        return Verdict(None, None, 0.0, error=f"malformed JSON in chat answer ({exc.msg}): "
                                              f"{content.strip()[:80]!r}")
    if not isinstance(answer, dict) or not isinstance(answer.get("label"), str):
        return Verdict(None, None, 0.0,
                       error=f"chat answer has no string 'label' field: {content.strip()[:80]!r}")
    rationale = answer.get("rationale")
    rationale = (" ".join(rationale.split()) or None) if isinstance(rationale, str) else None
    label = match_label(answer["label"], label_names)
    if label is None:
        return Verdict(None, None, 0.0, rationale,
                       error=_not_a_label(answer["label"], label_names))
    probs, outside = _chat_label_probs(choice.get("logprobs"), content, label_names)
    if probs is not None:
        label = int(np.argmax(probs)) if token_labels(answer["label"], label_names) else label
    return Verdict(label, probs, outside, rationale)


def _chat_label_probs(
    logprobs: Any, content: str, label_names: Sequence[str]
) -> tuple[np.ndarray | None, float]:
    """Probabilities at the token where the JSON ``label`` value starts (``None`` if unknown)."""
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("content"), list):
        return None, 0.0
    found = re.search(r'"label"\s*:\s*"', content)
    if found is None:
        return None, 0.0
    value_start = found.end()
    offset = 0
    for entry in logprobs["content"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            return None, 0.0
        token = entry["token"]
        end = offset + len(token)
        if end > value_start:
            prefix = content[offset:value_start]  # the part of this token before the value
            tops = entry.get("top_logprobs") or [{"token": token, "logprob": entry.get("logprob")}]
            top = {}
            for alt in tops:
                if (isinstance(alt, dict) and isinstance(alt.get("token"), str)
                        and alt["token"].startswith(prefix)
                        and isinstance(alt.get("logprob"), float | int)):
                    top[alt["token"][len(prefix):]] = float(alt["logprob"])
            return probs_from_top_logprobs(top, label_names)
        offset = end
    return None, 0.0
