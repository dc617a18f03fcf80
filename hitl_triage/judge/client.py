"""The HTTP side of the judge: the ``openai`` client with limits, retries and a request budget.

One :class:`JudgeClient` per run. It bounds concurrent requests, retries timeouts, connection
errors, 408, 429 and 5xx with exponential backoff (honouring ``Retry-After``), counts every
request sent against the run's budget, and stops sending after ``max_consecutive_failures``
failed requests in a row, so a dead server costs seconds, not retries for every item.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import Any

import httpx
import numpy as np
import openai

from hitl_triage.judge.errors import JudgeError
from hitl_triage.judge.prompts import JudgeRequest
from hitl_triage.judge_settings import JudgeConfig

NO_KEY = "no-key"  # local servers ignore the key, but the openai client wants one
_RETRY_STATUS = {408, 409, 425, 429}


class RequestFailed(Exception):
    """A request that did not yield a usable answer; ``str(exc)`` is the reason recorded."""


def read_api_key(settings: JudgeConfig) -> str:
    """The API key from the environment variable ``settings.api_key_env`` (never logged).

    Raises:
        JudgeError: the variable is named but not set.
    """
    if settings.api_key_env is None:
        return NO_KEY
    value = os.environ.get(settings.api_key_env, "")
    if not value:
        raise JudgeError(
            f"judge.api_key_env names the environment variable {settings.api_key_env!r}, "
            "but it is not set"
        )
    return value


class JudgeClient:
    """Sends :class:`JudgeRequest` bodies to ``settings.base_url``.

    Args:
        settings: the judge section (limits, timeouts, retries, budget).
        api_key: the key to send (from :func:`read_api_key`).
        random_state: seed of the backoff jitter.

    Attributes:
        requests_sent: HTTP requests sent so far (each retry counts).
    """

    def __init__(self, settings: JudgeConfig, *, api_key: str, random_state: int = 0) -> None:
        self.settings = settings
        self.requests_sent = 0
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=api_key,
            max_retries=0,
            timeout=httpx.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 10.0)),
        )
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._rng = np.random.default_rng(random_state)
        self._failures_in_a_row = 0
        self._stopped: str | None = None

    async def probe(self) -> None:
        """Check that the server answers at all (``GET /models``), before any work.

        Raises:
            JudgeError: naming the URL, if the server cannot be reached or rejects the key.
        """
        url = self.settings.base_url
        try:
            await self._client.models.list(timeout=min(self.settings.timeout_s, 10.0))
        except openai.APIConnectionError as exc:
            raise JudgeError(
                f"judge server {url} is unreachable ({_describe(exc)}); start one with "
                "`hitl-triage judge serve` or fix judge.base_url"
            ) from None
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise JudgeError(
                    f"judge server {url} rejected the API key (HTTP {exc.status_code}); check the "
                    f"variable named by judge.api_key_env ({self.settings.api_key_env})"
                ) from None
            # other statuses: the server is up but has no /models route; that is fine

    async def post(self, request: JudgeRequest) -> dict[str, Any]:
        """Send one request, retrying what is worth retrying.

        Returns:
            The response body parsed as JSON (its structure is checked by the caller).

        Raises:
            RequestFailed: with the reason (status, timeout, budget, malformed body...).
        """
        s = self.settings
        attempt = 0
        while True:
            async with self._slots:
                # checked once a slot is free: requests waiting for a slot see the latest state
                if self._stopped is not None:
                    raise RequestFailed(self._stopped)
                if s.request_budget is not None and self.requests_sent >= s.request_budget:
                    raise RequestFailed(f"request budget of {s.request_budget} exhausted")
                self.requests_sent += 1
                try:
                    body = await self._send(request)
                except _Retryable as exc:
                    reason, wait_hint = str(exc), exc.wait_hint
                else:
                    self._failures_in_a_row = 0
                    return body
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= s.max_consecutive_failures:
                self._stopped = (f"stopped after {self._failures_in_a_row} failed requests in a "
                                 f"row; last: {reason}")
            if attempt >= s.max_retries:
                raise RequestFailed(f"{reason} (after {attempt + 1} attempts)")
            delay = min(s.max_backoff_s, s.backoff_s * 2**attempt) * (0.5 + self._rng.random())
            await asyncio.sleep(max(delay, min(wait_hint or 0.0, s.max_backoff_s)))
            attempt += 1

    async def _send(self, request: JudgeRequest) -> dict[str, Any]:
        resource = (self._client.completions if request.endpoint == "completions"
                    else self._client.chat.completions)
        try:
            raw = await resource.with_raw_response.create(**request.body)
        except openai.APITimeoutError:
            raise _Retryable(f"timed out after {self.settings.timeout_s:g}s") from None
        except openai.APIConnectionError as exc:
            raise _Retryable(f"connection error: {_describe(exc)}") from None
        except openai.APIStatusError as exc:
            message = re.sub(r"^Error code: \d+ - ", "", exc.message)
            reason = f"HTTP {exc.status_code}: {_short(message)}"
            if exc.status_code >= 500 or exc.status_code in _RETRY_STATUS:
                raise _Retryable(reason, wait_hint=_retry_after(exc.response)) from None
            raise RequestFailed(reason) from None
        try:
            body = json.loads(raw.text)
        except json.JSONDecodeError as exc:
            raise RequestFailed(
                f"malformed response body (not JSON: {exc.msg}): {_short(raw.text)!r}"
            ) from None
        if not isinstance(body, dict):
            raise RequestFailed(
                f"malformed response body (expected a JSON object): {_short(raw.text)!r}"
            )
        return body

    async def close(self) -> None:
        await self._client.close()


class _Retryable(Exception):
    def __init__(self, reason: str, *, wait_hint: float | None = None) -> None:
        super().__init__(reason)
        self.wait_hint = wait_hint


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{exc}: {cause}" if cause is not None and str(cause) else str(exc)


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
