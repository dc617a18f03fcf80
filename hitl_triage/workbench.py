"""The LF writer's workbench on a task's run directory: the thin file layer around
:mod:`hitl_triage.lf.workbench` and :mod:`hitl_triage.lf.suggest`.

:class:`Workbench` loads the dataset once (again only when its file changes), and each
:meth:`Workbench.refresh` re-applies the LFs through the vote cache (only LFs whose code
changed run), reads the human answers, and returns a :class:`WorkbenchView`: the LF report, the
loop's estimated training-set accuracy, suggestions, and what moved since the LF files last
changed. ``hitl-triage lf`` and the review app's ``/lf`` page both use it.

Files in the run directory (written atomically):

* ``votes.parquet``: refreshed with the current votes, as ``apply`` writes it;
* ``workbench/snapshot.json``: the last figures and each LF's fingerprint;
* ``workbench/moved.json``: what moved at the last change of an LF file (before and after).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hitl_triage.answers import known_labels, load_answers, now_iso
from hitl_triage.config import TaskConfig
from hitl_triage.data import Dataset, load_dataset
from hitl_triage.labelmodel import fit_label_model_probs
from hitl_triage.lf.cache import VoteCache
from hitl_triage.lf.loader import load_lfs
from hitl_triage.lf.sources import JUDGE, apply_sources, suggested_module
from hitl_triage.lf.suggest import suggest_lfs
from hitl_triage.lf.workbench import (
    LFReport,
    TrainsetEstimate,
    WorkbenchError,
    estimate_trainset_accuracy,
    lf_report,
)
from hitl_triage.pipeline import save_votes
from hitl_triage.progress import Progress
from hitl_triage.rundir import check_run_dir, write_json, write_text

SNAPSHOT_FILE = "workbench/snapshot.json"
MOVED_FILE = "workbench/moved.json"
SUGGESTED_HEADER = '''"""Labeling functions accepted from the workbench's suggestions (`hitl-triage lf --accept N`
or the review app's LF page). Edit or delete them like any other LF: `apply` reads this file
beside the task's LF modules."""

from hitl_triage.lf import keyword_lf, regex_lf
'''


@dataclass(frozen=True)
class Moved:
    """What moved when LF files last changed.

    Attributes:
        at: when the change was seen (UTC, ISO 8601).
        lfs: per changed LF: ``source``, ``status`` (``changed``, ``added``, ``removed``) and
            ``coverage``, ``accuracy``, ``accuracy_low``, ``accuracy_high``, ``n`` before and
            after (``*_before`` / ``*_after``; None where the LF did not exist).
        trainset_before, trainset_after: the loop's estimated training-set accuracy
            (``accuracy``, ``low``, ``high``, ``basis``, ``n_basis``).
    """

    at: str
    lfs: list[dict[str, Any]]
    trainset_before: dict[str, Any]
    trainset_after: dict[str, Any]


@dataclass(frozen=True)
class WorkbenchView:
    """One refresh of the workbench (see :class:`Workbench`).

    Attributes:
        report: the :class:`~hitl_triage.lf.workbench.LFReport`.
        estimate: the loop's estimated training-set accuracy with the current votes.
        suggestions: candidate LFs, best first (None when not asked for).
        moved: what moved at the last change of an LF file (None before any change).
        recomputed: LFs applied in this refresh (the rest came from the vote cache).
        seconds: time the refresh took.
    """

    report: LFReport
    estimate: TrainsetEstimate
    suggestions: pl.DataFrame | None
    moved: Moved | None
    recomputed: list[str]
    seconds: float


@dataclass(frozen=True)
class Accepted:
    """An accepted suggestion: its LF ``name``, the ``code`` appended to ``path``, and the view
    after re-applying (only the new LF ran)."""

    name: str
    code: str
    path: Path
    view: WorkbenchView


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _figures(report: LFReport) -> dict[str, dict[str, Any]]:
    cols = ["coverage", "accuracy", "accuracy_low", "accuracy_high", "n"]
    return {row["source"]: {c: row[c] for c in cols} for row in report.lfs.iter_rows(named=True)}


def _estimate_dict(estimate: TrainsetEstimate) -> dict[str, Any]:
    return {"accuracy": estimate.accuracy, "low": estimate.low, "high": estimate.high,
            "basis": estimate.basis, "n_basis": estimate.n_basis}


def moved_between(before: dict[str, Any], after: dict[str, Any]) -> Moved | None:
    """Compare two snapshots (``fingerprints``, ``lfs``, ``trainset``); None if no LF changed."""
    fp0, fp1 = before.get("fingerprints", {}), after.get("fingerprints", {})
    changed = [(n, "changed") for n in fp1 if n in fp0 and fp0[n] != fp1[n]]
    changed += [(n, "added") for n in fp1 if n not in fp0]
    changed += [(n, "removed") for n in fp0 if n not in fp1]
    if not changed:
        return None
    rows = []
    for name, status in changed:
        b, a = before.get("lfs", {}).get(name, {}), after.get("lfs", {}).get(name, {})
        row: dict[str, Any] = {"source": name, "status": status}
        for key in ("coverage", "accuracy", "accuracy_low", "accuracy_high", "n"):
            row[f"{key}_before"], row[f"{key}_after"] = b.get(key), a.get(key)
        rows.append(row)
    return Moved(at=after["at"], lfs=rows, trainset_before=before.get("trainset", {}),
                 trainset_after=after.get("trainset", {}))


def _judge_candidates(cfg: TaskConfig, texts: list[str | None], human: np.ndarray) -> pl.DataFrame | None:
    """Keywords the judge proposes from the human labels (``judge.propose_keywords``), or None."""
    judge = cfg.judge
    if judge is None or not judge.enabled or judge.propose_keywords == 0 or not (human >= 0).any():
        return None
    from hitl_triage.judge.errors import JudgeError
    from hitl_triage.judge.judgements import CACHE_FILE, judge_dir
    from hitl_triage.judge.keywords import propose_keywords

    proposal = propose_keywords(judge, task=cfg.task, label_names=cfg.label_names,
                                label_descriptions=[c.description for c in cfg.labels], texts=texts,
                                human_labels=human, cache_path=judge_dir(cfg.out_dir) / CACHE_FILE,
                                per_label=judge.propose_keywords, random_state=cfg.seed)
    if proposal.errors:
        raise JudgeError("judge.propose_keywords: the judge's keyword requests failed for "
                         + "; ".join(f"{label}: {why}" for label, why in proposal.errors.items())
                         + " (set judge.propose_keywords: 0 to suggest without the judge)")
    return proposal.candidates


class Workbench:
    """The workbench of one task (thread-safe; the review app keeps one per process).

    Parameters:
        config: the task config.
        top: how many suggestions :meth:`refresh` returns.
    """

    def __init__(self, config: TaskConfig, *, top: int = 10) -> None:
        self.config = config
        self.top = top
        self._lock = threading.RLock()
        self._dataset: Dataset | None = None
        self._dataset_key: tuple[Any, ...] | None = None

    def _dataset_state(self) -> tuple[Any, ...]:
        path = Path(self.config.dataset.path)
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file())

    def dataset(self) -> Dataset:
        """The task's dataset, loaded again only when its file changed."""
        key = self._dataset_state()
        if self._dataset is None or key != self._dataset_key:
            cfg = self.config
            self._dataset = load_dataset(cfg.dataset, n_classes=cfg.n_classes, label_names=cfg.label_names)
            self._dataset_key = key
        return self._dataset

    def refresh(self, *, suggest: bool = True, progress: Progress | None = None) -> WorkbenchView:
        """Re-apply the LFs (through the vote cache), measure them and, when an LF file
        changed since the last refresh, record what moved.

        Raises:
            LabelingFunctionError: an LF module fails to import or an LF returns a bad value.
            DatasetError, RunDirError: see :func:`hitl_triage.data.load_dataset` and
                :func:`hitl_triage.rundir.check_run_dir`.
        """
        with self._lock:
            return self._refresh(suggest=suggest, progress=progress)

    def _refresh(self, *, suggest: bool, progress: Progress | None) -> WorkbenchView:
        start = time.perf_counter()
        cfg = self.config
        run_dir = check_run_dir(cfg.out_dir)
        dataset = self.dataset()
        votes = apply_sources(cfg, dataset, progress=progress)
        save_votes(run_dir, dataset.ids, votes.L, votes.names)
        answers = load_answers(run_dir)
        human = known_labels(answers, dataset.ids)
        audited_ids = answers.filter(pl.col("route") == "audit")["id"]
        audited = pl.Series(dataset.ids, dtype=pl.String).is_in(audited_ids.implode()).to_numpy()
        texts = dataset.items["text"]
        report = lf_report(votes.L, votes.names, texts=texts, ids=dataset.items["id"], human_labels=human,
                           label_names=cfg.label_names, kinds=votes.kinds)
        probs = fit_label_model_probs(cfg.label_model, votes.L, n_classes=cfg.n_classes, random_state=cfg.seed)
        estimate = estimate_trainset_accuracy(probs, human, audited=audited)
        suggestions = None
        if suggest:
            lf_cols = [j for j, kind in enumerate(votes.kinds) if kind != JUDGE]
            suggestions = suggest_lfs(texts, human, cfg.label_names, existing=votes.names,
                                      existing_L=votes.L[:, lf_cols], top=self.top, all_texts=True,
                                      extra=_judge_candidates(cfg, texts.to_list(), human))
        cache = VoteCache(run_dir / "votes")
        lf_names = [n for n, kind in zip(votes.names, votes.kinds, strict=True) if kind in ("expression", "row")]
        snapshot = {"at": now_iso(), "fingerprints": {n: cache.fingerprint_of(n) for n in lf_names},
                    "lfs": _figures(report), "trainset": _estimate_dict(estimate)}
        previous = _read_json(run_dir / SNAPSHOT_FILE)
        moved_now = moved_between(previous, snapshot) if previous is not None else None
        if moved_now is not None:
            write_json(run_dir / MOVED_FILE, moved_now.__dict__)
        write_json(run_dir / SNAPSHOT_FILE, snapshot)
        saved = _read_json(run_dir / MOVED_FILE)
        moved = moved_now if moved_now is not None else (Moved(**saved) if saved is not None else None)
        return WorkbenchView(report=report, estimate=estimate, suggestions=suggestions, moved=moved,
                             recomputed=votes.recomputed, seconds=time.perf_counter() - start)

    def accept(self, name: str, *, suggestions: pl.DataFrame | None = None) -> Accepted:
        """Append suggestion ``name`` to the task's suggestions module, then refresh.

        ``suggestions`` is the frame the writer chose from (default: computed now). Only the new
        LF runs on the refresh (the other LFs' votes are cached).

        Raises:
            WorkbenchError: no current suggestion has that name (the message lists them).
            LabelingFunctionError: the module with the new LF does not load.
        """
        with self._lock:
            if suggestions is None:
                suggestions = self._refresh(suggest=True, progress=None).suggestions
            assert suggestions is not None  # asked for above
            found = suggestions.filter(pl.col("name") == name)
            if found.is_empty():
                raise WorkbenchError(f"no current suggestion is named {name!r}; the suggestions are "
                                     f"{suggestions['name'].to_list()}")
            row = found.row(0, named=True)
            path = append_suggestion(self.config, row)
            return Accepted(name=name, code=row["code"], path=path,
                            view=self._refresh(suggest=True, progress=None))


def append_suggestion(config: TaskConfig, suggestion: dict[str, Any]) -> Path:
    """Append one suggestion's ``code`` (with its figures as a comment) to the task's
    suggestions module (created with its imports if missing); the module is checked to load
    before the file is replaced.

    Raises:
        LabelingFunctionError: the module would not load (for example, a name already taken).
    """
    path = suggested_module(config)
    old = path.read_text(encoding="utf-8") if path.is_file() else SUGGESTED_HEADER
    s = suggestion
    comment = (f"# accepted {now_iso()[:10]}: precision {s['precision']:.3f} "
               f"[{s['precision_low']:.3f}, {s['precision_high']:.3f}] on {s['n']} human-labeled items, "
               f"coverage {s['coverage']:.3f}")
    new = old.rstrip("\n") + f"\n\n{comment}\n{s['code']}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.stem}.draft.py")
    write_text(draft, new)
    try:
        others = [m for m in config.lfs.modules if m.resolve() != path.resolve()]
        load_lfs([*others, draft])  # the names must stay unique across the task's modules
    finally:
        draft.unlink(missing_ok=True)
    write_text(path, new)
    return path


__all__ = ["Accepted", "Moved", "Workbench", "WorkbenchView", "append_suggestion", "moved_between"]

