"""The command line follows kubectl's and krr's conventions (issue 17, point 8):
``-o table|json|yaml|csv`` on every command that prints results, ``deploy emit -o yaml``
for ``| kubectl apply -f -``, short flags, help on every flag, a quiet exit on a closed
pipe, and a README whose command lines the parser accepts."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_report as report_tests
import test_sweep as sweep_tests
import yaml
from validate_examples import example_inputs

from capsim.cli.main import build_parser, main
from capsim.cli.output import json_text, plain, table_text, yaml_text
from capsim.data import EXAMPLES_DIR

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
HPA = str(EXAMPLES_DIR / "web-hpa.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity and -Infinity."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"not valid JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def subparsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("capsim",)
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subparsers(sub, (*path, name))


def command_parser(words: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The (sub)parser that ``capsim WORDS…`` ends in, and the words after its name."""
    parser = build_parser()
    rest = list(words)
    while rest:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or rest[0] not in sub.choices:
            break
        parser = sub.choices[rest.pop(0)]
    return parser, rest


# --- help on every flag -------------------------------------------------------------------


def test_every_argument_of_every_command_has_help() -> None:
    missing = []
    for path, parser in subparsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if not (action.help or "").strip():
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
        for action in parser._actions:  # every sub-command is described in its group's list
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if not (choice.help or "").strip():
                        missing.append(f"{' '.join(path)} {choice.dest}")
    assert missing == []


def test_every_help_page_renders_without_stray_percent_signs() -> None:
    for path, parser in subparsers(build_parser()):
        assert "%%" not in parser.format_help(), " ".join(path)


def test_recommend_help_says_what_it_does() -> None:
    parser, _ = command_parser(["recommend"])
    text = " ".join(parser.format_help().split())
    assert "one engine run each" not in text
    assert "screened by the batched fast path" in text
    assert "one compiled pass" in text
    assert "through the engine" in text


def test_short_flags_and_their_long_forms() -> None:
    parser = build_parser()
    args = parser.parse_args(["run", "web-diurnal", "-o", "json", "-s", "7", "-q"])
    assert (args.output, args.seed, args.quiet) == ("json", 7, True)
    args = parser.parse_args(["run", "web-diurnal", "--output", "csv", "--seed", "7", "--quiet"])
    assert (args.output, args.seed, args.quiet) == ("csv", 7, True)
    args = parser.parse_args(["deploy", "emit", "web-diurnal", "-n", "shop", "-o", "yaml"])
    assert (args.namespace, args.output) == ("shop", "yaml")
    args = parser.parse_args(["sweep", "x.yaml", "--set", "hpa.minReplicas=1", "-q", "-o", "csv"])
    assert (args.quiet, args.output) == (True, "csv")
    for words in (["hpa", "explain", HPA], ["validate", "--hpa", "h", "--trace", "t"]):
        assert parser.parse_args([*words, "--json"]).output == "json"  # deprecated alias
        assert parser.parse_args([*words, "-o", "yaml"]).output == "yaml"
        assert parser.parse_args(words).output == "table"


@pytest.mark.parametrize(
    ("words", "formats"),
    [
        (["run"], "table,json,yaml,csv"),
        (["compare"], "table,json,yaml,csv"),
        (["scenarios"], "table,json,yaml,csv"),
        (["sweep"], "table,json,yaml,csv"),
        (["recommend"], "table,json,yaml,csv"),
        (["validate"], "table,json,yaml"),
        (["hpa", "explain"], "table,json,yaml"),
        (["live", "compare"], "table,json,yaml"),
        (["deploy", "emit"], "yaml,json"),
        (["deploy", "apply"], "table,json,yaml"),
    ],
)
def test_every_command_that_prints_results_has_output(words: list[str], formats: str) -> None:
    parser, _ = command_parser(words)
    output = next(a for a in parser._actions if "--output" in a.option_strings)
    assert "-o" in output.option_strings
    assert ",".join(output.choices or ()) == formats


def test_a_format_a_command_does_not_have_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["hpa", "explain", HPA, "-o", "csv"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "argument -o/--output: invalid choice: 'csv'" in err


# --- the formats ----------------------------------------------------------------------------


def test_plain_turns_nan_and_infinities_into_null() -> None:
    import numpy as np
    import pandas as pd

    data = {
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "n": np.int64(3),
        "frame": pd.DataFrame({"a": [1.0, np.nan]}),
        "path": Path("x/y"),
    }
    assert plain(data) == {
        "nan": None,
        "inf": None,
        "n": 3,
        "frame": [{"a": 1.0}, {"a": None}],
        "path": "x/y",
    }
    assert strict_json(json_text(data))["inf"] is None
    assert yaml.safe_load(yaml_text(data))["nan"] is None
    assert yaml.safe_load(yaml_text({"x": np.float64(1.5), "b": np.bool_(True)})) == {
        "x": 1.5,
        "b": True,
    }


def test_table_text_is_aligned_plain_text() -> None:
    text = table_text(["name", "cost"], [["a", "$1.00"], ["longer", "$10.00"]])
    assert text.splitlines() == ["name      cost", "a        $1.00", "longer  $10.00"]
    assert "|" not in text


def test_hpa_explain_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, table, _ = run(capsys, "hpa", "explain", HPA)
    assert code == 0
    assert table.startswith("HorizontalPodAutoscaler shop/web")
    code, out, _ = run(capsys, "hpa", "explain", HPA, "-o", "json")
    assert code == 0
    data = strict_json(out)
    assert [h["name"] for h in data["hpas"]] == ["web", "web-worker"]
    assert data["hpas"][0]["rejected"] == []
    code, legacy, _ = run(capsys, "hpa", "explain", HPA, "--json")
    assert (code, legacy) == (0, out)
    code, out, _ = run(capsys, "hpa", "explain", HPA, "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(out) == data


def test_validate_and_recommend_formats(capsys: pytest.CaptureFixture[str]) -> None:
    inputs = example_inputs("hpa-pass.yaml")
    code, out, _ = run(capsys, "validate", *inputs, "-o", "json")
    assert code == 0
    data = strict_json(out)
    assert data["verdict"] == "PASS"
    code, out, _ = run(capsys, "validate", *inputs, "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(out) == data
    search = ["--targets", "60,70", "--presets", "default"]
    code, out, _ = run(capsys, "recommend", *inputs, *search, "-o", "json")
    assert code == 0
    data = strict_json(out)  # the front holds missing values (cluster cost): null, not NaN
    assert data["pareto"]
    assert any(v is None for row in data["pareto"] for v in row.values())
    code, out, _ = run(capsys, "recommend", *inputs, *search, "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["candidate"] for r in rows] == [p["candidate"] for p in data["pareto"]]
    code, out, _ = run(capsys, "recommend", *inputs, *search)
    assert code == 0
    assert "Pareto front" in out
    assert "|" not in out  # no Markdown pipes on a terminal
    assert re.search(r"^candidate\s+verdict\s+service_cost_usd", out, re.M)


def test_run_and_compare_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = report_tests.scenario_file(tmp_path, report_tests.two_sizes())
    code, out, _ = run(capsys, "run", str(path), "--out", str(tmp_path / "a"), "-o", "json")
    assert code == 0
    data = strict_json(out)
    assert data["columns"] == ["one", "two"]
    assert data["report"] == str(tmp_path / "a" / "index.html")
    assert data["verdict"][0].startswith("two meets every SLO")
    code, out, _ = run(
        capsys, "run", str(path), "--out", str(tmp_path / "b"), "-s", "2", "-q", "-o", "json"
    )
    assert (code, out) == (0, "")  # --quiet prints nothing, whatever the format
    code, out, _ = run(capsys, "compare", str(tmp_path / "a"), str(tmp_path / "b"), "-o", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["metric", "unit", "A/one", "A/two", "B/one", "B/two", "winner"]
    code, out, _ = run(capsys, "compare", str(tmp_path / "a"), str(tmp_path / "b"), "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(out)["columns"] == ["A/one", "A/two", "B/one", "B/two"]


def test_sweep_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sw.yaml"
    path.write_text(yaml.safe_dump(sweep_tests.small()))
    argv = ["sweep", str(path), "--set", "hpa.targetUtilization=40,80"]
    code, out, _ = run(capsys, *argv, "--out", str(tmp_path / "t"))
    assert code == 0
    assert "|" not in out
    assert re.search(r"^\d+\s+hpa\.targetUtilization=40\s+k8s\s+1\s", out, re.M)
    code, out, _ = run(capsys, *argv, "--out", str(tmp_path / "c"), "-o", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["combination"] for r in rows} >= {"hpa.targetUtilization=40"}
    code, out, _ = run(capsys, *argv, "--out", str(tmp_path / "j"), "-o", "json")
    assert code == 0
    data = strict_json(out)
    assert data["report"] == str(tmp_path / "j" / "index.html")
    assert len(data["combinations"]) == len(rows)


def test_scenarios_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scenarios", "-o", "json")
    assert code == 0
    names = [s["name"] for s in strict_json(out)["scenarios"]]
    assert "web-diurnal" in names
    code, out, _ = run(capsys, "scenarios", "-o", "csv")
    assert [r["name"] for r in csv.DictReader(io.StringIO(out))] == names


# --- deploy emit to stdout ------------------------------------------------------------------


def test_deploy_emit_o_yaml_is_one_stream_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("kubernetes_validate")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "deploy", "emit", "web-diurnal", "-n", "shop", "-o", "yaml")
    assert code == 0
    documents = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in documents] == [
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ]
    assert all(d["metadata"]["namespace"] == "shop" for d in documents)
    assert "wrote" not in out + err
    assert list(tmp_path.iterdir()) == []  # nothing written to disk
    code, out, _ = run(capsys, "deploy", "emit", "web-diurnal", "-o", "json")
    assert code == 0
    listing = strict_json(out)
    assert (listing["kind"], len(listing["items"])) == ("List", 4)
    with pytest.raises(SystemExit):  # a folder or stdout, not both
        main(["deploy", "emit", "web-diurnal", "-o", "yaml", "--out", "d"])
    assert "not allowed with argument" in capsys.readouterr().err
    code, _, err = run(capsys, "deploy", "emit", "web-diurnal", "-o", "yaml", "--kustomize")
    assert code == 2
    assert "--kustomize" in err


def test_deploy_apply_o_json_reports_the_dry_run_as_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("kubernetes")
    from kube_apiserver import ApiServer

    folder = tmp_path / "web"
    assert main(["deploy", "emit", "web-diurnal", "--out", str(folder), "--image", "x:1"]) == 0
    capsys.readouterr()
    with ApiServer() as server:
        server.create_namespace("shop")
        kubeconfig = tmp_path / "kubeconfig"
        server.write_kubeconfig(kubeconfig, namespace="shop")
        argv = ["deploy", "apply", str(folder), "--kubeconfig", str(kubeconfig), "-o", "json"]
        code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    data = strict_json(out)
    assert data["dryRunOnly"] is True
    assert data["exitCode"] == 0
    assert [(o["kind"], o["status"]) for o in data["objects"]] == [
        ("Service", "created"),
        ("Deployment", "created"),
        ("PodDisruptionBudget", "created"),
        ("HorizontalPodAutoscaler", "created"),
    ]


# --- hpa explain's exit status --------------------------------------------------------------

MINIMAL = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 5
"""


def test_hpa_explain_exit_status_is_honest_without_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    removed = tmp_path / "v2beta2.yaml"
    removed.write_text(MINIMAL.replace("autoscaling/v2", "autoscaling/v2beta2"))
    code, out, err = run(capsys, "hpa", "explain", str(removed), "-o", "json")
    assert code == 1  # every supported API server rejects it
    assert "removed in Kubernetes 1.26" in strict_json(out)["hpas"][0]["rejected"][0]
    assert "would reject" in err
    inverted = tmp_path / "inverted.yaml"
    inverted.write_text(MINIMAL + "  minReplicas: 9\n")
    code, _, err = run(capsys, "hpa", "explain", str(inverted))
    assert code == 2  # refused when read: minReplicas > maxReplicas
    assert "spec.maxReplicas" in err
    equal = tmp_path / "equal.yaml"
    equal.write_text(MINIMAL + "  minReplicas: 5\n")
    assert run(capsys, "hpa", "explain", str(equal))[0] == 0  # accepted, with a warning
    assert run(capsys, "hpa", "explain", str(equal), "--strict")[0] == 1


# --- a closed pipe --------------------------------------------------------------------------


def capsim_command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "capsim", *argv]


@pytest.mark.parametrize(
    "argv",
    [
        ("hpa", "explain", HPA),
        ("hpa", "explain", HPA, "-o", "yaml"),
        ("scenarios", "-o", "csv"),
        ("hpa", "explain", "--help"),
    ],
)
def test_output_into_a_closed_pipe_is_quiet(argv: tuple[str, ...]) -> None:
    """The reader is gone before capsim writes (``| head -1`` that already exited):
    no traceback, no "Broken pipe", exit 141 (or 0 for --help, printed by argparse)."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            capsim_command(*argv), stdout=write, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(write)
    assert done.stderr.decode() == ""
    assert done.returncode == (0 if "--help" in argv else 141)


def test_head_1_through_a_shell_pipe_is_quiet() -> None:
    """``capsim hpa explain X … | head -1`` in a real shell: the first line, nothing on
    stderr, and capsim ends with 141 (or 0 when it finished before head left)."""
    manifests = " ".join(shlex.quote(HPA) for _ in range(300))
    script = (
        f"{shlex.quote(sys.executable)} -m capsim hpa explain {manifests} | head -1; "
        'echo "status=${PIPESTATUS[0]}" >&2'
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=120, text=True)
    assert done.stdout.startswith("HorizontalPodAutoscaler shop/web")
    assert done.stdout.count("\n") == 1
    assert re.fullmatch(r"status=(141|0)\n", done.stderr), done.stderr


# --- the README's command lines ------------------------------------------------------------


def readme_block_commands() -> list[str]:
    """Every ``capsim …`` command line in the README's code blocks (``$ capsim`` in
    console blocks, ``capsim`` lines in shell blocks; continuation lines joined)."""
    commands = []
    for language, body in re.findall(r"```(\w*)\n(.*?)```", README, re.S):
        if language not in ("console", "sh", "bash", "shell", ""):
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            line = line.removeprefix("$ ").strip()
            if line.startswith("capsim "):
                commands.append(line)
    return commands


def readme_inline_commands() -> list[str]:
    """Every inline ``capsim …`` synopsis in the README's text (``[--flag V]`` forms)."""
    return list(re.findall(r"`(capsim [a-z][^`]*)`", README, re.S))


BLOCK_COMMANDS = readme_block_commands()


def test_the_readme_has_command_lines_to_check() -> None:
    assert len(BLOCK_COMMANDS) >= 5
    assert len(readme_inline_commands()) >= 20


@pytest.mark.parametrize("command", BLOCK_COMMANDS, ids=lambda c: c[:40])
def test_readme_command_lines_parse(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    words = shlex.split(command, comments=True)
    words = words[: words.index("|")] if "|" in words else words
    try:
        build_parser().parse_args(words[1:])
    except SystemExit as stopped:
        pytest.fail(f"{command}: {capsys.readouterr().err.strip()} (exit {stopped.code})")


def test_readme_inline_synopses_use_real_flags() -> None:
    """Inline ``capsim …`` synopses, and the inline ``--flag`` spans that follow one in the
    same paragraph or bullet, name only options of that command."""
    text = re.sub(r"```.*?```", "", README, flags=re.S)
    unknown, checked = [], 0
    for paragraph in re.split(r"\n\s*\n|\n(?=\s*[-*] )", text):
        command: str | None = None
        for span in re.findall(r"`([^`]+)`", paragraph, re.S):
            span = " ".join(span.split())
            if re.match(r"capsim [a-z]", span):
                command = span.split("|")[0]  # not what it is piped into
                flags = command
            elif span.startswith("-") and command is not None:
                flags = span
            else:
                continue
            parser, _ = command_parser(command.split()[1:])
            known = {s for a in parser._actions for s in a.option_strings}
            for flag in re.findall(r"(?<![\w-])--?[a-z][a-z0-9-]*", flags):
                checked += 1
                if flag not in known:
                    unknown.append(f"{command!r}: {flag}")
    assert unknown == []
    assert checked >= 40
