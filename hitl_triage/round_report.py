"""The rounds' report: a per-round table (Markdown) and, for simulations, a PNG plot of
training-set accuracy against human share for the method and each baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hitl_triage.report import update_report
from hitl_triage.rundir import atomic_path, write_text

REPORT_FILE = "rounds.md"
JUDGE_KEYS = ("judge_asked", "judge_requests", "judge_cache_hits", "judge_cost", "judge_usage")
"""A round's in-round judging (see :func:`hitl_triage.judge.inround_files.usage_record`)."""
PLOT_FILE = "accuracy_vs_human_share.png"


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def round_table(records: list[dict[str, Any]]) -> str:
    """Markdown table, one row per round (works for run records and simulation rounds)."""
    head = ("| round | human share | cumulative | accepted share | open share | threshold | audit labels "
            "| est. accepted acc. [interval] | true accepted acc. | est. trainset acc. |")
    lines = [head, "|" + "---|" * 10]
    for r in records:
        interval = (f"{_fmt(r.get('est_accepted_accuracy'))} [{_fmt(r.get('est_accepted_accuracy_low'))}, "
                    f"{_fmt(r.get('est_accepted_accuracy_high'))}]")
        lines.append(
            f"| {r['round']} | {_fmt(r['human_share'])} | {_fmt(r.get('cumulative_human_share'))} "
            f"| {_fmt(r['accepted_share'])} | {_fmt(r.get('open_share'))} | {_fmt(r.get('threshold'), 4)} "
            f"| {_fmt(r.get('n_audit_labels'))} | {interval} | {_fmt(r.get('true_accepted_accuracy'))} "
            f"| {_fmt(r.get('est_trainset_accuracy'))} |"
        )
    if any("judge_requests" in r for r in records):
        lines += ["", judge_table(records)]
    return "\n".join(lines) + "\n"


def judge_table(records: list[dict[str, Any]]) -> str:
    """Markdown table of the in-round judge: per round and model, the items asked, requests
    sent, cache hits, items without a label and cost (asked before the round's evidence)."""
    lines = ["| round | model | role | items asked | requests | cache hits | no label | cost |",
             "|" + "---|" * 8]
    total_requests, total_cost = 0, 0.0
    for r in records:
        for u in r.get("judge_usage", []):
            lines.append(f"| {r['round']} | {u['model']} | {u['role']} | {u['asked']} | {u['requests']} "
                         f"| {u['cache_hits']} | {u['failed']} | {_fmt(float(u['cost']), 4)} |")
            total_requests += int(u["requests"])
            total_cost += float(u["cost"])
    lines.append(f"| all | | | | {total_requests} | | | {_fmt(total_cost, 4)} |")
    return "\n".join(lines)


def plot_accuracy(summary: dict[str, Any], target: Path) -> Path:
    """PNG: training-set accuracy vs human share, our rounds and each baseline's curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ours_x = [r["cumulative_human_share"] - r["human_share"] for r in summary["rounds"]]
    ours_y = [r["true_trainset_accuracy_before"] for r in summary["rounds"]]
    ours_x.append(summary["human_share"])
    ours_y.append(summary["trainset_accuracy"])
    ax.plot(ours_x, ours_y, "o-", lw=2.2, color="black", label="hitl-triage (rounds)")
    curves = summary.get("baseline_curves", {})
    points = sorted(curves, key=int)
    n = summary["n_items"]
    for name in ("no_human", "naive", "random", "supervised"):
        xs = [int(p) / n if name != "no_human" else 0.0 for p in points]
        ys = [curves[p][name]["trainset_accuracy"] for p in points]
        if name == "no_human":
            ax.axhline(ys[0], ls=":", color="grey", label="no_human (label model)")
        else:
            ax.plot(xs, ys, "s--", ms=4, label=name)
    ax.set_xlabel("human share (review + audit labels / items)")
    ax.set_ylabel("training-set accuracy")
    ax.set_title(f"{summary['task']}: budget {summary['budget']:.0%}, seed {summary['seed']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return target


def write_round_report(out_dir: Path, summary: dict[str, Any]) -> tuple[Path, Path | None]:
    """``rounds.md`` (table, final figures, baselines) and, with baselines, the PNG plot."""
    out_dir = Path(out_dir)
    plot = plot_accuracy(summary, out_dir / PLOT_FILE) if summary.get("baseline_curves") else None
    lines = [f"# {summary['task']}: curriculum rounds", "", round_table(summary["rounds"])]
    lines += [
        f"Final: human share {_fmt(summary['human_share'])}, training-set accuracy "
        f"{_fmt(summary.get('trainset_accuracy'))} (estimated {_fmt(summary.get('est_trainset_accuracy'))}), "
        f"accepted share {_fmt(summary['accepted_share'])} (accuracy {_fmt(summary.get('accepted_accuracy'))}), "
        f"threshold {_fmt(summary.get('threshold'), 4)}.",
        f"Stop: {summary.get('stop_reason')}.",
    ]
    if summary.get("threshold_reason"):
        lines.append(f"Nothing accepted because: {summary['threshold_reason']}.")
    for note in summary.get("notes", []):
        lines.append(f"Note: {note}.")
    if summary.get("baselines"):
        lines += ["", "| method | human share | training-set accuracy |", "|---|---|---|",
                  f"| hitl-triage | {_fmt(summary['human_share'])} | {_fmt(summary['trainset_accuracy'])} |"]
        for name, row in summary["baselines"].items():
            lines.append(f"| {name} | {_fmt(row['human_share'])} | {_fmt(row['trainset_accuracy'])} |")
    if plot is not None:
        lines += ["", f"![accuracy vs human share]({plot.name})"]
    path = write_text(out_dir / REPORT_FILE, "\n".join(lines) + "\n")
    keys = ("round", "human_share", "cumulative_human_share", "accepted_share", "threshold",
            "est_accepted_accuracy", "est_accepted_accuracy_low", "est_accepted_accuracy_high",
            "true_accepted_accuracy", "est_trainset_accuracy", "true_trainset_accuracy_before",
            *JUDGE_KEYS)
    section: dict[str, Any] = {
        "human_share": summary["human_share"], "trainset_accuracy": summary.get("trainset_accuracy"),
        "accepted_share": summary["accepted_share"], "accepted_accuracy": summary.get("accepted_accuracy"),
        "threshold": summary.get("threshold"), "nothing_accepted_because": summary.get("threshold_reason") or None,
        "stop": summary.get("stop_reason"), "table": path.name, "plot": plot.name if plot else None,
        "rounds": [{k: r.get(k) for k in keys if k in r} for r in summary["rounds"]],
    }
    if summary.get("baselines"):
        section["baselines"] = [{"method": name, **row} for name, row in summary["baselines"].items()]
    update_report(out_dir, summary["task"], "rounds", section)
    return path, plot
