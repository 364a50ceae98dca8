"""A small client for the Prometheus HTTP API (``/api/v1/query_range``), plain HTTP.

Works the same against Prometheus, Thanos, Mimir/Cortex (``X-Scope-OrgID`` header and a
path prefix such as ``https://mimir.example.com/prometheus``) and VictoriaMetrics, which
all serve this API.

* **Ranges are split** so that no request asks for more than 11,000 points per series
  (Prometheus refuses more); the pieces are aligned on the step, so the timestamps of the
  joined series are exactly ``start + k × step``. A range of more than
  :data:`MAX_POINTS_PER_PULL` points per series is refused before any request.
* **Queries go as POST** (form-encoded), so long PromQL never meets URL length limits.
* **One overall deadline.** ``timeout_s`` bounds a whole operation: every request, retry
  and back-off of one :meth:`Prometheus.query` / :meth:`Prometheus.query_range`, or of
  everything inside one ``with prometheus.deadline():`` block (``capsim live prometheus``
  puts the whole pull in one). It is enforced by a watchdog that closes the connection
  when the time is up, so a server that answers one byte per second fails on time too.
  (Resolving the host name is the one step the watchdog cannot cut short.)
* **Failures are retried** (connection errors, 429 and 5xx) with exponential back-off and
  full jitter, a few times, within the deadline; at most ``concurrency`` requests run at
  once.
* **Credentials stay with the host given.** A redirect to the same scheme, host and port
  is followed (at most :data:`MAX_REDIRECTS`); a redirect elsewhere is refused when any
  credential or header is set (naming both URLs), and followed without credentials when
  none is. ``http://user:password@host`` in the URL is basic auth (:func:`parse_url`).
  No secret is ever put in a message: messages name the URL without its userinfo, and any
  secret a server echoes back is replaced by ``***``.
* **Answers are bounded and checked**: at most :data:`MAX_RESPONSE_BYTES` per answer
  (no compression is asked for); JSON of the documented shape (``status``, ``data`` with
  ``resultType`` and ``result``, each series' ``metric`` and ``values``), timestamps on the
  step grid, inside the range asked for, strictly increasing, each series once. Anything
  else is a :class:`PrometheusError` naming the URL, the query and the problem. Values are
  returned as floats (``NaN``, ``±Inf`` included); what is kept is decided by the caller
  (:mod:`capsim.kube.pull`).
* **Errors say what to do**: unreachable URL, 401/403 (which authentication to pass), a
  query error (Prometheus's own message), an answer that is not the Prometheus API (a
  wrong path prefix).

Time (``sleep``, ``clock``) and jitter (``random.Random``) are arguments, so tests run
without waits.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import random
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_POINTS_PER_PULL",
    "MAX_POINTS_PER_SERIES",
    "MAX_REDIRECTS",
    "MAX_RESPONSE_BYTES",
    "Auth",
    "Prometheus",
    "PrometheusError",
    "Series",
    "chunk_ranges",
    "count_points",
    "label_matchers",
    "parse_url",
    "promql_string",
    "redact_url",
]

#: Prometheus refuses a range query of more points than this per series.
MAX_POINTS_PER_SERIES = 11_000
#: The most points per series one pull may ask for (split into requests of at most
#: :data:`MAX_POINTS_PER_SERIES`): a year at a 30 s step is 1,051,200.
MAX_POINTS_PER_PULL = 2_000_000
#: The largest answer body read (16 MiB); one series of 11,000 points is about 0.5 MB.
MAX_RESPONSE_BYTES = 16 * 2**20
#: The default overall deadline of one operation (the whole pull in ``live prometheus``).
DEFAULT_TIMEOUT_S = 300.0
#: Same-host redirects followed per request.
MAX_REDIRECTS = 5
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK = 64 * 1024
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SECRET_HEADER = re.compile(r"auth|token|key|secret|pass|cookie|session", re.IGNORECASE)
_MESSAGE_CHARS = 300


class PrometheusError(Exception):
    """Prometheus could not answer, or answered something unusable; the message says why
    and what to change (one line, no secret)."""


class _RetryError(Exception):
    """A failure worth another attempt (connection refused or reset, 429, 5xx)."""


class _DeadlineError(Exception):
    """The watchdog closed the connection: the operation's deadline passed."""


# --- URLs -------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """``http://user:secret@host/p?q`` → ``http://***@host/p``: the URL without its
    userinfo secret and without its query (which may carry a token)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _has_control(text: str, space_ok: bool = False) -> bool:
    """Control characters (and, unless ``space_ok``, spaces) anywhere in ``text``."""
    low = 0x20 if space_ok else 0x21
    return any(ord(char) < low or ord(char) == 0x7F for char in text)


def parse_url(text: str) -> tuple[str, tuple[str, str] | None]:
    """``--url`` checked: ``(the base URL without userinfo, basic auth from the userinfo or
    None)``. Refused (``PrometheusError``, the URL shown without its secret): a scheme other
    than http/https, no host, a bad port, whitespace or control characters, a query string
    or a fragment (a base URL has neither)."""
    shown = redact_url(text)
    if _has_control(text) or not text.isascii():
        raise PrometheusError(
            f"--url {shown!r}: spaces, control or non-ASCII characters in the URL "
            "(percent-encode them; an international host name in its xn-- form)"
        )
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise PrometheusError(f"--url {shown!r}: not a URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise PrometheusError(
            f"--url {shown!r}: expected http://… or https://…, got scheme {parts.scheme!r}"
        )
    host = parts.hostname or ""
    if not host:
        raise PrometheusError(f"--url {shown!r}: no host")
    if port == 0:
        raise PrometheusError(f"--url {shown!r}: port 0")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise PrometheusError(
            f"--url {shown!r}: a query string or fragment in the base URL; give only "
            "scheme://host[:port][/path-prefix]"
        )
    try:
        host.encode("idna")
    except UnicodeError:
        raise PrometheusError(f"--url {shown!r}: not a valid host name") from None
    basic: tuple[str, str] | None = None
    if parts.username is not None or parts.password is not None:
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        if not user or _has_control(user) or ":" in user or _has_control(password, True):
            raise PrometheusError(
                f"--url {shown!r}: the userinfo must be user:password (basic auth), "
                "percent-encoded, without control characters"
            )
        basic = (user, password)
    netloc = parts.netloc.rpartition("@")[2]
    base = urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path, "", ""))
    return base.rstrip("/"), basic


def _origin(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


# --- auth -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Auth:
    """How to authenticate: extra headers, a bearer token, or basic auth; TLS options.

    At most one of them sets ``Authorization`` (the CLI refuses two). Header names are
    HTTP tokens and no value has control characters (refused here, so no header can be
    injected)."""

    headers: tuple[tuple[str, str], ...] = ()
    bearer_token: str | None = None
    basic_auth: tuple[str, str] | None = None
    ca_file: Path | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        for name, value in self.headers:
            if not _HEADER_NAME.match(name):
                raise PrometheusError(f"--header: not a valid header name: {name[:60]!r}")
            if any((ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F for char in value):
                raise PrometheusError(f"--header {name}: control characters in the value")
        if self.bearer_token is not None and (
            not self.bearer_token or _has_control(self.bearer_token)
        ):
            raise PrometheusError("the bearer token is empty or has spaces or control characters")
        if self.basic_auth is not None:
            user, password = self.basic_auth
            if not user or ":" in user or _has_control(user) or _has_control(password, True):
                raise PrometheusError(
                    "basic auth: the user must be non-empty without ':' and neither may "
                    "have control characters"
                )

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
    def sends_anything(self) -> bool:
        """Whether any credential or header goes with each request (then a redirect to
        another host is refused: a header may be a credential under another name)."""
        return bool(self.headers) or self.bearer_token is not None or self.basic_auth is not None

    def secrets(self) -> list[str]:
        """Every text that must never be printed: password, token, their encodings, and
        the values of headers whose name suggests a credential."""
        found: list[str] = []
        if self.bearer_token:
            found.append(self.bearer_token)
        if self.basic_auth is not None:
            user, password = self.basic_auth
            found.append(base64.b64encode(f"{user}:{password}".encode()).decode())
            if password:
                found += [password, urllib.parse.quote(password, safe="")]
        for name, value in self.headers:
            if _SECRET_HEADER.search(name) and value:
                found.append(value)
                token = value.split(None, 1)[-1]  # 'Bearer xyz' → 'xyz'
                if token:
                    found.append(token)
        return sorted({s for s in found if len(s) >= 3}, key=len, reverse=True)

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


def count_points(start_s: float, end_s: float, step_s: float) -> int:
    """How many evaluations ``start, start + step, … ≤ end`` a range query makes (without
    allocating anything; ``ValueError`` for a step that is not a positive number)."""
    if not (math.isfinite(step_s) and step_s > 0):
        raise ValueError(f"step must be a finite number > 0, got {step_s}")
    if not (math.isfinite(start_s) and math.isfinite(end_s)):
        raise ValueError(f"start and end must be finite, got {start_s} and {end_s}")
    if end_s < start_s:
        raise ValueError(f"end ({end_s}) is before start ({start_s})")
    return math.floor((end_s - start_s) / step_s + 1e-9) + 1


def chunk_ranges(
    start_s: float, end_s: float, step_s: float, max_points: int = MAX_POINTS_PER_SERIES
) -> list[tuple[float, float]]:
    """``[start, end]`` cut into pieces of at most ``max_points`` samples each, aligned on
    ``start + k × step`` (Prometheus evaluates at ``start``, ``start + step``, … ≤ ``end``).
    ``ValueError`` beyond :data:`MAX_POINTS_PER_PULL` points (checked before the list is
    made)."""
    total = count_points(start_s, end_s, step_s)
    if total > MAX_POINTS_PER_PULL:
        raise ValueError(
            f"{total:,} points per series (every {step_s:g} s), more than the limit of "
            f"{MAX_POINTS_PER_PULL:,}"
        )
    pieces = []
    for first in range(0, total, max_points):
        last = min(first + max_points, total) - 1
        pieces.append((start_s + first * step_s, start_s + last * step_s))
    return pieces


def _one_line(text: str, limit: int = _MESSAGE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass
class Prometheus:
    """The client (see the module docstring). ``url`` may carry a path prefix and a
    ``user:password@`` (basic auth, when ``auth`` has none)."""

    url: str
    auth: Auth = field(default_factory=Auth)
    #: The overall deadline of one operation, in seconds (see the module docstring).
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = 3
    concurrency: int = 4
    sleep: Callable[[float], None] = field(default=lambda seconds: time.sleep(seconds))
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    max_response_bytes: int = MAX_RESPONSE_BYTES
    #: Warnings the server attached to its answers (partial data from a store, say).
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.url, basic = parse_url(self.url)
        if basic is not None:
            if self.auth.basic_auth is not None or self.auth.bearer_token is not None:
                raise PrometheusError(
                    f"--url {redact_url(self.url)}: carries user:password and another "
                    "credential is given too; give one"
                )
            self.auth = Auth(self.auth.headers, None, basic, self.auth.ca_file, self.auth.insecure)
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise PrometheusError(f"--timeout: must be a finite duration > 0, got {self.timeout_s}")
        context = None
        if self.url.startswith("https://"):
            try:
                context = ssl.create_default_context(
                    cafile=str(self.auth.ca_file) if self.auth.ca_file else None
                )
            except (OSError, ssl.SSLError) as exc:
                raise PrometheusError(
                    f"--ca-file {self.auth.ca_file}: not usable ({exc})"
                ) from None
            if self.auth.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        self._context = context
        self._secrets = self.auth.secrets()
        self._local = threading.local()
        self._shared_deadline: float | None = None

    # --- deadlines -------------------------------------------------------------------------

    @contextmanager
    def deadline(self) -> Iterator[float]:
        """Everything inside shares one deadline, ``timeout_s`` from now (nested blocks
        keep the outer one). Yields the deadline (``clock()`` seconds)."""
        if self._shared_deadline is not None:
            yield self._shared_deadline
            return
        self._shared_deadline = self.clock() + self.timeout_s
        try:
            yield self._shared_deadline
        finally:
            self._shared_deadline = None

    def _fail(self, message: str) -> PrometheusError:
        """A one-line error with every secret replaced by ``***``."""
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return PrometheusError(" ".join(message.split()))

    def _deadline_error(self, endpoint: str) -> PrometheusError:
        return self._fail(
            f"{redact_url(endpoint)}: --timeout: no complete answer within the overall "
            f"deadline of {self.timeout_s:g} s (it bounds the whole pull, retries included; "
            "raise --timeout or pull a shorter range)"
        )

    # --- one request ---------------------------------------------------------------------

    def _post(self, path: str, form: Mapping[str, str]) -> Any:
        """POST ``form`` to ``path``; the ``data`` of a successful answer."""
        with self.deadline() as deadline:
            endpoint = f"{self.url}{path}"
            for attempt in range(self.retries + 1):
                if self.clock() >= deadline:
                    raise self._deadline_error(endpoint)
                try:
                    status, headers, payload, where = self._exchange(endpoint, form, deadline)
                except _DeadlineError:
                    raise self._deadline_error(endpoint) from None
                except _RetryError as retry:
                    if attempt < self.retries:
                        self._back_off(attempt, deadline, endpoint)
                        continue
                    raise self._fail(str(retry)) from None
                if status != 200:
                    raise self._http_error(where, status, payload, form)
                return self._data(where, payload, headers, form)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _back_off(self, attempt: int, deadline: float, endpoint: str) -> None:
        """Exponential back-off with full jitter: a uniform wait in [0, 0.5 × 2^attempt] s,
        never past the deadline."""
        wait = self.rng.uniform(0.0, 0.5 * 2**attempt)
        if self.clock() + wait >= deadline:
            raise self._deadline_error(endpoint)
        self.sleep(wait)

    def _exchange(
        self, endpoint: str, form: Mapping[str, str], deadline: float
    ) -> tuple[int, http.client.HTTPMessage, bytes, str]:
        """One request and its redirects: ``(status, headers, body, final URL)``; raises
        :class:`_RetryError` for what another attempt may cure."""
        url, method = endpoint, "POST"
        body = urllib.parse.urlencode(form)
        headers = self.auth.header_map()
        for _ in range(MAX_REDIRECTS + 1):
            status, answer_headers, payload = self._once(url, method, body, headers, deadline)
            if status in _RETRY_STATUSES:
                message = _one_line(payload.decode("utf-8", "replace")) or "(no body)"
                raise _RetryError(f"{redact_url(url)}: HTTP {status}: {message}")
            if status not in _REDIRECTS:
                return status, answer_headers, payload, url
            location = answer_headers.get("Location", "")
            if not location or _has_control(location):
                raise self._fail(f"{redact_url(url)}: HTTP {status} without a usable Location")
            target = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https"):
                raise self._fail(
                    f"{redact_url(url)}: redirected (HTTP {status}) to {redact_url(target)}: "
                    "not http or https, refused"
                )
            if _origin(target) != _origin(url):
                if headers:
                    raise self._fail(
                        f"{redact_url(url)}: redirected (HTTP {status}) to {redact_url(target)}, "
                        "another scheme, host or port: refused, because capsim never sends "
                        "credentials or headers to a host other than --url's; if that host is "
                        "right, give it as --url"
                    )
                headers = {}  # nothing set; and nothing of ours follows to another host
            if status in (301, 302, 303) and method == "POST":
                method = "GET"  # what browsers and urllib do; the form moves to the query
                target = target.split("#")[0]
                target += ("&" if "?" in target else "?") + body
                body = ""
            url = target
        raise self._fail(f"{redact_url(endpoint)}: more than {MAX_REDIRECTS} redirects")

    def _once(
        self, url: str, method: str, body: str, headers: Mapping[str, str], deadline: float
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One HTTP exchange, cut off by a watchdog at ``deadline``."""
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or "", parts.port
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise _DeadlineError
        connection: http.client.HTTPConnection
        if parts.scheme.lower() == "https":
            context = self._context or ssl.create_default_context()
            connection = http.client.HTTPSConnection(host, port, timeout=remaining, context=context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=remaining)
        fired = threading.Event()

        def watchdog() -> None:
            fired.set()
            sock = connection.sock
            if sock is not None:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(remaining, watchdog)
        timer.daemon = True
        timer.start()
        all_headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        if method == "GET":
            all_headers.pop("Content-Type")
        try:
            connection.request(
                method, target, body=body.encode() if body else None, headers=all_headers
            )
            response = connection.getresponse()
            payload = self._read(url, response)
            return response.status, response.headers, payload
        except ssl.SSLCertVerificationError as exc:
            raise self._fail(
                f"{redact_url(url)}: the TLS certificate is not trusted ({exc.verify_message}); "
                "pass --ca-file with its CA, or --insecure"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            if fired.is_set() or self.clock() >= deadline:
                raise _DeadlineError from None
            reason = getattr(exc, "reason", None) or exc
            base = self.url if url.startswith(self.url) else redact_url(url)
            raise _RetryError(
                f"{base}: unreachable after {self.retries + 1} attempts "
                f"({_one_line(str(reason)) or type(exc).__name__})"
            ) from None
        except UnicodeError:
            raise self._fail(f"{redact_url(url)}: not a valid host name") from None
        finally:
            timer.cancel()
            connection.close()

    def _read(self, url: str, response: http.client.HTTPResponse) -> bytes:
        """The body, at most ``max_response_bytes`` (refused beyond, before reading when
        the length is announced)."""
        cap = self.max_response_bytes
        announced = response.getheader("Content-Length")
        if announced is not None and announced.strip().isdigit() and int(announced) > cap:
            raise self._fail(
                f"{redact_url(url)}: the answer is {int(announced):,} bytes, more than the "
                f"cap of {cap:,} on one answer; pull a shorter range or a larger --step"
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = response.read(_READ_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > cap:
                raise self._fail(
                    f"{redact_url(url)}: the answer is more than the cap of {cap:,} bytes on "
                    "one answer; pull a shorter range or a larger --step"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    # --- answers ---------------------------------------------------------------------------

    def _data(
        self, endpoint: str, raw: bytes, headers: Any, form: Mapping[str, str]
    ) -> dict[str, Any]:
        """The ``data`` object of a successful answer (checked to be an object)."""
        where = redact_url(endpoint)
        query = _one_line(form.get("query", ""), 120)
        kind = headers.get("Content-Type", "?") if headers is not None else "?"
        try:
            answer = json.loads(raw)
        except (ValueError, RecursionError):
            if "json" in kind.lower():
                raise self._fail(
                    f"{where}: query {query!r}: the answer is not valid JSON (truncated?), "
                    f"got {len(raw):,} bytes"
                ) from None
            raise self._fail(
                f"{where}: query {query!r}: not the Prometheus API (got {_one_line(kind, 60)}): "
                f"starts with {_one_line(raw[:40].decode('utf-8', 'replace'), 40)!r}; check the "
                "URL and its path "
                "prefix (Mimir: …/prometheus, Thanos Query: the query frontend's URL)"
            ) from None
        if not isinstance(answer, dict):
            raise self._fail(
                f"{where}: query {query!r}: not the Prometheus API: the answer is a JSON "
                f"{type(answer).__name__}, not an object"
            )
        status = answer.get("status")
        if status == "error":
            error = _one_line(f"{answer.get('errorType', '')}: {answer.get('error', '')}")
            raise self._fail(f"{where}: Prometheus rejected {query!r}: {error}")
        if status != "success":
            raise self._fail(
                f"{where}: query {query!r}: not the Prometheus API: status "
                f"{_one_line(repr(status), 60)}, expected 'success' or 'error'"
            )
        warnings = answer.get("warnings") or ()
        if isinstance(warnings, list):
            for warning in warnings[:20]:  # e.g. Thanos partial responses
                text = self._fail(_one_line(str(warning))).args[0]
                if text not in self.warnings:
                    self.warnings.append(text)
        data = answer.get("data")
        if not isinstance(data, dict):
            raise self._fail(
                f"{where}: query {query!r}: data: expected an object with resultType and "
                f"result, got {type(data).__name__}"
            )
        if not isinstance(data.get("result"), list):
            raise self._fail(
                f"{where}: query {query!r}: data.result: expected a list, got "
                f"{type(data.get('result')).__name__}"
            )
        return data

    def _http_error(
        self, endpoint: str, code: int, payload: bytes, form: Mapping[str, str]
    ) -> PrometheusError:
        where = redact_url(endpoint)
        if code in (401, 403):
            hint = (
                "pass --bearer-token-file, --basic-auth-file or --header 'Authorization: …'"
                if code == 401
                else "the credentials are not allowed to query (check the token's tenant "
                "or role; Mimir/Cortex need --header 'X-Scope-OrgID: TENANT')"
            )
            return self._fail(f"{where}: {code} with {self.auth.described}: {hint}")
        message = ""
        try:
            answer = json.loads(payload)
            if isinstance(answer, dict):
                message = str(answer.get("error") or "")
        except (ValueError, RecursionError):
            pass
        message = _one_line(message or payload.decode("utf-8", "replace")) or "(no body)"
        query = _one_line(form.get("query", ""), 120)
        if code in (400, 422):
            return self._fail(f"{where}: Prometheus rejected {query!r}: {message}")
        if code == 404:
            return self._fail(f"{where}: 404, not the Prometheus API; check the URL's path prefix")
        return self._fail(f"{where}: HTTP {code}: {message}")

    # --- the API ---------------------------------------------------------------------------

    def query(self, promql: str, at_s: float) -> list[tuple[dict[str, str], float]]:
        """An instant query: each series' labels and value at ``at_s``."""
        endpoint = f"{self.url}/api/v1/query"
        data = self._post("/api/v1/query", {"query": promql, "time": _ts(at_s)})
        if data.get("resultType") != "vector":
            raise self._bad(
                endpoint, promql, f"resultType {data.get('resultType')!r}, expected 'vector'"
            )
        found = []
        for item in data["result"]:
            labels = self._labels(endpoint, promql, item)
            value = item.get("value")
            if not (isinstance(value, list) and len(value) == 2):
                raise self._bad(endpoint, promql, "a sample is not [time, value]")
            found.append((labels, self._number(endpoint, promql, value[1], allow_special=True)))
        return found

    def query_range(self, promql: str, start_s: float, end_s: float, step_s: float) -> list[Series]:
        """``promql`` over ``[start, end]`` every ``step``, split under the point limit and
        joined; series are keyed by their labels (a series may be absent from a piece).
        Timestamps are checked to lie on ``start + k × step`` inside the range asked, in
        increasing order, each once."""
        pieces = chunk_ranges(start_s, end_s, step_s)
        endpoint = f"{self.url}/api/v1/query_range"
        form = {"query": promql, "step": _ts(step_s), "timeout": f"{self.timeout_s:g}s"}
        with self.deadline(), ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
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
        tolerance = min(1e-3, step_s / 4)
        for (first, last), data in zip(pieces, answers, strict=True):
            if data.get("resultType") != "matrix":
                raise self._bad(
                    endpoint,
                    promql,
                    f"resultType {_one_line(repr(data.get('resultType')), 40)}, expected a "
                    "range vector ('matrix')",
                )
            seen: set[tuple[tuple[str, str], ...]] = set()
            for item in data["result"]:
                labels = self._labels(endpoint, promql, item)
                key = tuple(sorted(labels.items()))
                if key in seen:
                    raise self._bad(endpoint, promql, f"the series {labels} appears twice")
                seen.add(key)
                values = item.get("values")
                if not isinstance(values, list):
                    raise self._bad(endpoint, promql, "a series has no list of values")
                times, numbers = joined.setdefault(key, ([], []))
                for pair in values:
                    if not (isinstance(pair, list) and len(pair) == 2):
                        raise self._bad(endpoint, promql, "a sample is not [time, value]")
                    stamp = self._number(endpoint, promql, pair[0])
                    if not (first - tolerance <= stamp <= last + tolerance):
                        raise self._bad(
                            endpoint,
                            promql,
                            f"timestamp {stamp!r} outside the range asked, {_ts(first)} to "
                            f"{_ts(last)}",
                        )
                    offset = (stamp - start_s) / step_s
                    if abs(offset - round(offset)) * step_s > tolerance:
                        raise self._bad(
                            endpoint,
                            promql,
                            f"timestamp {stamp!r} not on the step grid ({_ts(start_s)} + k × "
                            f"{_ts(step_s)} s)",
                        )
                    if times and stamp <= times[-1] + tolerance:
                        raise self._bad(
                            endpoint,
                            promql,
                            f"timestamps out of order or repeated ({stamp!r} after {times[-1]!r})",
                        )
                    times.append(stamp)
                    numbers.append(self._number(endpoint, promql, pair[1], allow_special=True))
        return [
            Series(dict(key), np.asarray(times, dtype=float), np.asarray(values, dtype=float))
            for key, (times, values) in sorted(joined.items())
        ]

    def _bad(self, endpoint: str, promql: str, problem: str) -> PrometheusError:
        return self._fail(
            f"{redact_url(endpoint)}: query {_one_line(promql, 120)!r}: not a usable answer: "
            f"{problem}"
        )

    def _labels(self, endpoint: str, promql: str, item: Any) -> dict[str, str]:
        if not isinstance(item, dict):
            raise self._bad(endpoint, promql, f"a result is a {type(item).__name__}, not an object")
        labels = item.get("metric", {})
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise self._bad(endpoint, promql, "a series' metric is not an object of strings")
        return dict(labels)

    def _number(self, endpoint: str, promql: str, raw: Any, allow_special: bool = False) -> float:
        """A timestamp or a sample value: a number, or a string of one (the API's form).
        ``NaN`` and ``±Inf`` only where ``allow_special`` (a value; the caller decides)."""
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise self._bad(endpoint, promql, f"expected a number, got {_one_line(repr(raw), 40)}")
        try:
            value = float(raw)
        except (ValueError, OverflowError):
            raise self._bad(
                endpoint, promql, f"expected a number, got {_one_line(repr(raw), 40)}"
            ) from None
        if not allow_special and not math.isfinite(value):
            raise self._bad(
                endpoint, promql, f"expected a finite time, got {_one_line(repr(raw), 40)}"
            )
        return value


def _ts(seconds: float) -> str:
    """A Prometheus timestamp or duration in seconds, exact for whole and milli seconds."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def promql_string(value: str) -> str:
    """``value`` as a PromQL double-quoted string literal that reads back as exactly
    ``value``: backslash, quote, newline, CR and tab escaped, other control characters as
    ``\\xHH``, everything else (UTF-8) as it is. PromQL's lexer reads Go escapes, so nothing
    in ``value`` can end the literal. ``ValueError`` for text that is not UTF-8 (a lone
    surrogate from an undecodable command-line byte)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"not UTF-8 text: {value.encode('utf-8', 'backslashreplace')!r}") from None
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def label_matchers(matchers: Sequence[tuple[str, str, str]]) -> str:
    """``[("namespace", "=", "shop")]`` → ``namespace="shop"`` (values escaped by
    :func:`promql_string`; names and operators checked, ``ValueError`` otherwise)."""
    parts = []
    for name, op, value in matchers:
        if not _LABEL_NAME.match(name) or op not in _MATCH_OPS:
            raise ValueError(f"not a label matcher: {name!r} {op!r}")
        parts.append(f"{name}{op}{promql_string(value)}")
    return ",".join(parts)
