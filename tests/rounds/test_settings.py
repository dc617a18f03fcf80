"""The confidence, triage and curriculum config sections."""

from __future__ import annotations

import pytest

from hitl_triage.config import parse_config
from hitl_triage.errors import ConfigError

BASE = {
    "task": "t",
    "labels": [{"name": "a", "description": "A"}, {"name": "b", "description": "B"}],
    "dataset": {"path": "x.csv"},
}


def test_defaults_are_valid() -> None:
    config = parse_config(BASE)
    assert config.triage.alpha == 0.05 and config.triage.delta == 0.1
    assert 0 < config.curriculum.total_budget <= 1 and config.confidence.cv_folds >= 2


@pytest.mark.parametrize("budget", [0, -0.5, 1.01])
def test_budget_outside_unit_interval_is_rejected(budget: float) -> None:
    with pytest.raises(ConfigError, match=r"curriculum.total_budget"):
        parse_config({**BASE, "curriculum": {"total_budget": budget}})


def test_schedule_must_not_exceed_the_budget() -> None:
    with pytest.raises(ConfigError, match="schedule shares must sum to at most 1"):
        parse_config({**BASE, "curriculum": {"schedule": [0.6, 0.6]}})


def test_unknown_keys_and_bad_ranges_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"triage\.alpah: unknown key; allowed keys here: .*alpha"):
        parse_config({**BASE, "triage": {"alpah": 0.1}})
    with pytest.raises(ConfigError, match=r"triage\.delta"):
        parse_config({**BASE, "triage": {"delta": 1.0}})
    with pytest.raises(ConfigError, match=r"confidence.word_ngrams.*1 <= low <= high <= 8"):
        parse_config({**BASE, "confidence": {"word_ngrams": [3, 1]}})
