"""`hitl-triage lf`: the LF writer's workbench in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from hitl_triage.cli.console import console, progress_bars, run_or_exit

if TYPE_CHECKING:
    import polars as pl

    from hitl_triage.lf.workbench import LFReport
    from hitl_triage.workbench import Moved, WorkbenchView


def _num(value: Any, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def _interval(low: Any, high: Any) -> str:
    return "–" if low is None else f"[{_num(low, 2)}, {_num(high, 2)}]"


def _lf_table(report: LFReport) -> Table:
    table = Table(title=f"Labeling functions ({report.n_items} items, {report.n_human} with a human label; "
                  "accuracy on human labels; * = strong source)")
    for name in ("source", "kind", "polarity", "cover", "overlap", "conflict", "acc",
                 f"{report.confidence:.0%} CI", "n", "wrong", "vs strong"):
        table.add_column(name, justify="left" if name in ("source", "kind", "polarity") else "right",
                         overflow="fold", min_width=min(len(name), 8))
    for r in report.lfs.iter_rows(named=True):
        table.add_row(Text(r["source"] + (" *" if r["strong"] else "")), r["kind"], Text(r["polarity"]),
                      _num(r["coverage"]), _num(r["overlaps"]), _num(r["conflicts"]), _num(r["accuracy"]),
                      _interval(r["accuracy_low"], r["accuracy_high"]), str(r["n"]), str(r["n_wrong"]),
                      str(r["n_strong_conflicts"]))
    return table


def _items_table(title: str, frame: pl.DataFrame, columns: list[str], total: int) -> Table:
    table = Table(title=f"{title} ({frame.height} of {total})", show_lines=True)
    for column in columns:
        table.add_column(column, overflow="fold", ratio=4 if column == "text" else None)
    for row in frame.select(columns).iter_rows():
        # Text objects, never markup: item text is shown exactly as written
        table.add_row(*[Text("" if v is None else str(v)) for v in row])
    return table


def _moved(moved: Moved) -> None:
    table = Table(title=f"What moved at the last LF change ({moved.at[:19].replace('T', ' ')} UTC)")
    for name in ("source", "status", "coverage", "accuracy", "n"):
        table.add_column(name, justify="left" if name in ("source", "status") else "right")
    for r in moved.lfs:
        table.add_row(Text(r["source"]), r["status"], f"{_num(r['coverage_before'])} → {_num(r['coverage_after'])}",
                      f"{_num(r['accuracy_before'])} → {_num(r['accuracy_after'])}",
                      f"{r['n_before'] if r['n_before'] is not None else '–'} → {r['n_after'] if r['n_after'] is not None else '–'}")
    console.print(table)
    b, a = moved.trainset_before, moved.trainset_after
    console.print(f"estimated training-set accuracy: {_num(b.get('accuracy'))} → {_num(a.get('accuracy'))} "
                  f"(lower bound {_num(b.get('low'))} → {_num(a.get('low'))})")


def _suggestions(frame: pl.DataFrame) -> None:
    table = Table(title="Suggested LFs (precision and coverage on the human labels, 95% intervals)")
    for name in ("#", "name", "precision", "interval", "n", "coverage", "interval ", "new", "all items", "from"):
        table.add_column(name, justify="left" if name in ("name", "from") else "right")
    for r in frame.iter_rows(named=True):
        table.add_row(str(r["rank"]), Text(r["name"]), _num(r["precision"]),
                      _interval(r["precision_low"], r["precision_high"]), str(r["n"]), _num(r["coverage"]),
                      _interval(r["coverage_low"], r["coverage_high"]), str(r["new_items"]),
                      _num(r["coverage_all"]), str(r.get("origin") or "mined"))
    console.print(table)
    console.print("code (new = labeled items no LF covers yet; all items = coverage on the whole dataset; "
                  "from = mined from the labels, or proposed by the judge):")
    for r in frame.iter_rows(named=True):
        console.print(Text(f"{r['rank']:>3}  {r['code']}"), soft_wrap=True)
    console.print("accept one with: hitl-triage lf CONFIG --accept N")


def _print_view(view: WorkbenchView, *, lf: str | None, wrong: bool, uncovered: bool, suggest: bool,
                search: str | None, offset: int, limit: int) -> None:
    from hitl_triage.lf.workbench import page

    report = view.report
    console.print(_lf_table(report))
    est = view.estimate
    console.print(f"estimated training-set accuracy: {_num(est.accuracy)} {_interval(est.low, est.high)} "
                  f"(label model's accuracy on {est.n_basis} {est.basis} labels)")
    console.print(f"recomputed: {', '.join(view.recomputed) or 'none (all cached)'}; {view.seconds:.2f} s")
    if view.moved is not None:
        _moved(view.moved)
    if lf is not None or wrong:
        got = page(report.wrong, source=lf, query=search, offset=offset, limit=limit)
        console.print(_items_table(f"Wrong on human labels{f' ({lf})' if lf else ''}", got.rows,
                                   ["source", "id", "text", "vote", "human"], got.total))
    if lf is not None:
        got = page(report.conflicts, source=lf, query=search, offset=offset, limit=limit)
        console.print(_items_table(f"Conflicts with strong sources ({lf})", got.rows,
                                   ["id", "text", "vote", "strong_votes"], got.total))
    if uncovered:
        by_label = ", ".join(f"{label} {n}" for label, n in report.uncovered_by_label().iter_rows())
        console.print(Text(f"human-labeled items no LF covers, by label: {by_label or 'none'}"))
        got = page(report.uncovered, query=search, offset=offset, limit=limit)
        console.print(_items_table("Uncovered", got.rows, ["human", "id", "text"], got.total))
    if suggest and view.suggestions is not None:
        _suggestions(view.suggestions)


def lf(
    config: Annotated[Path, typer.Argument(help="Task config (YAML).")],
    name: Annotated[str | None, typer.Option("--lf", help="Show this LF's wrong items and conflicts with strong sources.")] = None,
    wrong: Annotated[bool, typer.Option("--wrong", help="Show the items LFs get wrong on human labels.")] = False,
    uncovered: Annotated[bool, typer.Option("--uncovered", help="Show human-labeled items no LF covers, by label.")] = False,
    suggest: Annotated[bool, typer.Option("--suggest", help="Show candidate LFs mined from the human labels.")] = False,
    accept: Annotated[int | None, typer.Option("--accept", help="Append suggestion N (1 = best) to the task's suggestions module.", min=1)] = None,
    search: Annotated[str | None, typer.Option("--search", help="Only items whose text or id contains this.")] = None,
    page_no: Annotated[int, typer.Option("--page", help="Page of the item lists (1 = first).", min=1)] = 1,
    limit: Annotated[int, typer.Option(help="Items per page.", min=1, max=1000)] = 20,
) -> None:
    """The LF writer's workbench: per-LF figures with accuracy intervals on the human labels,
    wrong items, uncovered items, suggested LFs, and what moved since an LF file changed."""
    from hitl_triage.config import load_config
    from hitl_triage.errors import HitlTriageError
    from hitl_triage.workbench import Workbench

    cfg = run_or_exit(lambda: load_config(config))
    bench = Workbench(cfg)
    with progress_bars() as progress:
        view = run_or_exit(lambda: bench.refresh(suggest=suggest or accept is not None, progress=progress))
    if name is not None:
        run_or_exit(lambda: view.report.source(name))
    if accept is not None:
        assert view.suggestions is not None  # asked for above
        if accept > view.suggestions.height:
            def fail() -> None:
                raise HitlTriageError(f"--accept {accept}: there are {view.suggestions.height} suggestions")  # type: ignore[union-attr]
            run_or_exit(fail)
        chosen = view.suggestions["name"][accept - 1]
        done = run_or_exit(lambda: bench.accept(chosen, suggestions=view.suggestions))
        console.print(Text(f"appended to {done.path}:\n  {done.code}"))
        view = done.view
    _print_view(view, lf=name, wrong=wrong, uncovered=uncovered, suggest=suggest, search=search,
                offset=(page_no - 1) * limit, limit=limit)


def register(app: typer.Typer) -> None:
    """Add ``lf`` to the root app."""
    app.command("lf")(lf)
