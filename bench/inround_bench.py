"""``python bench/judge_bench.py --inround``: the judge inside the rounds vs no judge, at equal
human budget (see judge_bench.py's module doc). Gold labels are used only to answer the
simulated reviewers and to score."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hitl_triage.config import load_config
from hitl_triage.curriculum import make_engine, prepare_inputs
from hitl_triage.data import load_gold
from hitl_triage.judge.inround import InRoundJudge
from hitl_triage.judge.server import start_local_server
from hitl_triage.judge_settings import JudgeConfig
from hitl_triage.loop import run_loop

REPO = Path(__file__).resolve().parents[1]
SECOND_COST = 0.002  # a stand-in price per request of the second model (any currency unit)


def _subset(data: Path, name: str, n_items: int, folder: Path, split: str) -> Path:
    """A WRENCH folder whose ``test`` split is the first ``n_items`` records of ``split``."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    records = json.loads((data / name / f"{split}.json").read_text(encoding="utf-8"))
    (folder / "test.json").write_text(json.dumps(dict(list(records.items())[:n_items])), encoding="utf-8")
    shutil.copy(data / name / "label.json", folder / "label.json")
    return folder


def _arm(engine: Any, inputs: Any, gold: np.ndarray, *, budget: float, schedule: list[float],
         seed: int, judge: InRoundJudge | None) -> dict[str, Any]:
    result = run_loop(engine, inputs.L, inputs.X, reviewer=lambda rows, routes: gold[rows],
                      total_budget=budget, schedule=schedule, seed=seed, names=inputs.names,
                      judge=None if judge is None else judge.between_rounds)
    out: dict[str, Any] = {"accuracy": float((result.final.label == gold).mean()),
                           "human": int(result.human.known.sum()),
                           "posterior": result.final.figures.get("posterior")}
    if judge is not None:
        usage = [u for round_usage in judge.usage_.values() for u in round_usage]
        answered = judge.model_ >= 0
        out.update(
            requests={role: sum(u.requests for u in usage if u.role == role) for role in ("first", "escalate")},
            cost=float(sum(u.cost for u in usage)),
            answered=int(answered.sum()), escalated=int((judge.model_ == 1).sum()),
            judge_accuracy=float((judge.raw_[answered].argmax(axis=1) == gold[answered]).mean())
            if answered.any() else float("nan"))
    return out


def inround_main(args: argparse.Namespace, data: Path, sets: dict[str, list[dict[str, str]]]) -> None:
    sys.path.insert(0, str(REPO / "tests" / "judge"))
    from fault_server import FaultServer

    with contextlib.ExitStack() as stack:
        if args.work_dir is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="inround-bench-")))
        else:
            tmp = args.work_dir
            tmp.mkdir(parents=True, exist_ok=True)
        gemma = stack.enter_context(start_local_server(port=0, n_threads=args.threads))
        fault = FaultServer(max_requests=100_000).start()
        stack.callback(fault.stop)
        print(f"judge inside the rounds vs no judge: first {args.n_items} items of each {args.split} split, "
              f"budget {args.budget:.0%}, schedule {args.schedule}, seeds {args.seeds}; judge = local "
              f"Gemma 3 270M ({gemma.base_url}), {args.per_round} items per round; second model = "
              f"the fault server ({fault.base_url}, answers spam iff the text says 'spam'), "
              f"{SECOND_COST} per request")
        for name in args.efficiency_sets:
            base = load_config(REPO / "configs" / f"wrench_{name}.yaml")
            dataset = base.dataset.model_copy(update={
                "path": _subset(data, name, args.n_items, tmp / f"{name}_inround_subset", args.split),
                "split": "test"})
            config = base.model_copy(update={"dataset": dataset, "labels": base.labels,
                                             "run_dir": tmp / f"{name}_inround_run"})
            inputs = prepare_inputs(config)
            gold = load_gold(config.dataset, config.label_names, inputs.ids)
            engine = make_engine(config)
            settings = JudgeConfig(base_url=gemma.base_url, bias_correction="none", few_shot=4,
                                   concurrency=2, max_requests_per_round=args.per_round,
                                   max_text_chars=400, max_example_chars=200, timeout_s=300.0)
            escalating = JudgeConfig.model_validate({**settings.model_dump(), "escalate": {
                "base_url": fault.base_url, "model": "fault-stand-in", "cost_per_request": SECOND_COST,
                "below": 0.6}})
            rows: dict[str, list[dict[str, Any]]] = {"no judge": [], "judge (Gemma)": [],
                                                     "judge + escalate": []}
            for seed in args.seeds:
                rows["no judge"].append(_arm(engine, inputs, gold, budget=args.budget,
                                             schedule=args.schedule, seed=seed, judge=None))
                for arm, s in (("judge (Gemma)", settings), ("judge + escalate", escalating)):
                    judge = InRoundJudge(s, task=config.task, label_names=config.label_names,
                                         label_descriptions=[c.description for c in config.labels],
                                         texts=inputs.texts, cache_path=tmp / f"{name}_inround_cache.sqlite",
                                         random_state=seed)
                    rows[arm].append(_arm(engine, inputs, gold, budget=args.budget,
                                          schedule=args.schedule, seed=seed, judge=judge))
            print(f"\n[{name}] {len(gold)} items, {rows['no judge'][0]['human']} human labels per run "
                  f"(same in every arm)")
            base_acc = np.mean([r["accuracy"] for r in rows["no judge"]])
            for arm, runs in rows.items():
                acc = [r["accuracy"] for r in runs]
                line = (f"  {arm:<17} training-set accuracy {np.mean(acc):.3f} "
                        f"({', '.join(f'{a:.3f}' for a in acc)}; {np.mean(acc) - base_acc:+.3f} vs no judge); "
                        f"posterior {', '.join(str(r['posterior']) for r in runs)}")
                if arm != "no judge":
                    first = sum(r["requests"]["first"] for r in runs)
                    second = sum(r["requests"]["escalate"] for r in runs)
                    line += (f"; requests Gemma {first}, second model {second}, cost "
                             f"{sum(r['cost'] for r in runs):.3f}; judge answered "
                             f"{np.mean([r['answered'] for r in runs]):.0f} items/run "
                             f"({np.mean([r['escalated'] for r in runs]):.0f} by the second model), "
                             f"its own accuracy there {np.nanmean([r['judge_accuracy'] for r in runs]):.3f}")
                print(line)
