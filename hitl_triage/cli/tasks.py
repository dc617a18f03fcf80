"""`hitl-triage init | apply | label | export | demo`: tasks, votes, label model, training set."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from hitl_triage.cli.console import console, progress_bars, run_or_exit

if TYPE_CHECKING:
    import polars as pl

    from hitl_triage.config import TaskConfig



class Format(StrEnum):
    parquet = "parquet"
    jsonl = "jsonl"
    hf = "hf"


ConfigArg = Annotated[Path, typer.Argument(help="Task config (YAML), e.g. configs/youtube_spam.yaml.")]


def _config(path: Path) -> TaskConfig:
    from hitl_triage.config import load_config

    return run_or_exit(lambda: load_config(path))


def _print_summary(summary: pl.DataFrame) -> None:
    table = Table(title="Sources", show_lines=False)
    for column in summary.columns:
        table.add_column(column, justify="left" if column in ("source", "polarity", "kind") else "right")
    for row in summary.iter_rows():
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else ("" if v is None else str(v)) for v in row])
    console.print(table)


def init(
    name: Annotated[
        str | None, typer.Argument(help="Task name: letters, digits, '_' or '-'.")
    ] = None,
    name_option: Annotated[str | None, typer.Option("--name", help="Task name (same as NAME).")] = None,
    from_wrench: Annotated[
        Path | None, typer.Option("--from-wrench", help="A WRENCH dataset folder to import.")
    ] = None,
    labels: Annotated[
        str, typer.Option(help="Comma-separated class names for a new task.")
    ] = "negative,positive",
    configs_dir: Annotated[Path, typer.Option(help="Where to write the config.")] = Path("configs"),
    lf_dir: Annotated[Path, typer.Option(help="Where to write the LF module.")] = Path("labeling_functions"),
    split: Annotated[str, typer.Option(help="WRENCH split to label.")] = "train",
) -> None:
    """Write a new task config (and LF module), or a config for a WRENCH folder."""
    from hitl_triage.errors import ConfigError
    from hitl_triage.scaffold import init_from_wrench, init_task

    task = name or name_option
    if task is None or (name and name_option and name != name_option):
        def fail() -> None:
            raise ConfigError("give the task name once: `hitl-triage init NAME` or `--name NAME`")
        run_or_exit(fail)
    assert task is not None  # run_or_exit exited otherwise
    if from_wrench is not None:
        result = run_or_exit(lambda: init_from_wrench(from_wrench, task, configs_dir=configs_dir, split=split))
    else:
        names = [n.strip() for n in labels.split(",") if n.strip()]
        result = run_or_exit(lambda: init_task(task, labels=names, configs_dir=configs_dir, lf_dir=lf_dir))
    console.print(f"wrote [bold]{result.config_path}[/]")
    if result.lf_path is not None:
        console.print(f"wrote [bold]{result.lf_path}[/]")
    console.print(f"next: hitl-triage apply {result.config_path}")


def apply(config: ConfigArg) -> None:
    """Apply every labeling function and vote source; print and save the LF analysis."""
    from hitl_triage.pipeline import run_apply

    cfg = _config(config)
    with progress_bars() as progress:
        result = run_or_exit(lambda: run_apply(cfg, progress=progress))
    _print_summary(result.summary)
    console.print(f"{result.n_items} items, {len(result.sources)} sources; recomputed: "
                  f"{', '.join(result.recomputed) or 'none (all cached)'}")
    if result.n_empty_text:
        console.print(f"[yellow]{result.n_empty_text} item(s) have empty text and were abstained on[/]")
    for lf, count in result.failures_by_lf.items():
        console.print(f"[yellow]LF {lf!r} raised on {count} item(s); see {result.run_dir / 'lf_errors.jsonl'}[/]")
    console.print(f"votes: {result.run_dir / 'votes.parquet'}  report: {result.report_path}")


def label(config: ConfigArg) -> None:
    """Fit the label model on the votes and write probabilistic labels."""
    from hitl_triage.pipeline import run_label

    cfg = _config(config)
    with progress_bars() as progress:
        result = run_or_exit(lambda: run_label(cfg, progress=progress))
    console.print(f"{result.model} label model on {result.n_items} items "
                  f"({result.n_known} human labels used); predicted: {result.class_counts}")
    if result.gold_accuracy is not None:
        console.print(f"accuracy against the gold column (scoring only): {result.gold_accuracy:.4f}")
    console.print(f"probabilities: {result.path}")


def export(
    config: ConfigArg,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format; it decides, "
                                           "a contradicting --out suffix is an error.")] = Format.parquet,
    out: Annotated[Path | None, typer.Option(
        help="A file with the format's suffix, or a folder (gets train.parquet, train.jsonl, or "
        "the hf dataset). Default: RUN_DIR/trainset/.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Also replace a previous export of another task. Files that no export "
        "wrote are never replaced.")] = False,
) -> None:
    """Write the training set: id, text, label, confidence, label source and the votes.

    A target that exists is replaced only if it is a previous export of this task (recorded in
    .hitl-triage-export.json beside it); anything else is refused.
    """
    from hitl_triage.pipeline import run_export

    cfg = _config(config)
    result = run_or_exit(lambda: run_export(cfg, fmt=format.value, out=out, force=force))  # type: ignore[arg-type]
    console.print(f"training set: [bold]{result.path}[/] ({result.n_rows} rows; by source {result.by_source})")


def demo(
    config: ConfigArg = Path("configs/youtube_spam.yaml"),
    budget: Annotated[float, typer.Option(help="Expert-label budget of the simulated rounds.")] = 0.1,
) -> None:
    """Run the bundled example end to end and print where the outputs went.

    Applies the LFs, fits the label model and exports its training set; then runs the round
    loop with simulated reviewers (answered from the gold column) at --budget, against the
    baselines.
    """
    from hitl_triage.pipeline import run_apply, run_export, run_label
    from hitl_triage.simulate import simulate

    cfg = _config(config)
    with progress_bars() as progress:
        applied = run_or_exit(lambda: run_apply(cfg, progress=progress))
        labelled = run_or_exit(lambda: run_label(cfg, progress=progress))
    _print_summary(applied.summary.select("source", "kind", "polarity", "coverage", "conflicts",
                                          *[c for c in ("gold_emp_acc",) if c in applied.summary.columns]))
    exported = run_or_exit(lambda: run_export(cfg, fmt="parquet"))
    if labelled.gold_accuracy is not None:
        console.print(f"label model alone, accuracy against gold (scoring only): {labelled.gold_accuracy:.4f}")
    console.print(f"training set (label model): [bold]{exported.path}[/]")
    console.print(f"report:                     [bold]{applied.report_path}[/]")
    if cfg.dataset.gold_field is None:
        return
    out = cfg.out_dir / "simulation"
    with progress_bars() as progress:
        summary = run_or_exit(lambda: simulate(cfg, budget=budget, seed=cfg.seed, out_dir=out, progress=progress))
    console.print(f"\nsimulated rounds: {summary['human_share']:.1%} of items labeled by (simulated) experts "
                  f"-> training-set accuracy {summary['trainset_accuracy']:.4f}")
    for name, row in summary["baselines"].items():
        console.print(f"  baseline {name:<10} {row['trainset_accuracy']:.4f}")
    rounds_set = run_or_exit(lambda: run_export(cfg.model_copy(update={"run_dir": out}), fmt="parquet"))
    console.print(f"training set (rounds): [bold]{rounds_set.path}[/] (by source {rounds_set.by_source})")
    console.print(f"round report and plot: [bold]{out / 'rounds.md'}[/], [bold]{out / 'accuracy_vs_human_share.png'}[/]")


def register(app: typer.Typer) -> None:
    """Add the task commands to the root app."""
    for command in (init, apply, label, export, demo):
        app.command()(command)
