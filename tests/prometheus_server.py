"""Run a real Prometheus (Debian's ``prometheus`` 2.42, which ships ``prometheus`` and
``promtool``; installed by scripts/install-test-deps.sh) on a free loopback port, for tests of
code that reads history through the HTTP API (``/api/v1/query_range``).

Tests import it as ``from prometheus_server import PrometheusServer, backfill,
prometheus_unavailable_reason`` and skip with the reason that
``prometheus_unavailable_reason()`` gives when the binaries are missing (``prometheus_available()``
is the same as a bool). Typical use::

    backfill(openmetrics_text, data_dir)  # history, as TSDB blocks
    with PrometheusServer(data_dir) as prom:  # ready when entered
        ...  # HTTP API at prom.url

    with PrometheusServer(scrape_targets=["127.0.0.1:8000"], job="app") as prom:
        prom.wait_for_scrape("app")  # the first scrape lands ~6 s after start

Basic auth: ``PrometheusServer(basic_auth=("user", "password"))`` writes a
``--web.config.file`` with ``basic_auth_users: {user: <bcrypt hash>}``; Prometheus only takes
bcrypt hashes. :func:`bcrypt_hash` makes them with the ``bcrypt`` package (PyPI, in the ``dev``
extra) at cost 4, the lowest bcrypt allows. The cost only changes speed: measured here, at the
package's default cost 12 hashing takes ~0.2 s, and so does Prometheus's check of the first
request with the right password (later ones are cached) and of every request with a wrong
one; at cost 4 each is ~1 ms. The server's own polling (``/-/ready``, ``wait_for_scrape``)
sends the credentials.

Backfilling (``promtool tsdb create-blocks-from openmetrics FILE DATA_DIR``), as found by
experiment with 2.42:

* The text must end with the line ``# EOF`` (else ``data does not end with # EOF``), and every
  sample needs a timestamp (else ``expected timestamp for series got none``).
* Timestamps are **seconds** since the epoch, fractions allowed (kept to the millisecond).
  Milliseconds are not rejected: they land some 50,000 years in the future.
* The series name is the sample's name as written: a counter is ``# TYPE x counter`` then
  samples ``x_total{...} value ts`` (what a client library exposes, and what
  ``rate(x_total[...])`` reads). promtool stores no metadata: the ``# TYPE`` line is what
  OpenMetrics asks for, but it is not checked (a counter sample without ``_total`` is stored
  under that bare name, and a sample with no ``# TYPE`` at all is accepted).
* The samples of one series must be in increasing time order: promtool keeps going with exit
  status 0 and silently **drops** a sample older than one it already took. Series (and
  families) may be interleaved.
* Blocks are cut at 2 h boundaries of the epoch (UTC): 2 days of data make 25 blocks, the first
  and last partial.
* Age: for a server started on the backfilled directory, nothing is too recent: data up to
  now, even in the future, is stored and queried (the ~3 h head-block range the Prometheus
  documentation warns about is a running server's, whose head may already hold that time).
  But the head then refuses every sample older than the newest block's end: with history
  reaching past the server's start, each scrape fails to append (``Appending scrape report
  failed ... out of bounds``) and ``up`` never appears. So history for a server that also
  scrapes must end before it starts; keeping it a few hours old is the safe habit.
* Retention is counted from the newest block, not the wall clock: at start-up and after each
  compaction Prometheus deletes the blocks that end more than ``--storage.tsdb.retention.time``
  (default 15 d) before the newest block ends. Data from long ago therefore survives as long as
  the whole span backfilled (plus any later scraped data) fits in the retention;
  ``PrometheusServer`` passes ``retention="30d"`` by default, and :func:`retention_for` gives a
  value for a longer span.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05
LOG_TAIL_LINES = 30
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
_BIND_RETRIES = 3  # a free port can be taken between choosing it and prometheus binding it


class PrometheusError(RuntimeError):
    """Prometheus did not start, did not become ready, or did not scrape in time."""


class BackfillError(RuntimeError):
    """promtool refused the OpenMetrics text; the message holds its stderr."""


def prometheus_unavailable_reason() -> str | None:
    """None when a Prometheus server can run here, else the reason it cannot (to skip with)."""
    missing = [str(p) for p in (PROMETHEUS, PROMTOOL) if not os.access(p, os.X_OK)]
    if missing:
        return (
            f"Prometheus not installed ({', '.join(missing)} missing): "
            "run `bash scripts/install-test-deps.sh` (apt-get install prometheus)"
        )
    return None


def prometheus_available() -> bool:
    """True when ``prometheus`` and ``promtool`` are installed."""
    return prometheus_unavailable_reason() is None


def bcrypt_hash(password: str, rounds: int = 4) -> str:
    """A bcrypt hash of ``password`` (``$2b$04$...``) for ``basic_auth_users`` in a Prometheus
    web config. Cost 4 keeps each authenticated request fast; see the module docstring."""
    try:
        import bcrypt
    except ImportError as err:
        raise PrometheusError("bcrypt not installed: pip install -e '.[dev]'") from err
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def retention_for(oldest_s: float, newest_s: float, margin_days: int = 1) -> str:
    """A ``--storage.tsdb.retention.time`` value that keeps samples from ``oldest_s`` to
    ``newest_s`` (epoch seconds) and anything scraped up to ``margin_days`` later."""
    days = math.ceil(max(newest_s - oldest_s, 0.0) / 86400) + margin_days
    return f"{max(days, 1)}d"


def backfill(openmetrics_text: str, data_dir: Path) -> None:
    """Turn ``openmetrics_text`` into TSDB blocks in ``data_dir`` (created if missing), to be
    served by ``PrometheusServer(data_dir)``: writes the text to a temporary file and runs
    ``promtool tsdb create-blocks-from openmetrics FILE DATA_DIR``. The rules the text must
    follow are in the module docstring (seconds, ``# EOF``, increasing time per series...).
    Raises :class:`BackfillError` with promtool's stderr when it fails."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="capsim-backfill-") as tmp:
        source = Path(tmp) / "history.om"
        source.write_text(openmetrics_text, encoding="utf-8")
        cmd = [str(PROMTOOL), "tsdb", "create-blocks-from", "openmetrics", "--quiet"]
        done = subprocess.run(
            [*cmd, str(source), str(data_dir)], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise BackfillError(
            f"promtool tsdb create-blocks-from openmetrics failed (exit {done.returncode}): "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _duration(seconds: float) -> str:
    """A Prometheus duration (whole milliseconds)."""
    return f"{max(round(seconds * 1000), 1)}ms"


class PrometheusServer:
    """A ``prometheus`` process on ``127.0.0.1:<free port>``, as a context manager.

    ``data_dir``: the TSDB (``--storage.tsdb.path``), e.g. one filled by :func:`backfill`; it is
    kept on exit. Without one, a temporary directory is used and removed on exit.
    ``scrape_targets``: ``host:port`` strings scraped as job ``job`` every
    ``scrape_interval_s`` (``/metrics``, plain HTTP). ``basic_auth``: ``(user, password)``
    required on every endpoint (``--web.config.file``). ``retention``:
    ``--storage.tsdb.retention.time``. The generated config, web config and the log
    (prometheus's stdout and stderr, kept out of the test output) live in a temporary
    directory removed on exit; :meth:`log_tail` reads the log while the server exists.

    ``__enter__`` returns once ``/-/ready`` answers 200 (polled, up to ``ready_timeout_s``);
    ``__exit__`` sends SIGTERM, waits, kills if it must, and removes the temporary directories.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        scrape_targets: Sequence[str] = (),
        job: str = "capsim-test",
        scrape_interval_s: float = 1.0,
        basic_auth: tuple[str, str] | None = None,
        retention: str = "30d",
        ready_timeout_s: float = READY_TIMEOUT_S,
        extra_args: Sequence[str] = (),
        route_prefix: str = "",
    ) -> None:
        self._given_data_dir = data_dir
        self._scrape_targets = list(scrape_targets)
        self._job = job
        self._scrape_interval_s = scrape_interval_s
        self._basic_auth = basic_auth
        self._retention = retention
        self._ready_timeout_s = ready_timeout_s
        self._route_prefix = route_prefix.rstrip("/")
        self._extra_args = list(extra_args)
        if self._route_prefix:  # the API and /-/ready move under the prefix
            self._extra_args.append(f"--web.route-prefix={self._route_prefix}")
        self._tmp: Path | None = None
        self._data_dir: Path | None = None
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.started_s: float | None = None  # time.monotonic() at launch
        self.ready_after_s: float | None = None  # launch to /-/ready answering 200

    # -- properties -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, no trailing slash."""
        if self._port is None:
            raise PrometheusError("PrometheusServer is not started (use it as a context manager)")
        return f"http://127.0.0.1:{self._port}"

    @property
    def data_dir(self) -> Path:
        """The TSDB directory the server uses."""
        if self._data_dir is None:
            raise PrometheusError("PrometheusServer is not started (use it as a context manager)")
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """prometheus's log (stdout and stderr)."""
        if self._tmp is None:
            raise PrometheusError("PrometheusServer is not started (use it as a context manager)")
        return self._tmp / "prometheus.log"

    @property
    def auth_header(self) -> dict[str, str]:
        """``{"Authorization": "Basic ..."}`` when basic auth is on, else ``{}``."""
        if self._basic_auth is None:
            return {}
        token = base64.b64encode(":".join(self._basic_auth).encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the log ('' when there is none yet)."""
        if self._tmp is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> PrometheusServer:
        reason = prometheus_unavailable_reason()
        if reason is not None:
            raise PrometheusError(reason)
        self._tmp = Path(tempfile.mkdtemp(prefix="capsim-prometheus-"))
        try:
            self._data_dir = self._given_data_dir or self._tmp / "data"
            self._data_dir.mkdir(parents=True, exist_ok=True)
            self._write_configs()
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

    def _write_configs(self) -> None:
        assert self._tmp is not None
        interval = _duration(self._scrape_interval_s)
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "scrape_configs": [],
        }
        if self._scrape_targets:
            config["scrape_configs"].append(
                {"job_name": self._job, "static_configs": [{"targets": self._scrape_targets}]}
            )
        (self._tmp / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        if self._basic_auth is not None:
            user, password = self._basic_auth
            web = {"basic_auth_users": {user: bcrypt_hash(password)}}
            (self._tmp / "web.yml").write_text(yaml.safe_dump(web), encoding="utf-8")

    def _launch(self) -> None:
        assert self._tmp is not None
        assert self._data_dir is not None
        self._port = _free_port()
        args = [
            str(PROMETHEUS),
            f"--config.file={self._tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={self._data_dir}",
            f"--storage.tsdb.retention.time={self._retention}",
            f"--web.listen-address=127.0.0.1:{self._port}",
        ]
        if self._basic_auth is not None:
            args.append(f"--web.config.file={self._tmp / 'web.yml'}")
        args += self._extra_args
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = self.log_path.open("ab")
        self.started_s = time.monotonic()
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self._tmp,
        )

    def _wait_ready(self, last_attempt: bool) -> bool:
        """True once /-/ready answers 200; False when prometheus exited because its port was
        taken (and another try is allowed); raises otherwise."""
        assert self._process is not None
        assert self.started_s is not None
        deadline = self.started_s + self._ready_timeout_s
        while True:
            code = self._process.poll()
            if code is not None:
                tail = self.log_tail()
                if "address already in use" in tail and not last_attempt:
                    return False
                raise PrometheusError(
                    f"prometheus exited with status {code} before it was ready; log:\n{tail}"
                )
            if self._status(f"{self._route_prefix}/-/ready") == 200:
                self.ready_after_s = time.monotonic() - self.started_s
                return True
            if time.monotonic() > deadline:
                raise PrometheusError(
                    f"prometheus not ready after {self._ready_timeout_s:.0f} s at {self.url}; "
                    f"log:\n{self.log_tail()}"
                )
            time.sleep(POLL_S)

    def _status(self, path: str) -> int | None:
        """The HTTP status of GET ``path`` (with auth), None when nothing answers."""
        request = urllib.request.Request(self.url + path, headers=self.auth_header)
        try:
            with _OPENER.open(request, timeout=2) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as err:
            return err.code
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._port = None

    # -- API helpers ----------------------------------------------------------------------

    def query(self, promql: str, at_s: float | None = None) -> list[dict[str, Any]]:
        """``/api/v1/query`` (GET, with auth): the ``data.result`` list of an instant query."""
        params = {"query": promql} | ({"time": f"{at_s:.3f}"} if at_s is not None else {})
        request = urllib.request.Request(
            f"{self.url}{self._route_prefix}/api/v1/query?{urllib.parse.urlencode(params)}",
            headers=self.auth_header,
        )
        with _OPENER.open(request, timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise PrometheusError(f"query {promql!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for_scrape(self, job: str, timeout_s: float = 20) -> float:
        """Poll ``up{job="<job>"}`` until a sample with value 1 exists; returns the seconds
        since launch. Prometheus hands new targets to its scrapers on a ~5 s tick, and the
        first scrape then waits up to one interval (measured: 5.1-5.3 s at 0.2 s, 5.7-6.1 s at
        1 s, 6.9 s at 3 s; ``/-/ready`` answers after ~0.05 s). Raises
        :class:`PrometheusError` with the targets' state and the log tail after
        ``timeout_s``."""
        assert self.started_s is not None
        deadline = time.monotonic() + timeout_s
        promql = 'up{job="%s"}' % job.replace("\\", "\\\\").replace('"', '\\"')  # noqa: UP031
        while True:
            try:
                if any(float(s["value"][1]) == 1 for s in self.query(promql)):
                    return time.monotonic() - self.started_s
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise PrometheusError(
                    f"no successful scrape of job {job!r} within {timeout_s:g} s; "
                    f"targets: {self._targets_summary()}; log:\n{self.log_tail()}"
                )
            time.sleep(POLL_S * 4)

    def _targets_summary(self) -> str:
        request = urllib.request.Request(f"{self.url}/api/v1/targets", headers=self.auth_header)
        try:
            with _OPENER.open(request, timeout=5) as response:
                active = json.load(response)["data"]["activeTargets"]
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, ValueError):
            return "(unavailable)"
        return (
            "; ".join(
                f"{t['labels'].get('job')} {t['scrapeUrl']} {t['health']} {t['lastError']!r}"
                for t in active
            )
            or "(none)"
        )
