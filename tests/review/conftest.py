"""A real review server for the HTTP, browser and load tests: a task folder, accounts created
with the real CLI, items pushed through the JSON API, and ``hitl-triage serve`` on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hitl_triage.config import TaskConfig
from hitl_triage.store import ReviewStore, open_store
from tests.store.conftest import backend_url, pg_url  # noqa: F401  (shared fixtures)
from tests.store.support import cli, write_task

from .loadgen import background_server

PASSWORDS = {"boss": "boss-password", "ann": "ann-password", "bob": "bob-password"}
ROLES = {"boss": "admin", "ann": "reviewer", "bob": "reviewer"}


@dataclass
class Site:
    base: str
    config_path: Path
    config: TaskConfig
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30)

    def store(self) -> ReviewStore:
        return open_store(self.config)

    def push(self, items: list[dict[str, Any]]) -> int:
        with self.api("boss") as http:
            response = http.post("/api/v1/items", json={"items": items})
            response.raise_for_status()
            return int(response.json()["enqueued"])


def add_accounts(config_path: Path, names: list[str]) -> dict[str, str]:
    tokens = {}
    for name in names:
        done = cli("reviewers", "add", str(config_path), name, "--role", ROLES[name], "--password-stdin", stdin=PASSWORDS[name] + "\n")
        assert done.returncode == 0, done.stderr
        assert "password:" not in done.stdout  # a password read from stdin is not echoed
        found = re.search(r"API token: (\S+)", done.stdout)
        assert found, done.stdout
        tokens[name] = found.group(1)
    return tokens


def start_site(folder: Path, review: dict[str, Any] | None = None) -> Iterator[Site]:
    config_path, config = write_task(folder, review=review)
    tokens = add_accounts(config_path, list(ROLES))
    with background_server(config_path) as base:
        yield Site(base, config_path, config, tokens)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server whose review items need two answers (overlap 2) and audit items one."""
    yield from start_site(tmp_path_factory.mktemp("site"), {"overlap": {"review": 2, "audit": 1}, "gold_rate": 0.0})
