"""The LLM judge: one more noisy source that votes, gives class probabilities and explains itself.

Modules, one job each: ``settings`` (the ``judge:`` config section), ``prompts`` (prompt
rendering and request bodies), ``client`` (the OpenAI-compatible HTTP client with limits and
retries), ``cache`` (the SQLite response cache), ``parsing`` (answers → votes and
probabilities), ``bias`` (label-bias correction), ``calibration`` (temperature and class-bias
scaling, ECE), ``adjust`` (raw distributions → final ones: correction, then scaling on reviewed
labels), ``fewshot`` (choosing examples), ``runner`` (``run_judge``), ``judgements`` (the output
file and ``load_judgements``), ``server`` (the embedded llama.cpp server), ``inround`` (the
judge asked between rounds: planning, escalation, costs) with ``inround_files`` (its answers in
the run directory), and ``keywords`` (LF candidates proposed by the judge).

The ``judge:`` config section lives in :mod:`hitl_triage.judge_settings`, outside this
package, so loading a config imports nothing of the judge.
"""

from __future__ import annotations

from hitl_triage.judge.errors import JudgeError
from hitl_triage.judge.judgements import JudgeVotes, load_judgements, task_judgements
from hitl_triage.judge.runner import JudgeRunResult, run_judge
from hitl_triage.judge_settings import JudgeConfig

__all__ = [
    "JudgeConfig",
    "JudgeError",
    "JudgeRunResult",
    "JudgeVotes",
    "load_judgements",
    "run_judge",
    "task_judgements",
]
