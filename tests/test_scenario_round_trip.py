"""A parsed scenario written back as a scenario file reads back as the same scenario
(:mod:`capsim.scenario.document`), and the report's *Scenario as run* reproduces the run.

``summary["scenario_as_run"]`` is a record in the schema's own units (``vcpu_millicores:
2000``), which a scenario file reads otherwise (2,000 cores): the report used to offer it
as "run this to reproduce". These tests hold the document to its guarantee: every bundled
scenario, a scenario naming every kind of file, and generated scenarios with odd
quantities read back equal, floats bit for bit; and a run of the report's YAML, saved in
another folder, gives the same numbers.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from capsim.analysis.compare import compare
from capsim.cli import main as cli
from capsim.data import SCENARIOS_DIR, TRACES_DIR
from capsim.report.writer import render_markdown
from capsim.results.run_result import RunResult
from capsim.scenario import Scenario, VmPlatform, load_scenario, parse_scenario
from capsim.scenario.document import DOCUMENT_HEADER, document_yaml, scenario_document
from capsim.scenario.fields import cpu_text, duration_text, memory_text
from capsim.scenario.limits import MAX_CPU_MILLICORES, MAX_DURATION_S, MAX_MEMORY_BYTES
from capsim.units import parse_cpu_millicores, parse_duration_s, parse_memory_bytes

TESTS = Path(__file__).resolve().parent
SCENARIO_FILES = sorted(SCENARIOS_DIR.glob("*.yaml")) + sorted(
    p for p in (TESTS / "data").glob("*.yaml") if "platforms" in yaml.safe_load(p.read_text())
)
GIB = 2**30


def exact(scenario: Scenario) -> str:
    """Every value of ``scenario`` as text: floats by ``repr`` (``-0.0`` is not ``0.0``), ints
    apart from floats (``1`` is not ``1.0``)."""
    return json.dumps(scenario.model_dump(mode="json"), sort_keys=True)


def read_back(text: str, like: Scenario, base_dir: Path | None = None) -> Scenario:
    """``text`` (a scenario file) parsed as ``like`` was, from ``base_dir`` if given."""
    where = like.source or "document"
    return parse_scenario(yaml.safe_load(text), where=where, base_dir=base_dir or like.base_dir)


def assert_same(again: Scenario, scenario: Scenario) -> None:
    assert again == scenario
    assert exact(again) == exact(scenario)


def assert_round_trips(scenario: Scenario, elsewhere: Path) -> None:
    """The guarantee of :mod:`capsim.scenario.document`, both ways of writing paths."""
    as_given = document_yaml(scenario_document(scenario, paths="as_given"))
    assert_same(read_back(as_given, scenario), scenario)
    # Absolute paths: the same values read from any folder, the files named absolutely.
    document = scenario_document(scenario)
    again = read_back(document_yaml(document), scenario, base_dir=elsewhere)
    assert again.base_dir == elsewhere
    assert scenario_document(again, paths="as_given") == document
    assert scenario_document(again) == document
    same_folder = read_back(document_yaml(document), scenario)
    assert exact(same_folder) == exact(again)


def named_files(document: Any) -> list[str]:
    """Every ``path``/``hpa_manifest`` value in a scenario document."""
    if isinstance(document, dict):
        here = [v for k, v in document.items() if k in ("path", "hpa_manifest")]
        return here + [p for v in document.values() for p in named_files(v)]
    if isinstance(document, list):
        return [p for v in document for p in named_files(v)]
    return []


def unit_keys(document: Any) -> list[str]:
    """Keys that name an attribute's unit (``vcpu_millicores``, ``timeout_s``): a scenario
    file writes ``vcpu``, ``timeout``."""
    if isinstance(document, dict):
        here = [k for k in document if re.search(r"_(millicores|bytes|s)$", k)]
        return here + [k for v in document.values() for k in unit_keys(v)]
    if isinstance(document, list):
        return [k for v in document for k in unit_keys(v)]
    return []


# --- every scenario the project ships ---------------------------------------------------


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.name for p in SCENARIO_FILES])
def test_shipped_scenario_round_trips(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    assert_round_trips(scenario, tmp_path)
    document = scenario_document(scenario)
    assert unit_keys(document) == []
    for named in named_files(document):
        assert Path(named).is_absolute(), named
        assert Path(named).is_file(), named


def test_scenario_as_run_is_no_scenario_file() -> None:
    """Why the document exists: the summary's record, read as a scenario file, is another
    scenario (its millicores read as cores). The report says so when it has nothing else."""
    scenario = load_scenario("web-diurnal")
    record = scenario.model_dump(mode="json", by_alias=False, exclude={"base_dir"})
    misread = read_back(yaml.safe_dump(record), scenario)
    vms = misread.platforms["vm"]
    assert isinstance(vms, VmPlatform)
    assert vms.instance.vcpu_millicores == 1000 * 2000  # 2,000 cores
    assert misread != scenario


def test_seed_replaced_and_header_first() -> None:
    scenario = load_scenario("ml-serving")
    text = document_yaml(scenario_document(scenario, seed=7))
    assert text.startswith(DOCUMENT_HEADER)
    assert read_back(text, scenario) == scenario.model_copy(update={"seed": 7})


# --- every kind of file a scenario names --------------------------------------------------

HPA_MANIFEST = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  minReplicas: 2
  maxReplicas: 12
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 65}}
"""


def files_scenario(folder: Path) -> Scenario:
    """A scenario in ``folder`` naming a trace, work samples, batch arrivals and an HPA
    manifest by relative paths, with odd quantities and every optional block."""
    (folder / "in").mkdir(parents=True)
    rows = [f"{60 * i},{10 + (i * 7) % 13}" for i in range(200)]
    (folder / "in" / "load.csv").write_text("timestamp,rps\n" + "\n".join(rows) + "\n")
    work = [12.5, 7.25, 19.0, 11.75, 9.5, 14.0]
    (folder / "in" / "work.csv").write_text("cpu_ms\n" + "\n".join(map(str, work)) + "\n")
    (folder / "in" / "submits.csv").write_text("submit_s\n0.5\n600.25\n1800\n")
    (folder / "in" / "hpa.yaml").write_text(HPA_MANIFEST)
    data = {
        "name": "files",
        "description": "Every file kind, odd quantities — and non-ASCII text: µs.",
        "seed": 3,
        "duration": "2h",
        "tick": "0.5s",
        "record_every": 90.5 - 0.5,
        "workloads": [
            {
                "kind": "service",
                "name": "api",
                "load": {
                    "type": "sum",
                    "parts": [
                        {
                            "type": "trace",
                            "path": "in/load.csv",
                            "column": "rps",
                            "start": "1m",
                            "time_scale": 0.75,
                            "gaps": "fill",
                            "fill_value": 0.1,
                        },
                        {"type": "step", "before": 0.3, "after": 2.0 / 3.0, "at": 1234.5678},
                    ],
                },
                "cpu_ms_per_request": sum(work) / len(work),
                "memory_mib": 123.456,
                "idle_cpu": "17m",
                "timeout": 0.1 + 0.2,
                "service_time": {"distribution": "empirical", "path": "in/work.csv"},
                "queue_limit": 40,
                "arrivals": {"dispersion_index": 1.7},
                "retries": {"max": 2, "backoff": "250ms", "max_backoff": 7.3},
                "slo": {"p95_latency_ms": 150.5, "max_error_rate": 0.0125},
            },
            {
                "kind": "batch",
                "name": "etl",
                "arrivals": {"path": "in/submits.csv"},
                "workers": 3,
                "cpu": "1234m",
                "memory": 1_000_000_007,
                "duration": {"distribution": "shifted_exponential", "min": "1m", "mean": 123.4},
                "priority": -2,
            },
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "pool",
                        "vcpu": "7.5",
                        "memory": 33_333_333_333,
                        "price_per_hour": 0.1 + 0.2,
                        "provision": 42.42,
                        "max_nodes": 9,
                        "reserved": {"cpu": "333m", "memory": "700Mi"},
                    }
                ],
                "scheduler": "most_allocated",
                "cluster_autoscaler": {"scan_interval": 7.5, "scale_down_unneeded": "11m"},
                "metrics": {"metric_resolution": "20s", "tolerance": 0.07},
                "workloads": {
                    "api": {
                        "pod": {
                            "cpu_request": "333m",
                            "cpu_limit": 1.25,
                            "memory_request": 123_456_789,
                            "image_size": "1.5Gi",
                            "pull_bandwidth": 99_999_999,
                            "container_start": {"distribution": "uniform", "low": 1, "high": 2.5},
                            "readiness_delay": {"distribution": "exponential", "mean": "3s"},
                            "containers": [
                                {"name": "app", "cpu_request": "333m"},
                                {"name": "proxy", "memory_request": "64Mi"},
                            ],
                        },
                        "hpa_manifest": "in/hpa.yaml",
                    },
                    "etl": {},
                },
            },
            "vms": {
                "kind": "vm",
                "instance": {
                    "vcpu": "3999m",
                    "memory": "15Gi",
                    "price_per_hour": 0.123456789,
                    "boot": {"distribution": "lognormal", "median": 33.3, "p99": "1m30.25s"},
                    "guest_os_cpu": "150m",
                    "guest_os_memory": 600_000_001,
                    "hypervisor_overhead_pct": 3.3,
                },
                "billing_minimum": 0,
                "workloads": {
                    "api": {
                        "autoscaling": {
                            "target_pct": 55.5,
                            "min": 1,
                            "max": 7,
                            "metric_period": "30s",
                            "warmup": 100.001,
                        },
                        "per_vm": 2,
                    },
                    "etl": {},
                },
            },
        },
    }
    (folder / "files.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_scenario(folder / "files.yaml")


def test_every_file_kind_round_trips(tmp_path: Path) -> None:
    scenario = files_scenario(tmp_path / "orig")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert_round_trips(scenario, elsewhere)
    document = scenario_document(scenario)
    assert sorted(named_files(document)) == sorted(
        str((tmp_path / "orig" / "in" / name).absolute())
        for name in ("load.csv", "work.csv", "submits.csv", "hpa.yaml")
    )
    shape = document["workloads"][0]["service_time"]
    assert "cv" not in shape  # read from the file again
    assert "samples" not in shape
    pool = document["platforms"]["k8s"]["node_pools"][0]
    assert (pool["vcpu"], pool["memory"]) == ("7500m", 33_333_333_333)
    assert document["workloads"][1]["cpu"] == "1234m"
    assert document["workloads"][0]["timeout"] == "0.30000000000000004s"


# --- the units, alone ---------------------------------------------------------------------


@given(st.floats(min_value=0, max_value=MAX_DURATION_S) | st.sampled_from([-0.0, 1e-6, 0.1]))
def test_duration_text_reads_back_bit_for_bit(seconds: float) -> None:
    written = duration_text(seconds)
    assert math.copysign(1, parse_duration_s(written)) == math.copysign(1, seconds)
    assert parse_duration_s(written).hex() == seconds.hex()
    if seconds > 0:
        assert isinstance(written, str)


@given(st.integers(min_value=0, max_value=MAX_MEMORY_BYTES))
def test_memory_text_reads_back(size: int) -> None:
    assert parse_memory_bytes(memory_text(size)) == size


@given(st.integers(min_value=0, max_value=MAX_CPU_MILLICORES))
def test_cpu_text_reads_back_never_as_cores(millicores: int) -> None:
    written = cpu_text(millicores)
    assert written.endswith("m")
    assert parse_cpu_millicores(written) == millicores


# --- generated scenarios ------------------------------------------------------------------

_SECONDS = st.floats(min_value=1e-6, max_value=1e5, allow_nan=False, allow_infinity=False)
_PRICES = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False)


@st.composite
def _cpu(draw: st.DrawFn, low: int, high: int) -> tuple[int, str | int | float]:
    """Millicores, and one way a scenario may write them."""
    millicores = draw(st.integers(low, high))
    whole = millicores % 1000 == 0
    forms: list[str | int | float] = [f"{millicores}m", f"{millicores / 1000}"]
    if whole:
        forms.append(millicores // 1000)
    return millicores, draw(st.sampled_from(forms))


@st.composite
def _memory(draw: st.DrawFn, low: int, high: int) -> tuple[int, str | int]:
    size = draw(st.integers(low, high))
    forms: list[str | int] = [size, str(size)]
    if size % 2**20 == 0:
        forms.append(f"{size // 2**20}Mi")
    return size, draw(st.sampled_from(forms))


def _duration(draw: st.DrawFn, strategy: st.SearchStrategy[float] = _SECONDS) -> str | float:
    """Seconds, as a float or (when ``repr`` has no exponent) as text."""
    seconds = draw(strategy)
    text = f"{seconds!r}s" if "e" not in repr(seconds) else seconds
    return draw(st.sampled_from([seconds, text]))


def _delay(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["constant", "lognormal", "exponential", "shifted", "uniform"]))
    a, b = draw(_SECONDS), draw(_SECONDS)
    low, high = min(a, b), max(a, b)
    if kind == "constant":
        return _duration(draw)
    if kind == "lognormal":
        return {"distribution": "lognormal", "median": low, "p99": high}
    if kind == "exponential":
        return {"distribution": "exponential", "mean": a}
    if kind == "shifted":
        return {"distribution": "shifted_exponential", "min": low, "mean": low + b}
    return {"distribution": "uniform", "low": low, "high": high}


@st.composite
def scenario_data(draw: st.DrawFn) -> dict[str, Any]:
    """A valid scenario: a service and a batch workload on Kubernetes and on VMs, with
    odd millicores, non-round byte counts, float durations and prices."""
    node_m, node_cpu = draw(_cpu(4_000, 256_000))
    node_b, node_memory = draw(_memory(8 * GIB, 1024 * GIB))
    vm_m, vm_cpu = draw(_cpu(2_000, 256_000))
    vm_b, vm_memory = draw(_memory(4 * GIB, 1024 * GIB))
    _, guest_cpu = draw(_cpu(0, vm_m // 4))
    _, guest_memory = draw(_memory(0, vm_b // 4))
    pod_m, pod_cpu = draw(_cpu(1, node_m // 4))
    _, pod_limit = draw(_cpu(pod_m, 2 * pod_m))
    _, pod_memory = draw(_memory(0, node_b // 4))
    _, worker_cpu = draw(_cpu(1, min(node_m, vm_m) // 4))
    _, worker_memory = draw(_memory(0, min(node_b, vm_b) // 4))
    minutes = draw(st.integers(1, 24 * 60))
    instant = st.just(0.0) | st.floats(1e-6, 60.0 * minutes)  # the resolution: 1 µs
    times = sorted(draw(st.lists(instant, min_size=1, max_size=5)))
    min_replicas = draw(st.integers(1, 5))
    metrics = [
        {"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": draw(st.integers(1, 200))}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {
            "type": "AverageValue", "averageValue": str(draw(st.integers(1, 2**40)))}}},
    ]  # fmt: skip
    return {
        "name": "generated",
        "seed": draw(st.integers(0, 2**32)),
        "duration": draw(st.sampled_from([60.0 * minutes, f"{minutes}m", 60 * minutes])),
        "tick": draw(st.sampled_from([None, 0.5, "1s", 2, "5s"])),
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "load": draw(
                    st.sampled_from(
                        [
                            {"type": "constant", "rate": draw(st.floats(0, 1e4))},
                            {
                                "type": "step",
                                "before": draw(st.floats(0, 1e4)),
                                "after": draw(st.floats(0, 1e4)),
                                "at": _duration(draw),
                            },
                            {
                                "type": "diurnal",
                                "base": 1.5,
                                "peak": 1.5 + draw(st.floats(0, 1e4)),
                                "period": _duration(draw),
                                "peak_at": _duration(draw),
                            },
                        ]
                    )
                ),
                "cpu_ms_per_request": draw(st.floats(0.001, 3.6e6)),
                "memory_mib": draw(st.floats(0, 2.0**20)),
                "idle_cpu": draw(_cpu(0, 4000))[1],
                "timeout": _duration(draw, st.floats(1e-6, 1e3)),
                "service_time": draw(
                    st.sampled_from(
                        [
                            {"distribution": "deterministic"},
                            {"distribution": "gamma", "cv": draw(st.floats(0.01, 1.0))},
                        ]
                    )
                ),
                "retries": {"backoff": _duration(draw, st.floats(1e-6, 1.0)), "max_backoff": 60},
                "slo": {"p95_latency_ms": draw(st.floats(1e-3, 1e9))},
            },
            {
                "kind": "batch",
                "name": "jobs",
                "arrivals": {"times": times},
                "workers": draw(st.integers(1, 4)),
                "cpu": worker_cpu,
                "memory": worker_memory,
                "duration": _delay(draw),
            },
        ],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {
                        "name": "pool",
                        "vcpu": node_cpu,
                        "memory": node_memory,
                        "price_per_hour": draw(_PRICES),
                        "provision": _delay(draw),
                        "max_nodes": draw(st.integers(1, 50)),
                    }
                ],
                "cluster_autoscaler": {
                    "scan_interval": _duration(draw),
                    "scale_down_unneeded": _duration(draw),
                },
                "metrics": {
                    "sync_period": _duration(draw),
                    "tolerance": draw(st.floats(0, 1)),
                },
                "workloads": {
                    "web": {
                        "pod": {
                            "cpu_request": pod_cpu,
                            "cpu_limit": pod_limit,
                            "memory_request": pod_memory,
                            "image_size": draw(_memory(0, 2**40))[1],
                            "readiness_delay": _delay(draw),
                        },
                        "hpa": {
                            "minReplicas": min_replicas,
                            "maxReplicas": min_replicas + draw(st.integers(0, 100)),
                            "metrics": metrics,
                            "behavior": {
                                "scaleDown": {
                                    "stabilizationWindowSeconds": draw(st.integers(0, 3600))
                                }
                            },
                        },
                    },
                    "jobs": {},
                },
            },
            "vms": {
                "kind": "vm",
                "instance": {
                    "vcpu": vm_cpu,
                    "memory": vm_memory,
                    "price_per_hour": draw(_PRICES),
                    "boot": _delay(draw),
                    "guest_os_cpu": guest_cpu,
                    "guest_os_memory": guest_memory,
                    "hypervisor_overhead_pct": draw(st.floats(0, 20)),
                },
                "billing_minimum": _duration(draw),
                "workloads": {
                    "web": {
                        "autoscaling": {
                            "target_pct": draw(st.floats(0.5, 100)),
                            "min": 1,
                            "max": draw(st.integers(1, 100)),
                            "warmup": _duration(draw),
                            "cooldown": _duration(draw),
                        }
                    },
                    "jobs": {},
                },
            },
        },
    }


@settings(max_examples=150)
@given(scenario_data())
def test_generated_scenario_round_trips(data: dict[str, Any]) -> None:
    data = {key: value for key, value in data.items() if value is not None}
    scenario = parse_scenario(data, where="generated", base_dir=Path("."))
    text = document_yaml(scenario_document(scenario))
    assert_same(read_back(text, scenario), scenario)
    assert unit_keys(yaml.safe_load(text)) == []


# --- end to end: the report's YAML reproduces the run --------------------------------------


def _report_yaml(report_md: Path) -> str:
    text = report_md.read_text(encoding="utf-8")
    section = text.split("## Scenario as run", 1)[1]
    found = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


def test_report_yaml_reproduces_the_run(tmp_path: Path) -> None:
    """Six hours of web-diurnal (its trace by relative path, its vCPUs in cores) run by the
    command line at another seed; the YAML of its report, saved in another folder and run
    as it is, gives the same summary, time series, events and jobs."""
    original = tmp_path / "original"
    trace = "nasa_http_1995-07_per_minute.csv"
    (original / "traces").mkdir(parents=True)
    shutil.copyfile(TRACES_DIR / trace, original / "traces" / trace)
    data = yaml.safe_load((SCENARIOS_DIR / "web-diurnal.yaml").read_text(encoding="utf-8"))
    data["duration"] = "6h"
    (original / "scenario.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    first = original / "report"
    argv = ["run", str(original / "scenario.yaml"), "--seed", "7", "--quiet"]
    assert cli.main([*argv, "--out", str(first), "--format", "md,json"]) == 0

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "again.yaml").write_text(_report_yaml(first / "report.md"))
    again = elsewhere / "report"
    argv = ["run", str(elsewhere / "again.yaml"), "--quiet", "--format", "json"]
    assert cli.main([*argv, "--out", str(again)]) == 0

    a, b = RunResult.load(first), RunResult.load(again)
    # A loaded result has no document: its report does not offer the record as one.
    assert a.scenario_document is None
    page = render_markdown(a, compare(a), [])
    assert "a record, not a scenario file" in page
    assert "reproduce" not in page.split("## Scenario as run", 1)[1]
    for frame in ("timeseries", "events", "jobs"):
        assert getattr(a, frame).equals(getattr(b, frame)), frame
    as_run_a, as_run_b = a.summary.pop("scenario_as_run"), b.summary.pop("scenario_as_run")
    assert a.summary == b.summary  # every number, exactly
    assert a.summary["seed"] == 7
    path = Path(as_run_b["workloads"][0]["load"].pop("path"))
    assert path.samefile(original / as_run_a["workloads"][0]["load"].pop("path"))
    # The record keeps the file's seed (the summary's ``seed`` is the run's); the document
    # carries the run's.
    assert (as_run_a.pop("seed"), as_run_b.pop("seed")) == (1995, 7)
    assert as_run_a == as_run_b
