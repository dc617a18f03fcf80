"""The response cache: one SQLite file in the run directory (``judge/cache.sqlite``).

Each successful response body is stored under the request's key (a hash of model, rendered
prompt, decoding parameters and template version), so a re-run sends no request it has already
answered. Failed requests are never stored. Each write commits at once (WAL journal), so a
crash or a dying server loses nothing that was answered.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    template_version TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


class ResponseCache:
    """Key → response body (a JSON object), backed by a SQLite file.

    Use as a context manager, or call :meth:`close`. Not shared between threads.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored body for ``key``, or ``None``."""
        row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def contains(self, keys: list[str]) -> set[str]:
        """The subset of ``keys`` that is stored."""
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0] for r in self._db.execute(f"SELECT key FROM responses WHERE key IN ({marks})", chunk)
            )
        return found

    def put(self, key: str, body: dict[str, Any], *, model: str, endpoint: str,
            template_version: str) -> None:
        """Store a successful response body (replacing any older one)."""
        self._db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
            (key, model, endpoint, template_version, json.dumps(body, ensure_ascii=False),
             time.time()),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryCache:
    """:class:`ResponseCache`'s interface over a dict, for a process without the run directory
    (a Ray worker): ``known`` bodies are served, new ones collected in :attr:`new` as
    ``key -> (body, model, endpoint, template_version)`` for the driver to store."""

    def __init__(self, known: dict[str, dict[str, Any]] | None = None) -> None:
        self.known = dict(known or {})
        self.new: dict[str, tuple[dict[str, Any], str, str, str]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        if key in self.new:
            return self.new[key][0]
        return self.known.get(key)

    def contains(self, keys: list[str]) -> set[str]:
        return {k for k in keys if k in self.known or k in self.new}

    def put(self, key: str, body: dict[str, Any], *, model: str, endpoint: str,
            template_version: str) -> None:
        self.new[key] = (body, model, endpoint, template_version)

    def __len__(self) -> int:
        return len(self.known) + len(self.new)

    def close(self) -> None:
        pass

    def __enter__(self) -> MemoryCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
