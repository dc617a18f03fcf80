"""`hitl-triage init | apply | label | export | demo`: tasks, votes, label model, training set."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the task commands to the root app."""
