"""spaCy preprocessing for row LFs: one pipeline, one batched pass (``nlp.pipe``) per run.

``lfs.spacy_pipeline`` names an installed pipeline (``en_core_web_sm``) or ``blank:<lang>``
(tokenizer and lexical attributes such as ``like_url``, ``like_num``, ``is_stop``; no model
download ever happens at run time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hitl_triage.errors import LabelingFunctionError
from hitl_triage.progress import Progress, report


def load_pipeline(name: str) -> Any:
    """Load a spaCy pipeline by name, or a blank one for ``blank:<lang>``.

    Raises:
        LabelingFunctionError: the pipeline is not installed; lists the installed ones.
    """
    import spacy

    if name.startswith("blank:"):
        lang = name.split(":", 1)[1] or "en"
        try:
            nlp = spacy.blank(lang)
        except ImportError as exc:
            raise LabelingFunctionError(f"lfs.spacy_pipeline {name!r}: {exc}") from None
        nlp.add_pipe("sentencizer")
        return nlp
    try:
        return spacy.load(name)
    except OSError:
        installed = sorted(spacy.util.get_installed_models())
        raise LabelingFunctionError(
            f"lfs.spacy_pipeline {name!r} is not installed (installed pipelines: "
            f"{installed or 'none'}); install it with pip or use 'blank:en'"
        ) from None


def parse_texts(
    nlp: Any,
    texts: Sequence[str | None],
    *,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> list[Any]:
    """Parse every text once with ``nlp.pipe``; null text becomes an empty ``Doc``.

    Returns:
        One spaCy ``Doc`` per text, in order.
    """
    total = len(texts)
    docs: list[Any] = []
    stream = (t or "" for t in texts)
    for doc in nlp.pipe(stream, batch_size=batch_size):
        docs.append(doc)
        if len(docs) % batch_size == 0 or len(docs) == total:
            report(progress, "spaCy: parse texts", len(docs), total)
    return docs
