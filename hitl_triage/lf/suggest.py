"""Candidate LFs mined from human-labeled items, scored on those labels, shown as code.

Mining (polars expressions, no Python loop over items): every human-labeled text is
lower-cased and split into word tokens; unigrams, n-grams up to ``max_ngram`` and word stems
(a prefix shared by several tokens, as a ``regex_lf``) are counted per label, and a few
character patterns (links, long numbers, money, shouting, repeated punctuation) are added.
The best of them are then *scored the same way as any candidate* (:func:`score_candidates`):
the candidate's own pattern, exactly as ``keyword_lf`` / ``regex_lf`` would run it, is
evaluated on the labeled texts; precision (share of the items it fires on that carry its
label) and coverage (share of labeled items it fires on) get Wilson intervals. Candidates
from elsewhere (an LLM judge, :mod:`hitl_triage.judge.keywords`; a colleague) go through
:func:`score_candidates` too; each suggestion's ``origin`` says where it came from (``mined``,
``judge``, or what the extra candidates' ``origin`` column says, default ``extra``).

Nothing here writes a file: accepting a candidate is the file layer's business
(:func:`hitl_triage.workbench.accept_suggestion`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import polars as pl

from hitl_triage.lf.workbench import WorkbenchError, wilson_interval

KEYWORD, REGEX = "keyword", "regex"
TOKEN = r"\w+"
# Character patterns worth trying on any task (Rust regex syntax, as regex_lf runs them).
TEMPLATES = [
    ("link", r"(?i)https?://|www\.|\.com\b"),
    ("long_number", r"\d{5,}"),
    ("money", r"[$£€]\s?\d"),
    ("shouting", r"\b[A-Z]{4,}\b"),
    ("exclamations", r"!{2,}"),
    ("question", r"\?\s*$"),
]
TEMPLATE_NAMES = {pattern: name for name, pattern in TEMPLATES}
CANDIDATE_SCHEMA = {"kind": pl.String, "pattern": pl.String, "label": pl.Int64}


def keyword_pattern(keyword: str) -> str:
    """The regex ``keyword_lf(..., [keyword], ...)`` runs (case-insensitive, whole words)."""
    return rf"(?i)\b(?:{re.escape(keyword)})\b"


def _slug(text: str) -> str:
    text = TEMPLATE_NAMES.get(text, text)
    for noise in ("(?i)", r"\b", r"\w*"):
        text = text.replace(noise, " ")
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()[:40] or "x"


def _labeled(texts: Sequence[str | None] | pl.Series, human_labels: np.ndarray) -> pl.DataFrame:
    human = np.asarray(human_labels, dtype=np.int64)
    if len(texts) != human.shape[0]:
        raise WorkbenchError(f"texts has {len(texts)} entries but human_labels has {human.shape[0]}")
    rows = np.flatnonzero(human >= 0)
    return pl.DataFrame({"doc": rows, "text": pl.Series(texts, dtype=pl.String).gather(rows),
                         "label": human[rows]})


def mine_candidates(texts: Sequence[str | None] | pl.Series, human_labels: np.ndarray, *,
                    n_classes: int, max_ngram: int = 2, min_count: int = 3, stem_len: int = 5,
                    n_best: int = 200, confidence: float = 0.95) -> pl.DataFrame:
    """Candidate patterns with a label, before exact scoring.

    Args:
        texts: ``(n_items,)`` texts; human_labels: ``(n_items,)`` class index, ``-1`` = none.
        max_ngram: longest word n-gram tried as a keyword.
        min_count: fewest labeled items a pattern must occur in.
        stem_len: length of the word prefixes tried as ``\\bprefix\\w*`` regexes.
        n_best: how many token and stem candidates to keep (best Wilson lower bound of the
            precision of their majority label).

    Returns:
        ``kind`` (``keyword`` or ``regex``), ``pattern`` (the keyword, or the regex) and
        ``label`` (class index), one row per candidate, plus the character templates for every
        class.
    """
    labeled = _labeled(texts, human_labels)
    tokens = (
        labeled.select("doc", "label", pl.col("text").fill_null("").str.to_lowercase()
                       .str.extract_all(TOKEN).alias("tok"))
        .explode("tok").drop_nulls("tok")
        .with_columns(pl.int_range(pl.len()).over("doc").alias("pos"))
    )
    grams = [tokens.select("doc", "label", pl.col("tok").alias("gram"), pl.lit(KEYWORD).alias("kind"))]
    gram = pl.col("tok")
    for size in range(2, max_ngram + 1):
        gram = gram + " " + pl.col("tok").shift(-(size - 1)).over("doc")
        grams.append(tokens.select("doc", "label", gram.alias("gram"), pl.lit(KEYWORD).alias("kind"))
                     .drop_nulls("gram"))
    stems = (tokens.filter(pl.col("tok").str.len_chars() >= stem_len + 2)
             .select("doc", "label", pl.col("tok").str.slice(0, stem_len).alias("gram"),
                     pl.lit(REGEX).alias("kind"), pl.col("tok")))
    several = stems.group_by("gram").agg(pl.col("tok").n_unique().alias("forms")).filter(pl.col("forms") > 1)
    grams.append(stems.join(several.select("gram"), on="gram").select("doc", "label", "gram", "kind"))
    found = pl.concat(grams).unique(["doc", "gram", "kind"])
    by_label = found.group_by("gram", "kind", "label").len("hits")
    totals = found.group_by("gram", "kind").len("total")
    best = (by_label.join(totals, on=["gram", "kind"])
            .filter(pl.col("total") >= min_count)
            .sort("hits", descending=True).unique(["gram", "kind"], keep="first"))
    low, _ = wilson_interval(best["hits"].to_numpy(), best["total"].to_numpy(), confidence=confidence)
    best = best.with_columns(pl.Series("low", low)).sort(["low", "total", "gram"], descending=[True, True, False])
    best = best.head(n_best).with_columns(
        pl.when(pl.col("kind") == REGEX).then(pl.lit(r"(?i)\b") + pl.col("gram") + pl.lit(r"\w*"))
        .otherwise(pl.col("gram")).alias("pattern"))
    templates = pl.DataFrame({"kind": [REGEX] * len(TEMPLATES) * n_classes,
                              "pattern": [p for _, p in TEMPLATES] * n_classes,
                              "label": np.repeat(np.arange(n_classes), len(TEMPLATES))},
                             schema=CANDIDATE_SCHEMA)
    return pl.concat([best.select("kind", "pattern", pl.col("label").cast(pl.Int64)), templates])


def _fired(candidates: pl.DataFrame, texts: pl.Series) -> np.ndarray:
    """``(len(texts), n_candidates)`` bool: where each candidate's pattern matches."""
    patterns = [keyword_pattern(p) if kind == KEYWORD else p
                for kind, p in candidates.select("kind", "pattern").iter_rows()]
    frame = pl.DataFrame({"text": texts})
    exprs = [pl.col("text").str.contains(p).fill_null(False).alias(f"c{i}") for i, p in enumerate(patterns)]
    out = frame.select(exprs) if exprs else pl.DataFrame()
    return out.to_numpy().astype(bool) if exprs else np.zeros((texts.len(), 0), dtype=bool)


def _code(name: str, kind: str, pattern: str, label: int, label_name: str) -> str:
    if kind == KEYWORD:
        return f"{name} = keyword_lf({name!r}, [{pattern!r}], {label})  # {label_name}"
    quoted = f'r"{pattern}"' if '"' not in pattern and not pattern.endswith("\\") else repr(pattern)
    return f"{name} = regex_lf({name!r}, {quoted}, {label})  # {label_name}"


def score_candidates(candidates: pl.DataFrame, texts: Sequence[str | None] | pl.Series,
                     human_labels: np.ndarray, *, label_names: Sequence[str],
                     existing_L: np.ndarray | None = None, all_texts: bool = False,
                     confidence: float = 0.95) -> pl.DataFrame:
    """Score candidate LFs on the human labels, as ``keyword_lf`` / ``regex_lf`` would run them.

    Args:
        candidates: ``kind`` (``keyword`` / ``regex``), ``pattern``, ``label`` (class index)
            and optionally ``origin`` (str, default ``mined``).
        texts: ``(n_items,)`` texts; human_labels: ``(n_items,)`` class index, ``-1`` = none.
        existing_L: ``(n_items, m)`` votes of the existing LFs; candidates that fire on exactly
            the labeled items an existing LF votes the same label on are dropped, and
            ``new_items`` counts labeled items where no existing LF votes.
        all_texts: also measure ``coverage_all`` (share of all items it fires on).

    Returns:
        Per candidate: ``name``, ``kind``, ``pattern``, ``label``, ``label_name``, ``n`` (labeled
        items it fires on), ``correct``, ``precision`` with ``precision_low`` /
        ``precision_high``, ``coverage`` with ``coverage_low`` / ``coverage_high`` (share of
        labeled items), ``new_items``, ``coverage_all`` (null unless asked), ``code``,
        ``origin``; sorted
        best first (precision lower bound, then n). Candidates that never fire, or whose fired
        set repeats a better one's, are left out.

    Raises:
        WorkbenchError: a candidate's label is not a class, or its regex does not compile.
    """
    label_names = list(label_names)
    k = len(label_names)
    if candidates.height and not candidates["label"].is_between(0, k - 1).all():
        raise WorkbenchError(f"candidate labels must be class indices 0..{k - 1}, got {candidates['label'].to_list()}")
    for kind, pattern in candidates.select("kind", "pattern").iter_rows():
        if kind not in (KEYWORD, REGEX):
            raise WorkbenchError(f"candidate kind must be {KEYWORD!r} or {REGEX!r}, got {kind!r}")
        try:
            pl.select(pl.lit("").str.contains(keyword_pattern(pattern) if kind == KEYWORD else pattern))
        except pl.exceptions.PolarsError:
            raise WorkbenchError(f"candidate regex {pattern!r} does not compile with polars' regex engine") from None
    labeled = _labeled(texts, human_labels)
    n_labeled = labeled.height
    fired = _fired(candidates, labeled["text"])
    y = labeled["label"].to_numpy()
    labels = candidates["label"].to_numpy()
    origins = (candidates["origin"].to_list() if "origin" in candidates.columns
               else ["mined"] * candidates.height)
    n_fired = fired.sum(axis=0)
    correct = (fired & (y[:, None] == labels[None, :])).sum(axis=0)
    keep = n_fired > 0
    seen: set[bytes] = set()
    if existing_L is not None and existing_L.shape[1]:
        ex = np.asarray(existing_L)[labeled["doc"].to_numpy()]
        for j in range(ex.shape[1]):
            for c in np.unique(ex[:, j][ex[:, j] >= 0]):
                seen.add(np.packbits(ex[:, j] == c).tobytes() + bytes([int(c)]))
        uncovered = ~(ex >= 0).any(axis=1)
    else:
        uncovered = np.ones(n_labeled, dtype=bool)
    p_low, p_high = wilson_interval(correct, n_fired, confidence=confidence)
    c_low, c_high = wilson_interval(n_fired, np.full(fired.shape[1], n_labeled), confidence=confidence)
    order = np.lexsort((-n_fired, -np.nan_to_num(p_low, nan=-1.0)))
    rows, names = [], set()
    for i in order:  # a loop over candidates (a few hundred), never over items
        key = np.packbits(fired[:, i]).tobytes() + bytes([int(labels[i])])
        if not keep[i] or key in seen:
            continue
        seen.add(key)
        kind, pattern = candidates["kind"][int(i)], candidates["pattern"][int(i)]
        base = f"{_slug(label_names[labels[i]])}_{'kw' if kind == KEYWORD else 're'}_{_slug(pattern)}"
        name, extra = base, 2
        while name in names:
            name, extra = f"{base}_{extra}", extra + 1
        names.add(name)
        rows.append({"name": name, "kind": kind, "pattern": pattern, "label": int(labels[i]),
                     "label_name": label_names[labels[i]], "n": int(n_fired[i]), "correct": int(correct[i]),
                     "precision": float(correct[i] / n_fired[i]), "precision_low": float(p_low[i]),
                     "precision_high": float(p_high[i]), "coverage": float(n_fired[i] / max(n_labeled, 1)),
                     "coverage_low": float(c_low[i]), "coverage_high": float(c_high[i]),
                     "new_items": int((fired[:, i] & uncovered).sum()),
                     "code": _code(name, kind, pattern, int(labels[i]), label_names[labels[i]]),
                     "origin": origins[int(i)] or "mined"})
    schema = {"name": pl.String, "kind": pl.String, "pattern": pl.String, "label": pl.Int64,
              "label_name": pl.String, "n": pl.Int64, "correct": pl.Int64, "precision": pl.Float64,
              "precision_low": pl.Float64, "precision_high": pl.Float64, "coverage": pl.Float64,
              "coverage_low": pl.Float64, "coverage_high": pl.Float64, "new_items": pl.Int64,
              "code": pl.String, "origin": pl.String}
    out = pl.DataFrame(rows, schema=schema)
    coverage_all = [None] * out.height
    if all_texts and out.height:
        coverage_all = _fired(out, pl.Series(texts, dtype=pl.String)).mean(axis=0).tolist()
    return out.with_columns(pl.Series("coverage_all", coverage_all, dtype=pl.Float64))


def suggest_lfs(texts: Sequence[str | None] | pl.Series, human_labels: np.ndarray,
                label_names: Sequence[str], *, existing: Sequence[str] = (),
                existing_L: np.ndarray | None = None, extra: pl.DataFrame | None = None,
                top: int = 10, max_ngram: int = 2, min_count: int = 3, all_texts: bool = False,
                confidence: float = 0.95) -> pl.DataFrame:
    """The ``top`` candidate LFs for these human labels, best first, as ready-to-paste code.

    Args:
        texts: ``(n_items,)`` texts; human_labels: ``(n_items,)`` class index, ``-1`` = none.
        label_names: the class names in index order.
        existing: names of the task's LFs (a candidate never takes one of them).
        existing_L: ``(n_items, m)`` their votes (see :func:`score_candidates`).
        extra: more candidates (``kind``, ``pattern``, ``label``, optionally ``origin``), e.g.
            proposed by a judge (:func:`hitl_triage.judge.keywords.propose_keywords`); they
            are scored the same way and ranked among the mined ones. Where an extra and a
            mined candidate fire on the same labeled items with the same label, one row is
            kept (the extra one's origin).

    Returns:
        The frame of :func:`score_candidates`, at most ``top`` rows, with a ``rank`` column
        (1 = best). Empty when there are no human labels.

    Raises:
        WorkbenchError: ``top`` is not positive, or see :func:`score_candidates`.
    """
    if top < 1:
        raise WorkbenchError(f"top must be >= 1, got {top}")
    label_names = list(label_names)
    mined = mine_candidates(texts, human_labels, n_classes=len(label_names), max_ngram=max_ngram,
                            min_count=min_count, confidence=confidence)
    mined = mined.with_columns(pl.lit("mined").alias("origin"))
    if extra is not None and extra.height:
        origin = pl.col("origin") if "origin" in extra.columns else pl.lit("extra")
        mined = pl.concat([extra.select(*list(CANDIDATE_SCHEMA), origin.cast(pl.String).alias("origin"))
                           .cast(CANDIDATE_SCHEMA), mined])
    scored = score_candidates(mined, texts, human_labels, label_names=label_names, existing_L=existing_L,
                              confidence=confidence)
    taken = set(existing)
    scored = scored.filter(~pl.col("name").is_in(list(taken))).head(top)
    if all_texts and scored.height:
        cover = _fired(scored, pl.Series(texts, dtype=pl.String)).mean(axis=0)
        scored = scored.with_columns(pl.Series("coverage_all", cover, dtype=pl.Float64))
    return scored.with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int64))
