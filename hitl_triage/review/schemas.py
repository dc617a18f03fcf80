"""Request and response bodies of the JSON API (separate from the database models)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

INT_MAX = 2**31 - 1  # ids and integers are 32-bit columns on PostgreSQL

# Integers from clients are bounded, so a huge one is a 422, never a database overflow (500).
TaskId = Annotated[int, Field(ge=0, le=INT_MAX)]
SmallInt = Annotated[int, Field(ge=-1, le=INT_MAX)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnswerIn(_In):
    id: Annotated[str, Field(min_length=1, max_length=64, description="Client-generated id (a UUID); a retry with the same id is recorded once.")]
    task_id: TaskId
    kind: Literal["label", "skip", "flag"] = "label"
    label: SmallInt | None = None
    comment: Annotated[str | None, Field(max_length=2000)] = None
    correction: str | None = Field(default=None, description="The corrected text of the review.correction field (label answers only; at most review.max_item_chars characters).")


class EditIn(_In):
    new_id: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Literal["label", "skip", "flag"] = "label"
    label: SmallInt | None = None
    comment: Annotated[str | None, Field(max_length=2000)] = None
    correction: str | None = Field(default=None, description="The replacement answer's corrected text; null clears it; left out, a label answer keeps the old answer's correction.")


class AnswerOut(BaseModel):
    id: str
    task_id: int
    kind: str
    label: int | None
    created: bool
    task_status: str
    correction: str | None = None


class SegmentOut(BaseModel):
    """A run of ordinary text, or one hidden character shown as its marker (``⟨U+202E⟩``)."""

    text: str
    hidden: bool
    name: str


class FieldOut(BaseModel):
    """One shown field of the item (``dataset.fields``). ``html``: the Markdown rendering (raw
    HTML escaped, unsafe links dropped) for ``markdown`` fields, else null."""

    name: str
    title: str
    format: Literal["text", "markdown"]
    text: str | None
    segments: list[SegmentOut]
    html: str | None
    correctable: bool


class ModelGuessOut(BaseModel):
    label: int
    name: str
    confidence: float | None


class SourceOut(BaseModel):
    """A source that voted on the item, with its accuracy on the human labels settled so far
    (``correct / n``; null while ``n`` is 0)."""

    name: str
    vote: int
    vote_name: str
    accuracy: float | None
    n: int


class TaskOut(BaseModel):
    """A task as a reviewer sees it (no route: audit items look like review items)."""

    task_id: int
    item_id: str
    item_id_segments: list[SegmentOut]
    text: str | None
    text_segments: list[SegmentOut]
    suggested: int | None
    suggested_name: str | None
    confidence: float | None
    votes: dict[str, int | None]
    judge_rationale: str | None
    rationale_segments: list[SegmentOut]
    round: int
    labels: list[str]
    suggestion_line: str | None = Field(description="Where the suggestion comes from (null when unknown or no suggestion).")
    label_model: ModelGuessOut | None = Field(description="The label model's guess, given only when it differs from the end model's.")
    end_model: ModelGuessOut | None
    sources: list[SourceOut] = Field(description="Only the sources that voted, by name.")
    fields: list[FieldOut] = Field(default_factory=list, description="The item's shown fields in order (the text alone when dataset.fields lists none).")
    correction_field: str | None = Field(default=None, description="The field a reviewer may correct (review.correction), or null.")


class ItemIn(_In):
    id: Annotated[str, Field(min_length=1, max_length=256)]
    text: str | None = None
    route: Literal["review", "audit"] = "review"
    round: Annotated[int, Field(ge=0, le=INT_MAX)]
    priority: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    suggested: SmallInt | None = None
    confidence: Annotated[float | None, Field(ge=0, le=1)] = None
    votes: dict[str, SmallInt | None] = Field(default_factory=dict)
    judge_rationale: str | None = None
    suggestion_source: Literal["label_model", "end_model", "stacked", "stacked_judge", "crowdlab"] | None = None
    label_model_label: SmallInt | None = None
    label_model_confidence: Annotated[float | None, Field(ge=0, le=1)] = None
    end_model_label: SmallInt | None = None
    end_model_confidence: Annotated[float | None, Field(ge=0, le=1)] = None
    fields: dict[str, str | None] | None = Field(default=None, description="The item's shown fields, name -> text (dataset.fields); null: the text alone.")


class ItemsIn(_In):
    items: Annotated[list[ItemIn], Field(max_length=100_000)]


class GoldIn(_In):
    item_id: Annotated[str, Field(min_length=1, max_length=256)]
    label: SmallInt
    text: str | None = None


class AdjudicateIn(_In):
    label: SmallInt
    comment: Annotated[str | None, Field(max_length=2000)] = None


class ResolveIn(_In):
    comment: Annotated[str | None, Field(max_length=2000)] = None


class ProgressOut(BaseModel):
    done: int
    remaining: int
    round: int | None
    round_total: int
    round_settled: int
    round_disputed: int
