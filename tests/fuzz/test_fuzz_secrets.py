"""Fuzz: credentials never leak. Every network-facing command runs with credentials of
every kind capsim takes (a basic-auth file, a bearer-token file, an ``Authorization``
header, URL userinfo; a kubeconfig token and token file) against the local hostile
servers (:mod:`hostile_server`): one that works, one that refuses (401), fails (500),
echoes the credentials it was sent back in its error, answers HTML or garbage, redirects to
another port, or is not there.

Each secret is unique to its case. It must not appear (as itself or base64-encoded, as
basic auth sends it) in stdout, stderr (also with ``--debug``), any file written, or any
request the recorder (the other host a redirect points at) received. Without ``--debug``
the rest of capsim's promise is checked too (:mod:`harness`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import harness
import hostile_server
import inputs
import pytest
from harness import Case, Outcome, Workspace, case

ANY_VERDICT = frozenset({0, 1, 2})
USER = "fuzzuser"


def _forms(secret: str) -> list[str]:
    """The secret as it may travel: itself, and inside basic auth's base64."""
    return [secret, base64.b64encode(f"{USER}:{secret}".encode()).decode()]


def _not_forwarded(secret: str) -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        recorder = hostile_server.servers().recorder
        for form in _forms(secret):
            seen = recorder.seen(form)
            assert not seen, f"the secret reached another host: {seen[0].method} {seen[0].path}"

    return check


# --- Prometheus -----------------------------------------------------------------------------------

PROM_MODES = ("ok", "e401", "e500", "echo-auth", "redirect", "html", "unreachable")


def _prom_argv(mode: str, url: str | None = None) -> list[str]:
    where = url or ("http://{closed}/" if mode == "unreachable" else f"http://{{prom}}/{mode}")
    return [
        "live",
        "prometheus",
        "--url",
        where,
        "--namespace",
        "shop",
        "--deployment",
        "web",
        "--since",
        "30m",
        "--step",
        "60s",
        *harness.deadline_flags(["live", "prometheus"], "2s"),
        "--out",
        "web.csv",
        "--scenario-out",
        "web.yaml",
    ]


def _file(name: str, text: str) -> harness.Setup:
    def setup(space: Workspace) -> None:
        space.write(name, text)

    return setup


def _prometheus_cases(debug: bool) -> Iterator[Case]:
    tail = ["--debug"] if debug else []
    prefix = "debug:" if debug else ""
    for mode in PROM_MODES:
        kinds: dict[str, tuple[list[str], harness.Setup | None, str]] = {}
        secret = f"S3cr3t-basic-{mode}-{prefix}x"
        kinds["basic-auth-file"] = (
            ["--basic-auth-file", "creds.txt"],
            _file("creds.txt", f"{USER}:{secret}\n"),
            secret,
        )
        secret = f"S3cr3t-bearer-{mode}-{prefix}x"
        kinds["bearer-token-file"] = (
            ["--bearer-token-file", "token.txt"],
            _file("token.txt", secret + "\n"),
            secret,
        )
        secret = f"S3cr3t-header-{mode}-{prefix}x"
        kinds["authorization-header"] = (
            ["--header", f"Authorization: Bearer {secret}"],
            None,
            secret,
        )
        secret = f"S3cr3t-userinfo-{mode}-{prefix}x"
        host = "{closed}" if mode == "unreachable" else f"{{prom}}/{mode}"
        kinds["url-userinfo"] = (["--url", f"http://{USER}:{secret}@{host}"], None, secret)
        for kind, (extra, setup, secret) in kinds.items():
            yield case(
                f"{prefix}prometheus:{kind}:{mode}",
                [*_prom_argv(mode), *extra, *tail],
                ANY_VERDICT,
                setup,
                writes=["work/web.csv", "work/web.yaml"],
                secrets=_forms(secret),
                timeout_s=25.0,
                check=_not_forwarded(secret),
            )


# --- Kubernetes -----------------------------------------------------------------------------------

KUBE_MODES = ("ok", "e401", "e500", "echo-auth", "redirect", "garbage", "unreachable")
COMMANDS = {
    "apply": ["deploy", "apply", "m", "--kubeconfig", "kc.yaml"],
    "snapshot": [
        *("live", "snapshot", "--namespace", "shop", "--kubeconfig", "kc.yaml"),
        *("--out", "snap.yaml"),
    ],
    "metrics-server": [
        *("live", "metrics-server", "--namespace", "shop", "--deployment", "web"),
        *("--kubeconfig", "kc.yaml", "--duration", "2s", "--interval", "1s", "--out", "m.csv"),
    ],
}


def _cluster(mode: str, secret: str, as_file: bool) -> harness.Setup:
    def setup(space: Workspace) -> None:
        for name, text in inputs.manifest_folder().items():
            space.write(f"m/{name}", text)
        server = (
            f"http://{space.values['closed']}"
            if mode == "unreachable"
            else f"http://{space.values['api']}/{mode}"
        )
        if as_file:
            token = space.write("token", secret + "\n")
            config = inputs.kubeconfig(server, token_file=str(token))
        else:
            config = inputs.kubeconfig(server, token=secret)
        space.write_yaml("kc.yaml", config)

    return setup


def _kube_cases(debug: bool) -> Iterator[Case]:
    tail = ["--debug"] if debug else []
    prefix = "debug:" if debug else ""
    for mode in KUBE_MODES:
        for command, argv in COMMANDS.items():
            for as_file in (False, True):
                kind = "token-file" if as_file else "token"
                secret = f"S3cr3t-kube-{kind}-{command}-{mode}-{prefix}x"
                flags = harness.deadline_flags(argv[:2])
                yield case(
                    f"{prefix}kube:{command}:{kind}:{mode}",
                    [*argv, *flags, *tail],
                    ANY_VERDICT,
                    _cluster(mode, secret, as_file),
                    writes=["work/snap.yaml", "work/m.csv"],
                    secrets=[secret],
                    timeout_s=25.0,
                    needs=["kubernetes"],
                    check=_not_forwarded(secret),
                )


CASES = [
    *_prometheus_cases(False),
    *_prometheus_cases(True),
    *_kube_cases(False),
    *_kube_cases(True),
]


@pytest.fixture(scope="module")
def runner(request: pytest.FixtureRequest) -> Iterator[harness.Runner]:
    with harness.runner_for(request, lambda: hostile_server.servers().values()) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=harness.ids(CASES))
def test_no_secret_leaks(case: Case, runner: harness.Runner) -> None:
    outcome = runner.result(case)
    if not case.id.startswith("debug:"):
        harness.check(case, outcome)
        return
    # --debug may show a traceback; it must still not show a secret, nor hang
    problems = [p for s in case.secrets for p in harness.leaks(s, outcome)]
    if outcome.timed_out:
        problems.append(f"hung: killed at the {case.timeout_s:g} s time cap")
    assert not problems, "\n".join([*problems, outcome.describe()])
    if case.check is not None:
        case.check(outcome)
