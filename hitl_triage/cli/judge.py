"""`hitl-triage judge ...`: serve the local LLM and run the judge over a dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hitl_triage.cli.console import console, err_console, progress_bars, run_or_exit

if TYPE_CHECKING:
    from hitl_triage.judge.runner import JudgeRunResult

judge_app = typer.Typer(
    no_args_is_help=True,
    help="The LLM judge: serve the embedded model, label a dataset through any OpenAI-compatible "
    "server.",
)


@judge_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port (0: a free one).")] = 8080,
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="Context size in tokens.")] = 2048,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads (default: llama.cpp's choice).")
    ] = None,
    model_path: Annotated[
        Path | None, typer.Option(help="A GGUF file (default: the embedded Gemma 3 270M).")
    ] = None,
    log: Annotated[Path | None, typer.Option(help="Server log file.")] = None,
) -> None:
    """Start llama.cpp's OpenAI-compatible server with the embedded Gemma 3 270M; Ctrl-C stops it.

    Needs the optional extra: pip install 'hitl-triage[judge-local]'.
    """
    from hitl_triage.judge.server import launch_local_server

    server = run_or_exit(lambda: launch_local_server(
        host=host, port=port, n_ctx=n_ctx, n_threads=threads, model_path=model_path,
        log_path=log,
    ))
    console.print(f"judge server ready at [bold]{server.base_url}[/] (model "
                  f"gemma-3-270m; log {server.log_path}); Ctrl-C to stop")
    try:
        while server.alive():
            time.sleep(0.5)
        err_console.print(f"[bold red]error:[/] the server exited (code "
                          f"{server.process.returncode}); see {server.log_path}")
        raise typer.Exit(code=1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@judge_app.command("run")
def run(
    config: Annotated[Path, typer.Argument(help="Task config YAML with a judge: section.")],
    local: Annotated[
        bool,
        typer.Option("--local", help="Start the embedded llama.cpp server on a free loopback "
                     "port for this run (overrides judge.base_url and judge.model)."),
    ] = False,
) -> None:
    """Label the dataset through the OpenAI-compatible server the config names.

    Answers are cached in the run directory, so a re-run only sends what is missing or failed.
    """
    from hitl_triage.config import load_config
    from hitl_triage.data import load_dataset
    from hitl_triage.judge.runner import run_judge
    from hitl_triage.judge.server import MODEL_ALIAS, start_local_server

    task = run_or_exit(lambda: load_config(config))
    dataset = run_or_exit(lambda: load_dataset(task.dataset, n_classes=task.n_classes, label_names=task.label_names))

    def judge() -> JudgeRunResult:
        if not local or task.judge is None:
            with progress_bars() as progress:
                return run_judge(task, dataset, progress=progress)
        with start_local_server(port=0) as server:
            local_task = task.model_copy(update={"judge": task.judge.model_copy(
                update={"base_url": server.base_url, "model": MODEL_ALIAS})})
            with progress_bars() as progress:
                return run_judge(local_task, dataset, progress=progress)

    result = run_or_exit(judge)
    console.print(
        f"judged {result.judged} of {result.n_items} items: {result.abstained} abstained, "
        f"{result.failed} failed, {result.skipped} skipped (empty text); "
        f"{result.cached} from cache, {result.requests} requests sent"
    )
    if result.bias_correction != "none" and result.prior is not None:
        prior = ", ".join(f"{p:.3f}" for p in result.prior)
        console.print(f"label-bias correction: {result.bias_correction} (prior divided out: [{prior}])")
    if result.temperature is not None:
        console.print(f"calibration temperature {result.temperature:.3f}")
    if result.class_bias is not None:
        console.print("per-class bias " + ", ".join(f"{b:+.3f}" for b in result.class_bias))
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    for reason, count in list(result.failures.items())[:10]:
        console.print(f"  {count:>5}  {reason}", highlight=False, markup=False)
    console.print(f"wrote {result.path}")
    if result.failed:
        console.print("re-run the same command to retry the failed items")


def register(app: typer.Typer) -> None:
    """Add the `judge` sub-app (serve, run) to the root app."""
    app.add_typer(judge_app, name="judge")
