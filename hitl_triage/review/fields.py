"""An item's shown fields (``dataset.fields``) as the review screen shows them: one block per
field, with its heading, its text (hidden characters as markers, ``review.visible``) and, for a
Markdown field, HTML rendered here.

Markdown is rendered with markdown-it-py in CommonMark mode with raw HTML *off*: a ``<script>``
or ``<img onerror=...>`` in the text comes out escaped, as visible text, never as markup.
Links are kept only with an ``http``, ``https`` or ``mailto`` scheme or a relative target
(``javascript:``, ``data:``, ``vbscript:`` and ``file:`` links stay plain text); images are not
rendered (the page loads nothing an item names). The page's Content-Security-Policy forbids
inline scripts besides, and the script inserts the HTML only through an allowlist of tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt

from hitl_triage.config import DatasetConfig
from hitl_triage.review.visible import Segment, segments
from hitl_triage.store import TaskView

_SAFE_LINK = re.compile(r"^(https?:|mailto:|[^:/?#]*(?:[/?#]|$))", re.IGNORECASE)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    md.validateLink = lambda url: bool(_SAFE_LINK.match(url.strip()))  # type: ignore[method-assign]
    return md


_MD = _markdown()


def render_markdown(text: str) -> str:
    """``text`` as HTML: CommonMark without raw HTML, images or unsafe links."""
    return _MD.render(text)


@dataclass(frozen=True)
class FieldView:
    """One shown field of an item: ``html`` is set for Markdown fields only (None for text,
    and for a missing value)."""

    name: str
    title: str
    format: str
    text: str | None
    segments: list[Segment]
    html: str | None
    correctable: bool


def present(task: TaskView, dataset: DatasetConfig, correction_field: str | None) -> list[FieldView]:
    """The blocks of ``task``'s item in the configured order. An item stored without fields
    (queued before ``dataset.fields`` listed any) shows its text under the first field."""
    stored: dict[str, Any] = task.fields or {dataset.shown_fields[0].name: task.text}
    out = []
    for spec in dataset.shown_fields:
        value = stored.get(spec.name)
        text = None if value is None else str(value)
        html = render_markdown(text) if spec.format == "markdown" and text is not None else None
        out.append(FieldView(name=spec.name, title=spec.title, format=spec.format, text=text,
                             segments=segments(text), html=html,
                             correctable=spec.name == correction_field))
    return out
