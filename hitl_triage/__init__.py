"""hitl-triage: turn unlabeled text into a trustworthy training set with few expert labels."""

from hitl_triage.config import TaskConfig, load_config
from hitl_triage.errors import (
    ConfigError,
    DatasetError,
    HitlTriageError,
    LabelingFunctionError,
    LabelModelError,
    RunStateError,
)
from hitl_triage.schema import ABSTAIN

__all__ = [
    "ABSTAIN",
    "ConfigError",
    "DatasetError",
    "HitlTriageError",
    "LabelModelError",
    "LabelingFunctionError",
    "RunStateError",
    "TaskConfig",
    "load_config",
]
