"""A small real task for the workbench tests: comments, expression LFs, human answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from hitl_triage.answers import ANSWER_SCHEMA, append_answers, now_iso
from hitl_triage.config import load_config
from tests.conftest import make_task

LF_SOURCE = '''
from hitl_triage.lf import keyword_lf, regex_lf

HAM, SPAM = 0, 1

link = regex_lf("link", r"(?i)https?://", SPAM)
song = keyword_lf("song", ["song"], HAM)
'''
XSS = '<img src=x onerror="window.__pwned = 1"> great song <script>window.__pwned = 2</script>'


def workbench_texts(n: int = 60) -> tuple[list[str], list[int]]:
    """``n`` comments: every third is spam ("win a free prize ..."), one spam item carries HTML and "song"."""
    texts, gold = [], []
    for i in range(n):
        if i % 3 == 0:
            texts.append(f"win a free prize number {i} http://spam.example" if i % 2 else f"win a free prize {i}")
            gold.append(1)
        else:
            texts.append(f"what a lovely video {i}" if i % 2 else f"this song is great {i}")
            gold.append(0)
    texts[3] = XSS  # a spam item (3 % 3 == 0) that the "song" LF votes ham on
    return texts, gold


def workbench_task(root: Path, *, review: dict | None = None) -> Path:
    """Config path of the task; every item but the last 10 has a human answer (the gold label;
    a third of them through the audit route)."""
    texts, gold = workbench_texts()
    extra = {"review": review} if review is not None else {}
    path = make_task(root, lf_source=LF_SOURCE, texts=texts, gold=gold, extra=extra)
    config = load_config(path)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    n = len(texts) - 10
    answers = pl.DataFrame({
        "id": [f"c{i}" for i in range(n)], "label": np.array(gold[:n]), "reviewer": "ann", "round": 0,
        "route": ["audit" if i % 3 == 1 else "review" for i in range(n)], "origin": "import",
        "answered_at": now_iso(),
    }, schema=ANSWER_SCHEMA)
    append_answers(config.out_dir, answers)
    return path
