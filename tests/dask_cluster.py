"""Run a real Dask cluster on 127.0.0.1 for tests: one ``dask scheduler`` process and N
``dask worker`` processes (the ``dask`` command of the ``dist`` extra, the one in this
virtualenv), each worker in a working directory of its own, so that nothing a test's
client can open by a relative path is visible to the workers.

Tests import it as ``from dask_cluster import DaskCluster, dask_unavailable_reason`` and
skip with the reason ``dask_unavailable_reason()`` gives when the extra or the command is
missing. Typical use::

    with DaskCluster(tmp_path, workers=2) as cluster:  # ready when entered
        ...  # cluster.address is tcp://127.0.0.1:PORT; cluster.worker_dirs[i]

How, and why (as found with distributed 2026.8):

* The scheduler listens on a free port it picks itself (``--port 0``) and writes its
  address to ``--scheduler-file``, which the workers and this class read: no race for a
  port picked in advance.
* ``--no-nanny``: each worker is one process, so the teardown ends exactly the processes
  this class started (by their ids: terminate, then kill after a grace period), always,
  also when entering fails.
* ``--no-dashboard`` everywhere (no second port), ``--nthreads 1`` per worker, and
  ``--local-directory`` inside the worker's own directory.
* Ready means the scheduler file exists and a ``Client`` sees every worker; it is waited
  for with a deadline (``ready_timeout_s``), after which the processes' output is in the
  error.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

__all__ = ["DaskCluster", "dask_command", "dask_unavailable_reason"]


def dask_command() -> Path:
    """The ``dask`` command next to this interpreter (the virtualenv's)."""
    return Path(sys.executable).with_name("dask")


def dask_unavailable_reason() -> str | None:
    """Why a real Dask cluster cannot run here, or None when it can."""
    for module in ("dask", "distributed"):
        if importlib.util.find_spec(module) is None:
            return f"the dist extra is not installed ({module} is missing)"
    if not dask_command().is_file():
        return f"no dask command at {dask_command()}"
    return None


class DaskCluster:
    """A scheduler and ``workers`` worker processes on 127.0.0.1, under ``root``."""

    def __init__(self, root: Path, *, workers: int = 2, ready_timeout_s: float = 60.0) -> None:
        self.root = root
        self.workers = workers
        self.ready_timeout_s = ready_timeout_s
        self.scheduler_file = root / "scheduler.json"
        self.worker_dirs = [root / f"worker-{i}" for i in range(workers)]
        self.address = ""
        self._processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def _start(self, name: str, args: list[str], cwd: Path) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        log = self.root / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(dask_command()), *args],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._processes.append((name, process, log))

    def _logs(self) -> str:
        parts = []
        for name, process, log in self._processes:
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"--- {name} (exit {process.poll()}):\n{text[-3000:]}")
        return "\n".join(parts)

    def _wait_ready(self) -> None:
        from distributed import Client

        deadline = time.monotonic() + self.ready_timeout_s
        while not self.scheduler_file.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler wrote no address file:\n{self._logs()}")
            time.sleep(0.1)
        self.address = str(json.loads(self.scheduler_file.read_text())["address"])
        for i, folder in enumerate(self.worker_dirs):
            self._start(
                f"worker-{i}",
                [
                    "worker",
                    "--scheduler-file",
                    str(self.scheduler_file),
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--local-directory",
                    str(folder / "dask-scratch"),
                    "--name",
                    f"worker-{i}",
                ],
                folder,
            )
        remaining = max(1.0, deadline - time.monotonic())
        if not self.workers:
            return
        with Client(self.address, timeout=remaining) as client:  # type: ignore[no-untyped-call]
            try:
                client.wait_for_workers(self.workers, timeout=deadline - time.monotonic())
            except TimeoutError:
                raise RuntimeError(
                    f"{self.workers} workers did not join in time:\n{self._logs()}"
                ) from None

    def _check_alive(self) -> None:
        for name, process, _ in self._processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self._logs()}")

    def __enter__(self) -> DaskCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._start(
                "scheduler",
                [
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(self.scheduler_file),
                ],
                self.root / "scheduler",
            )
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def kill_scheduler(self) -> None:
        """Kill the scheduler now (SIGKILL), as a crash or a lost machine would."""
        for name, process, _ in self._processes:
            if name == "scheduler" and process.poll() is None:
                process.kill()
                process.wait(timeout=15)

    def stop(self) -> None:
        """End every process this cluster started, by id, workers first and each in turn
        (a worker told to stop while the scheduler is also going waits ~10 s for it);
        idempotent."""
        for _, process, _ in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        self._processes.clear()
