"""Connect to a Ray cluster, and start a throwaway one on this machine (tests, benchmarks).

:func:`connect` calls ``ray.init`` once per process for an ``engine:`` of kind ``ray``:

* ``address: host:port`` (or ``ray://host:port``): the port is tried first with a plain TCP
  connection, so an unreachable cluster is one line naming the address, not a hang (``ray.init``
  itself retries for minutes);
* ``address: auto``: the cluster this machine belongs to;
* ``address: null``: a private Ray instance in this process (``ray.init(address="local")``,
  never someone else's cluster on the same machine), sized by ``local_cpus`` and
  ``object_store_memory``.

With ``ship_code`` the job's ``runtime_env`` uploads this ``hitl_triage`` package
(``py_modules``), so the workers run the driver's code; LF modules travel with each task
(:mod:`hitl_triage.distributed.lf_runner`). A process already connected to Ray (a notebook that
called ``ray.init`` itself) is used as it is.

Loopback clusters. Ray replaces ``127.0.0.1`` by the machine's outward address when a process
joins a cluster; a cluster bound to loopback (as :class:`LocalCluster` starts it) is then
unreachable. For a loopback or private cluster this module keeps Ray on loopback (Ray's
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` switch for the driver; for worker nodes
:class:`LocalCluster` starts ``ray start`` with that resolution turned off).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hitl_triage.distributed.settings import EngineConfig
from hitl_triage.errors import HitlTriageError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
CONNECT_TIMEOUT_S = 5.0
# `ray start` with 127.0.0.1 kept as the node's address (Ray would resolve it to the outward IP)
_RAY_START = ("import ray._private.services as s; s.resolve_ip_for_localhost = lambda host: host; "
              "from ray.scripts.scripts import main; main()")


_connected: tuple[str | None] | None = None  # the address this module connected to


class RayEngineError(HitlTriageError):
    """The Ray engine cannot run: Ray missing, cluster unreachable, or nodes that differ."""


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return host.strip("[]"), int(port)


def is_loopback(address: str | None) -> bool:
    """True for a private instance (None) or an address on this machine's loopback."""
    return address is None or (address != "auto" and _host_port(address)[0] in LOOPBACK)


def check_reachable(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`RayEngineError` naming ``address`` if nothing listens there."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayEngineError(
            f"engine.address {address!r}: no Ray cluster reachable at {host}:{port} ({reason}); "
            "start one with `ray start --head` or fix engine.address"
        ) from None


def _keep_loopback() -> None:
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if "ray._private.ray_constants" in sys.modules:  # Ray already imported: read at call time
        sys.modules["ray._private.ray_constants"].ENABLE_RAY_CLUSTER = False


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayEngineError(
            "engine.kind is 'ray' but Ray is not installed; pip install 'hitl-triage[ray]' "
            "(ray[data])"
        ) from None
    return ray


def quiet_ray_data() -> None:
    """Library code never prints: no Ray Data progress bars or per-dataset log lines."""
    from ray.data import DataContext  # importing Ray Data configures its loggers: first

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # also "progress bars disabled"
    DataContext.get_current().enable_progress_bars = False


def connect(engine: EngineConfig) -> Any:
    """Connect this process to the engine's Ray cluster (once); return the ``ray`` module.

    Raises:
        RayEngineError: Ray is not installed, or the cluster at ``engine.address`` cannot be
            reached (the message names the address).
    """
    global _connected
    ray = _import_ray()
    address = engine.address
    if address not in (None, "auto"):
        check_reachable(address)
    if ray.is_initialized():
        if _connected is None or _connected == (address,):  # the caller's own session, or ours
            return ray
        ray.shutdown()  # ours, to another cluster: the config changed within this process
    if is_loopback(address):
        _keep_loopback()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options: dict[str, Any] = {"logging_level": logging.WARNING, "include_dashboard": False}
    if engine.ship_code:
        import hitl_triage

        options["runtime_env"] = {"py_modules": [hitl_triage]}
    if address is None:
        options.update(address="local", num_cpus=engine.local_cpus,
                       object_store_memory=engine.object_store_memory)
    else:
        options.update(address=address)
        options.pop("include_dashboard")
    try:
        ray.init(**options)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError...: one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = "a private Ray instance" if address is None else f"engine.address {address!r}"
        raise RayEngineError(f"{where}: cannot connect to Ray: {first}") from None
    _connected = (address,)
    quiet_ray_data()
    return ray


def disconnect() -> None:
    """Leave the cluster (a private instance is shut down)."""
    global _connected
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        sys.modules["ray"].shutdown()
    _connected = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> tuple[int, int] | None:
    """``(parent pid, start time)`` of a live process, from /proc (Linux); None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def _descendants(pids: list[int]) -> list[tuple[int, int]]:
    """``(pid, start time)`` of every live descendant of ``pids``."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found, todo = [], list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


class LocalCluster:
    """A throwaway Ray cluster on this machine, bound to 127.0.0.1: a head node and
    ``n_workers`` worker nodes, each one ``ray start --block`` process in a private temp dir.

    :meth:`stop` ends exactly these processes and their descendants (never ``ray stop``, which
    would end every Ray cluster of this user on the machine).

        >>> with LocalCluster(n_workers=1) as cluster:
        ...     config.engine = EngineConfig(kind="ray", address=cluster.address)
    """

    def __init__(self, *, n_workers: int = 1, num_cpus: int = 1,
                 object_store_memory: int = 200_000_000, port: int | None = None,
                 temp_dir: str | Path | None = None, env: dict[str, str] | None = None) -> None:
        self.n_workers, self.num_cpus = n_workers, num_cpus
        self.object_store_memory = object_store_memory
        self.port = port or _free_port()
        self.temp_dir = Path(temp_dir or tempfile.mkdtemp(prefix="hitl-ray-"))  # short: socket paths
        self.env = env or {}
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self, args: list[str], log: Path) -> None:
        env = {**os.environ, **self.env, "RAY_USAGE_STATS_ENABLED": "0",
               "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "1"}
        with log.open("wb") as out:
            self.processes.append(subprocess.Popen(
                [sys.executable, "-c", _RAY_START, "start", "--block", "--node-ip-address",
                 "127.0.0.1", "--num-cpus", str(self.num_cpus), "--object-store-memory",
                 str(self.object_store_memory), *args],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True))

    def start(self, *, timeout_s: float = 300.0) -> LocalCluster:
        """Start the nodes and wait until each says it runs.

        Raises:
            RayEngineError: a node exited or did not start within ``timeout_s`` (with the end
                of its log); whatever started is stopped.
        """
        logs = [self.temp_dir / "head.log"]
        self._start(["--head", "--port", str(self.port), "--include-dashboard=false",
                     "--disable-usage-stats", "--temp-dir", str(self.temp_dir / "ray")], logs[0])
        for i in range(self.n_workers):
            logs.append(self.temp_dir / f"worker{i}.log")
            self._start(["--address", self.address], logs[-1])
        deadline = time.monotonic() + timeout_s
        try:
            for process, log in zip(self.processes, logs, strict=True):
                while b"Ray runtime started" not in log.read_bytes():
                    if process.poll() is not None or time.monotonic() > deadline:
                        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                        raise RayEngineError(f"{log}: Ray node did not start: {' | '.join(tail)}")
                    time.sleep(0.5)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, *, grace_s: float = 15.0) -> None:
        """End the nodes: SIGTERM to each ``ray start --block`` process (they stop their own
        processes), then SIGKILL to anything of theirs still alive after ``grace_s``."""
        pids = [p.pid for p in self.processes if p.poll() is None]
        tree = _descendants(pids)  # with start times: a pid reused meanwhile is not killed
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for pid, started in {*tree, *_descendants(pids)}:
            stat = _stat(pid)
            if stat is not None and stat[1] == started:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.processes = []

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
