"""The end model: a cheap, real text classifier whose probabilities are always out-of-fold.

TF-IDF word and character n-grams, sentence embeddings (:mod:`hitl_triage.embeddings`), both,
or spaCy document vectors, plus, optionally, the sources'
votes as one-hot features, into scikit-learn's ``LogisticRegression``. It learns from the
current best labels:

* with fewer than ``min_human_labels`` human labels: the label model's labels of every item;
* afterwards: the human labels (review and audit), plus, if ``weak_label_weight > 0``, the
  label model's labels of the other items at that weight.

``pred_probs`` are out-of-fold: an item's probabilities come from models that never saw its own
label. Items the model did not learn from (no human label, weak weight 0) get the mean of the
fold models' predictions, which also never saw a label for them.

Example::

    >>> X = build_features(texts, L, settings=ConfidenceConfig(), n_classes=2)
    >>> pred_probs = out_of_fold_probs(X, y, weights, n_classes=2, settings=..., random_state=0)
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from hitl_triage.distributed.settings import EngineConfig
from hitl_triage.errors import HitlTriageError
from hitl_triage.progress import Progress
from hitl_triage.round_settings import ConfidenceConfig
from hitl_triage.textfeatures import tfidf_matrix


class EndModelError(HitlTriageError):
    """The end model cannot be built or fitted (features, labels)."""


def _spacy_vectors(texts: list[str], pipeline: str) -> np.ndarray:
    from hitl_triage.lf.nlp import load_pipeline

    nlp = load_pipeline(pipeline)
    docs = list(nlp.pipe(texts, batch_size=256))
    if not docs or docs[0].vector.size == 0 or not nlp.vocab.vectors.size:
        raise EndModelError(
            f"confidence.features is 'spacy', but the pipeline {pipeline!r} (lfs.spacy_pipeline) "
            "has no word vectors; install one with vectors (e.g. en_core_web_md) or use 'tfidf'"
        )
    return np.vstack([d.vector for d in docs]).astype(np.float64)


def _tfidf_blocks(clean: list[str], settings: ConfidenceConfig) -> list[sp.spmatrix]:
    blocks: list[sp.spmatrix] = []
    if not any(t.strip() for t in clean):
        return blocks
    with contextlib.suppress(ValueError):  # nothing but punctuation: no word features
        blocks.append(tfidf_matrix(clean, analyzer="word", ngram_range=settings.word_ngrams,
                                   max_features=settings.max_features)[0])
    if settings.char_ngrams is not None:
        with contextlib.suppress(ValueError):
            blocks.append(tfidf_matrix(clean, analyzer="char_wb", ngram_range=settings.char_ngrams,
                                       min_df=min(3, len(clean)), max_features=settings.max_features)[0])
    return blocks


def _embedding_block(clean: list[str], settings: ConfidenceConfig, cache_dir: Path | None,
                     progress: Progress | None, engine: EngineConfig | None = None) -> sp.csr_matrix:
    from hitl_triage.embeddings import embed

    E = embed(clean, model=settings.embedding_model, cache_dir=cache_dir, progress=progress, engine=engine)
    return sp.csr_matrix(E.astype(np.float64) * settings.embedding_weight)


def resolve_features(settings: ConfidenceConfig, n_items: int) -> str:
    """The feature kind ``settings.features`` means for ``n_items`` items (``auto``:
    ``tfidf+embeddings`` up to ``settings.embeddings_max_items``, else ``tfidf``)."""
    if settings.features != "auto":
        return settings.features
    return "tfidf+embeddings" if n_items <= settings.embeddings_max_items else "tfidf"


def text_features(
    texts: list[str | None],
    *,
    settings: ConfidenceConfig,
    spacy_pipeline: str = "blank:en",
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    engine: EngineConfig | None = None,
) -> sp.csr_matrix | None:
    """The text part of the end model's design matrix (built once per run and shared).

    Args:
        texts: ``n_items`` texts (None or empty allowed: such rows are all zero).
        cache_dir: where sentence embeddings are cached by text hash (the run directory's
            ``features/``); None = computed without a cache on disk.
        progress: ``(stage, done, total)`` callback while embedding.
        engine: where sentence embeddings are computed (``kind: ray``: on the cluster, see
            :func:`hitl_triage.embeddings.embed`); TF-IDF always runs here.

    Returns:
        ``(n_items, n_features)`` sparse float matrix, by ``settings.features`` (``auto``
        resolved by :func:`resolve_features`): TF-IDF word and
        character n-grams (:func:`hitl_triage.textfeatures.tfidf_matrix`, identical to
        scikit-learn's ``TfidfVectorizer``), sentence embeddings
        (:func:`hitl_triage.embeddings.embed`, unit-norm rows times ``embedding_weight``), both
        side by side (TF-IDF columns first), or spaCy document vectors; None when no text has a
        feature.
    """
    clean = [t or "" for t in texts]
    blocks: list[sp.spmatrix] = []
    kind = resolve_features(settings, len(clean))
    if kind == "spacy":
        blocks.append(sp.csr_matrix(_spacy_vectors(clean, spacy_pipeline)))
    if kind in ("tfidf", "tfidf+embeddings"):
        blocks.extend(_tfidf_blocks(clean, settings))
    if kind in ("embeddings", "tfidf+embeddings") and any(t.strip() for t in clean):
        blocks.append(_embedding_block(clean, settings, cache_dir, progress, engine))
    return sp.hstack(blocks).tocsr() if blocks else None


def mark_entities(texts: list[str | None], span1: list, span2: list) -> list[str]:
    """Texts with the two entities of a relation marked: ``[E1] ... [/E1]`` and ``[E2] ... [/E2]``.

    Args:
        texts: ``n`` texts; span1, span2: ``n`` ``[start, end)`` character spans (None or
            malformed: that entity is left unmarked).

    Example: ``mark_entities(["aspirin inhibits COX"], [[0, 7]], [[17, 20]])`` gives
    ``["[E1] aspirin [/E1] inhibits [E2] COX [/E2]"]``.
    """
    out: list[str] = []
    for text, a, b in zip(texts, span1, span2, strict=True):  # per item: string surgery, no vector form
        text = text or ""
        cuts = []
        for tag, span in (("E1", a), ("E2", b)):
            if span is not None and len(span) == 2 and 0 <= span[0] < span[1] <= len(text):
                cuts.append((int(span[0]), int(span[1]), tag))
        for start, end, tag in sorted(cuts, reverse=True):  # right to left keeps offsets valid
            text = f"{text[:start]}[{tag}] {text[start:end]} [/{tag}]{text[end:]}"
        out.append(text)
    return out


def vote_block(L: np.ndarray, n_classes: int) -> sp.csr_matrix:
    """``(n_items, n_sources * n_classes)`` one-hot votes (class-major column blocks)."""
    return sp.hstack([sp.csr_matrix((L == c).astype(np.float64)) for c in range(n_classes)]).tocsr()


def combine_features(text: sp.csr_matrix | None, L: np.ndarray, *, settings: ConfidenceConfig,
                     n_classes: int) -> sp.csr_matrix:
    """The end model's design matrix from prebuilt text features and the votes."""
    blocks: list[sp.spmatrix] = [] if text is None else [text]
    if settings.vote_features and L.shape[1]:
        blocks.append(vote_block(L, n_classes))
    if not blocks:
        return sp.csr_matrix(np.ones((L.shape[0], 1)))
    return sp.hstack(blocks).tocsr()


def build_features(
    texts: list[str | None],
    L: np.ndarray,
    *,
    settings: ConfidenceConfig,
    n_classes: int,
    spacy_pipeline: str = "blank:en",
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> sp.csr_matrix:
    """The end model's design matrix: :func:`text_features` and, with ``vote_features``, the
    one-hot votes.

    Args:
        texts: ``n_items`` texts (None or empty allowed: such rows have only vote features).
        L: ``(n_items, n_sources)`` int votes in ``{-1, ..., k-1}``.

    Returns:
        ``(n_items, n_features)`` sparse float matrix.
    """
    text = text_features(texts, settings=settings, spacy_pipeline=spacy_pipeline,
                         cache_dir=cache_dir, progress=progress)
    return combine_features(text, np.asarray(L), settings=settings, n_classes=n_classes)


def _classifier(settings: ConfidenceConfig) -> LogisticRegression:
    return LogisticRegression(C=settings.C, max_iter=1000, tol=1e-3)


def _fit_predict(
    X: sp.csr_matrix, rows: np.ndarray, y: np.ndarray, w: np.ndarray, targets: np.ndarray,
    *, n_classes: int, settings: ConfidenceConfig,
) -> np.ndarray:
    """Fit on ``rows`` (labels ``y``, weights ``w``) and predict ``targets`` as ``(t, k)``."""
    out = np.zeros((targets.size, n_classes))
    classes = np.unique(y)
    if classes.size == 1:  # one class seen: the model can only say that class
        out[:, classes[0]] = 1.0
        return out
    model = _classifier(settings).fit(X[rows], y, sample_weight=w)
    out[:, model.classes_] = model.predict_proba(X[targets])
    return out


def _self_train(
    X: sp.csr_matrix, rows: np.ndarray, y: np.ndarray, w: np.ndarray, targets: np.ndarray,
    pred: np.ndarray, n_held: int, *, n_classes: int, settings: ConfidenceConfig,
) -> np.ndarray:
    """One round of self-training inside a fold: the fold model's confident guesses on items
    without a label join its training data. The held-out items' labels are never used, so the
    predictions stay out-of-fold."""
    others = targets[n_held:]
    other_pred = pred[n_held:]
    sure = other_pred.max(axis=1) >= float(settings.self_training)  # type: ignore[arg-type]
    if not sure.any():
        return pred
    extra = others[sure]
    rows2 = np.r_[rows, extra]
    y2 = np.r_[y, other_pred[sure].argmax(axis=1)]
    w2 = np.r_[w, np.full(extra.size, settings.self_training_weight)]
    return _fit_predict(X, rows2, y2, w2, targets, n_classes=n_classes, settings=settings)


def _splitter(y: np.ndarray, folds: int, seed: int) -> tuple[KFold | StratifiedKFold, int]:
    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min())
    if smallest >= folds:
        return StratifiedKFold(folds, shuffle=True, random_state=seed), folds
    return KFold(min(folds, y.size), shuffle=True, random_state=seed), min(folds, y.size)


def out_of_fold_probs(
    X: sp.csr_matrix,
    labels: np.ndarray,
    weights: np.ndarray,
    *,
    n_classes: int,
    settings: ConfidenceConfig,
    random_state: int,
) -> np.ndarray:
    """Out-of-fold class probabilities of every item.

    Args:
        X: ``(n_items, n_features)`` from :func:`build_features`.
        labels: ``(n_items,)`` int64 training label per item, ``-1`` = none.
        weights: ``(n_items,)`` float sample weight per labeled item (ignored where ``-1``).
        random_state: seed of the fold split.

    Returns:
        ``(n_items, n_classes)`` float64, rows sum to 1. Items with a label get the prediction
        of the fold model that did not see it; the others get the mean of the fold models.

    Raises:
        EndModelError: fewer than two labeled items.
    """
    n = X.shape[0]
    train = np.flatnonzero((labels >= 0) & (weights > 0))
    if train.size < 2:
        raise EndModelError(f"the end model needs at least 2 labeled items, got {train.size}")
    others = np.setdiff1d(np.arange(n), train)
    splitter, folds = _splitter(labels[train], settings.cv_folds, random_state)
    probs = np.zeros((n, n_classes))
    with threadpool_limits(1):  # the machines are small and shared; BLAS threads only contend
        for fit_idx, held_idx in splitter.split(train, labels[train]):
            rows, held = train[fit_idx], train[held_idx]
            targets = np.r_[held, others]
            pred = _fit_predict(X, rows, labels[rows], weights[rows], targets,
                                n_classes=n_classes, settings=settings)
            if settings.self_training is not None and others.size:
                pred = _self_train(X, rows, labels[rows], weights[rows], targets, pred, held.size,
                                   n_classes=n_classes, settings=settings)
            probs[held] = pred[: held.size]
            probs[others] += pred[held.size:] / folds
    probs = np.clip(probs, 1e-6, None)
    return probs / probs.sum(axis=1, keepdims=True)
