"""The ``judge:`` section of a task config. Absent (null) means the task has no judge.

Example (the defaults talk to ``hitl-triage judge serve`` on this machine)::

    judge:
      mode: completion            # or chat, for instruction-tuned models
      base_url: http://127.0.0.1:8080/v1
      model: gemma-3-270m
      api_key_env: null           # e.g. OPENAI_API_KEY; the key itself is never stored
      few_shot: 4
      concurrency: 2
      request_budget: 5000
      rationale: false
      max_requests_per_round: 40  # in-round judging (null: off)
      cost_per_request: 0.0
      escalate:                   # optional second, stronger model, asked where the first is unsure
        base_url: https://api.example.com/v1
        model: big-model
        api_key_env: EXAMPLE_API_KEY
        cost_per_request: 0.002
        below: 0.6

The API key is read from the environment variable named by ``api_key_env`` when the judge runs;
only the variable's name is ever part of a config, a log, a report or the run directory.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

PLACEHOLDERS = ("task", "labels", "label_names", "examples", "text")
"""Names a prompt template may use: ``{task}``, ``{labels}`` (one ``- name: description`` line
per class), ``{label_names}`` (comma-separated), ``{examples}`` (the few-shot block, completion
mode) and ``{text}`` (the item, completion mode only). Literal braces are written ``{{`` ``}}``.
Besides these, every field of ``dataset.fields`` is a placeholder ``{name}`` holding the item's
value of that column (the text field alone when no fields are listed)."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FewShotExample(BaseModel):
    """A fixed example for the prompt, used until reviewers have labeled items."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1)]
    label: Annotated[str, Field(min_length=1, description="A label name of the task.")]


def template_fields(template: str) -> list[str]:
    """The placeholder names a template uses, in order (``ValueError`` if it cannot be parsed)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


class EscalateConfig(BaseModel):
    """A second, stronger OpenAI-compatible model, asked in the rounds only where the first
    model is unsure (its largest class probability is below ``below``). It shares the first
    model's prompt, mode and request settings; only the server, model, key and cost differ."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="The second server's OpenAI-compatible root.")
    model: Annotated[str, Field(min_length=1)]
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding its API key.")
    cost_per_request: Annotated[float, Field(ge=0.0)] = Field(
        default=0.0, description="Cost of one request to this model (any currency unit).")
    below: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.6, description="Ask this model where the first model's largest (temperature-"
        "scaled) class probability is below this.")
    max_requests_per_round: int | None = Field(
        default=None, ge=0, description="Most requests to this model per round; null: every "
        "unsure item the first model answered this round.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return _check_env_name(value)


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _check_env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.match(value):
        raise ValueError(
            f"expected the NAME of an environment variable (letters, digits, _), got {value!r}"
        )
    return value


class JudgeConfig(BaseModel):
    """Settings of the LLM judge (an OpenAI-compatible server)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = True
    mode: Literal["completion", "chat"] = Field(
        default="completion",
        description="completion: a few-shot prompt for base models (/v1/completions); chat: "
        "messages for instruction models (/v1/chat/completions) answering in JSON.",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8080/v1",
        description="The server's OpenAI-compatible root, usually ending in /v1.",
    )
    model: Annotated[str, Field(min_length=1)] = "gemma-3-270m"
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key; null for local "
        "servers that need none.",
    )
    template: str | None = Field(
        default=None,
        description="Prompt template (completion: the whole prompt, must contain {text}; chat: "
        "the system message, must not contain {text}). Null: the built-in template.",
    )
    examples: list[FewShotExample] = Field(
        default_factory=list,
        description="Fixed few-shot examples, used until reviewed labels exist.",
    )
    few_shot: Annotated[int, Field(ge=0, le=64)] = 4
    max_text_chars: Annotated[int, Field(ge=16, le=100_000)] = 1000
    max_example_chars: Annotated[int, Field(ge=16, le=100_000)] = 300

    concurrency: Annotated[int, Field(ge=1, le=256)] = 2
    timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    max_retries: Annotated[int, Field(ge=0, le=20)] = 3
    backoff_s: Annotated[float, Field(ge=0, le=60)] = 0.5
    max_backoff_s: Annotated[float, Field(ge=0, le=600)] = 20.0
    request_budget: int | None = Field(
        default=None, ge=0, description="Most HTTP requests one run may send (retries count); null: no cap."
    )
    max_consecutive_failures: int = Field(
        default=20,
        ge=1,
        description="After this many requests fail in a row the run stops sending and records "
        "the remaining items as failed (a dead server does not cost retries per item).",
    )

    probabilities: Literal["auto", "logprobs", "samples"] = Field(
        default="auto",
        description="logprobs: from the label tokens' log-probabilities; samples: vote shares of "
        "`samples` answers at `sample_temperature`; auto: logprobs, falling back to samples "
        "when the server returns none.",
    )
    top_logprobs: Annotated[int, Field(ge=1, le=20)] = 20
    samples: Annotated[int, Field(ge=2, le=50)] = 5
    sample_temperature: Annotated[float, Field(gt=0, le=2)] = 0.8
    max_tokens: int = Field(
        default=48, ge=1, le=4096, description="Chat mode: most tokens of the JSON answer."
    )
    json_response_format: bool = Field(
        default=True,
        description="Chat mode: ask the server for a JSON object (response_format json_object).",
    )

    rationale: bool = Field(
        default=False,
        description="Ask for a one-sentence rationale per item (chat: in the same answer; "
        "completion: a second short call).",
    )
    rationale_max_tokens: Annotated[int, Field(ge=4, le=512)] = 48

    bias_correction: Literal["none", "content_free", "mean_prior"] = Field(
        default="content_free",
        description="Label-bias correction, no labels needed (applied to cached answers, so "
        "changing it sends no request again): content_free divides each item's label "
        "distribution by the model's mean answer to `content_free_inputs` in the same prompt; "
        "mean_prior divides by the mean distribution over the judged items; none keeps the "
        "raw distribution. Votes are the argmax of the corrected distribution.",
    )
    content_free_inputs: list[str] = Field(
        default_factory=lambda: ["N/A", "", "[MASK]"],
        description="Texts with no content, judged once each through the same prompt to "
        "estimate the model's label bias (bias_correction: content_free).",
    )

    calibrate: bool = Field(
        default=True,
        description="Fit temperature scaling of the judge's (bias-corrected) probabilities on "
        "reviewed labels.",
    )
    min_calibration_labels: Annotated[int, Field(ge=2)] = 20
    class_bias: bool = Field(
        default=True,
        description="With calibrate: also fit a per-class bias with the temperature (vector "
        "scaling, may change votes) once every class has `min_labels_per_class` reviewed labels.",
    )
    min_labels_per_class: Annotated[int, Field(ge=2)] = 10

    max_requests_per_round: int | None = Field(
        default=None, ge=0,
        description="In-round judging: each round the judge is asked about at most this many "
        "items whose answer can still change a decision (not accepted, no human label, highest "
        "review value first); its temperature-scaled probabilities enter the stacked model as "
        "one source. null: off (the judge runs only through `hitl-triage judge run`).",
    )
    cost_per_request: Annotated[float, Field(ge=0.0)] = Field(
        default=0.0, description="Cost of one request to this model (any currency unit), "
        "summed per round in the round report.")
    escalate: EscalateConfig | None = Field(
        default=None, description="In-round judging: an optional second, stronger model asked "
        "only where the first is unsure.")

    propose_keywords: Annotated[int, Field(ge=0, le=50)] = Field(
        default=0, description="LF workbench: keywords per label the judge proposes from a few "
        "human-labeled examples, scored like the mined suggestions (0: off).")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return _check_env_name(value)

    @model_validator(mode="after")
    def _check_content_free(self) -> JudgeConfig:
        if self.bias_correction == "content_free" and not self.content_free_inputs:
            raise ValueError("content_free_inputs: bias_correction content_free needs at least "
                             "one content-free input (e.g. ['N/A', '', '[MASK]']), got []")
        return self

    @model_validator(mode="after")
    def _check_template(self, info: ValidationInfo) -> JudgeConfig:
        if self.template is None:
            return self
        try:
            fields = template_fields(self.template)
        except ValueError as exc:
            raise ValueError(f"template: cannot parse placeholders ({exc}); write literal "
                             "braces as {{ and }}") from None
        columns = [c for c in (info.context or {}).get("field_names", []) if c not in PLACEHOLDERS]
        allowed = [*PLACEHOLDERS, *columns]
        unknown = sorted({f for f in fields if f not in allowed})
        if unknown:
            raise ValueError(
                f"template: unknown placeholder(s) {unknown}; allowed: {allowed} (the item's "
                "columns listed in dataset.fields are placeholders too)"
            )
        if self.mode == "completion" and "text" not in fields and not set(fields) & set(columns):
            raise ValueError("template: completion mode needs a {text} placeholder (or one of "
                             "the dataset's fields)")
        if self.mode == "chat" and "text" in fields:
            raise ValueError("template: in chat mode the template is the system message; the "
                             "item goes in the user message, so remove {text}")
        return self
