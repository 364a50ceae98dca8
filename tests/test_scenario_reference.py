"""The reference for writing a scenario (:mod:`capsim.scenario.reference`): ``capsim
schema`` (JSON Schema, Markdown), the committed ``docs/scenario-reference.md``, ``capsim
init``'s starter, and a scenario's every problem listed at once with "did you mean"."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import capsim
from capsim.cli.main import main
from capsim.data import bundled_scenarios
from capsim.scenario.parsing import parse_yaml_text
from capsim.scenario.reference import (
    STARTER,
    description,
    reference_markdown,
    scenario_json_schema,
)
from capsim.scenario.schema import Scenario
from capsim.scenario.suggest import field_name, field_places
from capsim.scenario.workloads import ServiceWorkload

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "scenario-reference.md"


def test_the_committed_reference_is_what_the_models_say_now() -> None:
    """Regenerate with ``capsim schema --format markdown > docs/scenario-reference.md``."""
    current = REFERENCE.read_text(encoding="utf-8") == reference_markdown()
    assert current, "regenerate: capsim schema --format markdown > docs/scenario-reference.md"


def test_every_field_is_in_the_reference_with_a_description() -> None:
    text = reference_markdown()
    missing = []
    for place in field_places(Scenario):
        for attr, info in place.model.model_fields.items():
            if info.exclude:
                continue
            name = field_name(place.model, attr)
            if not description(place.model, name):
                missing.append(f"{place.model.__name__}.{name}")
            assert f"| `{name}` |" in text
    # Give each a docstring under the field, or an entry in reference.DESCRIPTIONS.
    assert missing == []
    # The names a file writes, not the attributes' names.
    for written in ("`vcpu`", "`cpu_request`", "`window`", "`maxReplicas`", "`timeout`"):
        assert f"| {written} |" in text
    for attribute in ("vcpu_millicores", "cpu_request_millicores", "window_s", "timeout_s"):
        assert f"`{attribute}`" not in text


def test_the_reference_gives_units_and_defaults() -> None:
    text = reference_markdown()
    row = next(line for line in text.splitlines() if line.startswith("| `sync_period` |"))
    assert "duration" in row
    assert "`15s`" in row
    row = next(line for line in text.splitlines() if line.startswith("| `pull_bandwidth` |"))
    assert "`50Mi`" in row
    assert "| `memory` | memory > 0" in text


def _schema_validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", [s.path for s in bundled_scenarios()], ids=lambda p: p.stem)
def test_the_schema_accepts_every_bundled_scenario(path: Path) -> None:
    validator = _schema_validator()
    data = parse_yaml_text(path.read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []


def test_the_schema_accepts_the_starter_and_refuses_an_unknown_field() -> None:
    validator = _schema_validator()
    data = parse_yaml_text(STARTER)
    assert list(validator.iter_errors(data)) == []
    data["workloads"][0]["cpu_ms_per_requets"] = 5
    assert list(validator.iter_errors(data))


def test_the_schema_uses_the_names_a_file_writes() -> None:
    schema = scenario_json_schema()
    assert "base_dir" not in schema["properties"]
    pool = schema["$defs"]["NodePool"]["properties"]
    assert {"vcpu", "memory", "price_per_hour"} <= set(pool)
    assert "vcpu_millicores" not in pool
    assert "string" in pool["memory"]["type"]  # 16Gi
    assert pool["vcpu"]["description"]
    assert "window" in schema["$defs"]["Slo"]["properties"]
    assert "cpu_request" in schema["$defs"]["PodTemplate"]["properties"]
    # Bounds under JSON Schema's names, even inside a union (``Float | None``).
    text = json.dumps(schema)
    assert not re.search(r'"(ge|gt|le|lt)": ', text)


def test_capsim_schema_prints_json_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(scenario_json_schema()))
    assert main(["schema", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == reference_markdown()


def test_schema_help_names_the_editor_comment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["schema", "--help"])
    assert "# yaml-language-server: $schema=" in capsys.readouterr().out


def test_init_writes_a_starter_that_loads_and_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.yaml"
    assert main(["init", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    assert path.read_text(encoding="utf-8") == STARTER
    scenario = capsim.load_scenario(path)
    assert set(scenario.platforms) == {"kubernetes", "vm"}
    web = scenario.workload("web")
    assert isinstance(web, ServiceWorkload)
    assert web.slo is not None
    short = tmp_path / "short.yaml"
    short.write_text(STARTER.replace("duration: 2d ", "duration: 30m"), encoding="utf-8")
    result = capsim.run(capsim.load_scenario(short))
    assert result is not None


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: keep-me\n", encoding="utf-8")
    assert main(["init", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"capsim: error: {path}: already exists")
    assert path.read_text(encoding="utf-8") == "name: keep-me\n"


BROKEN = """\
name: broken
duration: 1h
workloads:
  - kind: service
    name: web
    gpu: 1
    load: {type: constant, rate: 10}
    cpu_ms_per_requets: 20
    timeout: -5s
platforms:
  k8s:
    kind: kubernetes
    node_pools:
      - {name: a, vcpu: 4, memory: 16Gi, price_per_hour: 0.2, max_nodes: 3, reserved: 5}
    workloads:
      web:
        pod: {cpu_request: 500m, memory_request: 1Gi, cpu_limt: 1}
        hpa: {minReplicas: 1, maxreplicas: 5}
"""


def test_every_problem_is_listed_one_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    lines = capsys.readouterr().err.splitlines()
    first = f"capsim: error: {path}: workloads[0].cpu_ms_per_request: required field is missing"
    assert lines[0].startswith(first)
    assert lines[0].endswith(f"(and {len(lines) - 1} more problems:)")
    assert all(line.startswith(f"  {path}: ") for line in lines[1:])
    said = "\n".join(lines)
    for expected in (
        "workloads[0].timeout: not a duration: '-5s'",
        "workloads[0].cpu_ms_per_requets: unknown field; did you mean `cpu_ms_per_request`?",
        "platforms.k8s.node_pools[0].reserved: Input should be 'gke', got 5",
        "platforms.k8s.workloads.web.pod.cpu_limt: unknown field; did you mean `cpu_limit`?",
        "platforms.k8s.workloads.web.hpa.maxreplicas: unknown field; did you mean `maxReplicas`?",
        "platforms.k8s.workloads.web.hpa.maxReplicas: required field is missing",
    ):
        assert expected in said
    # A GPU guessed on the service says where GPUs are written.
    gpu = next(line for line in lines if "workloads[0].gpu: unknown field" in line)
    assert "platforms.*.workloads.*.pod.gpu" in gpu
    assert "platforms.*.instance.gpu" in gpu
    # The union's alternatives for `reserved` are one problem, and no list is reported
    # short because its items failed.
    assert sum("reserved" in line for line in lines) == 1
    assert not any("at least 1 item" in line for line in lines)


def test_one_problem_is_still_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = STARTER.replace("concurrency: 4 ", "concurency: 4 ")
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(capsim.ScenarioError) as raised:
        capsim.load_scenario(path)
    assert str(raised.value) == (
        f"{path}: workloads[0].concurency: unknown field; did you mean `concurrency`?"
    )
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_memory_in_a_message_is_in_human_units(tmp_path: Path) -> None:
    text = STARTER.replace("memory_request: 512Mi", "memory_request: 64Gi").replace(
        "memory_limit: 1Gi", "memory_limit: 64Gi"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(capsim.ScenarioError, match="requests fit on no node pool") as raised:
        capsim.load_scenario(path)
    message = str(raised.value)
    assert re.search(r"general: \d+m cpu, [\d.]+Gi \([\d,]+ bytes\) memory, 0 gpu", message)
    assert not re.search(r"\d{6,} bytes", message.replace(",", "_"))


def test_docstrings_cite_documents_that_exist() -> None:
    """A ``docs/…`` or ``README.md`` file a docstring names is in the repository."""
    cited = set()
    for path in (ROOT / "capsim").rglob("*.py"):
        cited |= set(re.findall(r"\b(docs/[\w./-]+\.md)", path.read_text(encoding="utf-8")))
    assert "docs/scenario-reference.md" in cited
    assert sorted(c for c in cited if not (ROOT / c).is_file()) == []
