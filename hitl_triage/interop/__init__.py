"""Interop with the annotation tools teams already use: Label Studio, Prodigy and Argilla.

The review queue goes out in each tool's format and the tool's answers come back in, through
the same checks as every answers import. Pure conversions live in one module per tool
(:mod:`.labelstudio`, :mod:`.prodigy`, :mod:`.argilla`) over a :class:`ReviewQueue`; files and
the run directory are handled in :mod:`.files`. See docs/interop.md.
"""

from hitl_triage.interop.files import (
    FORMATS,
    ExportResult,
    ForeignImportResult,
    export_queue,
    import_foreign_answers,
    load_queue,
    read_foreign_answers,
)
from hitl_triage.interop.queue import (
    Checker,
    ForeignAnswers,
    InteropError,
    ReviewQueue,
    build_queue,
)

__all__ = [
    "FORMATS",
    "Checker",
    "ExportResult",
    "ForeignAnswers",
    "ForeignImportResult",
    "InteropError",
    "ReviewQueue",
    "build_queue",
    "export_queue",
    "import_foreign_answers",
    "load_queue",
    "read_foreign_answers",
]
