"""LF kinds: regex patterns are checked by the engine that runs them (polars, Rust regex)."""

from pathlib import Path

import polars as pl
import pytest

from hitl_triage.errors import LabelingFunctionError
from hitl_triage.lf import load_lfs
from hitl_triage.lf.kinds import keyword_lf, regex_lf


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(?<=free )money", "look-around"),
        (r"(?i)\bcheck(?! out)", "look-around"),
        (r"(\w)\1", "backreferences are not supported"),
    ],
)
def test_regex_python_accepts_but_polars_cannot_run_fails_at_definition(pattern: str, reason: str) -> None:
    with pytest.raises(LabelingFunctionError, match=rf"regex LF 'promo': invalid pattern .*{reason}"):
        regex_lf("promo", pattern, 1)


def test_regex_error_names_the_module_and_the_lf(tmp_path: Path) -> None:
    module = tmp_path / "lookaround.py"
    module.write_text("from hitl_triage.lf import regex_lf\npromo = regex_lf('promo', r'(?<=free )money', 1)\n")
    with pytest.raises(LabelingFunctionError, match=r"lookaround\.py: regex LF 'promo': invalid pattern"):
        load_lfs([module])


def test_valid_regex_and_keywords_still_vote() -> None:
    frame = pl.DataFrame({"text": ["free money now", "rock & roll", "nothing"]})
    money = regex_lf("money", r"(?i)free\s+money", 1)
    rock = keyword_lf("rock", ["rock & roll", "#1"], 0)
    assert frame.select(money.expr).to_series().to_list() == [1, None, None]
    assert frame.select(rock.expr).to_series().to_list() == [None, 0, None]
