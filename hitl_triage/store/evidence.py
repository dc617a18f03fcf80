"""Evidence the review screen shows beside an item, measured in the store: each source's
accuracy on the human labels settled so far.

Computed here, from the settled tasks' final labels and the votes stored with them, rather than
passed in by the round loop: it is current between rounds (every settled answer counts at
once), it covers items queued by hand or through the API, and it needs nothing from the round
loop beyond the votes it already sends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hitl_triage.store.models import GOLD_ROUTE, Task


@dataclass(frozen=True)
class SourceAccuracy:
    """A source's votes on items with a settled human label: ``correct`` of ``n`` agree with it."""

    correct: int
    n: int

    @property
    def accuracy(self) -> float | None:
        """``correct / n`` in [0, 1] (higher = more often right), None while ``n`` is 0."""
        return self.correct / self.n if self.n else None


def _settled():  # type: ignore[no-untyped-def]
    return Task.final_label.is_not(None), Task.route != GOLD_ROUTE


def settled_key(session: Session) -> tuple[int, str]:
    """Changes whenever a task settles, is adjudicated or reopens (a cache key)."""
    count, last = session.execute(select(func.count(Task.id), func.max(Task.settled_at)).where(*_settled())).one()
    return int(count or 0), str(last)


def source_accuracy(session: Session) -> dict[str, SourceAccuracy]:
    """Per source name: its non-abstain votes on tasks with a final (settled or adjudicated)
    label, and how many of them match that label. Gold tasks are left out (their votes are
    copies of a routed task's)."""
    correct: dict[str, int] = {}
    total: dict[str, int] = {}
    # Row-wise on purpose: votes are a JSON object per task (source -> class or null).
    for votes, label in session.execute(select(Task.votes, Task.final_label).where(*_settled())):
        for source, vote in json.loads(votes or "{}").items():
            if vote is None:
                continue
            total[source] = total.get(source, 0) + 1
            correct[source] = correct.get(source, 0) + int(vote == label)
    return {s: SourceAccuracy(correct.get(s, 0), n) for s, n in total.items()}
