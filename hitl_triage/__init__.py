"""hitl-triage: turn unlabeled text into a trustworthy training set with few expert labels.

This package file stays light (no numpy, polars or pydantic) so that ``hitl-triage --help``
starts at once. The public API lives in its modules:

* :mod:`hitl_triage.config` — ``TaskConfig``, ``load_config``
* :mod:`hitl_triage.engine` — ``RoundEngine``, ``HumanLabels`` (rounds in memory)
* :mod:`hitl_triage.schema` — ``LabelSchema``, ``ABSTAIN``
* :mod:`hitl_triage.lf` — authoring helpers and ``apply_lfs``
"""

from hitl_triage.errors import (
    ConfigError,
    DatasetError,
    HitlTriageError,
    LabelingFunctionError,
    LabelModelError,
    RunStateError,
)

ABSTAIN = -1
"""The vote "no opinion" (the same object as :data:`hitl_triage.schema.ABSTAIN`)."""

__all__ = [
    "ABSTAIN",
    "ConfigError",
    "DatasetError",
    "HitlTriageError",
    "LabelModelError",
    "LabelingFunctionError",
    "RunStateError",
]
