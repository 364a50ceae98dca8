"""`capsim live prometheus` against a hostile server (tests/hostile_http.py, on 127.0.0.1):
credentials never reach another host and are never printed or written; one overall
deadline; limits refused before any request; malformed or implausible answers refused
with exit 2, one line, and nothing written (all or nothing)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hostile_http import (
    HostileServer,
    Recorded,
    Reply,
    column_of,
    fake_prometheus,
    grid,
    json_reply,
    prometheus_matrix,
    redirect,
)

import capsim
from capsim.cli import live as live_cli
from capsim.cli import main as cli
from capsim.kube import prometheus as client_module
from capsim.kube.prometheus import MAX_POINTS_PER_PULL, Prometheus, PrometheusError, chunk_ranges

USER, PASSWORD = "capsim", "pa$$w0rd-Zq8"  # a password that must never be printed
TOKEN = "tok-5b1e7c0e9d"
WINDOW = ["--start", "1700000000", "--end", "1700003600", "--step", "60s"]
BASE = ["live", "prometheus", "--namespace", "shop", "--deployment", "web"]


def secrets() -> list[str]:
    """Every form of the secrets that must not appear anywhere."""
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return [PASSWORD, "pa%24%24w0rd-Zq8", encoded, TOKEN, "w0rd-Zq8"]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder (default outputs land here)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[Recorded], Reply]], HostileServer]]:
    started: list[HostileServer] = []

    def start(route: Callable[[Recorded], Reply]) -> HostileServer:
        server = HostileServer(route).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main([*BASE, *argv])
    except SystemExit as exit_:  # argparse's own refusals (a flag's type)
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("capsim: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def assert_no_secret(folder: Path, *texts: str) -> None:
    """No secret in the texts (stdout, stderr) nor in any file under ``folder`` other than
    the credential files the test wrote itself."""
    for text in texts:
        for secret in secrets():
            assert secret not in text, (secret, text)
    for path in folder.rglob("*"):
        if path.is_file() and path.name not in ("basic-auth", "token"):
            content = path.read_bytes().decode("utf-8", "replace")
            for secret in secrets():
                assert secret not in content, (secret, path)


def basic_auth_file(folder: Path) -> Path:
    path = folder / "basic-auth"
    path.write_text(f"{USER}:{PASSWORD}\n")
    return path


def token_file(folder: Path) -> Path:
    path = folder / "token"
    path.write_text(TOKEN + "\n")
    return path


def outputs(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} - {"basic-auth", "token"}


# --- credentials ------------------------------------------------------------------------


class TestCredentials:
    @pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
    @pytest.mark.parametrize("how", ["basic-auth-file", "bearer-token-file", "url", "header"])
    def test_a_redirect_to_another_host_is_refused_and_gets_nothing(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str], status: int, how: str
    ) -> None:
        other = serve(fake_prometheus)  # another port: another host as far as origins go
        first = serve(lambda r: redirect(f"{other.url}/api/v1/query_range?x=1", status))
        url, extra = first.url, []
        if how == "basic-auth-file":
            extra = ["--basic-auth-file", str(basic_auth_file(work))]
        elif how == "bearer-token-file":
            extra = ["--bearer-token-file", str(token_file(work))]
        elif how == "url":
            url = first.url.replace("http://", f"http://{USER}:pa%24%24w0rd-Zq8@")
        else:
            extra = ["--header", f"Authorization: Bearer {TOKEN}"]
        code, out, err = run(capsys, "--url", url, *WINDOW, "--scenario-out", "w.yaml", *extra)
        assert code == 2
        assert_one_line_error(err, first.url, other.url, "refused")
        assert other.requests == []  # nothing at all reached the other host
        assert first.requests
        assert all(r.header("Authorization") for r in first.requests)
        assert outputs(work) == set()
        assert_no_secret(work, out, err)

    def test_a_redirect_on_the_same_host_keeps_the_credentials(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        def route(request: Recorded) -> Reply:
            if request.path.startswith("/prom/"):
                return fake_prometheus(request)
            return redirect("/prom" + request.path, 307)

        server = serve(route)
        code, out, err = run(
            capsys, "--url", server.url, *WINDOW, "--basic-auth-file", str(basic_auth_file(work))
        )
        assert code == 0, err
        moved = [r for r in server.requests if r.path.startswith("/prom/")]
        assert len(moved) == 10  # one per column, each after one redirect, still POST
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        assert all(r.header("Authorization") == expected and r.method == "POST" for r in moved)
        assert_no_secret(work, out, err)

    def test_without_credentials_a_redirect_elsewhere_is_followed(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        other = serve(fake_prometheus)
        first = serve(lambda r: redirect(f"{other.url}{r.path}", 303))
        code, _, err = run(capsys, "--url", first.url, *WINDOW, "--out", "w.csv")
        assert code == 0, err
        # 303: the form moves to a GET's query string; nothing of ours goes along.
        assert other.requests
        assert all(r.method == "GET" for r in other.requests)
        assert all(r.header("Authorization") is None for r in other.requests)
        assert (work / "w.csv").is_file()

    def test_user_and_password_in_the_url_are_basic_auth_and_never_shown(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = serve(fake_prometheus)
        url = server.url.replace("http://", f"http://{USER}:pa%24%24w0rd-Zq8@")
        code, out, err = run(
            capsys, "--url", url, *WINDOW, "--rate-query", "rate(http_requests_total[2m])",
            "--out", "w.csv", "--scenario-out", "w.yaml",
        )  # fmt: skip
        assert code == 0, err
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        assert server.requests
        assert all(r.header("Authorization") == expected for r in server.requests)
        assert all("@" not in r.path for r in server.requests)
        assert outputs(work) == {"w.csv", "w.yaml"}
        assert server.url in (work / "w.yaml").read_text()  # the source, without userinfo
        assert_no_secret(work, out, err)

    def test_a_server_echoing_the_secret_in_its_error_is_scrubbed(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        def echo(request: Recorded) -> Reply:
            body = f"bad: you sent {request.header('Authorization')} ({PASSWORD})"
            return Reply(status=500, body=body.encode(), content_type="text/plain")

        server = serve(echo)
        code, out, err = run(
            capsys, "--url", server.url, *WINDOW, "--basic-auth-file", str(basic_auth_file(work))
        )
        assert code == 2
        assert_one_line_error(err, server.url, "HTTP 500", "***")
        assert_no_secret(work, out, err)

    @pytest.mark.parametrize(
        "url",
        [
            f"ftp://{USER}:pa%24%24w0rd-Zq8@127.0.0.1/",
            f"http://{USER}:pa%24%24w0rd-Zq8@127.0.0.1:1",  # nothing listens on port 1
            f"http://{USER}:pa%24%24w0rd-Zq8@127.0.0.1:99999/",
            f"http://{USER}:pa%24%24w0rd-Zq8@/api",
        ],
    )
    def test_bad_or_unreachable_urls_never_show_the_password(
        self,
        work: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        url: str,
    ) -> None:
        monkeypatch.setattr(time, "sleep", lambda s: None)
        code, out, err = run(capsys, "--url", url, *WINDOW, "--timeout", "5s")
        assert code == 2
        assert_one_line_error(err, "127.0.0.1" if "127.0.0.1" in url else "--url")
        assert_no_secret(work, out, err)

    def test_two_sources_of_credentials_are_refused(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = serve(fake_prometheus)
        url = server.url.replace("http://", f"http://{USER}:pa%24%24w0rd-Zq8@")
        code, out, err = run(
            capsys, "--url", url, *WINDOW, "--bearer-token-file", str(token_file(work))
        )
        assert code == 2
        assert_one_line_error(err, "user:password in --url", "--bearer-token-file")
        assert server.requests == []
        assert_no_secret(work, out, err)


# --- deadlines --------------------------------------------------------------------------


class TestDeadlines:
    def test_a_server_sending_one_byte_per_second_fails_at_the_deadline(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        def drip(request: Recorded) -> Reply:
            reply = json_reply(prometheus_matrix(request.form))
            return Reply(body=reply.body, drip_s=1.0)

        server = serve(drip)
        began = time.monotonic()
        code, _, err = run(capsys, "--url", server.url, *WINDOW, "--timeout", "2s")
        elapsed = time.monotonic() - began
        assert code == 2
        assert elapsed < 5, elapsed
        assert_one_line_error(err, server.url, "--timeout", "2 s")
        assert outputs(work) == set()

    def test_a_server_that_never_answers_fails_at_the_deadline(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = serve(lambda r: Reply(stall=True))
        began = time.monotonic()
        code, _, err = run(capsys, "--url", server.url, *WINDOW, "--timeout", "2s")
        assert code == 2
        assert time.monotonic() - began < 5
        assert_one_line_error(err, server.url, "--timeout")

    def test_the_deadline_covers_retries_and_back_off(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        def busy(request: Recorded) -> Reply:  # 4 attempts take 1.6 s at least
            time.sleep(0.4)
            return Reply(status=503, body=b"busy", content_type="text/plain")

        server = serve(busy)
        began = time.monotonic()
        code, _, err = run(capsys, "--url", server.url, *WINDOW, "--timeout", "1s")
        assert code == 2
        assert time.monotonic() - began < 2
        assert_one_line_error(err, server.url, "--timeout", "retries included")
        assert 2 <= len(server.requests) <= 3

    def test_the_deadline_is_for_the_whole_pull_not_each_request(self, serve: Any) -> None:
        """Eleven queries each answered in 0.3 s: fine one by one, but not within 2 s."""

        def slow(request: Recorded) -> Reply:
            time.sleep(0.3)
            return fake_prometheus(request)

        from capsim.kube.pull import Target, pull_trace

        server = serve(slow)
        prometheus = Prometheus(server.url, timeout_s=2.0)
        began = time.monotonic()
        with pytest.raises(PrometheusError, match="overall deadline of 2 s"):
            pull_trace(prometheus, Target("shop", "web"), 1700000040, 1700003580, 60)
        assert time.monotonic() - began < 3
        assert 5 <= len(server.requests) <= 8

    def test_the_default_deadline_and_limits_are_documented(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert client_module.DEFAULT_TIMEOUT_S == live_cli._DEFAULT_TIMEOUT_S == 300
        assert client_module.MAX_POINTS_PER_PULL == live_cli._MAX_POINTS
        with pytest.raises(SystemExit):
            cli.main(["live", "prometheus", "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "the overall deadline of the whole pull" in text
        assert "not each read (default 300s)" in text
        assert "at most 2,000,000 points per series" in text
        assert "a redirect to another scheme, host or port is refused" in text
        readme = (Path(__file__).parents[1] / "README.md").read_text()
        assert "one overall deadline for the whole pull" in readme
        assert "At most 2,000,000 points per series" in readme


# --- limits -----------------------------------------------------------------------------


class TestLimits:
    def test_a_century_at_one_millisecond_is_refused_before_any_request(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = serve(fake_prometheus)
        began = time.monotonic()
        code, _, err = run(
            capsys, "--url", server.url, "--end", "3200000000", "--since", "36500d",
            "--step", "1ms",
        )  # fmt: skip
        assert code == 2
        assert time.monotonic() - began < 2
        assert_one_line_error(
            err, "--since/--start, --end, --step", "3,153,600,000,001 points", "2,000,000"
        )
        assert server.requests == []
        assert outputs(work) == set()

    def test_the_limit_itself_is_allowed_and_one_more_is_not(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = serve(fake_prometheus)
        step = ["--step", "1s", "--end", "1700000000"]
        code, _, err = run(
            capsys, "--url", server.url, *step, "--since", f"{MAX_POINTS_PER_PULL}s",
            "--rate-query", "x", "--timeout", "0.001s",
        )  # fmt: skip
        assert code == 2
        assert_one_line_error(err, f"{MAX_POINTS_PER_PULL + 1:,} points")
        assert server.requests == []
        code, _, err = run(
            capsys, "--url", server.url, *step, "--since", f"{MAX_POINTS_PER_PULL - 1}s",
            "--timeout", "0.001s",
        )  # fmt: skip
        assert code == 2
        assert "--timeout" in err  # past the limit check: it got as far as the network

    def test_the_client_refuses_before_making_the_list(self) -> None:
        with pytest.raises(ValueError, match="more than the limit of 2,000,000"):
            chunk_ranges(0, 3.2e9, 0.001)
        assert len(chunk_ranges(0, MAX_POINTS_PER_PULL - 1, 1)) == 182

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [
            (["--step", "0"], "--step"),
            (["--step", "0.0001"], "--step"),
            (["--step", "1.5ms"], "whole number of milliseconds"),
            (["--step", "-1"], "--step"),
            (["--step", "nan"], "--step"),
            (["--step", "inf"], "--step"),
            (["--start", "nan", "--end", "1700000000"], "--start"),
            (["--end", "inf"], "--end: must be a time between 1970 and 9999"),
            (["--start", "1e300"], "--start: must be a time between 1970 and 9999"),
            (["--start", "1700000000", "--end", "1700000001", "--step", "1h"], "--step"),
            (["--since", "0"], "--since"),
            (["--since", "99999999999d"], "--since"),
            (["--timeout", "0"], "--timeout"),
            (["--timeout", "inf"], "--timeout"),
            (["--rate-window", "0.5s"], "--rate-window"),
            (["--header", "Bad Name: x"], "--header"),
            (["--header", "X-Ok: a\x01b"], "--header"),
            (["--basic-auth-file", "/dev/zero"], "/dev/zero"),
            (["--bearer-token-file", "/dev/null"], "empty"),
        ],
    )
    def test_bad_flags_are_one_line_before_any_request(
        self,
        work: Path,
        serve: Any,
        capsys: pytest.CaptureFixture[str],
        args: list[str],
        fragment: str,
    ) -> None:
        server = serve(fake_prometheus)
        code, _, err = run(capsys, "--url", server.url, *args)
        assert code == 2
        assert_one_line_error(err, fragment)
        assert server.requests == []
        assert outputs(work) == set()

    @pytest.mark.parametrize(
        ("url", "fragment"),
        [
            ("ftp://127.0.0.1/", "expected http"),
            ("http://", "no host"),
            ("http:///api", "no host"),
            ("127.0.0.1:9090", "expected http"),
            ("http://127.0.0.1:99999", "not a URL"),
            ("http://127.0.0.1:0", "port 0"),
            ("http://127.0.0.1/?token=abc", "query string"),
            ("http://127.0.0.1/#x", "query string"),
            ("http://127.0.0.1/a b", "spaces"),
            ("http://127.0.0.1/\r\nX-Injected: 1", "control"),
            ("http://exämple.com/", "non-ASCII"),
            ("file:///etc/passwd", "expected http"),
        ],
    )
    def test_bad_urls_are_one_line(
        self, work: Path, capsys: pytest.CaptureFixture[str], url: str, fragment: str
    ) -> None:
        code, _, err = run(capsys, "--url", url, *WINDOW)
        assert code == 2
        assert_one_line_error(err, "--url", fragment)

    def test_an_answer_announced_beyond_the_cap_is_not_read(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = serve(lambda r: Reply(body=b"{}", length=client_module.MAX_RESPONSE_BYTES + 1))
        code, _, err = run(capsys, "--url", server.url, *WINDOW)
        assert code == 2
        assert_one_line_error(err, server.url, "16,777,217 bytes", "cap of 16,777,216")

    def test_an_endless_answer_is_cut_at_the_cap(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = serve(lambda r: Reply(body=b'{"status": "', stream_bytes=64 * 2**20))
        began = time.monotonic()
        code, _, err = run(capsys, "--url", server.url, *WINDOW)
        assert code == 2
        assert time.monotonic() - began < 10
        assert_one_line_error(err, server.url, "more than the cap of 16,777,216 bytes")
        assert outputs(work) == set()


# --- hostile answers --------------------------------------------------------------------


def spoil(column: str, change: Callable[[dict[str, Any], dict[str, str]], Any]) -> Any:
    """A fake Prometheus whose answer for ``column`` is ``change(good answer, form)``
    (a dict → JSON; bytes or a Reply as is)."""

    def route(request: Recorded) -> Reply:
        if column_of(request.form.get("query", "")) != column:
            return fake_prometheus(request)
        answer = change(prometheus_matrix(request.form), request.form)
        if isinstance(answer, Reply):
            return answer
        if isinstance(answer, bytes):
            return Reply(body=answer)
        return json_reply(answer)

    return route


def values(answer: dict[str, Any]) -> list[list[Any]]:
    result: list[list[Any]] = answer["data"]["result"][0]["values"]
    return result


def with_value(index: int, text: Any) -> Callable[[dict[str, Any], dict[str, str]], Any]:
    def change(answer: dict[str, Any], form: dict[str, str]) -> Any:
        values(answer)[index][1] = text
        return answer

    return change


def with_values(new: Callable[[list[list[Any]], dict[str, str]], list[list[Any]]]) -> Any:
    def change(answer: dict[str, Any], form: dict[str, str]) -> Any:
        answer["data"]["result"][0]["values"] = new(values(answer), form)
        return answer

    return change


def set_key(path: tuple[str, ...], value: Any) -> Any:
    def change(answer: dict[str, Any], form: dict[str, str]) -> Any:
        node = answer
        for key in path[:-1]:
            node = node[key]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return answer

    return change


def second_series(answer: dict[str, Any], form: dict[str, str]) -> Any:
    result = answer["data"]["result"]
    result.append({"metric": {"pod": "x"}, "values": result[0]["values"]})
    return answer


def same_series_twice(answer: dict[str, Any], form: dict[str, str]) -> Any:
    result = answer["data"]["result"]
    result.append(dict(result[0]))
    return answer


HOSTILE: dict[str, tuple[Any, str]] = {
    "data is a list": (set_key(("data",), []), "data: expected an object"),
    "no data": (set_key(("data",), KeyError), "data: expected an object"),
    "no result": (set_key(("data", "result"), KeyError), "data.result: expected a list"),
    "result an object": (set_key(("data", "result"), {}), "data.result: expected a list"),
    "resultType vector": (set_key(("data", "resultType"), "vector"), "resultType 'vector'"),
    "status error": (
        lambda a, f: {"status": "error", "errorType": "execution", "error": "boom"},
        "Prometheus rejected",
    ),
    "status odd": (set_key(("status",), "partial"), "status 'partial'"),
    "answer a list": (lambda a, f: [a], "a JSON list"),
    "not JSON": (
        lambda a, f: Reply(body=b"hello", content_type="text/plain"),
        "not the Prometheus API (got text/plain): starts with 'hello'",
    ),
    "HTML page": (
        lambda a, f: Reply(body=b"<html>\n<body>Login</body>\n</html>", content_type="text/html"),
        "not the Prometheus API (got text/html): starts with '<html> <body>Login</body> </html>'",
    ),
    "HTML 502 page": (
        lambda a, f: Reply(
            status=500, body=b"<html>\n<h1>Bad\ngateway</h1></html>", content_type="text/html"
        ),
        "HTTP 500",
    ),
    "truncated JSON": (lambda a, f: json.dumps(a).encode()[:-7], "not valid JSON"),
    "deeply nested JSON": (lambda a, f: b"[" * 200_000 + b"]" * 200_000, "not valid JSON"),
    "a 5000-digit number": (
        lambda a, f: b'{"status": "success", "data": ' + b"9" * 5000 + b"}",
        "not valid JSON",
    ),
    "+Inf": (with_value(3, "+Inf"), "an infinite value"),
    "-Inf": (with_value(3, "-Inf"), "an infinite value"),
    "1e400 (inf once parsed)": (with_value(3, "1e400"), "an infinite value"),
    "negative": (with_value(3, "-0.5"), "a negative value"),
    "huge": (with_value(3, "1e300"), "no real measurement"),
    "value not a number": (with_value(3, "lots"), "expected a number"),
    "value a list": (with_value(3, [1]), "expected a number"),
    "value true": (with_value(3, True), "expected a number"),
    "sample not a pair": (
        with_values(lambda v, f: [*v[:3], [v[3][0]], *v[4:]]),
        "not [time, value]",
    ),
    "timestamps out of order": (with_values(lambda v, f: [v[1], v[0], *v[2:]]), "out of order"),
    "timestamp repeated": (with_values(lambda v, f: [v[0], *v]), "out of order or repeated"),
    "timestamp off the grid": (
        with_values(lambda v, f: [[v[0][0] + 7, v[0][1]], *v[1:]]),
        "not on the step grid",
    ),
    "timestamp outside the range": (
        with_values(lambda v, f: [*v, [v[-1][0] + 60, "1"]]),
        "outside the range asked",
    ),
    "timestamp NaN": (with_values(lambda v, f: [["NaN", "1"], *v[1:]]), "a finite time"),
    "metric not an object": (set_key(("data", "result"), [{"metric": [], "values": []}]), "metric"),
    "result item a string": (set_key(("data", "result"), ["x"]), "a result is a str"),
    "two series": (second_series, "expected one series"),
    "the same series twice": (same_series_twice, "appears twice"),
}


class TestHostileAnswers:
    @pytest.mark.parametrize("case", sorted(HOSTILE))
    @pytest.mark.parametrize("column", ["cpu_cores", "hpa_target_cpu_utilization"])
    def test_refused_and_nothing_written(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str], case: str, column: str
    ) -> None:
        change, fragment = HOSTILE[case]
        server = serve(spoil(column, change))
        code, out, err = run(
            capsys, "--url", server.url, *WINDOW, "--out", "w.csv", "--scenario-out", "w.yaml"
        )
        assert code == 2, (out, err)
        assert_one_line_error(err, server.url, fragment)
        assert outputs(work) == set()  # all or nothing: neither the CSV nor the scenario

    def test_nan_is_a_gap_not_an_error(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = serve(spoil("cpu_cores", with_value(3, "NaN")))
        code, out, err = run(capsys, "--url", server.url, *WINDOW, "--out", "w.csv")
        assert code == 0, err
        rows = (work / "w.csv").read_text().splitlines()
        header = rows[0].split(",")
        cpu = [row.split(",")[header.index("cpu_cores")] for row in rows[1:]]
        assert cpu[3] == ""
        assert cpu[2] == "0.8"
        assert cpu[4] == "0.8"
        assert "warning: cpu_cores: 1 of 60 samples missing" in out

    def test_replica_counts_beyond_int32_are_refused(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = serve(spoil("hpa_max_replicas", with_value(0, "3e9")))
        code, _, err = run(capsys, "--url", server.url, *WINDOW, "--scenario-out", "w.yaml")
        assert code == 2
        assert_one_line_error(err, "hpa_max_replicas", "beyond 2.14748e+09")
        assert outputs(work) == set()

    def test_a_scenario_capsim_would_refuse_is_not_written(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """min above max: each value is plausible, the pair is not; neither file appears."""
        server = serve(
            spoil("hpa_min_replicas", with_values(lambda v, f: [[t, "50"] for t, _ in v]))
        )
        code, _, err = run(
            capsys, "--url", server.url, *WINDOW, "--out", "w.csv", "--scenario-out", "w.yaml"
        )
        assert code == 2
        assert_one_line_error(err, "w.yaml", "nothing was written")
        assert outputs(work) == set()

    def test_grid_points_are_multiples_of_the_step(self) -> None:
        """--start/--end are moved inward to multiples of --step (what VictoriaMetrics and
        caching frontends align to), so every server answers on the same grid."""
        args = cli.build_parser().parse_args(
            [*BASE, "--url", "http://x", "--start", "1000.5", "--end", "1299", "--step", "60s"]
        )
        assert live_cli._window_s(args) == (1020.0, 1260.0, 60.0)
        assert grid({"start": "1020", "end": "1260", "step": "60"}) == [
            1020,
            1080,
            1140,
            1200,
            1260,
        ]


# --- issue 14: names, PromQL literals, NaN and errors that name the URL ------------------


def queries(server: HostileServer) -> list[str]:
    return [request.form.get("query", "") for request in server.requests]


class TestNamesAndPromQL:
    @pytest.mark.parametrize(
        ("flag", "value", "words"),
        [
            ("--namespace", "Bad_NS!", "a lowercase RFC 1123 label must consist of"),
            ("--namespace", "a" * 64, "must be no more than 63 characters"),
            ("--namespace", "shop-", "a lowercase RFC 1123 label"),
            ("--namespace", "shop.eu", "a lowercase RFC 1123 label"),  # a subdomain, not a label
            ("--deployment", "Web", "a lowercase RFC 1123 subdomain must consist of"),
            ("--deployment", "web_1", "a lowercase RFC 1123 subdomain"),
            ("--deployment", "web.", "a lowercase RFC 1123 subdomain"),
            ("--deployment", "w" * 254, "must be no more than 253 characters"),
            ("--deployment", 'web"} or vector(1) #', "a lowercase RFC 1123 subdomain"),
            ("--container", "App", "a lowercase RFC 1123 label"),
            ("--container", 'app",container!="', "a lowercase RFC 1123 label"),
        ],
    )
    def test_names_the_api_server_refuses_are_refused_before_any_request(
        self,
        work: Path,
        serve: Any,
        capsys: pytest.CaptureFixture[str],
        flag: str,
        value: str,
        words: str,
    ) -> None:
        server = serve(fake_prometheus)
        # (for --namespace and --deployment, the later flag wins over BASE's)
        code, _, err = run(
            capsys, "--url", server.url, *WINDOW, "--scenario-out", "w.yaml", flag, value
        )
        assert code == 2, err
        assert_one_line_error(err, flag, "Invalid value", words, repr(value))
        assert server.requests == []
        assert outputs(work) == set()

    @pytest.mark.parametrize(
        ("flag", "accepted", "refused"),
        [
            ("--namespace", "s" * 63, "s" * 64),
            ("--namespace", "0shop", "shop-"),
            ("--deployment", "web-2.eu", "web-2.eu."),  # a subdomain: dots inside allowed
            ("--deployment", "w" * 200, "W" * 200),
            ("--container", "a" * 63, "a" * 64),
            ("--container", "app-1", "app.1"),  # a label: no dots
        ],
    )
    def test_each_rule_at_its_boundary(
        self,
        work: Path,
        serve: Any,
        capsys: pytest.CaptureFixture[str],
        flag: str,
        accepted: str,
        refused: str,
    ) -> None:
        """A name the API server accepts is pulled; its neighbour that it refuses is not."""
        server = serve(fake_prometheus)
        code, _, err = run(capsys, "--url", server.url, *WINDOW, flag, accepted, "--out", "a.csv")
        assert code == 0, err
        assert (work / "a.csv").is_file()
        label = {"--namespace": "namespace", "--deployment": "deployment"}.get(flag, "container")
        assert any(f'{label}="{accepted}"' in q for q in queries(server))
        asked = len(server.requests)
        code, _, err = run(capsys, "--url", server.url, *WINDOW, flag, refused, "--out", "r.csv")
        assert code == 2
        assert_one_line_error(err, flag, "Invalid value", repr(refused))
        assert len(server.requests) == asked
        assert not (work / "r.csv").exists()

    @pytest.mark.parametrize(
        ("flag", "value", "fragment"),
        [
            ("--cluster", "eu\n1", "control characters"),
            ("--cluster", "eu\r1", "control characters"),
            ("--cluster", "eu\x001", "control characters"),
            ("--cluster", "", "empty"),
            ("--cluster", "eu\udcff", "not UTF-8"),  # an undecodable byte of the command line
            ("--selector", "web-.*\n", "control characters"),
            ("--rate-query", "sum(rate(x[1m]))\x07", "control characters"),
            ("--rate-query", "x\udcff", "not UTF-8"),
        ],
    )
    def test_text_that_could_break_a_query_is_refused_before_any_request(
        self,
        work: Path,
        serve: Any,
        capsys: pytest.CaptureFixture[str],
        flag: str,
        value: str,
        fragment: str,
    ) -> None:
        server = serve(fake_prometheus)
        code, _, err = run(capsys, "--url", server.url, *WINDOW, flag, value)
        assert code == 2, err
        assert_one_line_error(err, flag, fragment)
        assert server.requests == []
        assert outputs(work) == set()

    def test_quotes_and_backslashes_in_cluster_and_selector_stay_inside_the_literal(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each query carries the values as one escaped literal: the text of the value
        never appears unescaped, so it cannot close the string and add a matcher."""
        server = serve(fake_prometheus)
        cluster = 'eu-\U0001f30d"} or vector(1) or {x="\\'
        selector = 'web-.*"}\\'
        code, _, err = run(
            capsys, "--url", server.url, *WINDOW, "--cluster", cluster, "--selector", selector
        )
        assert code == 0, err
        sent = queries(server)
        assert sent
        for query in sent:
            # UTF-8 as it is: PromQL reads Go escapes, where a \ud83c surrogate is an error
            assert 'cluster="eu-\U0001f30d\\"} or vector(1) or {x=\\"\\\\"' in query, query
            assert cluster not in query
        cpu = next(q for q in sent if "container_cpu_usage_seconds_total" in q)
        assert 'pod=~"web-.*\\"}\\\\"' in cpu


def leading_gap(count: int) -> Callable[[dict[str, Any], dict[str, str]], Any]:
    """The first ``count`` points NaN (Prometheus's "no value")."""

    def change(answer: dict[str, Any], form: dict[str, str]) -> Any:
        for pair in values(answer)[:count]:
            pair[1] = "NaN"
        return answer

    return change


def all_nan(answer: dict[str, Any], form: dict[str, str]) -> Any:
    for pair in values(answer):
        pair[1] = "NaN"
    return answer


#: The first grid point of WINDOW (the first multiple of 60 s after 1700000000).
FIRST_S = 1_700_000_040


class TestNaNAndTheScenario:
    """What capsim writes, capsim loads: a scenario whose trace starts with gaps would be
    refused by its own loader (``gaps: hold`` has no value to hold), so the trace starts at
    the first point with load; a pull with no load at all is refused."""

    @pytest.mark.parametrize("column", ["cpu_cores", "requests_per_s"])
    def test_leading_gaps_start_the_trace_at_the_first_value(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str], column: str
    ) -> None:
        server = serve(spoil(column, leading_gap(5)))
        rate = ["--rate-query", "rate(http_requests_total[2m])"] if column != "cpu_cores" else []
        code, out, err = run(
            capsys, "--url", server.url, *WINDOW, *rate, "--out", "w.csv",
            "--scenario-out", "w.yaml",
        )  # fmt: skip
        assert code == 0, err
        frame = pd.read_csv(work / "w.csv")
        assert len(frame) == 60 - 5
        assert frame["timestamp"].iloc[0] == "2023-11-14T22:19:00Z"  # FIRST_S + 5 × 60
        assert frame[column].notna().all()
        scenario = capsim.load_scenario(work / "w.yaml")  # what `capsim run` does
        assert scenario.duration_s == (60 - 5 - 1) * 60
        assert "the 5 points from 2023-11-14T22:14:00Z on had none" in out
        assert "the first point with a " + column in (work / "w.yaml").read_text()
        result = capsim.run(scenario)
        assert len(result.timeseries) > 0
        # Without a scenario the CSV is the whole pull, gaps included.
        code, out, err = run(capsys, "--url", server.url, *WINDOW, *rate, "--out", "all.csv")
        assert code == 0, err
        frame = pd.read_csv(work / "all.csv")
        assert len(frame) == 60
        assert frame[column].isna().sum() == 5
        assert f"warning: {column}: 5 of 60 samples missing" in out

    def test_the_scenario_loads_from_another_folder(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The loader is run with the trace where the scenario will look for it."""
        server = serve(spoil("cpu_cores", leading_gap(2)))
        (work / "data").mkdir()
        (work / "scenarios" / "shop").mkdir(parents=True)
        code, _, err = run(
            capsys, "--url", server.url, *WINDOW, "--out", "data/w.csv",
            "--scenario-out", "scenarios/shop/w.yaml",
        )  # fmt: skip
        assert code == 0, err
        scenario = capsim.load_scenario(work / "scenarios" / "shop" / "w.yaml")
        assert scenario.workloads[0].load.path == "../../data/w.csv"  # type: ignore[union-attr]

    @pytest.mark.parametrize("column", ["cpu_cores", "requests_per_s"])
    @pytest.mark.parametrize("scenario_out", [True, False])
    def test_no_load_at_all_is_refused_naming_the_url(
        self,
        work: Path,
        serve: Any,
        capsys: pytest.CaptureFixture[str],
        column: str,
        scenario_out: bool,
    ) -> None:
        server = serve(spoil(column, all_nan))
        rate = ["--rate-query", "rate(http_requests_total[2m])"] if column != "cpu_cores" else []
        extra = ["--scenario-out", "w.yaml"] if scenario_out else []
        code, _, err = run(capsys, "--url", server.url, *WINDOW, *rate, "--out", "w.csv", *extra)
        assert code == 2
        assert_one_line_error(err, server.url, column, "no value at any of the 60 points")
        assert outputs(work) == set()

    def test_every_answer_nan_is_refused(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The fuzz suite's ``nan`` server: every value of every query NaN."""

        def route(request: Recorded) -> Reply:
            if request.path.split("?")[0].endswith("/api/v1/query"):
                return fake_prometheus(request)
            return json_reply(all_nan(prometheus_matrix(request.form), request.form))

        server = serve(route)
        code, _, err = run(
            capsys, "--url", server.url, *WINDOW, "--out", "w.csv", "--scenario-out", "w.yaml"
        )
        assert code == 2
        assert_one_line_error(err, server.url, "cpu_cores", "nothing was written")
        assert outputs(work) == set()

    def test_a_trace_the_loader_refuses_is_not_written(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """5e9 cores: below the pull's own bound (1e15) and a valid schema, but beyond the
        largest trace value capsim replays (1e9), which only the loader checks. The
        message names the scenario, the URL and the trace as the user will see them,
        never the temporary copy the check used."""
        server = serve(spoil("cpu_cores", with_values(lambda v, f: [[t, "5e9"] for t, _ in v])))
        code, _, err = run(
            capsys, "--url", server.url, *WINDOW, "--out", "w.csv", "--scenario-out", "w.yaml"
        )
        assert code == 2
        assert_one_line_error(err, "w.yaml", server.url, "w.csv", "1e+09", "nothing was written")
        assert "capsim-scenario-check" not in err
        assert outputs(work) == set()

    def test_tiny_requests_make_a_valid_pod(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """0.0001 cores and 0.2 bytes round to 0m and 0 B, which no manifest may say:
        the smallest request, 1m and 1 byte, is used instead."""
        tiny = {"cpu_request_cores": "0.0001", "memory_request_bytes": "0.2"}

        def route(request: Recorded) -> Reply:
            column = column_of(request.form.get("query", ""))
            if column not in tiny or request.path.endswith("/api/v1/query"):
                return fake_prometheus(request)
            answer = prometheus_matrix(request.form)
            for pair in values(answer):
                pair[1] = tiny[column]
            return json_reply(answer)

        server = serve(route)
        code, _, err = run(
            capsys, "--url", server.url, *WINDOW, "--out", "w.csv", "--scenario-out", "w.yaml"
        )
        assert code == 0, err
        scenario = capsim.load_scenario(work / "w.yaml")
        pod = scenario.platforms["kubernetes"].workloads["web"].pod  # type: ignore[union-attr]
        assert pod is not None
        assert pod.cpu_request_millicores == 1
        assert pod.memory_request_bytes == 1


class TestErrorsNameTheURL:
    def test_nothing_matched_names_the_url(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        empty = {"status": "success", "data": {"resultType": "matrix", "result": []}}
        server = serve(lambda request: json_reply(empty))
        code, _, err = run(capsys, "--url", server.url, *WINDOW, "--out", "w.csv")
        assert code == 2
        assert_one_line_error(err, server.url, "no CPU series for Deployment shop/web")
        assert outputs(work) == set()

    def test_a_rate_query_that_matches_nothing_names_the_url(
        self, work: Path, serve: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        empty = {"status": "success", "data": {"resultType": "matrix", "result": []}}
        server = serve(spoil("requests_per_s", lambda a, f: empty))
        code, _, err = run(
            capsys, "--url", server.url, *WINDOW, "--rate-query", "rate(http_requests_total[1m])"
        )
        assert code == 2
        assert_one_line_error(err, server.url, "--rate-query", "matched no series")

    def test_the_point_limit_of_a_pull_names_the_url(self) -> None:
        from capsim.kube.pull import Target, pull_trace

        prometheus = Prometheus("http://user:pw-x1@127.0.0.1:9/prefix")
        with pytest.raises(PrometheusError) as raised:
            pull_trace(prometheus, Target("shop", "web"), 0, MAX_POINTS_PER_PULL * 60.0, 60)
        message = str(raised.value)
        assert message.startswith("http://127.0.0.1:9/prefix: 2,000,001 points per series")
        assert "pw-x1" not in message

    def test_target_refuses_bad_names_itself(self) -> None:
        """The check is in the model, not only the command line."""
        from capsim.kube.pull import Target

        with pytest.raises(ValueError, match="--namespace: Invalid value"):
            Target("Bad_NS!", "web")
        with pytest.raises(ValueError, match="--deployment: Invalid value"):
            Target("shop", "web/x")
        with pytest.raises(ValueError, match="--cluster: control characters"):
            Target("shop", "web", cluster="a\nb")
