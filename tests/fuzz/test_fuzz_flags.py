"""Fuzz: hostile command-line flags for every command (``--step 0``, ``--scale -1``,
``--workers 0``, ``--url ftp://x``, URL userinfo, ``--since 36500d --step 1ms``,
``--namespace Bad_NS!``, …) and ``--out`` (and ``--emit``, ``--scenario-out``) pointing
at what capsim must never replace: an existing folder it did not write, a file, a symlink,
a read-only folder, the working directory.

Each case asserts capsim's promise (see :mod:`harness`): exit 2 with one line naming the
flag or path, no traceback, and every user file (the home folder's files, folder and
symlinks, the working directory's file) unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import harness
import hostile_server
import inputs
import pytest
from harness import BAD_INPUT, VALID_OR_REFUSED, Case, Workspace, case


def _scenario(space: Workspace) -> None:
    space.write_yaml("s.yaml", inputs.small_scenario())


def _validate_inputs(space: Workspace) -> None:
    space.write_yaml("hpa.yaml", inputs.hpa())
    space.write_yaml("dep.yaml", inputs.deployment())
    space.write("t.csv", inputs.trace_csv())


def _observed(space: Workspace) -> None:
    _scenario(space)
    rows = ["timestamp,cpu_cores,replicas_ready,cpu_request_cores"]
    rows += [f"2024-01-01T00:{m:02d}:00Z,1.0,2,0.5" for m in range(30)]
    space.write("obs.csv", "\n".join(rows) + "\n")


def _cluster(space: Workspace) -> None:
    for name, text in inputs.manifest_folder().items():
        space.write(f"m/{name}", text)
    space.write_yaml("kc.yaml", inputs.kubeconfig(f"http://{space.values['api']}/ok"))


def _recommendation(space: Workspace) -> None:
    _scenario(space)
    space.write_yaml("rec/hpa.yaml", inputs.hpa())


def _all(space: Workspace) -> None:
    _scenario(space)
    _validate_inputs(space)
    _observed(space)
    _cluster(space)


RUN = ["run", "s.yaml", *inputs.JSON_ONLY]
SWEEP = ["sweep", "s.yaml", "--set", "hpa.maxReplicas=4,8", "--quiet"]
VALIDATE = ["validate", "--hpa", "hpa.yaml", "--deployment", "dep.yaml", "--trace", "t.csv"]
RECOMMEND = ["recommend", *VALIDATE[1:], "--targets", "50,70", "--presets", "default"]
EXPLAIN = ["hpa", "explain", "hpa.yaml"]
EMIT = ["deploy", "emit", "s.yaml", "--image", "nginx:1"]
APPLY = ["deploy", "apply", "m", "--kubeconfig", "kc.yaml"]
PROM_BASE = ["live", "prometheus", "--url", "http://{prom}/ok", "--namespace", "shop"]
PROM_BASE += ["--deployment", "web", "--timeout", "3s"]
PROM = [*PROM_BASE, "--since", "1h", "--step", "60s"]
COMPARE_LIVE = ["live", "compare", "--trace", "obs.csv", "--scenario", "s.yaml"]
METRICS = ["live", "metrics-server", "--namespace", "shop", "--deployment", "web"]
METRICS += ["--kubeconfig", "kc.yaml", "--duration", "2s", "--interval", "1s"]
SNAPSHOT = ["live", "snapshot", "--namespace", "shop", "--kubeconfig", "kc.yaml"]

KUBE = ["kubernetes"]
DIST = ["distributed"]

# (id, argv, names the error must contain, options)
FLAG_CASES: list[tuple[str, list[str], list[str], dict[str, Any]]] = [
    ("run:seed-negative", [*RUN, "--seed", "-1"], ["--seed"], {}),
    ("run:seed-2^70", [*RUN, "--seed", str(2**70)], ["--seed"], {}),
    ("run:format-bogus", ["run", "s.yaml", "--format", "pdf", "--quiet"], ["--format"], {}),
    ("run:format-empty", ["run", "s.yaml", "--format", "", "--quiet"], ["--format"], {}),
    ("run:scenario-empty-name", ["run", "", "--quiet"], [], {}),
    ("run:unknown-bundled-name", ["run", "no-such-scenario", "--quiet"], ["no-such-scenario"], {}),
    ("sweep:workers-0", [*SWEEP, "--workers", "0"], ["--workers"], {"needs": DIST}),
    ("sweep:workers-negative", [*SWEEP, "--workers", "-1"], ["--workers"], {"needs": DIST}),
    ("sweep:seeds-0", [*SWEEP, "--seeds", "0"], ["--seeds"], {}),
    ("sweep:seeds-negative", [*SWEEP, "--seeds", "-3"], ["--seeds"], {}),
    ("sweep:set-garbage", ["sweep", "s.yaml", "--set", "garbage"], ["garbage"], {}),
    ("sweep:set-no-values", ["sweep", "s.yaml", "--set", "hpa.maxReplicas="], [], {}),
    ("sweep:set-bad-path", ["sweep", "s.yaml", "--set", "workloads[99].x=1,2"], [], {}),
    ("sweep:set-bad-value", ["sweep", "s.yaml", "--set", "hpa.maxReplicas=abc,-1"], [], {}),
    (
        "sweep:scheduler-closed",
        [*SWEEP, "--scheduler", "tcp://{closed}"],
        ["{closed}"],
        {"needs": DIST, "timeout_s": 40.0},
    ),
    ("sweep:scheduler-ftp", [*SWEEP, "--scheduler", "ftp://x"], ["ftp://x"], {"needs": DIST}),
    ("validate:scale-negative", [*VALIDATE, "--scale", "-1"], ["--scale"], {}),
    ("validate:scale-nan", [*VALIDATE, "--scale", "nan"], ["--scale"], {}),
    ("validate:scale-inf", [*VALIDATE, "--scale", "inf"], ["--scale"], {}),
    ("validate:concurrency-0", [*VALIDATE, "--concurrency", "0"], ["--concurrency"], {}),
    ("validate:cpu-ms-negative", [*VALIDATE, "--cpu-ms-per-request", "-5"], ["--cpu-ms"], {}),
    ("validate:cpu-ms-nan", [*VALIDATE, "--cpu-ms-per-request", "nan"], ["--cpu-ms"], {}),
    ("validate:slo-nan", [*VALIDATE, "--slo-p95-ms", "nan"], ["--slo-p95-ms"], {}),
    ("validate:slo-negative", [*VALIDATE, "--slo-p95-ms", "-1"], ["--slo-p95-ms"], {}),
    ("validate:max-util-inf", [*VALIDATE, "--max-utilization", "inf"], ["--max-utilization"], {}),
    ("validate:reversals-nan", [*VALIDATE, "--max-reversals-per-hour", "nan"], ["--max-rev"], {}),
    ("validate:node-pool-junk", [*VALIDATE, "--node-pool", "junk"], ["--node-pool"], {}),
    ("validate:node-pool-zero", [*VALIDATE, "--node-pool", "a:0:0:0"], ["--node-pool"], {}),
    ("validate:node-pool-price", [*VALIDATE, "--node-pool", "a:4:16Gi:-1"], ["--node-pool"], {}),
    ("validate:start-beyond", [*VALIDATE, "--start", "10d"], ["t.csv"], {}),
    ("validate:end-0", [*VALIDATE, "--end", "0"], ["t.csv"], {}),
    ("validate:column-nope", [*VALIDATE, "--column", "nope"], ["nope"], {}),
    ("validate:seed-negative", [*VALIDATE, "--seed", "-1"], ["--seed"], {}),
    ("recommend:workers-0", [*RECOMMEND, "--workers", "0"], ["--workers"], {"needs": DIST}),
    ("recommend:targets-abc", [*RECOMMEND, "--targets", "abc"], ["--targets"], {}),
    ("recommend:targets-0", [*RECOMMEND, "--targets", "0"], ["--targets"], {}),
    ("recommend:targets-1000", [*RECOMMEND, "--targets", "1000"], ["--targets"], {}),
    ("recommend:presets-bogus", [*RECOMMEND, "--presets", "bogus"], ["bogus"], {}),
    ("recommend:max-replicas-neg", [*RECOMMEND, "--max-replicas", "-1"], ["--max-replicas"], {}),
    ("recommend:cpu-requests-xyz", [*RECOMMEND, "--cpu-requests", "xyz"], ["--cpu-requests"], {}),
    ("recommend:cpu-requests-0", [*RECOMMEND, "--cpu-requests", "0"], ["--cpu-requests"], {}),
    ("explain:tolerance-nan", [*EXPLAIN, "--tolerance", "nan"], ["--tolerance"], {}),
    ("explain:tolerance-inf", [*EXPLAIN, "--tolerance", "inf"], ["--tolerance"], {}),
    ("explain:sync-period-0", [*EXPLAIN, "--sync-period", "0"], ["--sync-period"], {}),
    ("explain:stabilization-neg", [*EXPLAIN, "--downscale-stabilization", "-1s"], [], {}),
    ("explain:stabilization-1e400", [*EXPLAIN, "--downscale-stabilization", "1e400s"], [], {}),
    ("emit:namespace-bad", [*EMIT, "--namespace", "Bad_NS!"], ["Bad_NS!"], {"needs": KUBE}),
    ("emit:port-0", [*EMIT, "--port", "0"], ["--port"], {"needs": KUBE}),
    ("emit:port-70000", [*EMIT, "--port", "70000"], ["--port"], {"needs": KUBE}),
    ("emit:k8s-version-9.99", [*EMIT, "--k8s-version", "9.99"], ["9.99"], {"needs": KUBE}),
    ("emit:k8s-version-abc", [*EMIT, "--k8s-version", "abc"], ["abc"], {"needs": KUBE}),
    (
        "emit:ingress-host-bad",
        [*EMIT, "--ingress-host", "bad host!"],
        ["bad host!"],
        {"needs": KUBE},
    ),
    ("emit:platform-nope", [*EMIT, "--platform", "nope"], ["nope"], {"needs": KUBE}),
    ("emit:workload-nope", [*EMIT, "--workload", "nope"], ["nope"], {"needs": KUBE}),
    ("apply:namespace-bad", [*APPLY, "--namespace", "Bad_NS!"], ["Bad_NS!"], {"needs": KUBE}),
    ("prom:step-0", [*PROM, "--step", "0"], ["--step"], {}),
    ("prom:step-negative", [*PROM, "--step", "-1s"], ["--step"], {}),
    (
        "prom:since-100y-step-1ms",
        [*PROM, "--since", "36500d", "--step", "1ms"],
        ["--since|--step"],
        {},
    ),
    ("prom:since-0", [*PROM, "--since", "0"], ["--since"], {}),
    ("prom:url-ftp", [*PROM, "--url", "ftp://x"], ["ftp://x"], {}),
    ("prom:url-not-a-url", [*PROM, "--url", "not a url"], ["--url"], {}),
    ("prom:url-bracket", [*PROM, "--url", "http://[::1"], ["--url"], {}),
    ("prom:timeout-0", [*PROM, "--timeout", "0"], ["--timeout"], {}),
    ("prom:start-garbage", [*PROM_BASE, "--start", "yesterday-ish"], ["--start"], {}),
    ("prom:start-after-end", [*PROM_BASE, "--start", "2000", "--end", "1000"], ["--start"], {}),
    ("prom:header-garbage", [*PROM, "--header", "garbage"], ["--header"], {}),
    ("prom:header-newline", [*PROM, "--header", "X-A: b\r\nX-B: c"], ["--header"], {}),
    ("prom:namespace-bad", [*PROM, "--namespace", "Bad_NS!"], ["Bad_NS!"], {}),
    ("prom:rate-window-0", [*PROM, "--rate-window", "0"], ["--rate-window"], {}),
    ("prom:token-file-missing", [*PROM, "--bearer-token-file", "nope.txt"], ["nope.txt"], {}),
    ("prom:token-file-a-dir", [*PROM, "--bearer-token-file", "{home}"], ["{home}"], {}),
    ("prom:basic-auth-missing", [*PROM, "--basic-auth-file", "nope.txt"], ["nope.txt"], {}),
    (
        "prom:ca-file-missing",
        [*PROM, "--url", "https://{prom}/ok", "--ca-file", "nope.pem"],
        [],
        {},
    ),
    ("live-compare:max-lag-neg", [*COMPARE_LIVE, "--max-lag", "-1s"], ["--max-lag"], {}),
    ("live-compare:platform-nope", [*COMPARE_LIVE, "--platform", "nope"], ["nope"], {}),
    ("metrics:interval-0", [*METRICS, "--interval", "0"], ["--interval"], {"needs": KUBE}),
    ("metrics:interval-1.5s", [*METRICS, "--interval", "1.5s"], ["--interval"], {"needs": KUBE}),
    ("metrics:duration-0", [*METRICS, "--duration", "0"], ["--duration"], {"needs": KUBE}),
    ("metrics:namespace-bad", [*METRICS, "--namespace", "Bad_NS!"], ["Bad_NS!"], {"needs": KUBE}),
    ("snapshot:namespace-bad", [*SNAPSHOT, "--namespace", "Bad_NS!"], ["Bad_NS!"], {"needs": KUBE}),
]


def _flag_cases() -> Iterator[Case]:
    for name, argv, names, options in FLAG_CASES:
        listing = argv[:2] == ["deploy", "emit"]  # emit lists every problem it finds
        yield case(f"flag:{name}", argv, BAD_INPUT, _all, names=names, listing=listing, **options)


# --- --out and friends ----------------------------------------------------------------------------


def _readonly_setup(base: harness.Setup) -> harness.Setup:
    def setup(space: Workspace) -> None:
        base(space)
        space.read_only(space.path("ro"))

    return setup


# target → path given to the flag
FOLDER_TARGETS = {
    "existing-folder": "{home}/projects",
    "folder-symlink": "{home}/projects-link",
    "a-file": "{home}/notes.txt",
    "file-symlink": "{home}/notes-link",
    "working-directory": ".",
    "home": "{home}",
    "read-only-folder": "ro/out",
}
FILE_TARGETS = {
    "existing-file": "{home}/notes.txt",
    "file-symlink": "{home}/notes-link",
    "a-folder": "{home}/projects",
    "read-only-folder": "ro/out.csv",
}

# command → (argv before --out, the flag, setup, needs, kind)
OUT_COMMANDS: dict[str, tuple[list[str], str, harness.Setup, list[str], str]] = {
    "run": (RUN, "--out", _scenario, [], "folder"),
    "validate": (VALIDATE, "--out", _validate_inputs, [], "folder"),
    "sweep": (SWEEP, "--out", _scenario, [], "folder"),
    "recommend-emit": (RECOMMEND, "--emit", _validate_inputs, [], "folder"),
    "deploy-emit": (EMIT, "--out", _scenario, KUBE, "folder"),
    "live-compare": (COMPARE_LIVE, "--out", _observed, [], "folder"),
    "prometheus-out": (PROM, "--out", lambda space: None, [], "file"),
    "prometheus-scenario-out": (
        [*PROM, "--out", "web.csv"],
        "--scenario-out",
        lambda space: None,
        [],
        "file",
    ),
    "snapshot": (SNAPSHOT, "--out", _cluster, KUBE, "file"),
    "metrics-server": (METRICS, "--out", _cluster, KUBE, "file"),
}


def _out_cases() -> Iterator[Case]:
    for command, (argv, flag, setup, needs, kind) in OUT_COMMANDS.items():
        targets = FOLDER_TARGETS if kind == "folder" else FILE_TARGETS
        for target, path in targets.items():
            prepared = _readonly_setup(setup) if target == "read-only-folder" else setup
            shown = path.split("/")[-1] if path not in (".",) else None
            if command in ("snapshot", "metrics-server"):
                shown = None  # the empty test cluster may be refused first
            yield case(
                f"out:{command}:{target}",
                [*argv, flag, path],
                BAD_INPUT,
                prepared,
                writes=["work/web.csv"] if command == "prometheus-scenario-out" else [],
                names=[shown] if shown and not shown.startswith("{") else [],
                timeout_s=40.0,
                needs=needs,
                listing=command == "deploy-emit",
            )
        # an empty folder, or one capsim wrote before, may be replaced
        if kind == "folder":
            yield case(
                f"out:{command}:empty-folder",
                [*argv, flag, "fresh"],
                VALID_OR_REFUSED if command == "deploy-emit" else {0, 1},
                _with_empty(setup),
                writes=["work/fresh", "work/fresh/**"],
                timeout_s=40.0,
                needs=needs,
            )
    yield case(
        "out:run:own-earlier-report",
        [*RUN, "--out", "again"],
        {0},
        _with_report(_scenario),
        writes=["work/again", "work/again/**"],
        timeout_s=40.0,
        fresh=True,  # also a real `python -m capsim` start-up
    )


def _with_empty(base: harness.Setup) -> harness.Setup:
    def setup(space: Workspace) -> None:
        base(space)
        space.path("fresh").mkdir()

    return setup


def _with_report(base: harness.Setup) -> harness.Setup:
    def setup(space: Workspace) -> None:
        base(space)
        space.copy(inputs.saved_run(), "again")

    return setup


CASES = [*_flag_cases(), *_out_cases()]


@pytest.fixture(scope="module")
def runner(request: pytest.FixtureRequest) -> Iterator[harness.Runner]:
    with harness.runner_for(request, lambda: hostile_server.servers().values()) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=harness.ids(CASES))
def test_command_line(case: Case, runner: harness.Runner) -> None:
    harness.check(case, runner.result(case))
