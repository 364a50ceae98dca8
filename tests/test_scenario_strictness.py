"""Strict scenario values: booleans are not numbers, infinities and NaN are not numbers,
sizes that must be positive say so, names are unique, and extreme values are refused at the
edge instead of overflowing in NumPy. Each is exit 2 with one stderr line naming the field,
through ``capsim run`` (:func:`capsim.cli.main.main`) on a YAML file as a user writes it."""

from __future__ import annotations

import typing
import warnings
from pathlib import Path

import pytest
from pydantic import BaseModel

from capsim.cli.main import main

SCENARIO = """\
name: strict
duration: 2m
workloads:
  - kind: service
    name: web
    load: {{type: constant, rate: {rate}}}
    cpu_ms_per_request: {cpu_ms}
    concurrency: {concurrency}
    memory_mib: {memory_mib}
    timeout: {timeout}
    slo: {{p95_latency_ms: {slo}}}
platforms:
  k8s:
    kind: kubernetes
    node_pools:
      - {{name: general, vcpu: {vcpu}, memory: {memory}, price_per_hour: {price},
         max_nodes: {max_nodes}}}
      - {{name: {pool2}, vcpu: 4, memory: 16Gi, price_per_hour: 0.2, max_nodes: 2}}
    workloads:
      web:
        pod: {{cpu_request: {cpu_request}, memory_request: 1Gi}}
        replicas: {replicas}
"""

DEFAULTS = {
    "rate": "10",
    "cpu_ms": "25",
    "concurrency": "1",
    "memory_mib": "256",
    "timeout": "10s",
    "slo": "200",
    "vcpu": "4",
    "memory": "16Gi",
    "price": "0.2",
    "max_nodes": "5",
    "pool2": "spare",
    "cpu_request": '"1"',
    "replicas": "2",
}

# (id, overrides, field named, message fragment)
CASES: list[tuple[str, dict[str, str], str, str]] = [
    # booleans where numbers belong
    (
        "replicas true",
        {"replicas": "true"},
        "platforms.k8s.workloads.web.replicas",
        "must be a number, not a boolean, got True",
    ),
    (
        "concurrency true",
        {"concurrency": "true"},
        "workloads[0].concurrency",
        "must be a number, not a boolean, got True",
    ),
    (
        "rate true",
        {"rate": "true"},
        "workloads[0].load.rate",
        "must be a number, not a boolean, got True",
    ),
    (
        "cpu_ms_per_request true",
        {"cpu_ms": "true"},
        "workloads[0].cpu_ms_per_request",
        "must be a number, not a boolean, got True",
    ),
    (
        "price false",
        {"price": "false"},
        "platforms.k8s.node_pools[0].price_per_hour",
        "must be a number, not a boolean, got False",
    ),
    (
        "max_nodes true",
        {"max_nodes": "true"},
        "platforms.k8s.node_pools[0].max_nodes",
        "must be a number, not a boolean, got True",
    ),
    (
        "slo true",
        {"slo": "true"},
        "workloads[0].slo.p95_latency_ms",
        "must be a number, not a boolean, got True",
    ),
    # infinities and NaN
    (
        "slo .inf",
        {"slo": ".inf"},
        "workloads[0].slo.p95_latency_ms",
        "Input should be a finite number, got inf",
    ),
    (
        "price .inf",
        {"price": ".inf"},
        "platforms.k8s.node_pools[0].price_per_hour",
        "Input should be a finite number, got inf",
    ),
    (
        "price 1e400 text",
        {"price": "'1e400'"},
        "platforms.k8s.node_pools[0].price_per_hour",
        "Input should be a finite number, got '1e400'",
    ),
    (
        "cpu_ms .nan",
        {"cpu_ms": ".nan"},
        "workloads[0].cpu_ms_per_request",
        "Input should be a finite number, got nan",
    ),
    (
        "memory_mib .inf",
        {"memory_mib": ".inf"},
        "workloads[0].memory_mib",
        "Input should be a finite number, got inf",
    ),
    (
        "timeout of 400 digits",
        {"timeout": "9" * 400 + "s"},
        "workloads[0].timeout",
        "is too long to hold in seconds",
    ),
    # zero where a size must be positive
    (
        "cpu_request 0",
        {"cpu_request": "0"},
        "platforms.k8s.workloads.web.pod.cpu_request",
        "must be > 0, got 0",
    ),
    (
        "cpu_request 0m",
        {"cpu_request": "0m"},
        "platforms.k8s.workloads.web.pod.cpu_request",
        "must be > 0, got '0m'",
    ),
    ("node vcpu 0", {"vcpu": "0"}, "platforms.k8s.node_pools[0].vcpu", "must be > 0, got 0"),
    ("node memory 0", {"memory": "0"}, "platforms.k8s.node_pools[0].memory", "must be > 0, got 0"),
    # names
    (
        "node pool names repeat",
        {"pool2": "general"},
        "platforms.k8s: node_pools[1].name",
        "node pool names must be unique, 'general' repeats node_pools[0]",
    ),
    # extreme values that overflowed in NumPy (RuntimeWarnings) are refused at the edge
    (
        "memory_mib 1e300",
        {"memory_mib": "1e300"},
        "workloads[0].memory_mib",
        "less than or equal to 1048576",
    ),
    (
        "cpu_ms_per_request 1e-300",
        {"cpu_ms": "1e-300"},
        "workloads[0].cpu_ms_per_request",
        "greater than or equal to 0.001",
    ),
    ("rate 1e300", {"rate": "1e300"}, "workloads[0].load.rate", "less than or equal to 1000000000"),
    (
        "price 1e300",
        {"price": "1e300"},
        "platforms.k8s.node_pools[0].price_per_hour",
        "less than or equal to 1000000",
    ),
    (
        "node vcpu 1e30",
        {"vcpu": "1e30"},
        "platforms.k8s.node_pools[0].vcpu",
        "must be at most 1,000,000 cores (the limit)",
    ),
]


@pytest.mark.parametrize(
    ("case", "overrides", "field", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_a_bad_value_is_one_line_naming_the_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    overrides: dict[str, str],
    field: str,
    message: str,
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(**{**DEFAULTS, **overrides}), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no NumPy overflow on the way
        code = main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"capsim: error: {path}: {field}: "), err
    assert message in err, err


def test_the_limits_are_the_edges_and_run_without_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At the largest values the limits allow, a run works with every NumPy warning an
    error (the engine's arithmetic stays finite); just beyond each limit, it is refused."""
    path = tmp_path / "s.yaml"
    at_limits = {
        **DEFAULTS,
        "rate": "1e9",
        "cpu_ms": "0.001",
        "memory_mib": "1048576",
        "price": "1e6",
        "vcpu": "1000000",
        "memory": "1Pi",
        "timeout": "1000000000",
        "slo": "1e-300",
        "replicas": "150000",
    }
    path.write_text(SCENARIO.format(**at_limits), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        code = main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    # ... and the limits are the edges: just beyond each, refused
    beyond = {
        "rate": ("1.0000001e9", "workloads[0].load.rate"),
        "cpu_ms": ("0.000999", "workloads[0].cpu_ms_per_request"),
        "memory_mib": ("1048577", "workloads[0].memory_mib"),
        "price": ("1000001", "platforms.k8s.node_pools[0].price_per_hour"),
        "vcpu": ("1000001", "platforms.k8s.node_pools[0].vcpu"),
        "timeout": ("1000000001", "workloads[0].timeout"),
        "replicas": ("150001", "platforms.k8s.workloads.web.replicas"),
    }
    for key, (value, field) in beyond.items():
        path.write_text(SCENARIO.format(**{**at_limits, key: value}), encoding="utf-8")
        capsys.readouterr()
        assert main(["run", str(path), "--out", str(tmp_path / "out2"), "--quiet"]) == 2, key
        err = capsys.readouterr().err
        assert err.startswith(f"capsim: error: {path}: {field}: "), err


def test_workload_names_repeat_names_the_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SCENARIO.format(**DEFAULTS).replace(
        "platforms:",
        "  - {kind: service, name: web, load: {type: constant, rate: 1}, "
        "cpu_ms_per_request: 5}\nplatforms:",
    )
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"capsim: error: {path}: workloads[1].name: workload names must be unique, 'web' "
        "repeats workloads[0]\n"
    )


def test_every_numeric_field_refuses_booleans() -> None:
    """Every ``int``/``float`` field of every scenario model is :data:`Int`/:data:`Float`
    (or a unit type whose parser refuses booleans): no field is left to lax coercion."""
    import capsim.scenario.distributions as distributions
    import capsim.scenario.fields as fields
    import capsim.scenario.load.specs as specs
    import capsim.scenario.platforms as platforms
    import capsim.scenario.schema as schema
    import capsim.scenario.workloads as workloads

    def subclasses(cls: type[BaseModel]) -> list[type[BaseModel]]:
        out: list[type[BaseModel]] = []
        for sub in cls.__subclasses__():
            out += [sub, *subclasses(sub)]
        return out

    modules = {m.__name__ for m in (distributions, specs, platforms, schema, workloads)}
    models = [m for m in subclasses(fields.StrictModel) if m.__module__ in modules]
    assert len(models) >= 20
    checked = 0
    for model in models:
        for name, info in model.model_fields.items():
            annotation = info.annotation
            numeric = annotation in (int, float) or (
                typing.get_origin(annotation) in (typing.Union, type(int | None))
                and {int, float} & set(typing.get_args(annotation))
            )
            if not numeric:
                continue
            for value in (True, False):
                problem = f"{model.__name__}.{name} accepts {value}"
                validators = [getattr(m, "func", None) for m in info.metadata]
                assert validators, problem
                for func in validators:
                    if func is None:
                        continue
                    with pytest.raises(ValueError, match=r"boolean|quantity|duration"):
                        func(value)
                    break
                else:
                    pytest.fail(problem)
            checked += 1
    assert checked >= 40


HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
"""


def test_scale_flag_negative_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``capsim validate --scale -1``: one line naming scale, not a pydantic dump."""
    from capsim.data import TRACES_DIR

    hpa = tmp_path / "hpa.yaml"
    hpa.write_text(HPA, encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:  # refused by argparse, before any work
        main(
            [
                "validate",
                "--hpa",
                str(hpa),
                "--trace",
                str(TRACES_DIR / "nasa_http_1995-07_per_minute.csv"),
                "--cpu-ms-per-request",
                "20",
                "--scale",
                "-1",
            ]
        )
    code = stopped.value.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "scale" in err
    assert "-1" in err
    assert "Traceback" not in err
    # the scenario side, for specs built from flags: the flag's own name
    from capsim.scenario.load import WorkloadError, parse_load_spec

    spec = {"type": "trace", "path": "t.csv", "scale": -1.0, "start": "x"}
    with pytest.raises(WorkloadError) as info:
        parse_load_spec(spec, where="capsim validate", names={"scale": "--scale"})
    assert str(info.value) == (
        "capsim validate: --scale: Input should be greater than or equal to 0, got -1.0"
    )
