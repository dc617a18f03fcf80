"""Errors of the judge. Per-item failures are recorded, not raised; these stop a run early."""

from __future__ import annotations

from hitl_triage.errors import HitlTriageError


class JudgeError(HitlTriageError):
    """The judge cannot run: no judge section, unreachable server, bad examples, missing key."""
