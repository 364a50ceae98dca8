"""Fuzz: hostile kubeconfig files, manifest folders and API-server answers for the
commands that talk to a cluster: ``deploy apply`` (a dry run), ``live snapshot`` and
``live metrics-server``. The API server is a local hostile server on 127.0.0.1
(:mod:`hostile_server`): it never answers, drips, answers 5xx, 401/403, garbage or
truncated JSON, a JSON list, an HTML page, a redirect, a 10 MB list.

Each case asserts capsim's promise (see :mod:`harness`): exit 2 naming the kubeconfig or
the server, within the time cap, nothing written when refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import harness
import hostile_server
import inputs
import pytest
import yaml
from harness import BAD_INPUT, Case, Outcome, Workspace, case

NEEDS = ["kubernetes"]
APPLY = ["deploy", "apply", "m", "--kubeconfig", "kc.yaml"]
SNAPSHOT = ["live", "snapshot", "--namespace", "shop", "--kubeconfig", "kc.yaml"]
SNAPSHOT += ["--out", "snap.yaml"]
METRICS = ["live", "metrics-server", "--namespace", "shop", "--deployment", "web"]
METRICS += ["--kubeconfig", "kc.yaml", "--duration", "2s", "--interval", "1s", "--out", "m.csv"]
WRITES = ("work/snap.yaml", "work/m.csv")

COMMANDS: dict[str, list[str]] = {
    "apply": [*APPLY, *harness.deadline_flags(["deploy", "apply"])],
    "snapshot": [*SNAPSHOT, *harness.deadline_flags(["live", "snapshot"])],
    "metrics-server": [*METRICS, *harness.deadline_flags(["live", "metrics-server"])],
}


def nothing_on_refusal(outcome: Outcome) -> None:
    if outcome.returncode == 2:
        assert not outcome.written, f"refused, yet wrote {sorted(outcome.written)}"


def _folder(space: Workspace) -> None:
    for name, text in inputs.manifest_folder().items():
        space.write(f"m/{name}", text)


def _kubeconfig(server: str, **user: Any) -> harness.Setup:
    def setup(space: Workspace) -> None:
        _folder(space)
        address = server.format_map(space.values)
        space.write_yaml("kc.yaml", inputs.kubeconfig(address, **user))

    return setup


def _kubeconfig_text(content: str | bytes) -> harness.Setup:
    def setup(space: Workspace) -> None:
        _folder(space)
        space.write("kc.yaml", content)

    return setup


def _edited_kubeconfig(change: Any) -> harness.Setup:
    def setup(space: Workspace) -> None:
        _folder(space)
        data = inputs.kubeconfig(f"http://{space.values['api']}/ok")
        change(data)
        space.write_yaml("kc.yaml", data)

    return setup


def _kubeconfig_dir(space: Workspace) -> None:
    _folder(space)
    space.path("kc.yaml").mkdir()


# --- API-server answers -----------------------------------------------------------------------

# mode → exit codes per command (apply, snapshot, metrics-server)
API: dict[str, tuple[frozenset[int], frozenset[int], frozenset[int]]] = {
    # an empty cluster: the dry run creates both objects; nothing to snapshot; no Deployment
    "ok": (frozenset({0, 1}), frozenset({0, 2}), BAD_INPUT),
    **{
        mode: (BAD_INPUT, BAD_INPUT, BAD_INPUT)
        for mode in hostile_server.API_MODES
        if mode not in ("ok", "redirect")
    },
    "redirect": (frozenset({0, 1, 2}), frozenset({0, 2}), BAD_INPUT),
}
assert set(API) == set(hostile_server.API_MODES)


def _api_cases() -> Iterator[Case]:
    for mode, expects in API.items():
        for (command, argv), expect in zip(COMMANDS.items(), expects, strict=True):
            yield case(
                f"api:{command}:{mode}",
                argv,
                expect,
                _kubeconfig(f"http://{{api}}/{mode}"),
                writes=WRITES,
                names=["{api}"] if mode != "ok" else [],
                timeout_s=25.0,
                needs=NEEDS,
                check=nothing_on_refusal,
            )
    for command, argv in COMMANDS.items():
        yield case(
            f"api:{command}:unreachable",
            argv,
            BAD_INPUT,
            _kubeconfig("http://{closed}"),
            writes=WRITES,
            names=["{closed}"],
            timeout_s=25.0,
            needs=NEEDS,
            check=nothing_on_refusal,
        )


# --- kubeconfig files ---------------------------------------------------------------------------


def _no_contexts(data: dict[str, Any]) -> None:
    data["contexts"] = []
    data.pop("current-context")


def _missing_cluster(data: dict[str, Any]) -> None:
    data["contexts"][0]["context"]["cluster"] = "nowhere"


def _token_file(data: dict[str, Any]) -> None:
    data["users"][0]["user"]["tokenFile"] = "/nonexistent/token"


def _server(url: str) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["clusters"][0]["cluster"]["server"] = url

    return change


def _users_mapping(data: dict[str, Any]) -> None:
    data["users"] = {"fuzz": {"token": "x"}}


KUBECONFIGS: dict[str, harness.Setup] = {
    "not-yaml": _kubeconfig_text("clusters: [\n  server: {\n"),
    "empty": _kubeconfig_text(""),
    "a-list": _kubeconfig_text("- 1\n- 2\n"),
    "binary-junk": _kubeconfig_text(bytes(range(256)) * 8),
    "no-contexts": _edited_kubeconfig(_no_contexts),
    "context-names-missing-cluster": _edited_kubeconfig(_missing_cluster),
    "missing-token-file": _edited_kubeconfig(_token_file),
    "server-ftp": _edited_kubeconfig(_server("ftp://x")),
    "server-not-a-url": _edited_kubeconfig(_server("::not a url::")),
    "server-bracket": _edited_kubeconfig(_server("http://[::1")),
    "users-a-mapping": _edited_kubeconfig(_users_mapping),
    "a-directory": _kubeconfig_dir,
    "missing-file": _folder,
}


def _kubeconfig_cases() -> Iterator[Case]:
    for kind, setup in KUBECONFIGS.items():
        for command, argv in COMMANDS.items():
            yield case(
                f"kubeconfig:{command}:{kind}",
                argv,
                BAD_INPUT,
                setup,
                writes=WRITES,
                names=["kc.yaml"] if kind not in ("server-ftp",) else [],
                timeout_s=25.0,
                needs=NEEDS,
                check=nothing_on_refusal,
            )
    for command, argv in COMMANDS.items():
        yield case(
            f"kubeconfig:{command}:unknown-context",
            [*argv, "--context", "nope"],
            BAD_INPUT,
            _kubeconfig("http://{api}/ok"),
            writes=WRITES,
            names=["nope"],
            needs=NEEDS,
            check=nothing_on_refusal,
        )


# --- manifest folders for deploy apply ----------------------------------------------------------


def _manifests(files: dict[str, str | bytes]) -> harness.Setup:
    def setup(space: Workspace) -> None:
        space.path("m").mkdir()
        for name, text in files.items():
            space.write(f"m/{name}", text)
        space.write_yaml("kc.yaml", inputs.kubeconfig(f"http://{space.values['api']}/ok"))

    return setup


def _as_file(space: Workspace) -> None:
    space.write("m", "not a folder\n")
    space.write_yaml("kc.yaml", inputs.kubeconfig(f"http://{space.values['api']}/ok"))


_CONFIGMAP = yaml.safe_dump(
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}
)
_NO_NAME = yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}})
_GOOD = inputs.manifest_folder()

FOLDERS: dict[str, tuple[harness.Setup, frozenset[int]]] = {
    "empty-folder": (_manifests({}), BAD_INPUT),
    "a-file": (_as_file, BAD_INPUT),
    "not-yaml": (_manifests({"x.yaml": "kind: [\n"}), BAD_INPUT),
    "binary": (_manifests({"x.yaml": bytes(range(256))}), BAD_INPUT),
    "unknown-kind": (_manifests({"x.yaml": _CONFIGMAP}), BAD_INPUT),
    "no-name": (_manifests({"x.yaml": _NO_NAME}), BAD_INPUT),
    "a-list-document": (_manifests({"x.yaml": "- 1\n"}), BAD_INPUT),
    "duplicate-keys": (
        _manifests(
            {
                "x.yaml": _GOOD["deployment-web.yaml"].replace(
                    "name: web\n", "name: web\nname: x\n", 1
                )
            }
        ),
        BAD_INPUT,
    ),
    "namespace-bad": (
        _manifests({"x.yaml": _GOOD["deployment-web.yaml"].replace("shop", "Bad_NS!")}),
        BAD_INPUT,
    ),
}


def _folder_cases() -> Iterator[Case]:
    for kind, (setup, expect) in FOLDERS.items():
        yield case(
            f"manifests:apply:{kind}",
            COMMANDS["apply"],
            expect,
            setup,
            names=["m"],
            needs=NEEDS,
        )


CASES = [*_api_cases(), *_kubeconfig_cases(), *_folder_cases()]


@pytest.fixture(scope="module")
def runner(request: pytest.FixtureRequest) -> Iterator[harness.Runner]:
    with harness.runner_for(request, lambda: hostile_server.servers().values()) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=harness.ids(CASES))
def test_cluster_input(case: Case, runner: harness.Runner) -> None:
    harness.check(case, runner.result(case))
