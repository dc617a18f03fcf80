"""A real HTTP server on loopback that speaks just enough of the OpenAI API to misbehave.

What it answers depends on markers in the item text (the last ``Text: ...`` of the prompt or the
last user message):

    ONCE500     HTTP 500 on the first request for that item, then a normal answer
    FAIL500     HTTP 500 always
    ONCE429     HTTP 429 (Retry-After: 0) first, then a normal answer
    SLOW        the first answer arrives after ``slow_s`` seconds (longer than the client timeout)
    MALFORMED   HTTP 200 with a body that is not JSON
    BADLABEL    a well-formed answer naming no label (" banana")
    LEAN        a hesitant ham: ``{" ham": log 0.5, " spam": log 0.45, " the": log 0.05}``
    NOLOGPROBS  answers without log-probabilities; sampled answers (seed s) say spam if s < 2
    BADJSON     chat mode: content that is not JSON
    E400        HTTP 400 always (not worth retrying)

Otherwise the answer is ``spam`` if the text contains "spam" (any case), else ``ham``, with
log-probabilities ``{" spam": log 0.8, " ham": log 0.15, " the": log 0.05}`` (mirrored for ham).
``die_after=N`` makes the server shut down after answering N requests; ``api_key="..."``
makes it answer 401 to every request without ``Authorization: Bearer <key>``. Everything is bounded:
at most ``max_requests`` requests, each handled in its own thread, for the life of the fixture.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FaultServer:
    """Start with :meth:`start`, stop with :meth:`stop`; ``base_url`` ends in ``/v1``."""

    def __init__(self, *, port: int = 0, die_after: int | None = None, slow_s: float = 1.5,
                 max_requests: int = 2000, api_key: str | None = None) -> None:
        self.die_after = die_after
        self.api_key = api_key
        self.slow_s = slow_s
        self.max_requests = max_requests
        self.requests = 0
        self.completions = 0
        self.seen: Counter[str] = Counter()
        self.auth_headers: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._stopped = False

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._httpd.shutdown()
            self._httpd.server_close()

    # -- answers ---------------------------------------------------------------------------
    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes, float]:
        chat = path.endswith("/chat/completions")
        if chat:
            text = body["messages"][-1]["content"]
            prompt = ""
        else:
            prompt = body["prompt"]
            text = prompt.rsplit("Text: ", 1)[-1]
        with self._lock:
            self.seen[text] += 1
            first = self.seen[text] == 1
        delay = self.slow_s if "SLOW" in text and first else 0.0
        if "E400" in text:
            return 400, {}, b'{"error": {"message": "bad request"}}', delay
        if "FAIL500" in text or ("ONCE500" in text and first):
            return 500, {}, b'{"error": {"message": "internal error"}}', delay
        if "ONCE429" in text and first:
            return 429, {"Retry-After": "0"}, b'{"error": {"message": "slow down"}}', delay
        if "MALFORMED" in text:
            return 200, {}, b"this is not json {", delay
        if prompt.endswith("Reason (one sentence):"):
            return 200, {}, _completion("\n Because it says so.\nText: more", None), delay
        label = "spam" if "spam" in text.lower() else "ham"
        if "BADLABEL" in text:
            label = "banana"
        top: dict[str, float] | None = {
            f" {label}": math.log(0.8),
            f" {'ham' if label == 'spam' else 'spam'}": math.log(0.15),
            " the": math.log(0.05),
        }
        if "LEAN" in text:
            top = {" ham": math.log(0.5), " spam": math.log(0.45), " the": math.log(0.05)}
        if "NOLOGPROBS" in text:
            top = None
            if body.get("seed") is not None:
                label = "spam" if body["seed"] < 2 else "ham"
        if chat:
            content = "label: spam" if "BADJSON" in text else json.dumps(
                {"label": label, "rationale": "It looks like that."})
            return 200, {}, _chat(content, label, top), delay
        return 200, {}, _completion(f" {label}", top), delay

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up first (the SLOW case)

            def _authorized(self) -> bool:
                if server.api_key is None or \
                        self.headers.get("Authorization") == f"Bearer {server.api_key}":
                    return True
                self._send(401, {}, b'{"error": {"message": "invalid api key"}}')
                return False

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                if self.path.endswith("/models"):
                    self._send(200, {}, b'{"object": "list", "data": [{"id": "fault", '
                                        b'"object": "model", "owned_by": "tests"}]}')
                else:
                    self._send(404, {}, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests += 1
                    count = server.requests
                    server.bodies.append(body)
                    server.auth_headers.append(self.headers.get("Authorization", ""))
                if not self._authorized():
                    return
                if server.die_after is not None and count > server.die_after:
                    self.close_connection = True  # dying: hang up without an answer
                    return
                if count > server.max_requests:
                    self._send(503, {}, b'{"error": {"message": "request cap reached"}}')
                    return
                status, headers, payload, delay = server._answer(self.path, body)
                if delay:
                    time.sleep(delay)
                self._send(status, headers, payload)
                if status == 200:
                    with server._lock:
                        server.completions += 1
                if server.die_after is not None and count >= server.die_after:
                    threading.Thread(target=server.stop, daemon=True).start()

        return Handler


def _completion(text: str, top: dict[str, float] | None) -> bytes:
    logprobs = None if top is None else {
        "tokens": [text], "token_logprobs": [max(top.values())], "text_offset": [0],
        "top_logprobs": [top],
    }
    return json.dumps({
        "id": "cmpl-test", "object": "text_completion", "created": 0, "model": "fault",
        "choices": [{"text": text, "index": 0, "logprobs": logprobs, "finish_reason": "length"}],
    }).encode()


def _chat(content: str, label: str, top: dict[str, float] | None) -> bytes:
    logprobs = None
    if top is not None:
        # tokens as a tokenizer might cut the JSON: the label value is its own token
        pieces = re.split(r'("label": ")', content, maxsplit=1)
        tokens = [pieces[0] + pieces[1], label, pieces[2][len(label):]] if len(pieces) == 3 \
            else [content]
        entries = []
        for token in tokens:
            alts = ([{"token": t.strip(), "logprob": lp} for t, lp in top.items()]
                    if token == label else [{"token": token, "logprob": 0.0}])
            entries.append({"token": token, "logprob": alts[0]["logprob"], "top_logprobs": alts})
        logprobs = {"content": entries}
    return json.dumps({
        "id": "chat-test", "object": "chat.completion", "created": 0, "model": "fault",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "logprobs": logprobs, "finish_reason": "stop"}],
    }).encode()
