"""Config sections of the round loop: ``confidence:``, ``triage:`` and ``curriculum:``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ConfidenceConfig(_Section):
    """How per-item confidence is computed (end model, cleanlab)."""


class TriageConfig(_Section):
    """How items are routed to accept, review and audit."""


class CurriculumConfig(_Section):
    """Rounds and human budgets."""
