"""The ``judge:`` section of a task config. Absent (null) means the task has no judge."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class JudgeConfig(BaseModel):
    """Settings of the LLM judge (an OpenAI-compatible server)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = True
    base_url: str = "http://127.0.0.1:8080/v1"
    model: str = "gemma-3-270m"
