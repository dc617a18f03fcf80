"""The ``hitl-triage`` command. Each command parses its arguments, calls one library function
and prints the result; the work itself lives in the library (spaCy's ``cli/evaluate.py`` habit).

Heavy libraries (snorkel, torch, spaCy) are imported inside the commands so that ``--help``
stays instant.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hitl_triage.cli import judge, review, rounds, tasks, workbench

app = typer.Typer(
    name="hitl-triage",
    help="Turn unlabeled text into a trustworthy training set with as few expert labels as possible.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"hitl-triage {version('hitl-triage')}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Labeling functions and an LLM judge vote; a label model and cleanlab estimate confidence;
    confident items are auto-accepted under an accuracy guarantee, the rest go to experts."""


for module in (tasks, rounds, judge, review, workbench):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
