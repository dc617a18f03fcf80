"""What shapes a run's rounds, recorded so that a rerun with other settings or data never
silently continues rounds made with the old ones; and starting a run's rounds afresh.

``rounds/fingerprint.json`` is written when rounds start (no round recorded yet). It maps a
setting's name to its value: ``task``, ``seed``, ``curriculum.total_budget`` and
``curriculum.schedule``, every ``triage.*``, ``confidence.*`` and ``label_model.*`` setting, the
dataset (``dataset.n_items``, a hash of the item ids and one of the texts), the vote sources
(``sources``, a hash of each source's votes, ``votes.<name>``) and each labeling function's code
(``lf.<name>``, the vote cache's fingerprint). A later run compares; any difference is a
:class:`RunSettingsChangedError` naming the settings that changed (old → new).

Not in the fingerprint, on purpose: ``curriculum.target_accuracy`` and
``curriculum.min_answered_share`` (they decide when the loop stops or waits, not what a round
routes), the review settings, and the judge's votes (the judge may be rerun between rounds with
few-shot examples from the human labels; that is the loop, not a change of run).

A run directory whose rounds predate the fingerprint adopts the current one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from hitl_triage.confidence import RoundInputs
from hitl_triage.config import TaskConfig
from hitl_triage.errors import HitlTriageError
from hitl_triage.rundir import write_json

ROUNDS_DIR = "rounds"
FINGERPRINT_FILE = "fingerprint.json"
FINGERPRINT_VERSION = 1
JUDGE = "judge"
# Files the round loop writes; `discard_rounds` removes these and nothing else.
ROUND_FILES = ("routing.parquet", "record.json", "judge.parquet")  # judge: in-round answers
RUN_FILES = ("final.json", FINGERPRINT_FILE)
FINAL_LABELS_FILE = "final_labels.parquet"
_SHOWN = 4


class RunSettingsChangedError(HitlTriageError):
    """The run directory holds rounds made with other settings or data."""


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:16]


def _text_digest(values: list[str | None]) -> str:
    return _digest([b"\x00" if v is None else b"\x01" + v.encode("utf-8") for v in values])


def _flat(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in values.items()}


def _lf_fingerprints(config: TaskConfig) -> dict[str, str]:
    """The vote cache's fingerprint of each labeling function (changes with its code); the
    modules were already loaded and checked by ``prepare_inputs``."""
    from hitl_triage.lf.cache import fingerprint
    from hitl_triage.lf.loader import load_lfs
    from hitl_triage.lf.sources import task_lf_modules

    modules = task_lf_modules(config)
    if not modules:
        return {}
    lfset = load_lfs(modules)
    return {lf.name: fingerprint(lf, spacy_pipeline=config.lfs.spacy_pipeline)
            for lf in [*lfset.expression, *lfset.row]}


def run_fingerprint(config: TaskConfig, inputs: RoundInputs) -> dict[str, Any]:
    """Everything that shapes the rounds of ``config`` on ``inputs`` (JSON values, flat keys)."""
    curriculum = config.curriculum.model_dump(mode="json", exclude={"target_accuracy", "min_answered_share"})
    sources = [name for name in inputs.names if name != JUDGE]
    out: dict[str, Any] = {
        "version": FINGERPRINT_VERSION, "task": config.task, "seed": config.seed,
        **_flat("curriculum", curriculum),
        **_flat("triage", config.triage.model_dump(mode="json")),
        **_flat("confidence", config.confidence.model_dump(mode="json")),
        **_flat("label_model", config.label_model.model_dump(mode="json")),
        "dataset.n_items": len(inputs.ids),
        "dataset.ids": _text_digest(list(inputs.ids)),
        "dataset.texts": _text_digest(list(inputs.texts)),
        "sources": sources,
    }
    for j, name in enumerate(inputs.names):
        if name != JUDGE:
            out[f"votes.{name}"] = _digest([np.ascontiguousarray(inputs.L[:, j], dtype=np.int8).tobytes()])
    lfs = _lf_fingerprints(config)
    out.update({f"lf.{name}": fp for name, fp in lfs.items()})
    return out


def _name(key: str) -> str:
    if key.startswith("votes."):
        return f"votes of source {key[6:]!r}"
    if key.startswith("lf."):
        return f"code of labeling function {key[3:]!r}"
    return {"dataset.ids": "dataset item ids", "dataset.texts": "dataset texts",
            "dataset.n_items": "dataset size"}.get(key, key)


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``"<setting> <old> → <new>"`` for every key whose value differs (missing = ``none``)."""
    def show(value: Any) -> str:
        return "none" if value is None else json.dumps(value, ensure_ascii=False)

    keys = [*new, *(k for k in old if k not in new)]
    return [f"{_name(k)} {show(old.get(k))} → {show(new.get(k))}"
            for k in keys if k != "version" and old.get(k) != new.get(k)]


def mismatch_message(where: Path, what: str, changes: list[str]) -> str:
    """One line: what changed in ``where`` and how to start afresh."""
    shown = "; ".join(changes[:_SHOWN]) + (f"; and {len(changes) - _SHOWN} more" if len(changes) > _SHOWN else "")
    return (f"{where} holds {what} with other settings: {shown}. Start afresh with --fresh (removes "
            "only the rounds hitl-triage wrote; human answers are kept) or use another run "
            "directory (--out, or run_dir in the config)")


def has_rounds(run_dir: Path) -> bool:
    return any((Path(run_dir) / ROUNDS_DIR).glob("round_*/record.json"))


def check_fingerprint(run_dir: Path, current: dict[str, Any]) -> None:
    """Compare ``current`` with the fingerprint of the rounds in ``run_dir``; record it when
    rounds start (or when earlier rounds have none).

    Raises:
        RunSettingsChangedError: rounds exist and were made with other settings or data.
    """
    path = Path(run_dir) / ROUNDS_DIR / FINGERPRINT_FILE
    if has_rounds(run_dir) and path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        changes = describe_changes(old, current)
        if changes:
            raise RunSettingsChangedError(mismatch_message(Path(run_dir), "rounds made", changes))
        return
    write_json(path, current)


def discard_rounds(run_dir: Path) -> list[Path]:
    """Remove the rounds the round loop wrote, and nothing else: each ``round_NNN``'s
    ``routing.parquet`` and ``record.json`` (and its folder once empty), ``rounds/final.json``,
    the fingerprint and ``final_labels.parquet``. Files a user put there stay, and nothing is
    moved. Human answers are not touched (simulated ones are dropped by the caller).

    Returns:
        the paths removed.
    """
    run_dir = Path(run_dir)
    rounds = run_dir / ROUNDS_DIR
    removed: list[Path] = []

    def remove(path: Path) -> None:
        if path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(path)

    if rounds.is_dir():
        for folder in sorted(p for p in rounds.glob("round_*") if p.is_dir() and p.name[6:].isdigit()):
            for name in ROUND_FILES:
                remove(folder / name)
                for tmp in folder.glob(f".{name}.*.tmp"):  # left by an interrupted atomic write
                    remove(tmp)
            if not any(folder.iterdir()):
                folder.rmdir()
        for name in RUN_FILES:
            remove(rounds / name)
        if not any(rounds.iterdir()):
            rounds.rmdir()
    remove(run_dir / FINAL_LABELS_FILE)
    return removed
