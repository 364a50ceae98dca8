"""Run a real VictoriaMetrics single-node server (Debian's ``victoria-metrics``, installed by
scripts/install-test-deps.sh as /usr/bin/victoria-metrics) on a free loopback port with a
temporary storage folder, for tests of code that reads history through the Prometheus
HTTP API it also serves (``/api/v1/query_range``).

Tests import it as ``from victoria_metrics_server import VictoriaMetricsServer,
victoria_metrics_unavailable_reason`` and skip with that reason when the binary is
missing. Typical use::

    with VictoriaMetricsServer() as vm:           # ready (/health answers OK) when entered
        vm.import_openmetrics(text)               # history, the same text promtool backfills
        ...                                       # Prometheus API at vm.url

History goes in through ``/api/v1/import/prometheus`` (the Prometheus text format, one
sample a line with its timestamp in **milliseconds**); :meth:`import_openmetrics` takes
the OpenMetrics text that :func:`prometheus_server.backfill` takes (timestamps in seconds,
``# TYPE`` lines, ``# EOF``) and converts it, then forces a flush
(``/internal/force_flush``) and waits until the imported series are searchable: freshly
ingested samples are not visible to queries at once.

Flags: ``-retentionPeriod=100y`` (nothing imported is too old), ``-search.latencyOffset=0s``
(by default the last 30 s before now are hidden from range queries as possibly
incomplete), ``-search.disableCache`` (each test's answers come from the data, not from a
cache of an earlier test's). Everything else is VictoriaMetrics' default, in particular its
own staleness and ``rate()`` semantics, which is what the tests are about.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

VICTORIA_METRICS = Path("/usr/bin/victoria-metrics")
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05
_BIND_RETRIES = 3
# No proxy for loopback, whatever the environment says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class VictoriaMetricsError(RuntimeError):
    """The server could not be started or fed; the message has the log tail."""


def victoria_metrics_unavailable_reason() -> str | None:
    """Why the tests cannot run VictoriaMetrics here, or None when they can."""
    if not VICTORIA_METRICS.is_file():
        return (
            f"{VICTORIA_METRICS} not found: run scripts/install-test-deps.sh "
            "(Debian package victoria-metrics)"
        )
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def openmetrics_to_prometheus_ms(text: str) -> str:
    """OpenMetrics with timestamps in seconds → Prometheus text with milliseconds (the
    comment lines and ``# EOF`` dropped)."""
    lines = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, stamp = line.rpartition(" ")
        lines.append(f"{head} {round(float(stamp) * 1000)}")
    return "\n".join(lines) + "\n"


class VictoriaMetricsServer:
    """See the module docstring."""

    def __init__(self, extra_args: tuple[str, ...] = ()) -> None:
        self._extra_args = list(extra_args)
        self._tmp: Path | None = None
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise VictoriaMetricsError("not started (use it as a context manager)")
        return f"http://127.0.0.1:{self._port}"

    def log_tail(self, lines: int = 30) -> str:
        if self._tmp is None or not (self._tmp / "vm.log").exists():
            return ""
        text = (self._tmp / "vm.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> VictoriaMetricsServer:
        reason = victoria_metrics_unavailable_reason()
        if reason is not None:
            raise VictoriaMetricsError(reason)
        self._tmp = Path(tempfile.mkdtemp(prefix="capsim-vm-"))
        try:
            for attempt in range(_BIND_RETRIES):
                self._launch()
                if self._wait_ready(last_attempt=attempt == _BIND_RETRIES - 1):
                    break
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _launch(self) -> None:
        assert self._tmp is not None
        self._port = _free_port()
        args = [
            str(VICTORIA_METRICS),
            f"-storageDataPath={self._tmp / 'data'}",
            f"-httpListenAddr=127.0.0.1:{self._port}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
            *self._extra_args,
        ]
        if self._log is not None:
            self._log.close()
        self._log = (self._tmp / "vm.log").open("ab")
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=self._tmp,
        )  # fmt: skip

    def _wait_ready(self, last_attempt: bool) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            code = self._process.poll()
            if code is not None:
                tail = self.log_tail()
                if "address already in use" in tail and not last_attempt:
                    return False
                raise VictoriaMetricsError(f"victoria-metrics exited with {code}; log:\n{tail}")
            try:
                with _OPENER.open(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise VictoriaMetricsError(f"not ready at {self.url}; log:\n{self.log_tail()}")
            time.sleep(POLL_S)

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._port = None

    # -- data -----------------------------------------------------------------------------

    def import_openmetrics(self, text: str, timeout_s: float = 30.0) -> int:
        """Import the history (see the module docstring); returns the number of series,
        once all of them are searchable."""
        body = openmetrics_to_prometheus_ms(text).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v1/import/prometheus", data=body, method="POST"
        )
        with _OPENER.open(request, timeout=60) as response:
            if response.status not in (200, 204):
                raise VictoriaMetricsError(f"import answered {response.status}")
        lines = body.decode().splitlines()
        series = {line.rpartition(" ")[0].rpartition(" ")[0] for line in lines}
        # from an hour before the oldest sample: a search from time 0 finds nothing once
        # the history lies wholly before today (UTC), as after midnight
        oldest_s = min((int(line.rpartition(" ")[2]) // 1000 for line in lines), default=0)
        deadline = time.monotonic() + timeout_s
        while True:
            with _OPENER.open(f"{self.url}/internal/force_flush", timeout=10):
                pass
            found = self.series_count(max(oldest_s - 3600, 0))
            if found >= len(series):
                return found
            if time.monotonic() > deadline:
                raise VictoriaMetricsError(
                    f"{found} of {len(series)} series searchable after {timeout_s:g} s; "
                    f"log:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def series_count(self, start_s: int = 0) -> int:
        """How many series the server knows (``/api/v1/series`` from ``start_s``)."""
        params = urllib.parse.urlencode({"match[]": '{__name__!=""}', "start": str(start_s)})
        with _OPENER.open(f"{self.url}/api/v1/series?{params}", timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
        return len(answer.get("data") or [])
