"""Progress reporting without printing: library code calls a callback, the CLI draws bars.

``Progress`` is ``(stage, done, total) -> None``: ``stage`` names the step ("apply: keyword LFs"),
``done`` items finished so far out of ``total``. Library functions take ``progress=None``.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]


def report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    """Call ``progress`` if given."""
    if progress is not None:
        progress(stage, done, total)
