"""Confidence: combine every source of evidence into one label, a score and reasons per item.

The evidence and how each piece is counted (once):

* **Sources as annotators.** Each LF column of ``L``, the judge's column (when present) and
  each human reviewer is an annotator for cleanlab's CROWDLAB
  (:func:`cleanlab.multiannotator.get_label_quality_multiannotator`), which weighs each one by
  how well it agrees with the others and with the model.
* **The end model** (:mod:`hitl_triage.endmodel`) supplies CROWDLAB's ``pred_probs``. They are
  out-of-fold, so an item's own votes and labels never reach its prediction through training.
  With ``vote_features`` the end model reads the votes as features; its weights for them are
  learned from *human* labels only, which is how human labels become LF accuracy evidence.
* **The label model's** ``P(y|L)`` is a function of the same votes CROWDLAB reads as
  annotators, so it is *not* added to the posterior (that would count each vote twice). It is
  the end model's teacher before humans have answered, is kept per item as evidence, and is
  the ``no_human`` baseline.
* **The judge's probabilities** are not used beyond its vote column, for the same reason.
  The in-round judge (``judge_probs``, :mod:`hitl_triage.judge.inround`) is not in ``L``: its
  probabilities are features of the ``stacked_judge`` candidate (:mod:`hitl_triage.combine`).

Which posterior scores the items (``confidence.combine``):

* ``end_model`` (default): with ``vote_features`` the end model already *is* the combination of
  the votes and the text, each source weighted by what the human labels say about it (a
  stacked model). CROWDLAB still runs over every source and reviewer, and gives the per-source
  quality, the reviewers' consensus and the ActiveLab option, but its posterior is not used:
  it would add the votes a second time (as annotators weighted by mutual agreement), and on the
  WRENCH sets that measured less accurate and ranked worse (trec: 0.857 vs 0.866 accuracy,
  2.7 % vs 0.7 % error among the 25 % most confident).
* ``crowdlab``: CROWDLAB's posterior (its fitted model and annotator weights, its formula) with
  the end model as ``pred_probs``; the right choice with ``vote_features: false``, where the
  votes reach the posterior only as annotators.

Either way the posterior is *blind*: out-of-fold end-model probabilities, and CROWDLAB computed
without human columns, so an audited item is scored exactly like the unlabeled items it
vouches for. Human-labeled items take their human label.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp
from cleanlab.multiannotator import get_active_learning_scores, get_label_quality_multiannotator

from hitl_triage.combine import Selection, StackedModel, judge_features, select_posterior
from hitl_triage.config import LabelModelConfig, TaskConfig
from hitl_triage.data import Dataset, field_values
from hitl_triage.endmodel import combine_features, mark_entities, out_of_fold_probs, text_features
from hitl_triage.indexing import row_index
from hitl_triage.labelmodel import choose_label_model, fit_label_model_probs
from hitl_triage.round_settings import ConfidenceConfig, TriageConfig
from hitl_triage.schema import ABSTAIN

END_MODEL = "end_model"
END_MODEL_VOTE_AT = 0.9  # the end model "votes" in the dispute check when this sure
CROWDLAB_FIT_MAX = 20_000  # rows CROWDLAB fits its annotator weights on (a uniform sample)


@dataclass(frozen=True)
class RoundInputs:
    """What stays fixed over a run: items, votes and the end model's features.

    Attributes:
        ids: ``n`` item ids; texts: ``n`` texts (None allowed).
        L: ``(n, m)`` int8 votes, ``-1`` abstain; names: ``m`` source names.
        X: ``(n, d)`` sparse end-model features (text and, if configured, votes).
        X_text: ``(n, d_text)`` the text features alone (None when no text has one); built
            once per run, shared by the baselines.
        fields: ``n`` rows, one String column per shown field (``dataset.fields``), sent to
            the review store with each routed item; None when no fields are listed.
    """

    ids: list[str]
    texts: list[str | None]
    L: np.ndarray
    names: list[str]
    X: sp.csr_matrix
    X_text: sp.csr_matrix | None = None
    fields: pl.DataFrame | None = None

    @classmethod
    def build(cls, config: TaskConfig, dataset: Dataset, L: np.ndarray, names: list[str]) -> RoundInputs:
        texts = dataset.items["text"].to_list()
        L = np.asarray(L, dtype=np.int8)
        model_texts = texts
        if config.confidence.entity_markers and {"span1", "span2"} <= set(dataset.items.columns):
            model_texts = mark_entities(texts, dataset.items["span1"].to_list(), dataset.items["span2"].to_list())
        X_text = text_features(model_texts, settings=config.confidence, spacy_pipeline=config.lfs.spacy_pipeline,
                               cache_dir=config.out_dir / "features",  # embeddings cached by text hash
                               engine=config.engine)
        X = combine_features(X_text, L, settings=config.confidence, n_classes=config.n_classes)
        fields = field_values(dataset.items, config.dataset) if config.dataset.fields else None
        return cls(ids=dataset.ids, texts=texts, L=L, names=list(names), X=X, X_text=X_text, fields=fields)


@dataclass(frozen=True)
class Evidence:
    """Per-item confidence of one round.

    Attributes:
        probs: ``(n, k)`` float64 blind posterior (end model or CROWDLAB, see module doc), rows
            sum to 1.
        guess: ``(n,)`` int64 ``argmax probs``; guess_score: ``(n,)`` ``max probs``. Both are
            blind to the item's own human label, so audited items are scored like the rest.
        label: ``(n,)`` int64 best guess: the human label where known, else ``argmax probs``.
        score: ``(n,)`` float in [0, 1], confidence in ``label`` (1.0 for human labels; higher
            = more likely right). For audited items it is the blind score (label left out).
        value: ``(n,)`` float in [0, 1], expected value of a human label (1 - ActiveLab score;
            higher = review first; 0 for items with a human label).
        disputed: ``(n,)`` bool, strong sources (see :func:`strong_sources`) vote different
            classes.
        label_model_probs: ``(n, k)`` the label model's ``P(y|L)`` (kept as evidence).
        end_model_probs: ``(n, k)`` out-of-fold end-model probabilities.
        source_quality: per source: CROWDLAB quality and agreement, and accuracy on human labels.
        model_weight: CROWDLAB's weight of the end model (None when CROWDLAB could not run).
        chosen: the posterior that labels and scores (``label_model``, ``end_model``,
            ``stacked`` or ``crowdlab``); choice_reason: why.
        label_model: the label model's kind (``auto: majority`` or ``auto: dawid_skene`` when
            chosen by :func:`hitl_triage.labelmodel.choose_label_model`); label_model_reason: why.
    """

    probs: np.ndarray
    guess: np.ndarray
    guess_score: np.ndarray
    label: np.ndarray
    score: np.ndarray
    value: np.ndarray
    disputed: np.ndarray
    label_model_probs: np.ndarray
    end_model_probs: np.ndarray
    source_quality: pl.DataFrame
    model_weight: float | None
    chosen: str = "end_model"
    choice_reason: str = ""
    label_model: str = ""
    label_model_reason: str = ""


def annotator_matrix(L: np.ndarray) -> np.ndarray:
    """``(n, m)`` float votes with NaN for abstain (cleanlab's ``labels_multiannotator``)."""
    A = L.astype(np.float64)
    A[L == ABSTAIN] = np.nan
    return A


def _quiet(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """cleanlab prints notes and warns; library code never prints."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def crowdlab_posterior(A: np.ndarray, pred_probs: np.ndarray, *, blind_cols: np.ndarray,
                       random_state: int = 0) -> tuple[np.ndarray, float | None, np.ndarray, pl.DataFrame]:
    """CROWDLAB's posterior with the columns in ``blind_cols`` left out of every row.

    Args:
        A: ``(n, m)`` annotator labels, NaN = no label.
        pred_probs: ``(n, k)`` out-of-fold model probabilities.
        blind_cols: ``(m,)`` bool, columns fitted as annotators but left out of the posterior.

    Returns:
        ``(post (n, k), model_weight, annotator_weight (m,), annotator_stats)``. Rows with no
        label get ``pred_probs``. Weights are CROWDLAB's, the formula is cleanlab's
        ``_get_post_pred_probs_and_weights`` (reproduced to leave columns out). Above
        ``CROWDLAB_FIT_MAX`` labeled rows the weights are fitted on a uniform sample of them
        (``random_state``) and the posterior formula is applied to every row.
    """
    n, k = pred_probs.shape
    post = pred_probs.copy()
    used = ~np.isnan(A).all(axis=0)
    has = ~np.isnan(A[:, used]).all(axis=1)
    multi = (~np.isnan(A[:, used])).sum(axis=1) > 1
    empty_stats = pl.DataFrame(schema={"annotator": pl.Int64, "annotator_quality": pl.Float64,
                                       "agreement_with_consensus": pl.Float64})
    if used.sum() < 2 or multi.sum() < 2:
        return post, None, np.zeros(A.shape[1]), empty_stats
    fit_rows = np.flatnonzero(has)
    if fit_rows.size > CROWDLAB_FIT_MAX:  # the weights are global: fit them on a uniform sample
        rng = np.random.default_rng([random_state, 13])
        fit_rows = np.sort(rng.choice(fit_rows, size=CROWDLAB_FIT_MAX, replace=False))
    sub = A[fit_rows][:, used]
    if ((~np.isnan(sub)).sum(axis=1) > 1).sum() < 2 or (~np.isnan(sub).all(axis=0)).sum() < 2:
        return post, None, np.zeros(A.shape[1]), empty_stats
    info = _quiet(get_label_quality_multiannotator, sub, pred_probs[fit_rows], return_weights=True,
                  return_detailed_quality=False, return_annotator_stats=True, verbose=False)
    model_weight = float(info["model_weight"])
    weights = np.zeros(A.shape[1])
    weights[used] = np.asarray(info["annotator_weight"], dtype=np.float64)
    quality = info["label_quality"]
    n_ann = quality["num_annotations"].to_numpy()
    agree = quality["annotator_agreement"].to_numpy()
    likely = float(np.mean(agree[n_ann != 1]))
    unlikely = (1.0 - likely) / (k - 1)
    keep = ~blind_cols & used
    total = np.full(n, model_weight)
    acc = model_weight * pred_probs
    for j in np.flatnonzero(keep):
        voted = ~np.isnan(A[:, j])
        onehot = np.where(A[voted, j][:, None] == np.arange(k)[None, :], likely, unlikely)
        acc[voted] += weights[j] * onehot
        total[voted] += weights[j]
    post = acc / total[:, None]
    stats = info["annotator_stats"]
    used_idx = np.flatnonzero(used)
    stats_frame = pl.DataFrame({
        "annotator": [int(used_idx[int(i)]) for i in stats.index],
        "annotator_quality": stats["annotator_quality"].to_numpy().astype(np.float64),
        "agreement_with_consensus": stats["agreement_with_consensus"].to_numpy().astype(np.float64),
    })
    return post / post.sum(axis=1, keepdims=True), model_weight, weights, stats_frame


def review_value(A: np.ndarray, probs: np.ndarray, *, order: str) -> np.ndarray:
    """Expected value of one more (human) label per item, in [0, 1], higher = review first.

    ``activelab``: ``1 -`` cleanlab's ActiveLab score (items with source votes are scored from
    their annotations and ``probs``, items without from ``probs`` alone). ``margin``: ``1 -``
    the gap between the two most likely classes of ``probs``.
    """
    if order == "margin" or A.shape[1] == 0:
        top = np.sort(probs, axis=1)
        return 1.0 - (top[:, -1] - top[:, -2])
    has = ~np.isnan(A).all(axis=1)
    scores = np.empty(A.shape[0])
    cols = ~np.isnan(A[has]).all(axis=0) if has.any() else np.zeros(A.shape[1], bool)
    if has.sum() >= 2 and cols.any() and (~np.isnan(A[has][:, cols])).sum(axis=1).max() > 1:
        labeled, unlabeled = _quiet(get_active_learning_scores, A[has][:, cols], probs[has],
                                    probs[~has] if (~has).any() else None)
        scores[has] = labeled
        if (~has).any():
            scores[~has] = unlabeled
    else:
        _, unlabeled = _quiet(get_active_learning_scores, None, None, probs)
        scores[:] = unlabeled
    return np.clip(1.0 - scores, 0.0, 1.0)


def source_accuracy(L: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per source: ``(n_voted_known (m,), accuracy on human-labeled items (m,), NaN if none)``."""
    known = (y >= 0)[:, None] & (L != ABSTAIN)
    n_known = known.sum(axis=0)
    correct = (known & (L == y[:, None])).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n_known > 0, correct / np.maximum(n_known, 1), np.nan)
    return n_known, acc


def strong_sources(L: np.ndarray, y: np.ndarray, *, min_accuracy: float, min_labels: int) -> np.ndarray:
    """``(m,)`` bool: sources with ``>= min_labels`` human-labeled votes and accuracy ``>= min_accuracy``."""
    n_known, acc = source_accuracy(L, y)
    return (n_known >= min_labels) & (np.nan_to_num(acc) >= min_accuracy)


def disputed_items(L: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: at least two strong sources vote for different classes."""
    if not strong.any():
        return np.zeros(L.shape[0], dtype=bool)
    S = L[:, strong].astype(np.int64)
    voted = S != ABSTAIN
    big = np.where(voted, S, np.iinfo(np.int64).max)
    small = np.where(voted, S, np.iinfo(np.int64).min)
    return (voted.sum(axis=1) >= 2) & (big.min(axis=1) != small.max(axis=1))


def reasons(L: np.ndarray, names: list[str], label: np.ndarray, rows: np.ndarray) -> list[dict[str, list[str]]]:
    """For each index in ``rows``: the sources that voted for ``label`` and those against."""
    frame = reason_columns(L[rows], names, np.asarray(label)[rows])
    return [{"for": f, "against": a} for f, a in frame.iter_rows()]


def _name_lists(mask: np.ndarray, names: list[str]) -> pl.Series:
    """``(n,)`` list[str] column: per row, the ``names`` of the columns where ``mask`` is True
    (in column order). Built from flat arrays and offsets (Arrow), no loop over rows."""
    import pyarrow as pa

    rows, cols = np.nonzero(mask)  # row-major: grouped by row, columns ascending
    offsets = np.zeros(mask.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=mask.shape[0]), out=offsets[1:])
    values = pa.DictionaryArray.from_arrays(pa.array(cols.astype(np.int32)),
                                            pa.array(list(names), type=pa.string())).dictionary_decode()
    return pl.Series(pa.LargeListArray.from_arrays(pa.array(offsets), values)).cast(pl.List(pl.String))


def reason_columns(L: np.ndarray, names: list[str], label: np.ndarray) -> pl.DataFrame:
    """Per item, the sources that voted for its label and those that voted against it.

    Args:
        L: ``(n, m)`` int votes, ``-1`` abstain; names: ``m`` source names.
        label: ``(n,)`` int label per item.

    Returns:
        A frame of ``n`` rows with ``sources_for`` and ``sources_against`` (``list[str]``, in
        source order), built from flat arrays (no Python loop over items).
    """
    n, m = L.shape
    if m == 0 or n == 0:
        empty = pl.Series([[]] * n, dtype=pl.List(pl.String))
        return pl.DataFrame({"sources_for": empty, "sources_against": empty})
    agree = L == np.asarray(label).reshape(-1, 1)
    against = (L != ABSTAIN) & ~agree
    return pl.DataFrame({"sources_for": _name_lists(agree, names),
                         "sources_against": _name_lists(against, names)})


def _end_model_labels(settings: ConfidenceConfig, L: np.ndarray, known: np.ndarray, lm: np.ndarray,
                      *, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Training labels and weights: human labels, plus label-model labels where configured
    (at most ``settings.max_weak_labels`` of them, a uniform sample)."""
    covered = (L != ABSTAIN).any(axis=1) if L.shape[1] else np.zeros(L.shape[0], bool)
    few = (known >= 0).sum() < settings.min_human_labels
    weak_weight = 1.0 if few else settings.weak_label_weight
    labels = np.where(known >= 0, known, -1)
    weights = np.where(known >= 0, 1.0, 0.0)
    if weak_weight > 0:
        weak = (known < 0) & covered
        rows = np.flatnonzero(weak)
        if rows.size > settings.max_weak_labels:
            rng = np.random.default_rng([random_state, 11])
            weak = np.zeros_like(weak)
            weak[rng.choice(rows, size=settings.max_weak_labels, replace=False)] = True
        labels = np.where(weak, lm.argmax(axis=1), labels)
        weights = np.where(weak, weak_weight * lm.max(axis=1), weights)
    return labels, weights


def human_columns(answers: pl.DataFrame, ids: list[str]) -> tuple[np.ndarray, list[str]]:
    """``(n, r)`` float labels per human reviewer (NaN = not answered) and reviewer names.

    Where a reviewer answered an item more than once, the last answer in table order counts.
    """
    if answers.is_empty():
        return np.empty((len(ids), 0)), []
    names = sorted(set(answers["reviewer"].to_list()))
    H = np.full((len(ids), len(names)), np.nan)
    rows = row_index(ids, answers["id"])
    cols = np.searchsorted(np.array(names, dtype=object), answers["reviewer"].to_numpy())
    ok = rows >= 0
    H[rows[ok], cols[ok]] = answers["label"].to_numpy()[ok]
    return H, names


def compute_evidence(
    config: TaskConfig,
    inputs: RoundInputs,
    known: np.ndarray,
    *,
    audited: np.ndarray | None = None,
    answers: pl.DataFrame | None = None,
    random_state: int = 0,
) -> Evidence:
    """:func:`evidence_from_arrays` with a task config's settings and the run's inputs.

    Args:
        answers: the answers table (for per-reviewer annotator columns); None = one column.
    """
    human = human_columns(answers, inputs.ids)[0] if answers is not None and answers.height else None
    return evidence_from_arrays(
        inputs.L, inputs.X, known, names=inputs.names, n_classes=config.n_classes,
        label_model=config.label_model, confidence=config.confidence, triage=config.triage,
        audited=audited, human=human, random_state=random_state,
    )


def evidence_from_arrays(
    L: np.ndarray,
    X: sp.csr_matrix,
    known: np.ndarray,
    *,
    names: list[str],
    n_classes: int,
    label_model: LabelModelConfig,
    confidence: ConfidenceConfig,
    triage: TriageConfig,
    audited: np.ndarray | None = None,
    human: np.ndarray | None = None,
    audit_weight: np.ndarray | None = None,
    judge_probs: np.ndarray | None = None,
    random_state: int = 0,
) -> Evidence:
    """One round's evidence from the votes, the text features and every human label so far.

    Args:
        L: ``(n, m)`` int8 votes, ``-1`` abstain; names: the ``m`` source names.
        X: ``(n, d)`` sparse end-model features (see :func:`hitl_triage.endmodel.build_features`).
        known: ``(n,)`` int64 human label per item, ``-1`` where none.
        audited: ``(n,)`` bool, items labeled through the uniform audit. Only they set the label
            model's class balance: reviewed items are chosen for being hard, so their classes
            are a biased sample. None = every known label.
        human: ``(n, r)`` float labels per reviewer (NaN = none) for CROWDLAB's annotator
            columns; None = one column built from ``known``.
        audit_weight: ``(n,)`` inverse inclusion probability of each audited item (stratified
            audit samples); None = uniform.
        judge_probs: ``(n, k)`` the in-round judge's temperature-scaled probabilities, NaN rows
            where it was not asked; extra features of the stacked model (see
            :func:`hitl_triage.combine.judge_features`). None = no in-round judge.

    With ``confidence.combine: select`` the posterior is chosen among the label model, the
    end model and a stacked model by audit accuracy (:mod:`hitl_triage.combine`); audited
    items then carry, in ``guess`` and ``guess_score``, their leave-one-out judgement.
    """
    k = n_classes
    balance_labels = known if audited is None else np.where(audited, known, -1)
    lm_kind, lm_reason = label_model.kind, ""
    if lm_kind == "auto":
        lm, chosen_kind, lm_reason = choose_label_model(label_model, L, n_classes=k, y_known=balance_labels,
                                                        random_state=random_state)
        lm_kind = f"auto: {chosen_kind}"
    else:
        lm = fit_label_model_probs(label_model, L, n_classes=k, y_known=balance_labels,
                                   random_state=random_state)
    labels, weights = _end_model_labels(confidence, L, known, lm, random_state=random_state)
    if ((labels >= 0) & (weights > 0)).sum() >= 2 and np.unique(labels[labels >= 0]).size >= 1:
        end = out_of_fold_probs(X, labels, weights, n_classes=k, settings=confidence,
                                random_state=random_state)
    else:  # nothing to learn from yet (every source abstains, no human label)
        end = lm.copy()
    if human is not None:
        H = human
    else:
        H = np.where(known >= 0, known, np.nan).astype(np.float64)[:, None]
        H = H if (known >= 0).any() else np.empty((len(known), 0))
    selection = None
    if confidence.combine == "select":
        selection = _select(lm, end, known, audited, audit_weight, confidence, random_state,
                            judge_probs=judge_probs)
    pred_probs = end if selection is None else selection.probs
    A = np.hstack([annotator_matrix(L), H])
    blind = np.r_[np.zeros(L.shape[1], bool), np.ones(H.shape[1], bool)]
    # CROWDLAB's model is the end model whatever labels the items: its posterior orders the
    # review queue (measured the better order on every WRENCH set, see the module doc)
    crowd, model_weight, weights_a, stats = crowdlab_posterior(A, end, blind_cols=blind,
                                                               random_state=random_state)
    probs = crowd if confidence.combine == "crowdlab" else pred_probs.copy()
    guess = probs.argmax(axis=1)
    guess_score = probs.max(axis=1)
    if selection is not None and selection.audit_rows.size:
        guess[selection.audit_rows] = selection.audit_guess
        guess_score[selection.audit_rows] = selection.audit_score
    is_known = known >= 0
    label = np.where(is_known, known, guess)
    score = np.where(is_known, 1.0, guess_score)
    # The value of a label is judged on CROWDLAB's posterior even when the end model scores:
    # it adds the sources' disagreement to the model's uncertainty (which is what makes an
    # answer informative), and measured the better review order on every WRENCH set.
    value = np.where(is_known, 0.0, review_value(annotator_matrix(L), crowd, order=triage.review_order))
    end_vote = np.where(pred_probs.max(axis=1) >= END_MODEL_VOTE_AT, pred_probs.argmax(axis=1), ABSTAIN)
    L_plus = np.hstack([L, end_vote[:, None]]).astype(np.int64)
    strong = strong_sources(L_plus, known, min_accuracy=triage.strong_source_accuracy,
                            min_labels=triage.strong_source_min_labels)
    disputed = disputed_items(L_plus, strong)
    n_known, acc = source_accuracy(L_plus, known)
    all_names = [*names, END_MODEL]
    quality = {j: (q, a) for j, q, a in stats.iter_rows()}
    source_quality = pl.DataFrame({
        "source": all_names,
        "coverage": (L_plus != ABSTAIN).mean(axis=0) if L_plus.size else np.zeros(len(all_names)),
        "n_human_labeled": n_known.astype(np.int64),
        "human_accuracy": acc,
        "crowdlab_weight": [float(weights_a[j]) if j < L.shape[1] else (model_weight or 0.0) for j in range(len(all_names))],
        "crowdlab_quality": [quality.get(j, (None, None))[0] for j in range(len(all_names))],
        "strong": strong,
    }, schema_overrides={"crowdlab_quality": pl.Float64})
    return Evidence(probs=probs, guess=guess, guess_score=guess_score, label=label, score=score,
                    value=value, disputed=disputed, label_model_probs=lm, end_model_probs=end,
                    source_quality=source_quality, model_weight=model_weight,
                    chosen=confidence.combine if selection is None else selection.name,
                    choice_reason="" if selection is None else selection.reason,
                    label_model=lm_kind, label_model_reason=lm_reason)


def _select(lm: np.ndarray, end: np.ndarray, known: np.ndarray, audited: np.ndarray | None,
            audit_weight: np.ndarray | None, confidence: ConfidenceConfig, random_state: int,
            *, judge_probs: np.ndarray | None = None) -> Selection:
    """The label model, the end model or the stacked model, by audit accuracy."""
    candidates = {"label_model": lm, "end_model": end}
    labeled = known >= 0
    if labeled.sum() >= confidence.select_min_audit:
        stacked = StackedModel(lm.shape[1], C=confidence.stack_C, cv_folds=confidence.cv_folds,
                               random_state=random_state)
        Z = StackedModel.design([lm, end])
        candidates["stacked"] = stacked.out_of_fold(Z, known)
        if judge_probs is not None:  # the in-round judge: one more source, weighed by the labels
            candidates["stacked_judge"] = stacked.out_of_fold(np.hstack([Z, judge_features(judge_probs)]), known)
    audit_rows = np.flatnonzero(labeled & (audited if audited is not None else labeled))
    weight = None if audit_weight is None else np.asarray(audit_weight, dtype=np.float64)[audit_rows]
    return select_posterior(candidates, known, audit_rows, audit_weight=weight,
                            min_audit=confidence.select_min_audit)
