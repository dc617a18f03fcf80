"""`hitl-triage serve`, `reviewers ...` and `review`: expert review commands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the review commands to the root app (none yet)."""
