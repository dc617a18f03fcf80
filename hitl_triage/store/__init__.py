"""The review store: items routed to experts, their assignments and answers (SQLAlchemy 2).

``open_store(config)`` returns a ``ReviewStore``; see ``review_store.py`` for the round loop's
contract (``enqueue``, ``resolved_answers``, ``pending_count``) and ``claims.py`` and ``submissions.py`` for how
concurrent reviewers are kept apart.
"""

from hitl_triage.store.accounts import NewCredentials, ReviewerInfo
from hitl_triage.store.claims import TaskView
from hitl_triage.store.errors import (
    AnswerConflictError,
    AnswerError,
    IntakeError,
    PermissionDeniedError,
    ReviewerError,
    StoreError,
    TaskNotFoundError,
)
from hitl_triage.store.review_store import RESOLVED_SCHEMA, ReviewStore, open_store
from hitl_triage.store.submissions import SubmitResult

__all__ = [
    "RESOLVED_SCHEMA",
    "AnswerConflictError",
    "AnswerError",
    "IntakeError",
    "NewCredentials",
    "PermissionDeniedError",
    "ReviewStore",
    "ReviewerError",
    "ReviewerInfo",
    "StoreError",
    "SubmitResult",
    "TaskNotFoundError",
    "TaskView",
    "open_store",
]
