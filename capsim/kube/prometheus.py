"""A small client for the Prometheus HTTP API (``/api/v1/query_range``), plain HTTP.

Works the same against Prometheus, Thanos, Mimir/Cortex (``X-Scope-OrgID`` header and a
path prefix such as ``https://mimir.example.com/prometheus``) and VictoriaMetrics, which
all serve this API.

* **Ranges are split** so that no request asks for more than 11,000 points per series
  (Prometheus refuses more); the pieces are aligned on the step, so the timestamps of the
  joined series are exactly ``start + k × step``.
* **Queries go as POST** (form-encoded), so long PromQL never meets URL length limits.
* **Failures are retried** (connection errors, timeouts, 429 and 5xx) with exponential
  back-off and full jitter, a few times; at most ``concurrency`` requests run at once.
* **Errors say what to do**: unreachable URL, 401/403 (which authentication to pass), a
  query error (Prometheus's own message), an answer that is not the Prometheus API (a
  wrong path prefix).

Time (``sleep``) and jitter (``random.Random``) are arguments, so tests run without waits.
"""

from __future__ import annotations

import base64
import json
import math
import random
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_POINTS_PER_SERIES",
    "Auth",
    "Prometheus",
    "PrometheusError",
    "Series",
    "chunk_ranges",
]

MAX_POINTS_PER_SERIES = 11_000
_RETRY_STATUSES = frozenset({429, 502, 503, 504})


class PrometheusError(Exception):
    """Prometheus could not answer; the message says why and what to change."""


@dataclass(frozen=True)
class Auth:
    """How to authenticate: extra headers, a bearer token, or basic auth; TLS options."""

    headers: tuple[tuple[str, str], ...] = ()
    bearer_token: str | None = None
    basic_auth: tuple[str, str] | None = None
    ca_file: Path | None = None
    insecure: bool = False

    def header_map(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        if self.basic_auth is not None:
            user, password = self.basic_auth
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    @property
    def described(self) -> str:
        given = [name for name, _ in self.headers]
        if self.bearer_token is not None:
            given.append("a bearer token")
        if self.basic_auth is not None:
            given.append(f"basic auth as {self.basic_auth[0]!r}")
        return ", ".join(given) or "no credentials"


@dataclass(frozen=True)
class Series:
    """One time series: its labels, timestamps (Unix seconds) and values."""

    labels: Mapping[str, str]
    times_s: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]


def chunk_ranges(
    start_s: float, end_s: float, step_s: float, max_points: int = MAX_POINTS_PER_SERIES
) -> list[tuple[float, float]]:
    """``[start, end]`` cut into pieces of at most ``max_points`` samples each, aligned on
    ``start + k × step`` (Prometheus evaluates at ``start``, ``start + step``, … ≤ ``end``)."""
    if step_s <= 0:
        raise ValueError(f"step must be > 0, got {step_s}")
    if end_s < start_s:
        raise ValueError(f"end ({end_s}) is before start ({start_s})")
    total = math.floor((end_s - start_s) / step_s + 1e-9) + 1
    pieces = []
    for first in range(0, total, max_points):
        last = min(first + max_points, total) - 1
        pieces.append((start_s + first * step_s, start_s + last * step_s))
    return pieces


@dataclass
class Prometheus:
    """The client (see the module docstring). ``url`` may carry a path prefix."""

    url: str
    auth: Auth = field(default_factory=Auth)
    timeout_s: float = 60.0
    retries: int = 3
    concurrency: int = 4
    sleep: Callable[[float], None] = field(default=lambda seconds: time.sleep(seconds))
    rng: random.Random = field(default_factory=random.Random)
    #: Warnings the server attached to its answers (partial data from a store, say).
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise PrometheusError(f"--url {self.url!r}: expected http://… or https://…")
        context = None
        if self.url.startswith("https://"):
            context = ssl.create_default_context(
                cafile=str(self.auth.ca_file) if self.auth.ca_file else None
            )
            if self.auth.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        self._context = context

    # --- one request ---------------------------------------------------------------------

    def _post(self, path: str, form: Mapping[str, str]) -> Any:
        """POST ``form`` to ``path``; the ``data`` of a successful answer."""
        endpoint = f"{self.url}{path}"
        body = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **self.auth.header_map()}
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(
                    request, timeout=self.timeout_s, context=self._context
                ) as response:
                    return self._data(endpoint, response.read(), response.headers, form)
            except urllib.error.HTTPError as error:
                payload = error.read()
                if error.code in _RETRY_STATUSES and attempt < self.retries:
                    self._back_off(attempt)
                    continue
                raise self._http_error(endpoint, error.code, payload, form) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt < self.retries:
                    self._back_off(attempt)
                    continue
                reason = getattr(error, "reason", error)
                raise PrometheusError(
                    f"{self.url}: unreachable after {self.retries + 1} attempts ({reason})"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _back_off(self, attempt: int) -> None:
        """Exponential back-off with full jitter: a uniform wait in [0, 0.5 × 2^attempt] s."""
        self.sleep(self.rng.uniform(0.0, 0.5 * 2**attempt))

    def _data(self, endpoint: str, raw: bytes, headers: Any, form: Mapping[str, str]) -> Any:
        try:
            answer = json.loads(raw)
        except ValueError:
            kind = headers.get("Content-Type", "?") if headers is not None else "?"
            raise PrometheusError(
                f"{endpoint}: not the Prometheus API (got {kind}); check the URL and its path "
                "prefix (Mimir: …/prometheus, Thanos Query: the query frontend's URL)"
            ) from None
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise PrometheusError(f"Prometheus rejected {form.get('query')!r}: {error}")
        for warning in answer.get("warnings") or ():  # e.g. Thanos partial responses
            if warning not in self.warnings:
                self.warnings.append(str(warning))
        return answer.get("data")

    def _http_error(
        self, endpoint: str, code: int, payload: bytes, form: Mapping[str, str]
    ) -> PrometheusError:
        if code in (401, 403):
            hint = (
                "pass --bearer-token-file, --basic-auth-file or --header 'Authorization: …'"
                if code == 401
                else "the credentials are not allowed to query (check the token's tenant "
                "or role; Mimir/Cortex need --header 'X-Scope-OrgID: TENANT')"
            )
            return PrometheusError(f"{endpoint}: {code} with {self.auth.described}: {hint}")
        try:
            answer = json.loads(payload)
            message = answer.get("error") or payload.decode("utf-8", "replace")
        except (ValueError, AttributeError):
            message = payload.decode("utf-8", "replace").strip()[:300]
        if code in (400, 422):
            return PrometheusError(f"Prometheus rejected {form.get('query')!r}: {message}")
        if code == 404:
            return PrometheusError(
                f"{endpoint}: 404, not the Prometheus API; check the URL's path prefix"
            )
        return PrometheusError(f"{endpoint}: HTTP {code}: {message}")

    # --- the API ---------------------------------------------------------------------------

    def query(self, promql: str, at_s: float) -> list[tuple[dict[str, str], float]]:
        """An instant query: each series' labels and value at ``at_s``."""
        data = self._post("/api/v1/query", {"query": promql, "time": _ts(at_s)})
        return [(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]

    def query_range(self, promql: str, start_s: float, end_s: float, step_s: float) -> list[Series]:
        """``promql`` over ``[start, end]`` every ``step``, split under the point limit and
        joined; series are keyed by their labels (a series may be absent from a piece)."""
        pieces = chunk_ranges(start_s, end_s, step_s)
        form = {"query": promql, "step": _ts(step_s), "timeout": f"{self.timeout_s:g}s"}
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            answers = list(
                pool.map(
                    lambda piece: self._post(
                        "/api/v1/query_range",
                        {**form, "start": _ts(piece[0]), "end": _ts(piece[1])},
                    ),
                    pieces,
                )
            )
        joined: dict[tuple[tuple[str, str], ...], tuple[list[float], list[float]]] = {}
        for data in answers:
            if data.get("resultType") != "matrix":
                raise PrometheusError(
                    f"{promql!r}: expected a range vector (matrix), got {data.get('resultType')}"
                )
            for item in data["result"]:
                key = tuple(sorted(item["metric"].items()))
                times, values = joined.setdefault(key, ([], []))
                for stamp, value in item["values"]:
                    times.append(float(stamp))
                    values.append(float(value))
        return [
            Series(dict(key), np.asarray(times), np.asarray(values))
            for key, (times, values) in sorted(joined.items())
        ]


def _ts(seconds: float) -> str:
    """A Prometheus timestamp or duration in seconds, exact for whole and milli seconds."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def label_matchers(matchers: Sequence[tuple[str, str, str]]) -> str:
    """``[("namespace", "=", "shop")]`` → ``namespace="shop"`` (values escaped)."""
    return ",".join(f"{name}{op}{json.dumps(value)}" for name, op, value in matchers)
