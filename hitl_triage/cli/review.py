"""`hitl-triage serve`, `reviewers ...`, `review` and `queue`: expert review commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hitl_triage.cli.console import console, run_or_exit

ConfigArg = Annotated[Path, typer.Argument(help="Task config (YAML).", exists=False)]
reviewers_app = typer.Typer(name="reviewers", help="Reviewer accounts of a task's review store.", no_args_is_help=True)


def _config(path: Path):  # type: ignore[no-untyped-def]
    from hitl_triage.config import load_config

    return run_or_exit(lambda: load_config(path))


def _print_credentials(creds, *, what: str) -> None:  # type: ignore[no-untyped-def]
    console.print(f"{what} [bold]{creds.reviewer.name}[/] ({creds.reviewer.role}). Shown once, store them safely:", highlight=False)
    if creds.password is not None:
        console.print(f"  password:  {creds.password}", highlight=False, markup=False)
    if creds.token is not None:
        console.print(f"  API token: {creds.token}", highlight=False, markup=False)


@reviewers_app.command("add")
def reviewers_add(
    config: ConfigArg,
    name: Annotated[str, typer.Argument(help="Login name (letters, digits, . _ -).")],
    role: Annotated[str, typer.Option(help="admin, reviewer or writer (also sees the LF workbench).")] = "reviewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input instead of generating one.")] = False,
) -> None:
    """Create a reviewer account with a password and an API token (both printed once)."""
    from hitl_triage.store import open_store

    cfg = _config(config)
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None

    def run():  # type: ignore[no-untyped-def]
        with open_store(cfg) as store:
            return store.add_reviewer(name, role=role, password=password)

    creds = run_or_exit(run)
    if password_stdin:
        creds = type(creds)(creds.reviewer, None, creds.token)
    _print_credentials(creds, what="Added")


@reviewers_app.command("list")
def reviewers_list(config: ConfigArg) -> None:
    """List reviewer accounts."""
    from rich.table import Table

    from hitl_triage.store import open_store

    cfg = _config(config)

    def run():  # type: ignore[no-untyped-def]
        with open_store(cfg) as store:
            return store.reviewers()

    table = Table("name", "role", "active", "created (UTC)")
    for r in run_or_exit(run):
        table.add_row(r.name, r.role, "yes" if r.active else "no", r.created_at.isoformat(timespec="seconds"))
    console.print(table)


@reviewers_app.command("reset")
def reviewers_reset(
    config: ConfigArg,
    name: Annotated[str, typer.Argument()],
    token: Annotated[bool, typer.Option("--token/--no-token", help="Issue a new API token.")] = True,
    password: Annotated[bool, typer.Option("--password/--no-password", help="Issue a new password.")] = True,
) -> None:
    """Replace a reviewer's password and/or API token (ends their browser sessions)."""
    from hitl_triage.store import open_store

    cfg = _config(config)

    def run():  # type: ignore[no-untyped-def]
        with open_store(cfg) as store:
            return store.reset_credentials(name, password=password, token=token)

    _print_credentials(run_or_exit(run), what="Reset")


def _set_active(config: Path, name: str, active: bool) -> None:
    from hitl_triage.store import open_store

    cfg = _config(config)

    def run():  # type: ignore[no-untyped-def]
        with open_store(cfg) as store:
            return store.set_active(name, active)

    r = run_or_exit(run)
    console.print(f"{r.name} is now {'enabled' if r.active else 'disabled'}", highlight=False)


@reviewers_app.command("disable")
def reviewers_disable(config: ConfigArg, name: Annotated[str, typer.Argument()]) -> None:
    """Disable an account (its sessions end; its answers stay)."""
    _set_active(config, name, False)


@reviewers_app.command("enable")
def reviewers_enable(config: ConfigArg, name: Annotated[str, typer.Argument()]) -> None:
    """Enable a disabled account."""
    _set_active(config, name, True)


def serve(
    config: ConfigArg,
    host: Annotated[str | None, typer.Option(help="Address to bind (default review.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default review.port, 8765).")] = None,
) -> None:
    """Serve the reviewers' web app (and its JSON API under /api/v1)."""
    from hitl_triage.review.server import serve as run_server

    cfg = _config(config)
    where = f"http://{host or cfg.review.host}:{port or cfg.review.port}/"
    console.print(f"Serving review of [bold]{cfg.task}[/] at {where} (Ctrl+C stops)", highlight=False)
    run_or_exit(lambda: run_server(cfg, host=host, port=port))


def review(
    config: ConfigArg,
    reviewer: Annotated[str, typer.Option("--reviewer", "-r", help="Your reviewer name.")],
) -> None:
    """Review your queue in the terminal (same keys as the web screen)."""
    from hitl_triage.review.terminal import review_in_terminal

    cfg = _config(config)
    summary = run_or_exit(lambda: review_in_terminal(cfg, reviewer=reviewer, console=console))
    console.print(
        f"Session over: {summary.labelled} labelled, {summary.skipped} skipped, "
        f"{summary.flagged} flagged, {summary.undone} undone.",
        highlight=False,
    )


def queue(
    config: ConfigArg,
    ids: Annotated[Path | None, typer.Option(help="File with one item id per line to queue for review.")] = None,
    least_confident: Annotated[int | None, typer.Option(help="Queue the N least confident items of run_dir/probs.parquet.")] = None,
    round: Annotated[int, typer.Option(help="Round number to file the items under.")] = 0,
) -> None:
    """Queue items for review by hand (until the round loop routes them itself)."""
    from hitl_triage.data import fields_json, load_dataset
    from hitl_triage.store import open_store
    from hitl_triage.store.intake import items_from_ids, items_from_probs

    cfg = _config(config)
    if (ids is None) == (least_confident is None):
        raise typer.BadParameter("give exactly one of --ids FILE or --least-confident N")

    def run() -> int:
        items = load_dataset(cfg.dataset, n_classes=cfg.n_classes, label_names=cfg.label_names).items
        texts = items.select("id", "text")
        if ids is not None:
            frame = items_from_ids(ids, texts, round=round)
        else:
            frame = items_from_probs(cfg.out_dir, texts, cfg.label_names, n=least_confident or 0, round=round)
        if cfg.dataset.fields:  # the shown fields go with each item
            frame = frame.join(fields_json(items, cfg.dataset), on="id", how="left")
        with open_store(cfg) as store:
            return store.enqueue(frame)

    n = run_or_exit(run)
    console.print(f"Queued {n} new item(s) for review in round {round}.", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the review commands to the root app."""
    app.command("serve")(serve)
    app.command("review")(review)
    app.command("queue")(queue)
    app.add_typer(reviewers_app)
