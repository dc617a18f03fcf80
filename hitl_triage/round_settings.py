"""Config sections of the round loop: ``confidence:``, ``triage:`` and ``curriculum:``.

Example (every key optional; these are the defaults)::

    confidence:
      features: auto             # tfidf+embeddings up to 50,000 items, else tfidf; or tfidf, embeddings, spacy
      embedding_model: static    # model2vec distilled from all-MiniLM-L6-v2; or minilm (slow)
      embedding_weight: 1.0      # scale of the embedding block next to TF-IDF
      word_ngrams: [1, 2]
      char_ngrams: [2, 5]        # null turns character n-grams off
      max_features: 20000        # per analyzer
      vote_features: true        # the sources' votes are end-model features too
      combine: select            # or end_model, or crowdlab (with vote_features: false)
      select_min_audit: 10
      stack_C: 1.0
      C: 10.0
      cv_folds: 5
      min_human_labels: 20
      weak_label_weight: 0.0
      max_weak_labels: 20000
    triage:
      alpha: 0.05
      delta: 0.1
      audit_fraction: 0.3
      audit_adaptive: false
      audit_fraction_min: 0.1
      audit_fraction_max: 0.5
      audit_region: null
      audit_low_weight: 0.25
      scan_start_fraction: 0.2
      strong_source_accuracy: 0.9
      strong_source_min_labels: 10
      review_max_similarity: 0.45
      review_order: margin
    curriculum:
      total_budget: 0.1
      schedule: [0.25, 0.2, 0.17, 0.14, 0.12, 0.12]
      target_accuracy: null
      min_answered_share: 1.0
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _ngram_range(value: tuple[int, int] | None) -> tuple[int, int] | None:
    if value is not None and not 1 <= value[0] <= value[1] <= 8:
        raise ValueError(f"expected [low, high] with 1 <= low <= high <= 8, got {list(value)}")
    return value


class ConfidenceConfig(_Section):
    """How per-item confidence is computed: the end model and cleanlab's CROWDLAB."""

    features: Literal["auto", "tfidf", "embeddings", "tfidf+embeddings", "spacy"] = Field(
        default="auto",
        description="End-model text features: auto (the default): TF-IDF plus sentence "
        "embeddings up to embeddings_max_items items, TF-IDF alone above; tfidf: word (+ "
        "character) n-grams; embeddings (embedding_model); both side by side; or the document "
        "vectors of lfs.spacy_pipeline (which must have word vectors). docs/features.md.",
    )
    embeddings_max_items: Annotated[int, Field(ge=0)] = Field(
        default=50_000,
        description="With features: auto, the most items that get sentence embeddings beside "
        "TF-IDF. Above it a 10 % budget is thousands of labels, enough for TF-IDF alone, and the "
        "dense embedding block would cost memory and end-model time (docs/features.md).",
    )
    embedding_model: Literal["minilm", "static"] = Field(
        default="static",
        description="Sentence embeddings from all-MiniLM-L6-v2 (the packaged weights, run by "
        "sentence-transformers; accurate, slow on CPU) or from a static model2vec model "
        "distilled once from the same weights (about 100x faster, a little less accurate).",
    )
    embedding_weight: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        default=1.0,
        description="Scale of the (unit-norm) embedding rows in the design matrix; TF-IDF "
        "blocks have unit-norm rows too.",
    )
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] | None = (2, 5)
    max_features: Annotated[int, Field(ge=100, le=1_000_000)] = 20_000
    vote_features: bool = Field(
        default=True,
        description="Add each source's vote (one-hot) to the end model's features, so human "
        "labels teach it how far to trust each source.",
    )
    combine: Literal["select", "end_model", "crowdlab"] = Field(
        default="select",
        description="Which posterior labels and scores items: 'select' (default) chooses among "
        "the label model, the end model and a stacked model on both posteriors by accuracy on "
        "the audit labels (the label model until select_min_audit exist; see "
        "hitl_triage/combine.py); 'end_model' always the end model (which, with vote_features, "
        "weighs every source by the human labels); 'crowdlab' CROWDLAB's combination of the "
        "sources as annotators with the end model (use with vote_features: false).",
    )
    select_min_audit: Annotated[int, Field(ge=1)] = Field(
        default=10,
        description="With combine: select, the audit labels needed before anything but the "
        "label model may be chosen (and human labels before the stacked model is fitted).",
    )
    stack_C: Annotated[float, Field(gt=0.0, le=1e6)] = Field(
        default=1.0,
        description="Inverse regularization of the stacked model (a logistic regression on the "
        "label model's and the end model's log posteriors).",
    )
    C: Annotated[float, Field(gt=0.0, le=1e6)] = 10.0
    cv_folds: Annotated[int, Field(ge=2, le=20)] = 5
    min_human_labels: Annotated[int, Field(ge=2)] = Field(
        default=20,
        description="Below this many human labels the end model learns from label-model labels.",
    )
    weak_label_weight: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.0,
        description="Once enough human labels exist, the weight of label-model labels of the "
        "other items as extra end-model targets (0 = human labels only).",
    )
    max_weak_labels: Annotated[int, Field(ge=100)] = Field(
        default=20_000,
        description="At most this many label-model labels (a uniform sample) train the end "
        "model; human labels always do. Bounds the end model's cost on large sets.",
    )
    entity_markers: bool = Field(
        default=False,
        description="Relation tasks: the end model reads the text with its two entities marked "
        "([E1] ... [/E1], [E2] ... [/E2]) from the dataset's span1/span2 columns (WRENCH "
        "relation sets carry them), so it knows which pair the label is about.",
    )
    self_training: Annotated[float, Field(gt=0.5, le=1.0)] | None = Field(
        default=None,
        description="If set, each fold model's guesses at least this sure on items without a "
        "label join its training data once (out-of-fold is kept: held-out labels never do).",
    )
    self_training_weight: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5

    _check_word = field_validator("word_ngrams")(lambda v: _ngram_range(v))
    _check_char = field_validator("char_ngrams")(lambda v: _ngram_range(v))


class TriageConfig(_Section):
    """How items are routed to accept, review and audit."""

    alpha: Fraction = Field(default=0.05, description="Target error rate among accepted items.")
    delta: Fraction = Field(
        default=0.1, description="Allowed probability that the accepted error exceeds alpha."
    )
    audit_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.3,
        description="Share of each round's human budget spent on the uniform random audit "
        "sample (the only labels used to certify accepted items).",
    )
    audit_adaptive: bool = Field(
        default=False,
        description="Set each round's audit share from what an audit could certify: from "
        "audit_fraction_min (nothing looks acceptable) up to audit_fraction_max (every "
        "unlabeled item's blind score is at least 1 - alpha), instead of the fixed "
        "audit_fraction. Scores only, set before the round's labels are seen. Off by default: "
        "it starved the audit on youtube and trec (docs/rounds.md).",
    )
    audit_fraction_max: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.5, description="With audit_adaptive, the largest audit share of a round's budget.",
    )
    audit_fraction_min: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.1, description="With audit_adaptive, the smallest audit share of a round's budget.",
    )
    audit_region: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        default=None,
        description="If set, draw audit items mostly from the region that could be accepted: "
        "the top audit_region share of the unlabeled, undisputed items by blind score; the "
        "rest is drawn at audit_low_weight times the density, and every audit item keeps its "
        "inverse inclusion probability as its weight. null (default): a uniform audit. The "
        "audit also chooses the posterior, and the candidates differ most outside the region, "
        "where a stratified audit has few, heavily weighted labels: measured worse (docs/rounds.md).",
    )
    audit_low_weight: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.25,
        description="Relative sampling density of the audit outside audit_region (> 0, so the "
        "whole pool stays covered and the estimates stay unbiased).",
    )
    scan_start_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.2,
        description="The threshold scan starts at the strictest threshold covering this share "
        "of the audit items (at least the fewest that could pass), so that a single confident "
        "error among the very top items does not block every looser threshold.",
    )
    per_class_thresholds: bool = Field(
        default=False,
        description="One accept threshold per predicted class, each calibrated at delta / k on "
        "the audit items of that class: every class's accepted error is <= alpha (the default "
        "single threshold bounds only the mix). Needs about k times more audit labels and "
        "accepted less in total in the Monte-Carlo of docs/rounds.md; use it when each class "
        "must be clean on its own (a rare class, say).",
    )
    strong_source_accuracy: Annotated[float, Field(gt=0.5, le=1.0)] = Field(
        default=0.9,
        description="A source is strong when its accuracy on human-labeled items is at least "
        "this; items on which strong sources disagree are never accepted.",
    )
    strong_source_min_labels: Annotated[int, Field(ge=1)] = Field(
        default=10, description="Human-labeled items a source must have voted on to be judged."
    )
    review_max_similarity: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        default=0.45,
        description="A round's review batch skips items whose TF-IDF cosine similarity to an "
        "item already in the batch exceeds this (null: no diversity rule).",
    )
    review_order: Literal["activelab", "margin"] = Field(
        default="margin",
        description="Order of the review queue: the margin between the two most likely classes "
        "of the CROWDLAB posterior (default; it already weighs every source), or cleanlab's "
        "ActiveLab scores (which favour items with few source votes: made for choosing whom "
        "to re-label, it measured worse here).",
    )


class CurriculumConfig(_Section):
    """Rounds and human budgets."""

    total_budget: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.1, description="Human labels (review + audit) as a share of the items, in (0, 1]."
    )
    schedule: Annotated[list[Annotated[float, Field(gt=0.0, le=1.0)]], Field(min_length=1, max_length=100)] = Field(
        default_factory=lambda: [0.25, 0.2, 0.17, 0.14, 0.12, 0.12],
        description="Per round, the share of the total budget it may spend; one entry per round.",
    )
    target_accuracy: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        default=None,
        description="Stop early once the lower confidence bound of the estimated training-set "
        "accuracy reaches this.",
    )
    min_answered_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=1.0,
        description="With real reviewers, the share of a round's routed items that must be "
        "answered before the next round starts.",
    )

    @field_validator("schedule")
    @classmethod
    def _schedule_sums_to_at_most_one(cls, value: list[float]) -> list[float]:
        total = sum(value)
        if total > 1.0 + 1e-9:
            raise ValueError(f"schedule shares must sum to at most 1, got {total:.4f}")
        return value
