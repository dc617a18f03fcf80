"""Run row LFs item by item: in this process, or in forked worker processes with timeouts.

Row LFs are user Python called once per item (row-wise by nature), so this is the one place
with a Python loop over rows. Three ways to run them:

* ``n_jobs=1`` and no timeout: in this process, the simplest to debug.
* ``n_jobs>1`` or ``timeout_s`` set (POSIX only): in forked worker processes. Workers inherit
  the LFs, rows and parsed docs (no pickling), write votes into shared memory and send only
  errors back, so a worker that dies or is killed loses nothing already computed.
* Progress is reported per item in both cases (at most about ten times a second).

Timeouts (``timeout_s``, per LF per item). Each call runs under an interval timer
(``signal.setitimer``/SIGALRM) in the worker; when it fires, the call is abandoned, the item gets
an abstain and ``timed out after X s`` is recorded. That covers Python code (loops, ``sleep``,
network and file waits, ``re`` matching, which checks for signals). C code that never checks
for signals (or an LF that blocks SIGALRM) cannot be interrupted that way: the parent's
watchdog then kills the worker after ``timeout_s + max(1, timeout_s)`` seconds, records the same
timeout for that item, and a fresh worker goes on with the next item. A worker that crashes
(a segfault in an extension) is replaced the same way and the item is recorded as failed.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from types import SimpleNamespace
from typing import Any

import numpy as np
from snorkel.labeling import LabelingFunction

from hitl_triage.errors import LabelingFunctionError
from hitl_triage.lf.kinds import ABSTAIN, uses_doc
from hitl_triage.progress import Progress, report
from hitl_triage.schema import LabelValueError, schema_of

MISS = -2  # not computed (a cache miss, or a cell this run skips)
BAD = -3  # an LF returned something that is not a label
STAGE = "apply: row LFs"
REPORT_EVERY_S = 0.1


class Row(SimpleNamespace):
    """One item as a row LF sees it: ``x.text``, ``x.id``, other fields, ``x.doc`` if parsed."""

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@dataclass
class RowVotes:
    """Votes of row LFs on the rows they were asked for.

    Attributes:
        votes: ``(n_rows, n_lfs)`` int16, a label in ``{-1, ..., k-1}`` or ``MISS`` where not asked.
        errors: ``(row, lf, message)`` where an LF raised, timed out or its worker died (abstain).
        bad: ``(row, lf, repr of the value)`` where an LF returned a value outside the schema.
    """

    votes: np.ndarray
    errors: list[tuple[int, int, str]] = field(default_factory=list)
    bad: list[tuple[int, int, str]] = field(default_factory=list)


class _TimedOut(BaseException):
    """Raised into an LF call by SIGALRM; a BaseException, so an LF's ``except Exception`` misses it."""


def to_label(value: Any, label_names: list[str]) -> int:
    """Map an LF's return value to a class index, ``-1`` (abstain) or ``BAD`` (see
    :meth:`hitl_triage.schema.LabelSchema.index_of`)."""
    try:
        return schema_of(label_names).index_of(value)
    except LabelValueError:
        return BAD


def _on_alarm(signum: int, frame: Any) -> None:
    raise _TimedOut


def _call(lf: LabelingFunction, x: Row, label_names: list[str], timeout_s: float | None,
          ) -> tuple[int, str | None, str | None]:
    """One LF on one item: ``(code, None | "error" | "bad", message or value repr)``."""
    try:
        try:
            if timeout_s is not None:
                signal.setitimer(signal.ITIMER_REAL, timeout_s)
            # snorkel's own spaCy LFs would parse the text again in their preprocessor;
            # x.doc is already there, so call the user's function directly.
            value = lf._f(x, **lf._resources) if uses_doc(lf) else lf(x)
        finally:
            if timeout_s is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except _TimedOut:  # also when the timer fires just as the call returns
        return ABSTAIN, "error", f"timed out after {timeout_s:g} s"
    except Exception as exc:
        return ABSTAIN, "error", f"{type(exc).__name__}: {exc}"
    code = to_label(value, label_names)
    return (ABSTAIN, "bad", repr(value)[:80]) if code == BAD else (code, None, None)


def run_rows(
    lfs: list[LabelingFunction],
    rows: list[Row],
    todo: np.ndarray,
    *,
    label_names: list[str],
    n_jobs: int = 1,
    timeout_s: float | None = None,
    progress: Progress | None = None,
) -> RowVotes:
    """Apply ``lfs`` to ``rows`` where ``todo`` (``(n_rows, n_lfs)`` bool) is set.

    Raises:
        LabelingFunctionError: ``timeout_s`` on a system without ``fork`` and SIGALRM.
    """
    if timeout_s is None and (n_jobs <= 1 or os.name != "posix"):
        return _run_here(lfs, rows, todo, label_names=label_names, progress=progress)
    if os.name != "posix":
        raise LabelingFunctionError("lfs.timeout_s needs a POSIX system (fork and SIGALRM)")
    return _Pool(lfs, rows, todo, label_names=label_names, timeout_s=timeout_s,
                 n_jobs=n_jobs).run(progress)


def run_rows_in_process(
    lfs: list[LabelingFunction],
    rows: list[Row],
    todo: np.ndarray,
    *,
    label_names: list[str],
    timeout_s: float | None = None,
) -> RowVotes:
    """Like :func:`run_rows` with ``n_jobs=1``, but never forks: for hosts where forking is
    unsafe, such as a Ray worker process (gRPC threads).

    ``timeout_s`` uses the interval timer alone (it must be called in the main thread of a
    POSIX process): Python code is interrupted as in :func:`run_rows`, but there is no
    watchdog, so C code that never checks for signals is not stopped.

    Raises:
        LabelingFunctionError: ``timeout_s`` outside the main thread or without SIGALRM.
    """
    if timeout_s is None:
        return _run_here(lfs, rows, todo, label_names=label_names, progress=None)
    if os.name != "posix" or threading.current_thread() is not threading.main_thread():
        raise LabelingFunctionError(
            "lfs.timeout_s needs SIGALRM in the main thread of a POSIX process; this process "
            f"runs LFs in thread {threading.current_thread().name!r}"
        )
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        return _run_here(lfs, rows, todo, label_names=label_names, progress=None,
                         timeout_s=timeout_s)
    finally:
        signal.signal(signal.SIGALRM, previous)


def _run_here(lfs: list[LabelingFunction], rows: list[Row], todo: np.ndarray, *,
              label_names: list[str], progress: Progress | None,
              timeout_s: float | None = None) -> RowVotes:
    result = RowVotes(np.full(todo.shape, MISS, dtype=np.int16))
    last = time.monotonic()
    for i, x in enumerate(rows):
        for j in np.flatnonzero(todo[i]):
            code, kind, message = _call(lfs[j], x, label_names, timeout_s)
            result.votes[i, j] = code
            if kind is not None:
                (result.errors if kind == "error" else result.bad).append((i, int(j), message))
        if progress is not None and (time.monotonic() - last >= REPORT_EVERY_S or i + 1 == len(rows)):
            last = time.monotonic()
            report(progress, STAGE, i + 1, len(rows))
    return result


@dataclass
class _Worker:
    process: Any
    conn: Connection
    lock: Any
    task: tuple[int, int] | None = None  # rows start:stop


class _Pool:
    """Forked workers sharing, through one anonymous mapping: the votes, and per worker the
    items it finished, the cell ``i * n_lfs + j`` it is on and when that call started."""

    def __init__(self, lfs: list[LabelingFunction], rows: list[Row], todo: np.ndarray, *,
                 label_names: list[str], timeout_s: float | None, n_jobs: int) -> None:
        self.lfs, self.rows, self.todo, self.label_names = lfs, rows, todo, label_names
        self.timeout_s = timeout_s
        self.hard_s = None if timeout_s is None else timeout_s + max(1.0, timeout_s)
        n, m = todo.shape
        chunk = max(32, min(2048, n // max(1, n_jobs * 8) or 1))
        self.pending = deque((s, min(n, s + chunk)) for s in range(0, n, chunk))
        w = self.n_workers = max(1, min(n_jobs, len(self.pending)))
        at = -(-n * m * 2 // 8) * 8  # per-worker int64/float64 arrays after the int16 votes
        self.buffer = mmap.mmap(-1, at + 3 * 8 * w)  # MAP_SHARED: the workers write into it
        self.votes = np.ndarray((n, m), np.int16, self.buffer)
        self.done = np.ndarray((w,), np.int64, self.buffer, offset=at)
        self.cell = np.ndarray((w,), np.int64, self.buffer, offset=at + 8 * w)
        self.since = np.ndarray((w,), np.float64, self.buffer, offset=at + 16 * w)
        self.votes.fill(MISS)
        self.done.fill(0)
        self.since.fill(0.0)
        self.errors: list[tuple[int, int, str]] = []
        self.bad: list[tuple[int, int, str]] = []

    # --- in a worker process ----------------------------------------------------------------
    def _serve(self, slot: int, conn: Connection, lock: Any) -> None:
        if self.timeout_s is not None:
            signal.signal(signal.SIGALRM, _on_alarm)
        m = self.todo.shape[1]
        while (task := conn.recv()) is not None:
            for i in range(*task):
                x, computed = self.rows[i], False
                for j in np.flatnonzero(self.todo[i] & (self.votes[i] == MISS)):  # resumable
                    with lock:
                        self.cell[slot], self.since[slot] = i * m + j, time.monotonic()
                    code, kind, message = _call(self.lfs[j], x, self.label_names, self.timeout_s)
                    with lock:  # the parent kills only while holding it: never mid-message
                        self.since[slot] = 0.0
                        self.votes[i, j] = code
                        if kind is not None:
                            conn.send((kind, i, int(j), message))
                    computed = True
                self.done[slot] += computed
            conn.send(("done", -1, -1, ""))

    # --- in the parent ----------------------------------------------------------------------
    def _start(self, slot: int, task: tuple[int, int] | None) -> _Worker:
        ctx = multiprocessing.get_context("fork")
        here, there = ctx.Pipe()
        # the lock keeps the watchdog from killing a worker in the middle of a message
        lock = ctx.Lock() if self.hard_s is not None else contextlib.nullcontext()
        process = ctx.Process(target=self._serve, args=(slot, there, lock))
        process.start()
        there.close()  # so that a dead worker reads as EOF here
        worker = _Worker(process, here, lock)
        self._assign(worker, task)
        return worker

    def _assign(self, worker: _Worker, task: tuple[int, int] | None = None) -> None:
        worker.task = task or (self.pending.popleft() if self.pending else None)
        if worker.task is not None:
            with contextlib.suppress(OSError):  # if it died: EOF in the main loop, which re-sends
                worker.conn.send(worker.task)

    def _receive(self, worker: _Worker, *, assign: bool = True) -> str | None:
        """Handle one message of ``worker``: its kind, or None when the worker is gone."""
        try:
            kind, i, j, message = worker.conn.recv()
        except Exception:  # EOF, or a message cut short by the worker's death
            return None
        if kind == "done":
            worker.task = None
            if assign:
                self._assign(worker)
        else:
            (self.errors if kind == "error" else self.bad).append((i, j, message))
        return kind

    def _replace(self, slot: int, workers: list[_Worker], why: str) -> None:
        """Record the cell the worker was stuck or died on; a fresh worker resumes its task."""
        old = workers[slot]
        old.process.kill()
        old.process.join()
        while old.conn.poll(0) and self._receive(old, assign=False) is not None:
            pass  # messages it sent before are kept
        old.conn.close()
        m = self.todo.shape[1]
        if self.since[slot] > 0 and old.task is not None:
            i, j = divmod(int(self.cell[slot]), m)
            self.votes[i, j] = ABSTAIN
            self.errors.append((i, j, why))
        self.since[slot] = 0.0
        workers[slot] = self._start(slot, old.task)

    def _watch(self, slot: int, workers: list[_Worker]) -> None:
        """Kill a worker stuck past the hard limit in one LF call (the timer did not stop it)."""
        worker = workers[slot]
        if self.hard_s is None or worker.task is None or not worker.lock.acquire(block=False):
            return
        try:
            since = float(self.since[slot])
            stuck = since > 0 and time.monotonic() - since > self.hard_s
            if stuck:
                worker.process.kill()  # while holding the lock: not in the middle of a message
        finally:
            worker.lock.release()
        if stuck:
            self._replace(slot, workers, f"timed out after {self.timeout_s:g} s (did not stop; "
                          f"its worker process was killed after {self.hard_s:g} s)")

    def run(self, progress: Progress | None) -> RowVotes:
        n = self.todo.shape[0]
        workers: list[_Worker] = []
        reported = 0
        try:
            for slot in range(self.n_workers):
                workers.append(self._start(slot, None))
            while any(w.task is not None for w in workers):
                busy = {w.conn: s for s, w in enumerate(workers) if w.task is not None}
                for conn in wait(list(busy), timeout=REPORT_EVERY_S):
                    slot = busy[conn]  # type: ignore[index]
                    if self._receive(workers[slot]) is None:
                        process = workers[slot].process
                        process.join(timeout=1.0)
                        self._replace(slot, workers,
                                      f"worker process died (exit code {process.exitcode})")
                for slot in range(len(workers)):
                    self._watch(slot, workers)
                if (done := int(self.done.sum())) != reported:
                    report(progress, STAGE, reported := done, n)
            report(progress, STAGE, n, n)
            return RowVotes(self.votes.copy(), self.errors, self.bad)
        finally:
            for worker in workers:
                worker.process.kill()
                worker.process.join()
                worker.conn.close()
