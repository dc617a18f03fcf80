"""The project's exceptions: one base class, narrow subclasses.

Every message says what was expected and what was got, and names the file, field, row or
labeling function at fault, so a user can fix the input without reading a traceback.
"""

from __future__ import annotations


class HitlTriageError(Exception):
    """Base class of every error hitl-triage raises on purpose."""


class ConfigError(HitlTriageError):
    """A task config is missing, unreadable or invalid."""


class DatasetError(HitlTriageError):
    """A dataset file is missing, malformed, or lacks a required column."""


class LabelingFunctionError(HitlTriageError):
    """A labeling function module or labeling function is invalid."""


class LabelModelError(HitlTriageError):
    """A label model cannot be fitted or used on the given votes."""


class RunStateError(HitlTriageError):
    """The run directory lacks a stage's output that a later stage needs."""


class RunDirError(HitlTriageError):
    """The run directory (or another output path) cannot be created or written."""


class ExportError(HitlTriageError):
    """An export target is refused: wrong suffix for the format, or content the export did not write."""
