"""The LLM judge: one more noisy source that votes, gives class probabilities and explains itself.

Modules, one job each: ``settings`` (the ``judge:`` config section), ``prompts`` (prompt
rendering and request bodies), ``client`` (the OpenAI-compatible HTTP client with limits and
retries), ``cache`` (the SQLite response cache), ``parsing`` (answers → votes and
probabilities), ``bias`` (label-bias correction), ``calibration`` (temperature and class-bias
scaling, ECE), ``adjust`` (raw distributions → final ones: correction, then scaling on reviewed
labels), ``fewshot`` (choosing examples), ``runner`` (``run_judge``), ``judgements`` (the output
file and ``load_judgements``) and ``server`` (the embedded llama.cpp server).

The public names below are imported on first use: ``hitl_triage.config`` imports
``judge.settings``, and loading a config must not pull in the HTTP client.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hitl_triage.judge.errors import JudgeError
    from hitl_triage.judge.judgements import JudgeVotes, load_judgements, task_judgements
    from hitl_triage.judge.runner import JudgeRunResult, run_judge
    from hitl_triage.judge.settings import JudgeConfig

_EXPORTS = {
    "JudgeConfig": "hitl_triage.judge.settings",
    "JudgeError": "hitl_triage.judge.errors",
    "JudgeRunResult": "hitl_triage.judge.runner",
    "JudgeVotes": "hitl_triage.judge.judgements",
    "load_judgements": "hitl_triage.judge.judgements",
    "task_judgements": "hitl_triage.judge.judgements",
    "run_judge": "hitl_triage.judge.runner",
}
__all__ = [
    "JudgeConfig",
    "JudgeError",
    "JudgeRunResult",
    "JudgeVotes",
    "load_judgements",
    "run_judge",
    "task_judgements",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hitl_triage.judge' has no attribute {name!r}")
