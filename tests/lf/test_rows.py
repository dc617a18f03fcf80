"""Row LFs with ``lfs.timeout_s``: a hang becomes an abstain recorded in ``lf_errors.jsonl``."""

import json
import textwrap
import time
from pathlib import Path

import pytest

from hitl_triage.config import load_config
from hitl_triage.errors import ConfigError
from hitl_triage.pipeline import run_apply

from ..conftest import LF_MODULE, make_task

HANGS = LF_MODULE + textwrap.dedent('''
    import os
    import signal
    import time

    @labeling_function()
    def sleepy(x):
        if "song" in x.text:
            time.sleep(5)  # a hang in Python code: stopped by the timer
        return HAM if x.text == "lol" else ABSTAIN

    @labeling_function()
    def deaf(x):
        if "Psy" in x.text:  # a hang that ignores signals, as C code may: the worker is killed
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(5)
        return SPAM if "free" in x.text else ABSTAIN

    @labeling_function()
    def greedy(x):
        try:
            if "subscribe" in x.text:
                time.sleep(5)
        except Exception:  # an LF's own except clause does not swallow the timeout
            return SPAM
        return ABSTAIN
''')


def _errors(run_dir: Path) -> list[dict]:
    lines = (run_dir / "lf_errors.jsonl").read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda e: (e["lf"], e["id"]))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_hanging_lf_times_out_to_an_abstain_recorded_with_lf_and_item(tmp_path: Path, n_jobs: int) -> None:
    config = load_config(make_task(tmp_path, lf_source=HANGS, extra={
        "lfs": {"modules": ["lfs/task_lfs.py"], "timeout_s": 0.2, "n_jobs": n_jobs}}))
    started = time.monotonic()
    result = run_apply(config)
    assert time.monotonic() - started < 4.5  # three 5 s hangs did not run to the end
    errors = _errors(config.out_dir)
    assert [(e["lf"], e["id"]) for e in errors] == [("deaf", "c5"), ("greedy", "c2"), ("sleepy", "c1")]
    assert errors[2]["error"] == "timed out after 0.2 s"
    assert errors[1]["error"] == "timed out after 0.2 s"
    assert errors[0]["error"].startswith("timed out after 0.2 s (did not stop; its worker process was killed")
    assert result.failures_by_lf == {"sleepy": 1, "deaf": 1, "greedy": 1}
    votes = {s["source"]: s for s in result.summary.to_dicts()}
    assert votes["sleepy"]["coverage"] == 1 / 8  # "lol", after the hang, still voted
    assert votes["deaf"]["coverage"] == 1 / 8  # "free money", after the killed worker, still voted
    assert votes["greedy"]["coverage"] == 0.0


def test_crashing_worker_is_replaced_and_the_item_recorded(tmp_path: Path) -> None:
    source = LF_MODULE + textwrap.dedent('''
        import os

        @labeling_function()
        def crash(x):
            if "song" in x.text:
                os._exit(3)  # as a segfault in an extension would
            return HAM if x.text == "lol" else ABSTAIN
    ''')
    config = load_config(make_task(tmp_path, lf_source=source, extra={
        "lfs": {"modules": ["lfs/task_lfs.py"], "n_jobs": 2}}))
    result = run_apply(config)
    assert _errors(config.out_dir) == [
        {"lf": "crash", "id": "c1", "error": "worker process died (exit code 3)"}]
    assert {s["source"]: s["coverage"] for s in result.summary.to_dicts()}["crash"] == 1 / 8


def test_no_timeout_by_default_and_timeout_must_be_positive(tmp_path: Path) -> None:
    assert load_config(make_task(tmp_path)).lfs.timeout_s is None
    with pytest.raises(ConfigError, match=r"lfs\.timeout_s"):
        load_config(make_task(tmp_path, extra={"lfs": {"modules": ["lfs/task_lfs.py"], "timeout_s": 0}}))
