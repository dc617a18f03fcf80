"""Errors of the review store and the review app (subclasses of ``HitlTriageError``)."""

from __future__ import annotations

from hitl_triage.errors import HitlTriageError


class StoreError(HitlTriageError):
    """The review store cannot be opened, upgraded or used as asked."""


class ReviewerError(StoreError):
    """A reviewer account is unknown, duplicated, disabled or its credentials are wrong."""


class TaskNotFoundError(StoreError):
    """A task id does not exist in the store."""


class AnswerError(StoreError):
    """An answer is invalid (label out of range, wrong kind) or conflicts with another one."""


class AnswerConflictError(AnswerError):
    """The answer cannot be recorded as sent: already answered, or an id owned by another."""


class PermissionDeniedError(StoreError):
    """A reviewer asked for something only an admin or another reviewer may see or do."""


class IntakeError(StoreError):
    """Items to enqueue are malformed (missing column, bad route, bad votes JSON)."""


class TerminalError(HitlTriageError):
    """The terminal review needs an interactive terminal on standard input."""
