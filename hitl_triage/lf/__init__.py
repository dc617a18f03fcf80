"""Labeling functions: authoring helpers, the cached parallel applier, and analysis.

Authoring (what an LF module imports)::

    from hitl_triage.lf import ABSTAIN, labeling_function, nlp_labeling_function, keyword_lf, regex_lf, expression_lf
"""

from hitl_triage.lf.analysis import lf_summary
from hitl_triage.lf.applier import AppliedVotes, LFFailure, apply_lfs
from hitl_triage.lf.kinds import (
    ABSTAIN,
    ExpressionLF,
    SpacyLabelingFunction,
    expression_lf,
    keyword_lf,
    labeling_function,
    nlp_labeling_function,
    regex_lf,
)
from hitl_triage.lf.loader import LFSet, load_lfs
from hitl_triage.lf.sources import VoteMatrix, apply_sources

__all__ = [
    "ABSTAIN",
    "AppliedVotes",
    "ExpressionLF",
    "LFFailure",
    "LFSet",
    "SpacyLabelingFunction",
    "VoteMatrix",
    "apply_lfs",
    "apply_sources",
    "expression_lf",
    "keyword_lf",
    "labeling_function",
    "lf_summary",
    "load_lfs",
    "nlp_labeling_function",
    "regex_lf",
]
