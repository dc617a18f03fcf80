"""`hitl-triage run`, `simulate` and `answers ...`: curriculum rounds and human answers."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the round commands to the root app (none yet)."""
