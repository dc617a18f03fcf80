"""Invisible characters made visible: bidi controls (U+202E RIGHT-TO-LEFT OVERRIDE turns
"live.com/\\u202emoc.elgoog" into what looks like another domain), zero-width characters and
other format or control characters are shown as markers like ``⟨U+202E⟩`` instead of acting
on the text around them. The review screen, the admin pages and the terminal review use it for
item text, the judge's rationale and comments.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Format (Cf: bidi controls, zero-width space/joiners, BOM, soft hyphen, tags...), controls
# other than tab, newline and carriage return, line/paragraph separators, and fillers that render blank.
_HIDDEN = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029\u115f\u1160\u3164\uffa0"
    # every Cf (format) character of Unicode 14
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)


@dataclass(frozen=True)
class Segment:
    """A run of ordinary text (``hidden`` False), or one hidden character shown as ``text``
    (its marker, e.g. "⟨U+202E⟩") with its Unicode name in ``name``."""

    text: str
    hidden: bool = False
    name: str = ""


def marker(char: str) -> str:
    return f"⟨U+{ord(char):04X}⟩"


def segments(text: str | None) -> list[Segment]:
    """``text`` split into ordinary runs and markers for hidden characters.

    >>> [s.text for s in segments("a\\u202eb")]
    ['a', '⟨U+202E⟩', 'b']
    """
    if not text:
        return [] if text is None else [Segment("")]
    out: list[Segment] = []
    start = 0
    for found in _HIDDEN.finditer(text):
        if found.start() > start:
            out.append(Segment(text[start : found.start()]))
        char = found.group()
        out.append(Segment(marker(char), True, unicodedata.name(char, "control character")))
        start = found.end()
    if start < len(text):
        out.append(Segment(text[start:]))
    return out


def reveal(text: str) -> str:
    """``text`` with every hidden character replaced by its marker (plain text)."""
    return _HIDDEN.sub(lambda m: marker(m.group()), text)
