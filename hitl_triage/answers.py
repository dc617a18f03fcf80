"""Human answers: the table of labels that experts gave, kept in the run directory.

``answers.parquet`` in the run directory is the canonical record of human labels that the
round loop learns from. Answers arrive from the review store, from ``hitl-triage answers
import FILE`` (labels made in any other tool), or from simulated reviewers.

Columns (``ANSWER_SCHEMA``): ``id`` (str, item id), ``label`` (int, class index in [0, k)),
``reviewer`` (str), ``round`` (int, the round that routed the item; -1 if unknown), ``route``
(str: ``review``, ``audit`` or ``import``), ``origin`` (str: ``store``, ``import``, ``simulated``),
``answered_at`` (str, ISO-8601 UTC).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hitl_triage.rundir import write_frame

ANSWERS_FILE = "answers.parquet"
ANSWER_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "label": pl.Int64(),
    "reviewer": pl.String(),
    "round": pl.Int64(),
    "route": pl.String(),
    "origin": pl.String(),
    "answered_at": pl.String(),
}


def empty_answers() -> pl.DataFrame:
    return pl.DataFrame(schema=ANSWER_SCHEMA)


def load_answers(run_dir: Path) -> pl.DataFrame:
    """All human answers recorded for a run (empty frame with ``ANSWER_SCHEMA`` if none)."""
    path = Path(run_dir) / ANSWERS_FILE
    if not path.is_file():
        return empty_answers()
    return pl.read_parquet(path).select(list(ANSWER_SCHEMA)).cast(ANSWER_SCHEMA)


def save_answers(run_dir: Path, answers: pl.DataFrame) -> Path:
    """Replace the answers table atomically (columns as in ``ANSWER_SCHEMA``)."""
    return write_frame(Path(run_dir) / ANSWERS_FILE, answers.select(list(ANSWER_SCHEMA)).cast(ANSWER_SCHEMA))
