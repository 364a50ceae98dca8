"""Safety of capsim's Kubernetes edge (issue 14): deadlines against an API server that
accepts connections and never answers, hostile kubeconfigs (one line naming the file and
the field, never a secret, even with --debug), invalid Kubernetes names refused before
anything is written, and the invariant that nothing in a cluster changes without a dry
run first and an explicit --apply (the stand-in counts real writes)."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_apiserver import ApiServer
from kube_scripted import Answer, ScriptedApiServer, Seen, write_kubeconfig
from kube_scripted import status as kstatus

from capsim.cli import main as cli
from capsim.data import SCENARIOS_DIR
from capsim.kube.checks import check_manifests, name_problems
from capsim.kube.client import DEFAULT_TIMEOUT_S, KubernetesCluster
from capsim.kube.kubeconfig import KubeconfigError

TOKEN = "s3cr3t-token-d0-not-print-4f7a1c"
PASSWORD = "hunter2-password-never-shown-9b2"
KEY_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDprivatekeybody1\n"
    "-----END PRIVATE KEY-----\n"
)
KEY_LINE = KEY_PEM.splitlines()[1]
KEY_DATA = base64.b64encode(KEY_PEM.encode()).decode()
SECRETS = (TOKEN, PASSWORD, KEY_DATA, KEY_LINE)
GRACE_S = 4.0  # the command may take the deadline plus this much


# --- helpers ------------------------------------------------------------------------------


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers -- or, with ``trickle``,
    sends that response one byte every ``every_s`` seconds, never finishing in time."""

    def __init__(self, trickle: bytes | None = None, every_s: float = 0.3) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._conns: list[socket.socket] = []
        self._trickle, self._every_s = trickle, every_s
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            if self._trickle is not None:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        assert self._trickle is not None
        for byte in self._trickle:
            if self._closed.wait(self._every_s):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._sock.close()
        for conn in self._conns:
            conn.close()


def kubeconfig(path: Path, server: str, *, user: dict[str, Any] | None = None, **ctx: Any) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user if user is not None else {"token": TOKEN}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", **ctx}}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("emit") / "web"
    scenario = str(SCENARIOS_DIR / "web-diurnal.yaml")
    argv = ["deploy", "emit", scenario, "--out", str(folder), "--image", "nginx:1.27"]
    assert cli.main(argv) == 0
    return folder


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    capsys.readouterr()
    start = time.monotonic()
    code = cli.main(argv)
    elapsed = time.monotonic() - start
    out, err = capsys.readouterr()
    return code, out, err, elapsed


def assert_no_secret(*texts: str, folder: Path | None = None) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
    if folder is not None:
        for path in folder.rglob("*"):
            inputs = ("kubeconfig", "token", "plugin.sh")  # the secrets' own files
            if path.is_file() and path.name not in inputs and not path.name.endswith(".kc"):
                data = path.read_bytes()
                assert not any(secret.encode() in data for secret in SECRETS), path


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("capsim: error: ")
    return lines[0]


# --- deadlines ----------------------------------------------------------------------------

COMMANDS: dict[str, Callable[[Path, Path, Path], list[str]]] = {
    "deploy apply": lambda kc, folder, tmp: [
        "deploy",
        "apply",
        str(folder),
        "--kubeconfig",
        str(kc),
    ],
    "live snapshot": lambda kc, folder, tmp: [
        "live",
        "snapshot",
        "--namespace",
        "shop",
        "--kubeconfig",
        str(kc),
        "--out",
        str(tmp / "snap.yaml"),
    ],
    "live metrics-server": lambda kc, folder, tmp: [
        "live",
        "metrics-server",
        "--namespace",
        "shop",
        "--selector",
        "app=web",
        "--duration",
        "60s",
        "--kubeconfig",
        str(kc),
        "--out",
        str(tmp / "m.csv"),
    ],
}


class TestDeadline:
    """One overall deadline per API-server operation (``--timeout``, default 30 s)."""

    @pytest.mark.parametrize("command", sorted(COMMANDS))
    def test_a_server_that_never_answers_costs_the_deadline_and_exit_2(
        self,
        command: str,
        manifests: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        with SilentServer() as silent:
            kc = kubeconfig(tmp_path / "kubeconfig", silent.url)
            argv = [*COMMANDS[command](kc, manifests, tmp_path), "--timeout", "2s"]
            code, out, err, elapsed = run(argv, capsys)
        assert code == 2
        line = one_error_line(err)  # metrics-server says what it samples on stdout
        assert f"{silent.url}: no answer within --timeout 2s" in line
        assert elapsed < 2 + GRACE_S
        assert_no_secret(out, err, folder=tmp_path)
        assert not (tmp_path / "snap.yaml").exists()
        assert not (tmp_path / "m.csv").exists()  # the first sample failed: nothing written

    def test_a_server_that_trickles_its_answer_is_cut_at_the_deadline(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        answer += b'Content-Length: 9\r\n\r\n{"a": 1}'
        with SilentServer(trickle=answer, every_s=0.2) as slow:  # each byte well in time
            kc = kubeconfig(tmp_path / "kubeconfig", slow.url)
            argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc)]
            code, _, err, elapsed = run([*argv, "--timeout", "2s"], capsys)
        assert code == 2
        assert f"{slow.url}: no answer within --timeout 2s" in one_error_line(err)
        assert elapsed < 2 + GRACE_S

    def test_the_deadline_is_one_for_the_whole_command(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each request answers in 0.4 s, under the deadline; the dry run of four objects
        takes more than 1.5 s in all, so a 1.5 s deadline stops it."""
        with ApiServer() as server:
            server.create_namespace("shop")
            original = server.handle

            def slow(*args: Any) -> Any:
                time.sleep(0.4)
                return original(*args)

            server.handle = slow  # type: ignore[method-assign,assignment]
            kc = server.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop")
            argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc)]
            code, _, err, elapsed = run([*argv, "--timeout", "1.5s"], capsys)
            assert code == 2
            assert "no answer within --timeout 1.5s" in one_error_line(err)
            assert elapsed < 1.5 + GRACE_S
            assert server.writes == []
            code, out, _, _ = run([*argv, "--timeout", "30s"], capsys)
            assert code == 0
            assert "dry run clean" in out

    def test_default_and_refused_timeouts(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert DEFAULT_TIMEOUT_S == 30.0
        parser = cli.build_parser()
        for argv in (
            ["deploy", "apply", "x"],
            ["live", "snapshot", "--namespace", "a"],
            ["live", "metrics-server", "--namespace", "a", "--selector", "a=b"],
        ):
            assert parser.parse_args(argv).timeout == 30.0
        kc = kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
        argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc), "--timeout", "0s"]
        code, _, err, _ = run(argv, capsys)
        assert code == 2
        assert "--timeout: must be a positive duration" in one_error_line(err)


# --- hostile kubeconfigs ------------------------------------------------------------------


def _valid(server: str = "http://127.0.0.1:9") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }


def _with(change: Callable[[dict[str, Any]], object]) -> str:
    config = _valid()
    change(config)
    return yaml.safe_dump(config, sort_keys=False)


def _user(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda c: c["users"][0].__setitem__("user", fields)


def _cluster(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda c: c["clusters"][0].__setitem__("cluster", fields)


#: (id, kubeconfig text, what the one line must contain after the file name)
HOSTILE: list[tuple[str, str | bytes, str]] = [
    ("not-yaml", f"users:\n- name: u\n  user: {{token: {TOKEN}: [\n", "not valid YAML at line"),
    ("not-utf8", b"\xff\xfe\x00garbage", "not UTF-8 text"),
    ("a-list", "- 1\n- 2\n", "top level: expected a mapping"),
    ("a-string", f"{TOKEN}\n", "top level: expected a mapping"),
    ("alias-bomb", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "YAML aliases are not allowed"),
    (
        "no-contexts",
        _with(lambda c: (c.pop("contexts"), c.pop("current-context"))),
        "current-context: not set",
    ),
    (
        "unknown-current",
        _with(lambda c: c.__setitem__("current-context", "nope")),
        "current-context: no context named 'nope'",
    ),
    (
        "contexts-not-list",
        _with(lambda c: c.__setitem__("contexts", {"c": 1})),
        "contexts: expected a list",
    ),
    (
        "unknown-cluster",
        _with(lambda c: c["contexts"][0]["context"].__setitem__("cluster", "gone")),
        "contexts[name=c].context.cluster: no cluster named 'gone'",
    ),
    (
        "unknown-user",
        _with(lambda c: c["contexts"][0]["context"].__setitem__("user", "gone")),
        "contexts[name=c].context.user: no user named 'gone'",
    ),
    (
        "duplicate-user",
        _with(lambda c: c["users"].append({"name": "u", "user": {}})),
        "users: two entries named 'u'",
    ),
    (
        "bad-namespace",
        _with(lambda c: c["contexts"][0]["context"].__setitem__("namespace", "Bad_NS!")),
        "contexts[name=c].context.namespace: not a valid namespace name",
    ),
    ("no-server", _with(_cluster()), "clusters[name=k].cluster.server: missing"),
    (
        "ftp-server",
        _with(_cluster(server="ftp://example.com")),
        "clusters[name=k].cluster.server: expected an https://",
    ),
    (
        "userinfo-server",
        _with(_cluster(server=f"https://admin:{PASSWORD}@example.com")),
        "clusters[name=k].cluster.server: credentials in the URL are not supported",
    ),
    (
        "missing-ca",
        _with(_cluster(server="https://example.com", **{"certificate-authority": "no/ca.crt"})),
        "clusters[name=k].cluster.certificate-authority: file not found",
    ),
    (
        "bad-ca-data",
        _with(_cluster(server="https://example.com", **{"certificate-authority-data": "%%%"})),
        "clusters[name=k].cluster.certificate-authority-data: not base64",
    ),
    (
        "missing-token-file",
        _with(_user(tokenFile="no/such/token")),
        "users[name=u].user.tokenFile: file not found",
    ),
    (
        "missing-client-key",
        _with(_user(token=TOKEN, **{"client-certificate": "no.crt", "client-key": "no.key"})),
        "users[name=u].user.client-certificate: file not found",
    ),
    (
        "cert-without-key",
        _with(_user(**{"client-certificate-data": KEY_DATA})),
        "users[name=u].user.client-key: missing",
    ),
    (
        "bad-key-data",
        _with(_user(**{"client-certificate-data": KEY_DATA, "client-key-data": KEY_DATA + "!!"})),
        "users[name=u].user.client-key-data: not base64",
    ),
    (
        "password-without-user",
        _with(_user(password=PASSWORD)),
        "users[name=u].user.username: missing",
    ),
    ("token-not-string", _with(_user(token=["a"])), "users[name=u].user.token: expected a string"),
    (
        "exec-not-found",
        _with(
            _user(
                exec={
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": "capsim-no-such-plugin",
                }
            )
        ),
        "users[name=u].user.exec.command: the credential plugin is not found",
    ),
    (
        "exec-no-api-version",
        _with(_user(exec={"command": "true"})),
        "users[name=u].user.exec.apiVersion: missing",
    ),
    (
        "auth-provider",
        _with(_user(**{"auth-provider": {"name": "oidc", "config": {"id-token": TOKEN}}})),
        "users[name=u].user.auth-provider: auth-provider plugins were removed",
    ),
]


class TestKubeconfig:
    """A hostile kubeconfig: exit 2, one line naming the file and field, no secret."""

    @pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
    @pytest.mark.parametrize(
        ("text", "expected"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
    )
    def test_hostile_kubeconfig(
        self,
        text: str | bytes,
        expected: str,
        debug: bool,
        manifests: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        kc = tmp_path / "config.kc"
        kc.write_bytes(text if isinstance(text, bytes) else text.encode())
        argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc)]
        code, out, err, _ = run([*argv, *(["--debug"] if debug else [])], capsys)
        assert code == 2
        assert_no_secret(out, err, folder=tmp_path)
        lines = err.strip().splitlines()
        last = lines[-1]
        if not debug:
            assert len(lines) == 1, err
        assert last.startswith(f"capsim: error: {kc}: ")
        assert expected in last

    def test_a_missing_file_and_a_folder(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        for path, expected in ((tmp_path / "none", "no such file"), (tmp_path, "it is a folder")):
            argv = ["live", "snapshot", "--namespace", "shop", "--kubeconfig", str(path)]
            code, _, err, _ = run(argv, capsys)
            assert code == 2
            assert f"{path}: cannot load the kubeconfig: {expected}" in one_error_line(err)

    def test_a_failing_exec_plugin_is_one_line_without_its_output(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        plugin = tmp_path / "plugin.sh"
        plugin.write_text(f"#!/bin/sh\necho 'leaked {TOKEN}' >&2\nexit 1\n")
        plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
        user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}}
        kc = kubeconfig(tmp_path / "config.kc", "http://127.0.0.1:9", user=user)
        for debug in ([], ["--debug"]):
            argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc), *debug]
            code, out, err, _ = run(argv, capsys)
            assert code == 2
            assert_no_secret(out, err)
            assert f"{kc}: users[name=u].user.exec: the credential plugin" in err.splitlines()[-1]
        # The same plugin, once it works, authenticates (the stand-in checks the token).
        answer = (
            '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", '
            f'"status": {{"token": "{TOKEN}"}}}}'
        )
        plugin.write_text(f"#!/bin/sh\necho '{answer}'\n")
        with ApiServer(token=TOKEN) as server:
            server.create_namespace("shop")
            kc = kubeconfig(kc, server.url, user=user, namespace="shop")
            argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc)]
            code, out, err, _ = run(argv, capsys)
        assert code == 0, err
        assert "dry run clean" in out
        assert_no_secret(out, err)

    def test_a_hanging_exec_plugin_is_bounded_by_the_deadline(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        plugin = tmp_path / "plugin.sh"
        plugin.write_text("#!/bin/sh\nexec sleep 30\n")
        plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
        user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}}
        kc = kubeconfig(tmp_path / "config.kc", "http://127.0.0.1:9", user=user)
        argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc), "--timeout", "1s"]
        code, _, err, elapsed = run(argv, capsys)
        assert code == 2
        assert "the credential plugin did not finish within --timeout 1s" in one_error_line(err)
        assert elapsed < 1 + GRACE_S

    def test_refused_credentials_with_debug_show_no_secret(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with ApiServer(token="another-token") as server:
            for user in ({"token": TOKEN}, {"username": "admin", "password": PASSWORD}):
                kc = kubeconfig(tmp_path / "config.kc", server.url, user=user)
                for command in ("deploy", "live"):
                    argv = (
                        ["deploy", "apply", str(manifests)]
                        if command == "deploy"
                        else ["live", "snapshot", "--namespace", "shop"]
                    )
                    code, out, err, _ = run([*argv, "--kubeconfig", str(kc), "--debug"], capsys)
                    assert code == 2
                    assert "refused the kubeconfig's credentials" in err
                    assert_no_secret(out, err, folder=tmp_path)

    def test_inline_key_files_are_private_and_removed_afterwards(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The client writes inline certificates and keys to files for TLS: capsim keeps
        them in a private folder and removes it when the command ends."""
        before = set(Path(tempfile.gettempdir()).glob("capsim-kube-*"))
        user = {"client-certificate-data": KEY_DATA, "client-key-data": KEY_DATA}
        with SilentServer() as silent:
            server = silent.url.replace("http://", "https://")
            kc = kubeconfig(tmp_path / "config.kc", server, user=user)
            config = yaml.safe_load(kc.read_text())
            config["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
            kc.write_text(yaml.safe_dump(config))
            argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc), "--timeout", "2s"]
            code, out, err, _ = run([*argv, "--debug"], capsys)
        assert code == 2
        assert_no_secret(out, err, folder=tmp_path)
        assert set(Path(tempfile.gettempdir()).glob("capsim-kube-*")) == before

    def test_several_kubeconfig_files_merge_as_kubectl_merges_them(
        self,
        manifests: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        with ApiServer() as server:
            server.create_namespace("shop")
            first = tmp_path / "a.kc"
            first.write_text(
                yaml.safe_dump(
                    {
                        "current-context": "c",
                        "contexts": [
                            {
                                "name": "c",
                                "context": {"cluster": "k", "user": "u", "namespace": "shop"},
                            }
                        ],
                    }
                )
            )
            second = tmp_path / "b.kc"
            second.write_text(
                yaml.safe_dump(
                    {
                        "current-context": "other",
                        "clusters": [{"name": "k", "cluster": {"server": server.url}}],
                        "users": [{"name": "u", "user": {"token": server.token}}],
                    }
                )
            )
            monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(second)]))
            code, out, err, _ = run(["deploy", "apply", str(manifests)], capsys)
        assert code == 0, err
        assert "Deployment shop/web: created" in out


# --- bearer tokens: trimmed as client-go trims them; refused without the value -------------


def _token_file(folder: Path, content: bytes) -> dict[str, Any]:
    path = folder / "token"
    path.write_bytes(content)
    return {"tokenFile": str(path)}


#: (id, how the token is given) -- each works against a server expecting exactly TOKEN.
GOOD_TOKENS: list[tuple[str, Callable[[Path], dict[str, Any]]]] = [
    ("file-newline", lambda d: _token_file(d, f"{TOKEN}\n".encode())),  # echo tok > f
    ("file-crlf", lambda d: _token_file(d, f"{TOKEN}\r\n".encode())),
    ("file-spaces-around", lambda d: _token_file(d, f"  \t{TOKEN}  \n\n".encode())),
    ("inline-newline", lambda d: {"token": f"{TOKEN}\n"}),
    ("inline-spaces", lambda d: {"token": f" {TOKEN} "}),
    ("relative-file", lambda d: (_token_file(d, f"{TOKEN}\n".encode()), {"tokenFile": "token"})[1]),
]

#: (id, how the token is given, the field the one line must name)
BAD_TOKENS: list[tuple[str, Callable[[Path], dict[str, Any]], str]] = [
    (
        "file-empty",
        lambda d: _token_file(d, b""),
        "users[name=u].user.tokenFile: the file is empty",
    ),
    (
        "file-only-whitespace",
        lambda d: _token_file(d, b" \n\t\n"),
        "users[name=u].user.tokenFile: the file is empty",
    ),
    (
        "file-inner-newline",
        lambda d: _token_file(d, f"{TOKEN}\n{PASSWORD}\n".encode()),
        "users[name=u].user.tokenFile: the token holds a character a bearer token cannot",
    ),
    (
        "file-inner-space",
        lambda d: _token_file(d, f"Bearer {TOKEN}\n".encode()),
        "users[name=u].user.tokenFile: the token holds a character a bearer token cannot",
    ),
    (
        "file-control-char",
        lambda d: _token_file(d, f"{TOKEN}\x00{PASSWORD}".encode()),
        "users[name=u].user.tokenFile: the token holds a character a bearer token cannot",
    ),
    (
        "file-non-ascii",
        lambda d: _token_file(d, f"{TOKEN}é\n".encode()),
        "users[name=u].user.tokenFile: the token holds a character a bearer token cannot",
    ),
    (
        "file-not-utf8",
        lambda d: _token_file(d, TOKEN.encode() + b"\xff\xfe\n"),
        "users[name=u].user.tokenFile: not UTF-8 text",
    ),
    (
        "file-huge",
        lambda d: _token_file(d, TOKEN.encode() * 5000),
        "users[name=u].user.tokenFile: larger than 65536 bytes",
    ),
    (
        "inline-inner-newline",
        lambda d: {"token": f"{TOKEN}\r\n{PASSWORD}"},
        "users[name=u].user.token: the token holds a character a bearer token cannot",
    ),
    ("inline-blank", lambda d: {"token": " \n "}, "users[name=u].user.token: blank"),
    (
        "password-not-latin1",
        lambda d: {"username": "admin", "password": f"{PASSWORD}\u2603"},
        "users[name=u].user.password: holds a character HTTP basic auth cannot carry",
    ),
]


def _live_argv(command: str, manifests: Path, tmp: Path) -> list[str]:
    if command == "deploy apply":
        return ["deploy", "apply", str(manifests)]
    if command == "live snapshot":
        return ["live", "snapshot", "--namespace", "shop", "--out", str(tmp / "snap.yaml")]
    return [
        *("live", "metrics-server", "--namespace", "shop", "--deployment", "web"),
        *("--duration", "1s", "--interval", "1s", "--out", str(tmp / "m.csv")),
    ]


class TestTokens:
    """A token file written with ``echo`` ends in a newline: client-go trims the whitespace
    around a file's token (``strings.TrimSpace``); capsim trims it too (and around an inline
    token), and refuses a token that is still no header value with one line naming the
    kubeconfig field, never the value (before the fix: exit 3 "Invalid header value
    b'Bearer …\\n'", the token in the message and the --debug traceback)."""

    @pytest.mark.parametrize("given", [g[1] for g in GOOD_TOKENS], ids=[g[0] for g in GOOD_TOKENS])
    def test_a_token_with_whitespace_around_it_is_sent_trimmed(
        self,
        given: Callable[[Path], dict[str, Any]],
        manifests: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        # The stand-in answers 401 unless the header is exactly "Bearer TOKEN".
        with ApiServer(token=TOKEN) as server:
            server.create_namespace("shop")
            kc = kubeconfig(
                tmp_path / "config.kc", server.url, user=given(tmp_path), namespace="shop"
            )
            argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc)]
            code, out, err, _ = run(argv, capsys)
            assert code == 0, err
            assert "dry run clean" in out
            assert len(server.requests) > 0
        assert_no_secret(out, err)

    @pytest.mark.parametrize("command", sorted(COMMANDS))
    def test_every_command_reads_a_token_file_with_a_newline(
        self, command: str, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with ApiServer(token=TOKEN) as server:
            server.create_namespace("shop")
            user = _token_file(tmp_path, f"{TOKEN}\n".encode())
            kc = kubeconfig(tmp_path / "config.kc", server.url, user=user, namespace="shop")
            argv = [*_live_argv(command, manifests, tmp_path), "--kubeconfig", str(kc)]
            code, out, err, _ = run(argv, capsys)
            answered = list(server.requests)
        # The empty stand-in: apply's dry run is clean; snapshot and metrics-server find no
        # Deployment (exit 2, one line) -- after the server accepted the token.
        assert code == (0 if command == "deploy apply" else 2), err
        assert answered, "no request reached the server"
        assert "Traceback" not in err
        assert "Unauthorized" not in err
        assert "Invalid header" not in err
        if code == 2:
            assert "no Deployment" in one_error_line(err) or "no Deployments" in err
        assert_no_secret(out, err, folder=tmp_path)

    @pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
    @pytest.mark.parametrize(
        ("given", "expected"), [b[1:] for b in BAD_TOKENS], ids=[b[0] for b in BAD_TOKENS]
    )
    def test_an_unusable_token_is_one_line_naming_the_field_without_the_value(
        self,
        given: Callable[[Path], dict[str, Any]],
        expected: str,
        debug: bool,
        manifests: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        with ApiServer(token=TOKEN) as server:
            kc = kubeconfig(tmp_path / "config.kc", server.url, user=given(tmp_path))
            for command in sorted(COMMANDS):
                argv = [*_live_argv(command, manifests, tmp_path), "--kubeconfig", str(kc)]
                code, out, err, _ = run([*argv, *(["--debug"] if debug else [])], capsys)
                assert code == 2, err
                assert_no_secret(out, err, folder=tmp_path)
                last = err.strip().splitlines()[-1]
                if not debug:
                    last = one_error_line(err)
                assert last.startswith(f"capsim: error: {kc}: "), last
                assert expected in last
            assert server.requests == []  # refused before any request

    def test_an_exec_plugin_token_that_is_no_header_value_is_refused_without_it(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        plugin = tmp_path / "plugin.sh"
        answer = (
            '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", '
            f'"status": {{"token": "{TOKEN}\\\\n{PASSWORD}"}}}}'
        )
        plugin.write_text(f"#!/bin/sh\necho '{answer}'\n")
        plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
        user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}}
        with ApiServer(token=TOKEN) as server:
            kc = kubeconfig(tmp_path / "config.kc", server.url, user=user)
            for debug in ([], ["--debug"]):
                argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc), *debug]
                code, out, err, _ = run(argv, capsys)
                assert code == 2, err
                assert_no_secret(out, err)
                assert (
                    f"{kc}: users[name=u].user.exec: the credential holds a character an HTTP "
                    "header cannot carry"
                ) in err.splitlines()[-1]
            assert server.requests == []

    def test_a_header_the_client_refuses_is_one_line_without_the_token(
        self, tmp_path: Path
    ) -> None:
        """Whatever puts a bad value in the Authorization header later (a refreshed exec
        token), http.client's "Invalid header value b'Bearer <token>'" never escapes: a
        KubeconfigError naming the user entry, without the value, and no chained error."""
        with ApiServer(token=TOKEN) as server:
            kc = kubeconfig(tmp_path / "config.kc", server.url)
            with KubernetesCluster(kc) as cluster:
                configuration = cluster.api_client.configuration
                configuration.refresh_api_key_hook = None  # it would restore the loaded one
                configuration.api_key["BearerToken"] = f"Bearer {TOKEN}\n{PASSWORD}"
                with pytest.raises(KubeconfigError) as raised:
                    cluster.get("apps/v1", "Deployment", "shop", "web")
        text = "".join(traceback.format_exception(raised.value))
        assert f"{kc}: users[name=u].user: the credentials cannot be sent in an HTTP header" in (
            str(raised.value)
        )
        assert_no_secret(text)
        assert raised.value.__cause__ is None

    def test_an_unexpected_error_holding_a_secret_is_redacted(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An error capsim does not expect (exit 3, its traceback shown by --debug) whose
        message holds the token is replaced by a RuntimeError with the token as ***."""
        from kubernetes.client import AppsV1Api

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise TypeError(f"cannot serialize header Bearer {TOKEN}")

        monkeypatch.setattr(AppsV1Api, "read_namespaced_deployment", broken)
        with ApiServer(token=TOKEN) as server:
            kc = kubeconfig(tmp_path / "config.kc", server.url)
            with KubernetesCluster(kc) as cluster, pytest.raises(RuntimeError) as raised:
                cluster.get("apps/v1", "Deployment", "shop", "web")
        assert str(raised.value) == "TypeError: cannot serialize header Bearer ***"
        assert_no_secret("".join(traceback.format_exception(raised.value)))


# --- credentials the server echoes back are scrubbed ----------------------------------------

BASIC = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


def _echo(seen: Seen) -> Answer:
    """A server that puts the credentials it was sent in its answer: a 500 Status for
    PATCH and for the PodMetrics list, live objects holding them for everything else."""
    auth = seen.header("Authorization")
    decoded = ""
    if auth.startswith("Basic "):
        decoded = base64.b64decode(auth[6:]).decode("latin-1")
    said = f"rejected credentials {auth} ({decoded}); also as JSON: {json.dumps(auth)}"
    path = seen.path.split("?")[0]
    if seen.method == "PATCH" or "metrics.k8s.io" in path:
        return Answer.json(500, kstatus(500, "InternalError", said))
    name = path.rstrip("/").split("/")[-1]
    if name in ("deployments", "horizontalpodautoscalers"):
        return Answer.json(
            200,
            {"kind": "List", "apiVersion": "v1", "items": [_echo_deployment(said)]}
            if name == "deployments"
            else {"kind": "List", "items": []},
        )
    if name == "nodes":  # the credential as the node's instance type, too
        credential = decoded.partition(":")[2] if decoded else auth.partition(" ")[2]
        return Answer.json(200, {"kind": "NodeList", "items": [_echo_node(said, credential)]})
    if "/deployments/" in path:
        return Answer.json(200, _echo_deployment(said))
    return Answer.json(404, kstatus(404, "NotFound", f"{name} not found ({said})"))


def _echo_deployment(said: str) -> dict[str, Any]:
    container = {
        "name": "app",
        "image": "nginx",
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
        "env": [{"name": "NOTE", "value": said}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "annotations": {"note": said}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [container]},
            },
        },
    }


def _echo_node(said: str, instance_type: str) -> dict[str, Any]:
    capacity = {"cpu": "2", "memory": "8Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "n1",
            "labels": {"node.kubernetes.io/instance-type": instance_type},
            "annotations": {"note": said},
        },
        "status": {"capacity": capacity, "allocatable": capacity},
    }


class TestEchoedCredentials:
    """A server (or a proxy in front of it) that echoes the credentials it was sent, in an
    error message or inside the objects it returns: capsim prints, writes and shows none of
    them, in any form it knows (the token, the password, basic auth's base64), also with
    --debug; each is replaced by ``***`` (before: the token on stderr, or on stdout for
    deploy apply)."""

    @pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
    @pytest.mark.parametrize("auth", ["token", "token-file", "basic"])
    @pytest.mark.parametrize("command", sorted(COMMANDS))
    def test_nothing_the_server_echoes_shows(
        self,
        command: str,
        auth: str,
        debug: bool,
        manifests: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        user: dict[str, Any] = {
            "token": {"token": TOKEN},
            "token-file": _token_file(tmp_path, f"{TOKEN}\n".encode()),
            "basic": {"username": "admin", "password": PASSWORD},
        }[auth]
        with ScriptedApiServer(_echo) as server:
            kc = write_kubeconfig(tmp_path / "config.kc", server.url, user)
            argv = [*_live_argv(command, manifests, tmp_path), "--kubeconfig", str(kc)]
            code, out, err, _ = run([*argv, *(["--debug"] if debug else [])], capsys)
            sent = [r.header("Authorization") for r in server.requests]
        assert sent, "no request reached the server"
        assert all(TOKEN in s or BASIC in s for s in sent)  # it did get the credentials
        for text in (out, err):
            assert BASIC not in text
        assert_no_secret(out, err, folder=tmp_path)
        if command != "live snapshot":  # the echo is in the message, shown redacted
            assert "***" in err
        if command == "deploy apply":  # every PATCH: 500 -- not the manifests
            assert code == 2
            line = err.strip().splitlines()[-1]
            assert line.startswith(f"capsim: error: {server.url}: patch (dry run) ")
            assert (
                "the server failed (500 InternalError: rejected credentials Bearer ***" in line
                or ("rejected credentials Basic *** (admin:***)" in line)
            )
        if not debug and code == 2:
            one_error_line(err)

    def test_the_snapshot_written_holds_no_echoed_secret(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with ScriptedApiServer(_echo) as server:
            kc = write_kubeconfig(tmp_path / "config.kc", server.url, {"token": TOKEN})
            out_file = tmp_path / "snap.yaml"
            argv = ["live", "snapshot", "--namespace", "shop", "--kubeconfig", str(kc)]
            code, out, err, _ = run([*argv, "--out", str(out_file)], capsys)
        assert code == 0, err
        assert out_file.exists()
        assert_no_secret(out, err, folder=tmp_path)


# --- names --------------------------------------------------------------------------------


class TestNames:
    """Namespaces, names and labels that are not what Kubernetes accepts: exit 2 naming
    the flag or field and the value; the validity check never calls them valid."""

    @pytest.mark.parametrize(
        ("flag", "value", "expected"),
        [
            ("--namespace", "Bad_NS!", "a lowercase RFC 1123 label must consist of"),
            ("--namespace", "a" * 64, "must be no more than 63 characters"),
            ("--namespace", "shop-", "a lowercase RFC 1123 label"),
            ("--ingress-host", "Web_Host!", "a lowercase RFC 1123 subdomain"),
        ],
    )
    def test_emit_refuses_invalid_flags_and_writes_nothing(
        self,
        flag: str,
        value: str,
        expected: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        out = tmp_path / "out"
        argv = ["deploy", "emit", str(SCENARIOS_DIR / "web-diurnal.yaml"), "--out", str(out)]
        code, _, err, _ = run([*argv, flag, value], capsys)
        assert code == 2
        line = one_error_line(err)
        assert f"{flag}: " in line
        assert expected in line
        assert repr(value) in line
        assert not out.exists()

    def test_a_valid_namespace_is_emitted_and_an_invalid_one_in_a_file_is_not_applied(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "out"
        argv = ["deploy", "emit", str(SCENARIOS_DIR / "web-diurnal.yaml"), "--out", str(out)]
        code, _, err, _ = run([*argv, "--namespace", "shop-1", "--image", "a:1"], capsys)
        assert code == 0, err
        path = out / "deployment-web.yaml"
        deployment = yaml.safe_load(path.read_text())
        assert deployment["metadata"]["namespace"] == "shop-1"
        deployment["metadata"]["namespace"] = "Shop_1"  # edited by hand afterwards
        path.write_text(yaml.safe_dump(deployment))
        with ApiServer() as server:
            kc = server.write_kubeconfig(tmp_path / "kubeconfig")
            code, _, err, _ = run(["deploy", "apply", str(out), "--kubeconfig", str(kc)], capsys)
            assert code == 2
            assert "metadata.namespace" in err
            assert server.writes == []

    @pytest.mark.parametrize(
        ("kind", "change", "field"),
        [
            ("Deployment", ("metadata", "name", "Web_App"), "metadata.name"),
            ("Deployment", ("metadata", "name", "a" * 254), "metadata.name"),
            ("Service", ("metadata", "name", "1web"), "metadata.name"),  # DNS-1035: a letter first
            ("HorizontalPodAutoscaler", ("metadata", "name", "a/b"), "metadata.name"),
            ("Deployment", ("metadata", "namespace", "Bad_NS!"), "metadata.namespace"),
            ("Deployment", ("labels", "bad key!", "x"), "metadata.labels"),
            (
                "Deployment",
                ("labels", "app.kubernetes.io/name", "-x-"),
                "metadata.labels[app.kubernetes.io/name]",
            ),
            ("Deployment", ("labels", "tier", "x" * 64), "metadata.labels[tier]"),
            ("Deployment", ("container", "name", "Web"), "spec.template.spec.containers[0].name"),
            (
                "Deployment",
                ("port", "name", "http--port-too-long"),
                "spec.template.spec.containers[0].ports[0].name",
            ),
        ],
    )
    def test_the_validity_check_finds_invalid_names(
        self, manifests: Path, kind: str, change: tuple[str, str, str], field: str
    ) -> None:
        objects = [yaml.safe_load(p.read_text()) for p in sorted(manifests.glob("*.yaml"))]
        objects = [o for o in objects if isinstance(o, dict) and "kind" in o]
        assert check_manifests(objects, "1.31") == []
        target = next(o for o in objects if o["kind"] == kind)
        where, key, value = change
        if where == "metadata":
            target["metadata"][key] = value
        elif where == "labels":
            target["metadata"]["labels"][key] = value
        else:
            container = target["spec"]["template"]["spec"]["containers"][0]
            (container if where == "container" else container["ports"][0])[key] = value
        problems = [p for p in name_problems(target) if p.field == field]
        assert problems, name_problems(target)
        shown = key if field == "metadata.labels" else value  # a bad key, or a bad value
        assert repr(shown) in problems[0].message
        assert any(p.field == field for p in check_manifests(objects, "1.31"))

    def test_apply_and_live_refuse_an_invalid_namespace_before_any_request(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with ApiServer() as server:
            kc = server.write_kubeconfig(tmp_path / "kubeconfig")
            for argv in (
                ["deploy", "apply", str(manifests), "--namespace", "Bad_NS!"],
                ["live", "snapshot", "--namespace", "Bad_NS!"],
                ["live", "metrics-server", "--namespace", "../x", "--selector", "a=b"],
                ["live", "snapshot", "--namespace", "shop", "--deployment", "Web!"],
            ):
                code, _, err, _ = run([*argv, "--kubeconfig", str(kc)], capsys)
                assert code == 2
                assert "lowercase RFC 1123" in one_error_line(err)
            assert server.requests == []


# --- nothing changes without a dry run and --apply ----------------------------------------


class TestNoWriteWithoutDryRun:
    """The stand-in counts real (non-dry-run) writes."""

    def test_without_apply_nothing_is_written(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with ApiServer() as server:
            server.create_namespace("shop")
            kc = server.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop")
            argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc)]
            for extra in ([], ["--force-conflicts"], ["--prune-check"]):
                code, _, _, _ = run([*argv, *extra], capsys)
                assert code == 0
            assert server.writes == []
            assert any(r.method == "PATCH" for r in server.requests)

    def test_every_write_follows_a_dry_run_of_the_same_object(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with ApiServer() as server:
            server.create_namespace("shop")
            kc = server.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop")
            argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc), "--apply"]
            assert run(argv, capsys)[0] == 0
            assert len(server.writes) == 4
            patches = [r for r in server.requests if r.method == "PATCH"]
            first_write = patches.index(server.writes[0])
            dry = patches[:first_write]
            assert all(r.query.get("dryRun") == ["All"] for r in dry)
            assert sorted(r.path for r in dry) == sorted(r.path for r in server.writes)

    def test_a_dry_run_with_a_problem_writes_nothing_even_with_apply(
        self, manifests: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with ApiServer() as server:  # namespace "shop" missing: every dry run is refused
            kc = server.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop")
            argv = ["deploy", "apply", str(manifests), "--kubeconfig", str(kc), "--apply"]
            assert run(argv, capsys)[0] == 2
            server.create_namespace("shop")
            server.reject("horizontalpodautoscalers", "web", field="spec", message="no")
            assert run(argv, capsys)[0] == 1
            assert server.writes == []


if sys.platform == "win32":  # pragma: no cover
    pytest.skip("POSIX shell plugins", allow_module_level=True)
