"""The ``review:`` section of a task config: where the review store lives and team settings.

Example::

    review:
      database_url: null            # SQLite file <run_dir>/review.sqlite3 (WAL)
      # database_url: postgresql+psycopg://hitl:${HITL_DB_PASSWORD}@db.internal/hitl
      overlap: {review: 2, audit: 1}
      settle: unanimous
      gold_rate: 0.05
      correction: {field: response}   # reviewers may rewrite this field (key e)

``database_url`` may reference environment variables as ``${NAME}``, so a password never has
to be written into the config or the run directory.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class OverlapConfig(BaseModel):
    """How many reviewers answer each item, per route (``k``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    review: Annotated[int, Field(ge=1, le=20)] = 1
    audit: Annotated[int, Field(ge=1, le=20)] = 1

    def for_route(self, route: str) -> int:
        return int(getattr(self, route))


class LoginThrottleConfig(BaseModel):
    """Failed browser logins: after ``max_failures`` for one account name, or
    ``address_max_failures`` from one client address, within ``window_minutes``, further
    attempts answer 429 for ``lockout_seconds``, doubling with each further failure (at most
    the window)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    max_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    address_max_failures: Annotated[int, Field(ge=1, le=100_000)] = 20
    lockout_seconds: Annotated[int, Field(ge=1, le=24 * 3600)] = 60
    window_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 15


class CorrectionConfig(BaseModel):
    """The field a reviewer may rewrite along with the label (one of ``dataset.fields``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    field: Annotated[str, Field(min_length=1, max_length=128)]


class ReviewConfig(BaseModel):
    """Review store and team settings."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; null means a SQLite file (WAL) in the run directory. "
        "${NAME} is replaced by the environment variable NAME (keep passwords out of files).",
    )
    host: str = Field(default="127.0.0.1", description="Address `hitl-triage serve` binds.")
    port: Annotated[int, Field(ge=1, le=65535)] = 8765
    overlap: OverlapConfig = Field(default_factory=OverlapConfig)
    settle: Literal["unanimous", "majority"] = Field(
        default="unanimous",
        description="When k answers are in: unanimous settles only if all agree, majority if "
        "one label has more than half of them. Otherwise the item goes to adjudication.",
    )
    gold_rate: Annotated[float, Field(ge=0.0, le=0.5)] = Field(
        default=0.05, description="Share of served tasks that are gold items (when any exist)."
    )
    lease_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        default=30, description="A claimed task returns to the pool after this long unanswered."
    )
    session_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 12
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (behind TLS)."
    )
    history_size: Annotated[int, Field(ge=1, le=100)] = 8
    max_body_bytes: Annotated[int, Field(ge=1024, le=2**30)] = Field(
        default=2**20, description="Largest request body the web app accepts (413 beyond)."
    )
    max_item_chars: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        default=100_000,
        description="Longest item text (and judge rationale) the store accepts on intake.",
    )
    login: LoginThrottleConfig = Field(default_factory=LoginThrottleConfig)
    correction: CorrectionConfig | None = Field(
        default=None,
        description="Let reviewers correct this field of an item (keyboard: e); the corrected "
        "text is stored with the answer, the original kept, and exported as <field>_corrected.",
    )
    blind_audit: bool = Field(
        default=True,
        description="Audit items show no suggestion, confidence, votes, rationale or model "
        "guesses, so audit answers are not anchored on the model (they then look like review "
        "items without evidence).",
    )

    def resolved_database_url(self) -> str | None:
        """``database_url`` with ``${NAME}`` references replaced from the environment.

        Raises:
            KeyError: a referenced variable is not set (the caller turns it into a StoreError).
        """
        if self.database_url is None:
            return None
        return _ENV_REF.sub(lambda m: os.environ[m.group(1)], self.database_url)
