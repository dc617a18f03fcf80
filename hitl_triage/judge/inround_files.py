"""In-round judging in a run directory: each round's judge answers saved, reloaded on resume.

``rounds/round_NNN/judge.parquet`` holds the answers asked *before* round ``NNN``'s evidence
(after round ``NNN - 1``'s human answers; ``NNN`` = the number of rounds for the final
evidence): ``id`` (str), ``model`` (int8: 0 first model, 1 escalate), ``p_0 .. p_{k-1}``
(float64 raw label distributions, NaN where no model gave a label). Its parquet metadata key
``hitl_triage.judge_round`` holds, as JSON, the per-model usage (items asked, requests, cache
hits, failures, cost) and the number of few-shot examples. A resumed run reloads these files
instead of asking again; a missing one is planned again (the response cache makes that free
for answers already given).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hitl_triage.config import TaskConfig
from hitl_triage.engine import HumanLabels
from hitl_triage.indexing import row_index
from hitl_triage.judge.errors import JudgeError
from hitl_triage.judge.inround import InRoundJudge, ModelUsage, RoundAnswers
from hitl_triage.judge.judgements import CACHE_FILE, judge_dir
from hitl_triage.rundir import write_frame

ROUND_JUDGE_FILE = "judge.parquet"
METADATA_KEY = "hitl_triage.judge_round"


def inround_judge(config: TaskConfig, texts: list[str | None]) -> InRoundJudge | None:
    """The task's in-round judge, or None when it has no enabled judge with
    ``max_requests_per_round`` set."""
    s = config.judge
    if s is None or not s.enabled or s.max_requests_per_round is None:
        return None
    return InRoundJudge(s, task=config.task, label_names=config.label_names,
                        label_descriptions=[c.description for c in config.labels], texts=texts,
                        cache_path=judge_dir(config.out_dir) / CACHE_FILE, random_state=config.seed)


def save_round_answers(path: Path, ids: list[str], answers: RoundAnswers) -> Path:
    """Write one round's answers (see the module doc) atomically."""
    k = answers.probs.shape[1]
    frame = pl.DataFrame({
        "id": pl.Series([ids[i] for i in answers.rows], dtype=pl.String),
        "model": pl.Series(answers.model, dtype=pl.Int8),
        **{f"p_{j}": pl.Series(answers.probs[:, j], dtype=pl.Float64) for j in range(k)},
    })
    meta = {METADATA_KEY: json.dumps({"usage": [u.as_dict() for u in answers.usage],
                                      "n_examples": len(answers.examples)})}
    return write_frame(path, frame, writer=lambda f, tmp: f.write_parquet(tmp, metadata=meta))


def load_round_answers(path: Path, ids: list[str], n_classes: int) -> RoundAnswers:
    """Read one round's answers; ids not in ``ids`` are dropped.

    Raises:
        JudgeError: the file's class columns do not match ``n_classes``.
    """
    frame = pl.read_parquet(path)
    cols = [f"p_{j}" for j in range(n_classes)]
    found = [c for c in frame.columns if c.startswith("p_")]
    if found != cols:
        raise JudgeError(f"{path}: expected class columns {cols}, got {found}")
    rows = row_index(ids, frame["id"])
    ok = rows >= 0
    meta = json.loads(pl.read_parquet_metadata(path).get(METADATA_KEY) or "{}")
    usage = [ModelUsage(**u) for u in meta.get("usage", [])]
    return RoundAnswers(rows=rows[ok].astype(np.int64),
                        probs=frame.select(cols).to_numpy().astype(np.float64)[ok],
                        model=frame["model"].to_numpy().astype(np.int8)[ok], examples=[],
                        usage=usage)


def judge_before_round(judge: InRoundJudge, run_dir: Path, ids: list[str], r: int,
                       human: HumanLabels, last_routing: Callable[[int], pl.DataFrame]) -> np.ndarray | None:
    """Bring ``judge`` up to round ``r``: reload the saved rounds ``1..r`` and, when round
    ``r``'s file is missing, judge now with round ``r - 1``'s routing (its ``value`` and
    ``route`` columns, read by ``last_routing(r - 1)``) and save it. Returns the engine's
    ``judge_probs`` (None while the judge has answered nothing)."""
    k = len(judge.label_names)
    for q in range(1, r + 1):
        if q in judge.usage_:
            continue
        path = Path(run_dir) / "rounds" / f"round_{q:03d}" / ROUND_JUDGE_FILE
        if path.is_file():
            judge.merge(q, load_round_answers(path, ids, k))
        elif q == r:
            routing = last_routing(r - 1).select("id", "route", "value")
            rows = row_index(ids, routing["id"])
            value = np.full(len(ids), np.nan)
            route = np.full(len(ids), "", dtype=object)
            value[rows[rows >= 0]] = routing["value"].to_numpy()[rows >= 0]
            route[rows[rows >= 0]] = routing["route"].to_numpy()[rows >= 0]
            answers = judge.step(r, value=value, route=route.astype(str), human=human)
            save_round_answers(path, ids, answers)
    return judge.probs(human)


def usage_record(judge: InRoundJudge | None, r: int) -> dict[str, Any]:
    """Round ``r``'s judging for its record: ``judge_requests``, ``judge_cache_hits``,
    ``judge_cost`` (sums over models) and ``judge_usage`` (per model); empty without judging."""
    if judge is None or r not in judge.usage_:
        return {}
    usage = judge.usage_[r]
    return {"judge_asked": sum(u.asked for u in usage),
            "judge_requests": sum(u.requests for u in usage),
            "judge_cache_hits": sum(u.cache_hits for u in usage),
            "judge_cost": float(sum(u.cost for u in usage)),
            "judge_usage": [u.as_dict() for u in usage]}
