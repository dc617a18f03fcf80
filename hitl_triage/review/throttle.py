"""Login throttling: failed logins counted per account name and per client address.

After ``max_failures`` failures for one name (or ``address_max_failures`` from one address)
within the window, further attempts are refused (429) for ``lockout_seconds``, doubling with
each further failure up to the window; failures older than the window are forgotten. An attempt
counts as a failure from the moment it starts until it succeeds, so parallel guesses cannot
slip past the limit. A success clears the name's failures (not the address's: one's own account
must not reset the count of guesses at others').

State lives in this server process (``hitl-triage serve`` runs one), keyed by the peer address
the server sees: behind a proxy that is the proxy's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hitl_triage.review_settings import LoginThrottleConfig

_MAX_KEYS = 100_000  # memory bound: beyond it, keys without a recent failure are dropped


@dataclass(frozen=True)
class Attempt:
    """A login attempt in progress (see ``LoginThrottle.begin``)."""

    name: str
    address: str
    at: float


class LoginThrottle:
    """Counts failed logins per name and per address (thread-safe)."""

    def __init__(self, config: LoginThrottleConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        window = 60.0 * self.config.window_minutes
        times = [t for t in self._failures.get(key, []) if now - t < window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> float:
        times = self._recent(key, now)
        if len(times) < limit:
            return 0.0
        lockout = min(self.config.lockout_seconds * 2.0 ** (len(times) - limit), 60.0 * self.config.window_minutes)
        return max(0.0, times[-1] + lockout - now)

    def begin(self, name: str, address: str) -> tuple[Attempt | None, float]:
        """Start an attempt: ``(attempt, 0)`` if allowed, else ``(None, seconds to wait)``."""
        with self._lock:
            now = self.clock()
            wait = max(
                self._wait(("name", name), self.config.max_failures, now),
                self._wait(("address", address), self.config.address_max_failures, now),
            )
            if wait > 0:
                return None, wait
            if len(self._failures) >= _MAX_KEYS:
                self._prune(now)
            for key in (("name", name), ("address", address)):
                self._failures.setdefault(key, []).append(now)
            return Attempt(name, address, now), 0.0

    def succeeded(self, attempt: Attempt) -> None:
        """The attempt was right: forget the name's failures and this attempt's mark."""
        with self._lock:
            self._failures.pop(("name", attempt.name), None)
            marks = self._failures.get(("address", attempt.address), [])
            if attempt.at in marks:
                marks.remove(attempt.at)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        if len(self._failures) >= _MAX_KEYS:  # still full: drop the oldest half
            keys = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in keys[: len(keys) // 2]:
                del self._failures[key]
