"""`hitl-triage judge ...`: serve the local LLM and run the judge over a dataset."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the judge commands to the root app (none yet)."""
