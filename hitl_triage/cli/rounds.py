"""`hitl-triage run`, `simulate` and `answers ...`: curriculum rounds and human answers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hitl_triage.cli.console import console, err_console, fail, progress_bars, run_or_exit

if TYPE_CHECKING:
    from hitl_triage.config import TaskConfig

ConfigArg = Annotated[Path, typer.Argument(help="Task config (YAML), e.g. configs/wrench_youtube.yaml.")]
FOREIGN_FORMATS = ("labelstudio", "prodigy", "argilla")  # hitl_triage.interop.FORMATS, without importing it
FreshOpt = Annotated[bool, typer.Option(
    "--fresh",
    help="Start the rounds afresh: remove only the rounds hitl-triage wrote in the run folder "
    "(round files, final labels, simulated answers); human answers and your own files stay.",
)]


def _config(path: Path) -> TaskConfig:
    from hitl_triage.config import load_config

    return run_or_exit(lambda: load_config(path))


def _print_rounds(records: list[dict[str, Any]]) -> None:
    from hitl_triage.round_report import round_table

    if records:
        console.print(round_table(records), markup=False, highlight=False)


def run(config_path: ConfigArg, fresh: FreshOpt = False) -> None:
    """Run or continue the curriculum rounds; stops when it needs reviewers' answers."""
    from hitl_triage.curriculum import run_rounds

    config = _config(config_path)
    with progress_bars() as progress:
        result = run_or_exit(lambda: run_rounds(config, fresh=fresh, progress=progress))
    _print_rounds(result.records)
    console.print(result.message, markup=False)
    if result.status == "finished":
        final = result.final
        console.print(
            f"human share {final['human_share']:.3f}, accepted share {final['accepted_share']:.3f}, "
            f"threshold {final['threshold']}; labels in {config.out_dir / 'final_labels.parquet'}",
            markup=False,
        )
        if final.get("threshold_reason"):
            console.print(f"nothing accepted: {final['threshold_reason']}", markup=False)


def simulate(
    config_path: ConfigArg,
    budget: Annotated[float, typer.Option(help="Share of items experts may label (review + audit), in (0, 1].")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed of the run.")] = 0,
    out: Annotated[Path, typer.Option(help="Run folder for the simulation (summary.json, report, plot).")] = Path("runs/simulation"),
    fresh: FreshOpt = False,
) -> None:
    """Run the rounds with reviewers answered from the gold column; score against baselines."""
    from hitl_triage.simulate import simulate as run_simulation

    config = _config(config_path)
    with progress_bars() as progress:
        summary = run_or_exit(lambda: run_simulation(config, budget=budget, seed=seed, out_dir=out, fresh=fresh,
                                                         progress=progress))
    _print_rounds(summary["rounds"])
    console.print(
        f"human share {summary['human_share']:.3f}, training-set accuracy {summary['trainset_accuracy']:.4f}, "
        f"accepted share {summary['accepted_share']:.3f} (accuracy {_fmt(summary['accepted_accuracy'])})",
        markup=False,
    )
    for name, row in summary["baselines"].items():
        console.print(f"  baseline {name:10} human share {row['human_share']:.3f}, "
                      f"training-set accuracy {row['trainset_accuracy']:.4f}", markup=False)
    for note in summary["notes"]:
        console.print(f"note: {note}", markup=False)
    console.print(f"wrote {Path(out) / 'summary.json'} and {Path(out) / 'rounds.md'}", markup=False)


answers_app = typer.Typer(name="answers", help="Human answers: import labels made anywhere, export open items.",
                          no_args_is_help=True)


@answers_app.command("import")
def answers_import(
    config_path: ConfigArg,
    file: Annotated[Path, typer.Argument(help="JSONL or CSV with id, label (name or index), reviewer; optional "
                                         "task. With --format: the tool's export (see docs/interop.md).")],
    allow_unrouted: Annotated[bool, typer.Option(
        "--allow-unrouted",
        help="Also import answers for items that no round sent to review or audit (skipped otherwise).",
    )] = False,
    file_format: Annotated[str, typer.Option(
        "--format",
        help="table (JSONL/CSV rows, the default), labelstudio (Label Studio's JSON export), prodigy "
        "(`prodigy db-out` JSONL) or argilla (a `Dataset.to_disk` folder or its records.json).",
    )] = "table",
    reviewer: Annotated[str | None, typer.Option(
        "--reviewer", help="With --format: the reviewer of records that name none (else such a record is an error).",
    )] = None,
) -> None:
    """Add answers from FILE to the run's answers table (validated row by row).

    A reviewer's later answer on an item replaces their earlier one."""
    from hitl_triage.answers import import_answers

    config = _config(config_path)
    if file_format not in ("table", *FOREIGN_FORMATS):
        fail(f"--format: unknown format {file_format!r}; expected one of {['table', *FOREIGN_FORMATS]}")
    if reviewer is not None and file_format == "table":
        fail("--reviewer: table files name the reviewer in their 'reviewer' column; --reviewer is for "
             "--format labelstudio, prodigy or argilla")
    skipped: dict[str, int] = {}
    if file_format == "table":
        result = run_or_exit(lambda: import_answers(config, file, allow_unrouted=allow_unrouted))
    else:
        from hitl_triage.interop import import_foreign_answers

        foreign = run_or_exit(lambda: import_foreign_answers(config, file, file_format, allow_unrouted=allow_unrouted,
                                                             default_reviewer=reviewer))
        result, skipped = foreign.result, foreign.skipped
    if result.unrouted:
        examples = ", ".join(repr(i) for i in result.unrouted_examples)
        what = ("imported them (--allow-unrouted)" if result.unrouted_added
                else "skipped them; pass --allow-unrouted to import them")
        err_console.print(f"warning: {result.unrouted} answers are for items no round sent to "
                          f"review or audit (e.g. {examples}); {what}", markup=False, highlight=False)
    replaced = f", replaced {result.replaced} earlier answers of the same reviewers" if result.replaced else ""
    no_answer = (" (no answer in: " + ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())) + ")"
                 if skipped else "")
    console.print(f"read {result.read} answers from {file}{no_answer}, added {result.added} new{replaced}; run "
                  f"`hitl-triage run {config_path}` to continue", markup=False)


@answers_app.command("export")
def answers_export(
    config_path: ConfigArg,
    out: Annotated[Path | None, typer.Option(
        help="Where to write the open items: .jsonl or .csv (table; default open_items.jsonl), a .json file "
        "(labelstudio; default open_items.json), a .jsonl file (prodigy; default open_items.jsonl), a new or "
        "empty folder (argilla; default open_items_argilla).",
    )] = None,
    file_format: Annotated[str, typer.Option(
        "--format",
        help="table (id, text, round, suggested, confidence; the default), labelstudio (tasks with "
        "predictions + labeling config XML), prodigy (choice tasks) or argilla (a dataset folder for "
        "rg.Dataset.from_disk).",
    )] = "table",
) -> None:
    """Write the routed items that still wait for an answer, for any annotation tool."""
    config = _config(config_path)
    out = out or Path({"labelstudio": "open_items.json", "argilla": "open_items_argilla"}.get(file_format,
                                                                                              "open_items.jsonl"))
    if file_format == "table":
        from hitl_triage.answers import export_requests

        n = run_or_exit(lambda: export_requests(config, out))
        console.print(f"wrote {n} open items to {out}; fill in label and reviewer, then "
                      f"`hitl-triage answers import {config_path} {out}`", markup=False)
        return
    if file_format not in FOREIGN_FORMATS:
        fail(f"--format: unknown format {file_format!r}; expected one of {['table', *FOREIGN_FORMATS]}")
    from hitl_triage.interop import export_queue

    result = run_or_exit(lambda: export_queue(config, file_format, out))
    wrote = f"the folder {out}" if file_format == "argilla" else " and ".join(str(p) for p in result.paths)
    if result.items == 0:
        console.print(f"no open items (all answered, or no round has routed yet: `hitl-triage run "
                      f"{config_path}`); wrote an empty queue to {wrote}", markup=False)
        return
    console.print(f"wrote {result.items} open items to {wrote}; once they are answered there, "
                  f"`hitl-triage answers import {config_path} FILE --format {file_format}`", markup=False)


def _fmt(value: float | None) -> str:
    return "n/a (nothing accepted)" if value is None or value != value else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    """Add the round commands to the root app."""
    app.command("run")(run)
    app.command("simulate")(simulate)
    app.add_typer(answers_app)
