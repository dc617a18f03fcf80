"""Terminal review: one expert, no browser, the same keys as the web screen.

``hitl-triage review CONFIG --reviewer NAME`` shows one item at a time (text, suggestion with
confidence, each source's vote, the judge's rationale, progress) and reads single keys:
a digit picks a label, Enter accepts the suggestion, ``s`` skips, ``f`` flags (a comment line
follows), Backspace or ``u`` undoes the last answer, ``g`` shows the guidelines, ``h`` lists the
recent answers, ``/`` searches your answers by text or item id and relabels one, ``q`` quits.
With ``review.correction``, ``e`` shows the field's original text, reads the corrected text
(lines until one holding only ``.``) and then a digit for the label. An item with several
fields (``dataset.fields``) shows each in its own panel, as plain text.
Answers go straight to the review store, like the web app's.

The evidence is the web page's (``review.evidence.present``): where the suggestion comes from,
both models' guesses when they differ, and only the sources that voted, each with its accuracy
on the human labels settled so far and its n; a blind audit item shows none of it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hitl_triage.review import evidence, reports, search
from hitl_triage.review.visible import segments
from hitl_triage.store import (
    AnswerError,
    PermissionDeniedError,
    ReviewerInfo,
    ReviewStore,
    TaskView,
)
from hitl_triage.store.errors import TerminalError

if TYPE_CHECKING:
    from hitl_triage.config import TaskConfig

KeyReader = Callable[[], str]
BACKSPACE = ("\x7f", "\x08")


@dataclass(frozen=True)
class SessionSummary:
    labelled: int
    skipped: int
    flagged: int
    undone: int


class RawKeys:
    """Single keys and lines from a terminal. Keys are read in cbreak mode (no echo, no Enter
    needed), kept on for the whole session so keys typed ahead are never dropped; a line (the
    flag comment) is read in the terminal's normal echoing mode."""

    def __init__(self, stream: TextIO) -> None:
        import termios

        self.fd = stream.fileno()
        self.saved = termios.tcgetattr(self.fd)

    def __enter__(self) -> RawKeys:
        import termios
        import tty

        tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        import termios

        termios.tcsetattr(self.fd, termios.TCSANOW, self.saved)

    def key(self) -> str:
        """One key (Enter → "\\r")."""
        ch = os.read(self.fd, 1).decode(errors="replace")
        return "\r" if ch == "\n" else ch

    def line(self) -> str:
        import termios
        import tty

        termios.tcsetattr(self.fd, termios.TCSANOW, self.saved)
        try:
            chars = bytearray()
            while (ch := os.read(self.fd, 1)) not in (b"", b"\n", b"\r"):
                chars += ch
            return chars.decode(errors="replace")
        finally:
            tty.setcbreak(self.fd, termios.TCSANOW)


def shown(text: str, style: str = "") -> Text:
    """Untrusted text as a rich ``Text`` (never markup), with bidi controls and invisible
    characters shown as ``⟨U+XXXX⟩`` markers in reverse video."""
    out = Text(style=style)
    for seg in segments(text):
        out.append(seg.text, style="reverse bold red" if seg.hidden else None)
    return out


def _show(console: Console, store: ReviewStore, reviewer: ReviewerInfo, task: TaskView, notice: str | None) -> None:
    config = store.config
    names = config.label_names
    progress = reports.progress(store, reviewer)
    console.clear()
    head = Text.assemble(
        (f"hitl-triage · {config.task}", "bold"),
        f"   you: {progress.done} done, {progress.remaining} left",
        f"   round {progress.round}: {progress.round_settled}/{progress.round_total} settled" if progress.round is not None else "",
    )
    console.print(head)
    if notice:
        console.print(Text(notice, style="yellow"))
    # Item text and judge output are untrusted: always Text objects, never markup.
    if task.fields:
        console.print(Text("item ") + shown(task.item_id))
        for spec in config.dataset.shown_fields:
            value = task.fields.get(spec.name)
            body = Text("(empty)", style="dim") if value is None else shown(value)
            console.print(Panel(body, title=spec.title, title_align="left", padding=(0, 1)))
    else:
        body = Text("(no text)", style="dim") if task.text is None else shown(task.text)
        console.print(Panel(body, title=Text("item ") + shown(task.item_id), title_align="left", padding=(1, 2)))
    _evidence(console, task, names)
    if task.judge_rationale:
        console.print(Panel(shown(task.judge_rationale), title="judge's rationale", title_align="left", style="magenta"))
    keys = "  ".join(f"[bold]{(i + 1) % 10}[/] {escape(n)}" for i, n in enumerate(names))
    correct = "" if config.review.correction is None else f"  [bold]e[/] correct {escape(config.review.correction.field)}"
    console.print(f"{keys}   [bold]Enter[/] accept  [bold]s[/] skip  [bold]f[/] flag{correct}  [bold]u[/] undo  [bold]g[/] guidelines  [bold]h[/] history  [bold]/[/] search  [bold]q[/] quit")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _evidence(console: Console, task: TaskView, names: list[str]) -> None:
    """The suggestion and the evidence as the web page shows them (``evidence.present``)."""
    shown_ev = evidence.present(task, names)
    if task.suggested is not None:
        conf = "" if task.confidence is None else f"  ({_pct(task.confidence)} confidence)"
        console.print(Text.assemble("Suggested: ", (names[task.suggested], "bold"), conf, ("   Enter accepts", "dim")))
    else:
        console.print(Text("No suggestion", style="dim"))
    if shown_ev.suggestion_line:
        console.print(Text(shown_ev.suggestion_line, style="dim"))
    if shown_ev.label_model is not None and shown_ev.end_model is not None:
        lm, em = shown_ev.label_model, shown_ev.end_model
        console.print(Text.assemble(("Models differ: ", "bold"), f"label model {lm.name} {_pct(lm.confidence)} · end model {em.name} {_pct(em.confidence)}"))
    if shown_ev.sources:
        table = Table(show_header=True, header_style="dim", box=None, padding=(0, 2))
        table.add_column("source")
        table.add_column("vote")
        table.add_column("accuracy (human labels)")
        for line in shown_ev.sources:
            measured = Text("none yet", style="dim") if line.accuracy is None else Text(_pct(line.accuracy))
            table.add_row(shown(line.name), Text(line.vote_name), measured + Text(f" n={line.n}", style="dim"))
        console.print(table)


def _guidelines(console: Console, config: TaskConfig) -> None:
    console.print(Text("Guidelines", style="bold"))
    for i, label in enumerate(config.labels):
        console.print(Text.assemble((f"{(i + 1) % 10} {label.name}: ", "bold"), label.description))


def _history(console: Console, store: ReviewStore, reviewer: ReviewerInfo) -> None:
    names = store.config.label_names
    for h in reports.history(store, reviewer, n=store.settings.history_size):
        given = names[h.label] if h.kind == "label" and h.label is not None else h.kind
        console.print(Text.assemble((f"{given:>10}  ", "bold"), shown((h.text or "(no text)")[:80])))


def review_in_terminal(
    config: TaskConfig,
    *,
    reviewer: str,
    read_key: KeyReader | None = None,
    read_line: Callable[[], str] | None = None,
    console: Console | None = None,
) -> SessionSummary:
    """Review the reviewer's queue until it is empty or ``q`` is pressed.

    Raises:
        ReviewerError: unknown or disabled reviewer.
        TerminalError: standard input is not a terminal (and no key reader was given).
    """
    console = console or Console()
    if read_key is None or read_line is None:
        if not sys.stdin.isatty():
            raise TerminalError(
                "hitl-triage review reads single keys: run it in an interactive terminal "
                "(standard input is not a terminal)"
            )
        with RawKeys(sys.stdin) as keys:
            return _session(config, reviewer, keys.key, keys.line, console)
    return _session(config, reviewer, read_key, read_line, console)


def _session(config: TaskConfig, reviewer: str, read_key: KeyReader, read_line: Callable[[], str], console: Console) -> SessionSummary:
    from hitl_triage.store import open_store

    counts = {"label": 0, "skip": 0, "flag": 0, "undo": 0}
    with open_store(config) as store:
        me = store.reviewer(reviewer)
        notice: str | None = None
        while True:
            task = store.next_task(me)
            if task is None:
                if notice:
                    console.print(Text(notice, style="yellow"))
                    notice = None
                console.print(Text("Queue empty: nothing is waiting for you. u undoes the last answer, q quits.", style="green"))
                key = read_key()
                if key in ("u", *BACKSPACE):
                    notice = _undo(store, me, counts)
                    continue
                break
            _show(console, store, me, task, notice)
            notice = None
            answer_id = str(uuid.uuid4())
            key = read_key()
            if key == "q":
                break
            if key.isdigit():
                index = 9 if key == "0" else int(key) - 1
                if index >= config.n_classes:
                    notice = f"no label on key {key}"
                    continue
                notice = _submit(store, me, task, answer_id, counts, kind="label", label=index)
            elif key == "\r":
                if task.suggested is None:
                    notice = "no suggestion to accept: pick a label with a digit"
                    continue
                notice = _submit(store, me, task, answer_id, counts, kind="label", label=task.suggested)
            elif key == "s":
                notice = _submit(store, me, task, answer_id, counts, kind="skip")
            elif key == "f":
                console.print("Flag comment (optional), then Enter:")
                comment = read_line()
                notice = _submit(store, me, task, answer_id, counts, kind="flag", comment=comment[:2000] or None)
            elif key == "e" and config.review.correction is not None:
                notice = _correct(console, store, me, task, answer_id, counts, read_key, read_line)
            elif key in ("u", *BACKSPACE):
                notice = _undo(store, me, counts)
            elif key == "g":
                _guidelines(console, config)
                console.print(Text("any key returns", style="dim"))
                read_key()
            elif key == "h":
                _history(console, store, me)
                console.print(Text("any key returns", style="dim"))
                read_key()
            elif key == "/":
                notice = _search(console, store, me, read_key, read_line)
            else:
                notice = f"unknown key {key!r}: digits label, Enter accepts, s f u g h / q"
    return SessionSummary(counts["label"], counts["skip"], counts["flag"], counts["undo"])


SEARCH_PAGE = 9  # results are picked with the keys 1-9


def _label_index(key: str, n_classes: int) -> int | None:
    if not key.isdigit() or len(key) != 1:
        return None
    index = 9 if key == "0" else int(key) - 1
    return index if index < n_classes else None


def _search(console: Console, store: ReviewStore, me: ReviewerInfo, read_key: KeyReader, read_line: Callable[[], str]) -> str | None:
    """``/``: search your answers by text or item id, pick one, relabel it (only while its round
    is open, as on the web). Returns the notice shown above the next item."""
    names = store.config.label_names
    console.print("Search your answers (text or item id), then Enter:")
    query = read_line().strip()[: search.QUERY_MAX]
    if not query:
        return "nothing searched"
    offset = 0
    while True:
        page = search.search_history(store, me, query, limit=SEARCH_PAGE, offset=offset)
        console.print(Text(f"{page.total} answer(s) match {query!r}", style="bold"))
        for i, hit in enumerate(page.hits, start=1):
            given = names[hit.label] if hit.kind == "label" and hit.label is not None else hit.kind
            finished = "" if hit.editable else "  (round finished)"
            console.print(Text.assemble((f"{i}  {given:>8}  ", "bold"), shown(hit.item_id), "  ", shown((hit.text or "(no text)")[:70]), (finished, "dim")))
        more = ("  [bold]n[/] next page" if page.has_next else "") + ("  [bold]p[/] previous page" if offset else "")
        console.print(f"[bold]1[/]-[bold]{max(len(page.hits), 1)}[/] relabel that answer{more}  any other key returns")
        key = read_key()
        if key == "n" and page.has_next:
            offset += SEARCH_PAGE
        elif key == "p" and offset:
            offset = max(0, offset - SEARCH_PAGE)
        elif key.isdigit() and 1 <= int(key) <= len(page.hits):
            return _relabel(console, store, me, page.hits[int(key) - 1], read_key)
        else:
            return None


def _relabel(console: Console, store: ReviewStore, me: ReviewerInfo, hit: search.Hit, read_key: KeyReader) -> str:
    names = store.config.label_names
    if not hit.editable:
        return f"not recorded: round {hit.round} is finished; ask an admin to adjudicate"
    keys = "  ".join(f"[bold]{(i + 1) % 10}[/] {escape(n)}" for i, n in enumerate(names))
    console.print(Text.assemble("New label for ", shown(hit.item_id), ":"))
    console.print(f"{keys}   any other key cancels")
    index = _label_index(read_key(), len(names))
    if index is None:
        return "relabel cancelled"
    try:
        store.edit(me, answer_id=hit.answer_id, new_answer_id=str(uuid.uuid4()), label=index)
    except AnswerError as exc:
        return f"not recorded: {exc}"
    return f"relabelled {hit.item_id}: {names[index]}"


def _submit(
    store: ReviewStore, me: ReviewerInfo, task: TaskView, answer_id: str, counts: dict[str, int], **answer: object
) -> str | None:
    """Record an answer; a refusal (the claim ran out and someone else took the task, the task
    was settled meanwhile) becomes the notice shown above the next item."""
    try:
        store.submit(me, answer_id=answer_id, task_id=task.task_id, **answer)  # type: ignore[arg-type]
    except (AnswerError, PermissionDeniedError) as exc:
        return f"not recorded: {exc}"
    counts[str(answer["kind"])] += 1
    return None


MAX_CORRECTION_LINES = 10_000


def _correct(console: Console, store: ReviewStore, me: ReviewerInfo, task: TaskView, answer_id: str,
             counts: dict[str, int], read_key: KeyReader, read_line: Callable[[], str]) -> str | None:
    """``e``: show the correctable field, read the corrected text and a label, submit both."""
    config = store.config
    assert config.review.correction is not None
    field = config.review.correction.field
    original = task.fields.get(field) if task.fields else task.text
    console.print(Panel(Text("(empty)", style="dim") if original is None else shown(original),
                        title=f"{field} (original)", title_align="left"))
    console.print("Type the corrected text; a line holding only . ends it:")
    lines: list[str] = []
    while len(lines) < MAX_CORRECTION_LINES and (line := read_line()) != ".":
        lines.append(line)
    names = config.label_names
    console.print("Label for the corrected item: " + "  ".join(f"{(i + 1) % 10} {n}" for i, n in enumerate(names))
                  + "  (any other key cancels)")
    key = read_key()
    index = (9 if key == "0" else int(key) - 1) if key.isdigit() else -1
    if not 0 <= index < config.n_classes:
        return "correction cancelled"
    return _submit(store, me, task, answer_id, counts, kind="label", label=index, correction="\n".join(lines))


def _undo(store: ReviewStore, me: ReviewerInfo, counts: dict[str, int]) -> str:
    try:
        store.undo(me)
    except AnswerError as exc:
        return str(exc)
    counts["undo"] += 1
    return "undone: the item is back"
