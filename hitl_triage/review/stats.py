"""Per-reviewer statistics: pace, skip and flag rates, accuracy on gold and on adjudicated
items, and agreement with each other reviewer.

``reviewer_stats`` is a pure function over answer rows (a polars frame in, plain dataclasses
out); ``hitl_triage.review.reports.reviewer_stats_of`` loads the rows from the store.

Definitions (also in docs/review.md, "Reviewer statistics"):

* An *answer event* is a submitted answer: every row whose ``replaced_by`` is null (live
  answers, and undone ones, which took the reviewer time too). A relabel is not a new event:
  its replacement row keeps the original answer's time.
* A *gap* is the time between two consecutive answer events of a reviewer. A gap longer than
  ``idle_seconds`` is a break: it starts a new session and is not counted. The first answer of
  each session has no measured time.
* ``active_seconds`` is the sum of the counted gaps; ``items_per_hour`` is the number of
  counted gaps per active hour (None without any); ``median_seconds`` is their median.
* ``skip_rate`` and ``flag_rate`` are shares of the reviewer's live answers.
* ``gold_accuracy``: live label answers on gold items that agree with the gold label.
* ``adjudicated_accuracy``: live label answers on adjudicated tasks that agree with the
  admin's final label (the answers were given before the adjudication).
* Agreement: Cohen's kappa and raw agreement on the tasks both reviewers labelled
  (``hitl_triage.review.agreement``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from hitl_triage.review.agreement import agreement

IDLE_SECONDS = 600.0  # a longer pause between two answers is a break, not work


@dataclass(frozen=True)
class PeerAgreement:
    """Agreement with one other reviewer on the ``n`` tasks both labelled; ``kappa`` NaN when
    undefined (see ``agreement.cohen_kappa``)."""

    other: str
    n: int
    percent: float
    kappa: float


@dataclass(frozen=True)
class ReviewerStats:
    """One reviewer's figures; rates and accuracies in [0, 1] (higher = more), None when their
    denominator is 0."""

    reviewer: str
    n_answers: int  # live answers (labels, skips, flags)
    n_labels: int
    n_skips: int
    n_flags: int
    skip_rate: float | None
    flag_rate: float | None
    n_timed: int  # counted gaps (answers with a measured time)
    active_seconds: float
    items_per_hour: float | None
    median_seconds: float | None
    n_gold: int
    gold_accuracy: float | None
    n_adjudicated: int
    adjudicated_accuracy: float | None
    peers: list[PeerAgreement]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _pace(times: pl.Series, idle_seconds: float) -> tuple[int, float, float | None, float | None]:
    """(n counted gaps, active seconds, items per hour, median seconds) of answer times."""
    gaps = times.sort().diff().dt.total_microseconds().drop_nulls() / 1e6
    gaps = gaps.filter(gaps <= idle_seconds)
    active = float(gaps.sum()) if gaps.len() else 0.0
    per_hour = 3600 * gaps.len() / active if active > 0 else None
    median = float(gaps.median()) if gaps.len() else None  # type: ignore[arg-type]
    return gaps.len(), active, per_hour, median


def reviewer_stats(
    answers: pl.DataFrame,
    *,
    gold: pl.DataFrame,
    adjudicated: pl.DataFrame,
    idle_seconds: float = IDLE_SECONDS,
) -> list[ReviewerStats]:
    """The statistics of every reviewer in ``answers``, sorted by name.

    Args:
        answers: one row per stored answer, retracted ones included: ``reviewer`` (str),
            ``task_id`` (int), ``item_id`` (str), ``route`` (str), ``kind`` ("label", "skip",
            "flag"), ``label`` (int or null), ``created_at`` (ISO-8601 text or datetime),
            ``retracted_at`` (null when live), ``replaced_by`` (null unless relabelled).
        gold: ``item_id`` (str), ``label`` (int): the gold items' labels.
        adjudicated: ``task_id`` (int), ``label`` (int): adjudicated tasks' final labels.
        idle_seconds: longest gap between two answers still counted as work (> 0).

    Example: ann answers at 0 s, 20 s, 60 s and 2000 s → gaps 20 and 40 are counted (1940 is
    a break): ``median_seconds`` 30, ``items_per_hour`` 2 / 60 s = 120.

    Raises:
        ValueError: ``idle_seconds`` is not positive, or a column is missing.
    """
    if not idle_seconds > 0:
        raise ValueError(f"idle_seconds must be > 0, got {idle_seconds!r}")
    needed = {"reviewer", "task_id", "item_id", "route", "kind", "label", "created_at", "retracted_at", "replaced_by"}
    missing = sorted(needed - set(answers.columns))
    if missing:
        raise ValueError(f"answers: missing column(s) {missing}; expected {sorted(needed)}")
    frame = answers
    if frame.schema["created_at"] == pl.String():
        frame = frame.with_columns(pl.col("created_at").str.to_datetime(time_zone="UTC"))
    live = frame.filter(pl.col("retracted_at").is_null())
    labels = live.filter(pl.col("kind") == "label")
    on_gold = labels.filter(pl.col("route") == "gold").join(gold.select("item_id", pl.col("label").alias("truth")), on="item_id")
    on_adj = labels.filter(pl.col("route") != "gold").join(adjudicated.select("task_id", pl.col("label").alias("truth")), on="task_id")
    together = agreement(labels.select("reviewer", pl.col("task_id").alias("unit"), "label"))
    out = []
    for name in sorted(frame["reviewer"].unique().to_list()):
        mine = live.filter(pl.col("reviewer") == name)
        kinds = mine["kind"].value_counts()
        count = dict(zip(kinds["kind"].to_list(), kinds["count"].to_list(), strict=True))
        n_answers = mine.height
        events = frame.filter((pl.col("reviewer") == name) & pl.col("replaced_by").is_null())["created_at"]
        n_timed, active, per_hour, median = _pace(events, idle_seconds)
        g = on_gold.filter(pl.col("reviewer") == name)
        a = on_adj.filter(pl.col("reviewer") == name)
        g_ok = int((g["label"] == g["truth"]).sum())
        a_ok = int((a["label"] == a["truth"]).sum())
        peers = [
            PeerAgreement(p.b if p.a == name else p.a, p.n, p.percent, p.kappa)
            for p in together.pairs
            if name in (p.a, p.b)
        ]
        out.append(
            ReviewerStats(
                reviewer=name,
                n_answers=n_answers,
                n_labels=count.get("label", 0),
                n_skips=count.get("skip", 0),
                n_flags=count.get("flag", 0),
                skip_rate=_rate(count.get("skip", 0), n_answers),
                flag_rate=_rate(count.get("flag", 0), n_answers),
                n_timed=n_timed,
                active_seconds=active,
                items_per_hour=per_hour,
                median_seconds=median,
                n_gold=g.height,
                gold_accuracy=_rate(g_ok, g.height),
                n_adjudicated=a.height,
                adjudicated_accuracy=_rate(a_ok, a.height),
                peers=sorted(peers, key=lambda p: p.other),
            )
        )
    return out


def as_json(stats: ReviewerStats) -> dict[str, object]:
    """A plain dict for the JSON API (NaN kappas become null)."""
    body = {k: v for k, v in stats.__dict__.items() if k != "peers"}
    body["peers"] = [
        {"other": p.other, "n": p.n, "percent": p.percent, "kappa": None if math.isnan(p.kappa) else p.kappa}
        for p in stats.peers
    ]
    return body
