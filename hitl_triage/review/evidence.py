"""What the review screen shows beside an item, in one place for the page, the API and the
script: the suggestion and where it comes from, both models' guesses when they differ, and only
the sources that voted, each with its accuracy on the human labels settled so far and its n.

A blind audit item (``review.blind_audit``) arrives here with no evidence at all and comes out
exactly like a review item without evidence: no field or markup says "audit".
"""

from __future__ import annotations

from dataclasses import dataclass

from hitl_triage.store import TaskView

SOURCE_LINES = {
    "label_model": "the label model (the LF and judge votes combined)",
    "end_model": "the end model (a text classifier trained on the labels so far)",
    "stacked": "the label model and the end model combined",
    "stacked_judge": "the label model, the end model and the in-round judge combined",
    "crowdlab": "CROWDLAB (the votes, the end model and the reviewers' labels combined)",
}


@dataclass(frozen=True)
class ModelGuess:
    label: int
    name: str
    confidence: float | None


@dataclass(frozen=True)
class SourceLine:
    """A source that voted: its vote and its accuracy on settled human labels (None while n is 0)."""

    name: str
    vote: int
    vote_name: str
    accuracy: float | None
    n: int


@dataclass(frozen=True)
class Shown:
    suggestion_line: str | None
    label_model: ModelGuess | None  # both set only when the two models disagree
    end_model: ModelGuess | None
    sources: list[SourceLine]


def _guess(raw: object, names: list[str]) -> ModelGuess | None:
    if not isinstance(raw, list) or len(raw) != 2 or raw[0] is None:
        return None
    return ModelGuess(int(raw[0]), names[int(raw[0])], raw[1])


def present(task: TaskView, names: list[str]) -> Shown:
    """The evidence of ``task`` as shown; ``names`` are the label names by class index."""
    models = task.models
    lm, em = _guess(models.get("label_model"), names), _guess(models.get("end_model"), names)
    line = None
    if task.suggested is not None and models.get("source") in SOURCE_LINES:
        line = f"Suggested by {SOURCE_LINES[models['source']]}"
        if lm is not None and em is not None and lm.label == em.label:
            line += "; the label model and the end model agree"
        line += "."
    differ = lm is not None and em is not None and lm.label != em.label
    sources = []
    for name, vote in sorted(task.votes.items()):
        if vote is None:  # abstains are not shown
            continue
        measured = task.source_accuracy.get(name)
        accuracy, n = (measured.accuracy, measured.n) if measured is not None else (None, 0)
        sources.append(SourceLine(name, vote, names[vote], accuracy, n))
    return Shown(line, lm if differ else None, em if differ else None, sources)

