"""The ``review:`` section of a task config: where the review store lives and team settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReviewConfig(BaseModel):
    """Review store and team settings."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; null means a SQLite file (WAL) in the run directory.",
    )
