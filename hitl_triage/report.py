"""The run report: ``report.json`` (one section per stage) rendered to ``report.md``.

Each stage calls :func:`update_report` with its section; the Markdown is re-rendered from the
whole JSON every time, so the two never disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hitl_triage.rundir import write_json, write_text

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SECTION_ORDER = ("dataset", "apply", "label", "export")


def load_report(run_dir: Path) -> dict[str, Any]:
    path = run_dir / REPORT_JSON
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}  # a damaged report is rebuilt from the next stage's section


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if value is None:
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """Render a report dict: scalars as a list, lists of records as tables."""
    task = report.get("task", "")
    lines = [f"# hitl-triage report: {task}", ""]
    names = [s for s in SECTION_ORDER if s in report] + sorted(
        s for s in report if s not in SECTION_ORDER and isinstance(report[s], dict)
    )
    for name in names:
        section = report[name]
        lines += [f"## {name}", ""]
        for key, value in section.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                lines += ["", f"**{key}**", "", *_table(value), ""]
            elif isinstance(value, dict):
                inner = ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
                lines.append(f"- {key}: {inner}")
            else:
                lines.append(f"- {key}: {_cell(value)}")
        lines.append("")
    return "\n".join(lines)


def update_report(run_dir: Path, task: str, section: str, data: dict[str, Any]) -> Path:
    """Replace one section of the report and re-render ``report.md``. Returns the .md path."""
    report = load_report(run_dir)
    report["task"] = task
    report[section] = data
    write_json(run_dir / REPORT_JSON, report)
    return write_text(run_dir / REPORT_MD, render_markdown(report))
