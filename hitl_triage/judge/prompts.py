"""Prompts and request bodies: from the label schema, a template and few-shot examples.

Two modes. ``completion`` renders one few-shot prompt for a base model and reads the label from
the next token::

    Task: youtube_spam. Label each text with one of these labels:
    - ham: A genuine comment about the video or the artist.
    - spam: Self-promotion, links, or requests to subscribe.

    Text: check out my channel
    Label: spam

    Text: <the item>
    Label:

``chat`` sends the template as the system message, the few-shot examples as user/assistant turns
and the item as the last user message; the model answers ``{"label": "...", "rationale": "..."}``.

A :class:`JudgeRequest` is a plain body for the OpenAI-compatible endpoint; its cache key hashes
the model, the rendered prompt, the decoding parameters and the template version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hitl_triage.judge_settings import JudgeConfig

PROMPT_FORMAT_VERSION = "1"
"""Bump when the rendering or parsing code changes in a way that invalidates cached answers."""

DEFAULT_COMPLETION_TEMPLATE = (
    "Task: {task}. Label each text with one of these labels:\n"
    "{labels}\n\n"
    "{examples}"
    "Text: {text}\n"
    "Label:"
)
DEFAULT_CHAT_TEMPLATE = (
    "You label texts for the task {task}. The labels are:\n"
    "{labels}\n"
    "Read the user's text and answer with one label name: {label_names}."
)
RATIONALE_CUE = "\nReason (one sentence):"

Endpoint = Literal["completions", "chat/completions"]


@dataclass(frozen=True)
class JudgeRequest:
    """One request body for ``endpoint`` and the purpose it serves.

    Attributes:
        endpoint: ``completions`` or ``chat/completions`` (relative to ``base_url``).
        body: the JSON body (model, prompt or messages, decoding parameters).
        kind: ``main`` (the label, with log-probabilities), ``sample`` (one of k sampled
            answers) or ``rationale`` (a one-sentence reason, completion mode).
        key: sha256 hex of model, rendered prompt, decoding parameters and template version.
    """

    endpoint: Endpoint
    body: dict[str, Any]
    kind: Literal["main", "sample", "rationale"]
    key: str = field(default="", compare=False)


class ItemText(str):
    """An item's text that also carries its shown fields (``dataset.fields``: name -> text),
    for templates with field placeholders such as ``{instruction}``. Everywhere else it is the
    text itself; a plain ``str`` (a content-free input) fills every field placeholder."""

    fields: dict[str, str]

    def __new__(cls, text: str, fields: dict[str, str | None]) -> ItemText:
        obj = super().__new__(cls, text)
        obj.fields = {k: "" if v is None else str(v) for k, v in fields.items()}
        return obj


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class RequestBuilder:
    """Renders prompts and request bodies for one task, settings and few-shot set.

    Args:
        task: the task name.
        label_names: ``(k,)`` class names in index order.
        label_descriptions: ``(k,)`` one description per class.
        settings: the judge section.
        examples: few-shot ``(text, class index)`` pairs, already chosen.
        field_names: dataset fields the template uses as placeholders (values come from an
            :class:`ItemText`; each is clipped to ``max_text_chars``).
    """

    def __init__(
        self,
        *,
        task: str,
        label_names: Sequence[str],
        label_descriptions: Sequence[str],
        settings: JudgeConfig,
        examples: Sequence[tuple[str, int]] = (),
        field_names: Sequence[str] = (),
    ) -> None:
        self.field_names = list(field_names)
        self.task = task
        self.label_names = list(label_names)
        self.label_descriptions = list(label_descriptions)
        self.settings = settings
        self.examples = [(_clip(t, settings.max_example_chars), int(y)) for t, y in examples]
        default = DEFAULT_CHAT_TEMPLATE if settings.mode == "chat" else DEFAULT_COMPLETION_TEMPLATE
        self.template = settings.template or default
        digest = hashlib.sha256(f"{PROMPT_FORMAT_VERSION}\0{self.template}".encode()).hexdigest()
        self.template_version = f"{PROMPT_FORMAT_VERSION}-{digest[:12]}"

    # -- rendering -------------------------------------------------------------------------
    def _item_fields(self, item: str) -> dict[str, str]:
        """The field placeholders' values for ``item`` (an :class:`ItemText`, else ``item``
        itself in every field)."""
        carried = item.fields if isinstance(item, ItemText) else {}
        limit = self.settings.max_text_chars
        return {name: _clip(carried.get(name, str(item)) if carried else str(item), limit)
                for name in self.field_names}

    def _fields(self, text: str, item: str = "") -> dict[str, str]:
        labels = "\n".join(
            f"- {n}: {d}" for n, d in zip(self.label_names, self.label_descriptions, strict=True)
        )
        examples = "".join(
            f"Text: {t}\nLabel: {self.label_names[y]}\n\n" for t, y in self.examples
        )
        return {
            **self._item_fields(item),
            "task": self.task,
            "labels": labels,
            "label_names": ", ".join(self.label_names),
            "examples": examples if self.settings.mode == "completion" else "",
            "text": text,
        }

    def completion_prompt(self, text: str) -> str:
        """The few-shot prompt for one item (completion mode)."""
        return self.template.format_map(self._fields(_clip(text, self.settings.max_text_chars), text))

    def chat_messages(self, text: str) -> list[dict[str, str]]:
        """System, few-shot turns and the item (chat mode)."""
        fields = self._fields("", text)
        shape = '{"label": "<one of: ' + fields["label_names"] + '>"'
        shape += ', "rationale": "<one sentence>"}' if self.settings.rationale else "}"
        system = self.template.format_map(fields) + f"\nAnswer with JSON only: {shape}"
        messages = [{"role": "system", "content": system}]
        for example, y in self.examples:
            messages.append({"role": "user", "content": f"Text: {example}"})
            messages.append({"role": "assistant",
                             "content": json.dumps({"label": self.label_names[y]})})
        item = _clip(text, self.settings.max_text_chars)
        messages.append({"role": "user", "content": f"Text: {item}"})
        return messages

    # -- request bodies --------------------------------------------------------------------
    def _finish(self, endpoint: Endpoint, body: dict[str, Any], kind: str) -> JudgeRequest:
        material = json.dumps(
            {"endpoint": endpoint, "body": body, "template_version": self.template_version},
            sort_keys=True, ensure_ascii=False,
        )
        key = hashlib.sha256(material.encode()).hexdigest()
        return JudgeRequest(endpoint=endpoint, body=body, kind=kind, key=key)  # type: ignore[arg-type]

    def main_request(self, text: str, *, logprobs: bool = True) -> JudgeRequest:
        """The request whose answer is the label (greedy; with log-probabilities if asked)."""
        s = self.settings
        if s.mode == "completion":
            body: dict[str, Any] = {"model": s.model, "prompt": self.completion_prompt(text),
                                    "max_tokens": 1, "temperature": 0.0}
            if logprobs:
                body["logprobs"] = s.top_logprobs
            return self._finish("completions", body, "main")
        body = self._chat_body(text, temperature=0.0)
        if logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = s.top_logprobs
        return self._finish("chat/completions", body, "main")

    def sample_requests(self, text: str) -> list[JudgeRequest]:
        """``settings.samples`` sampled answers (seeds 0..k-1) for vote-share probabilities."""
        s = self.settings
        out = []
        for seed in range(s.samples):
            if s.mode == "completion":
                body: dict[str, Any] = {"model": s.model, "prompt": self.completion_prompt(text),
                                        "max_tokens": 8, "stop": ["\n"]}
                endpoint: Endpoint = "completions"
            else:
                body = self._chat_body(text, temperature=s.sample_temperature)
                endpoint = "chat/completions"
            body.update({"temperature": s.sample_temperature, "seed": seed})
            out.append(self._finish(endpoint, body, "sample"))
        return out

    def rationale_request(self, text: str, label: str) -> JudgeRequest:
        """Completion mode: continue the prompt after the chosen label with a one-line reason."""
        s = self.settings
        prompt = self.completion_prompt(text) + f" {label}" + RATIONALE_CUE
        body = {"model": s.model, "prompt": prompt, "max_tokens": s.rationale_max_tokens,
                "temperature": 0.0}  # no stop at newline: small models often start with one
        return self._finish("completions", body, "rationale")

    def _chat_body(self, text: str, *, temperature: float) -> dict[str, Any]:
        s = self.settings
        max_tokens = s.max_tokens + (s.rationale_max_tokens if s.rationale else 0)
        body: dict[str, Any] = {"model": s.model, "messages": self.chat_messages(text),
                                "max_tokens": max_tokens, "temperature": temperature}
        if s.json_response_format:
            body["response_format"] = {"type": "json_object"}
        return body
