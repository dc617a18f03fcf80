"""docs/python-api.md runs: every ```python block of the page, in order, as one script."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_every_code_block_of_the_python_api_page_runs() -> None:
    blocks = code_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "python_api_doc"}
    out = io.StringIO()
    for number, block in enumerate(blocks, start=1):
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)
            except Exception as exc:  # name the block that broke
                raise AssertionError(f"{DOC.name}, code block {number} failed: {exc!r}") from exc
    final = namespace["final"]
    gold = namespace["gold"]
    shares = final.shares()  # type: ignore[attr-defined]
    assert abs(sum(shares.values()) - 1.0) < 1e-9
    assert 0.0 < shares["human_share"] <= 0.15
    # the loop must beat the label model alone on the bundled task
    model_only = namespace["probs"].argmax(axis=1)  # type: ignore[attr-defined]
    assert (final.label == gold).mean() > (model_only == gold).mean()  # type: ignore[attr-defined]
    assert "accuracy" in out.getvalue()
