"""The service fields of issue 15 at the edge: queue limit, arrivals' dispersion index and
client retries are validated (bad input is refused with the field and value), and the
delay lines a run needs are bounded before work starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import capsim
from capsim.scenario import ScenarioError, ServiceWorkload
from capsim.scenario.grid import run_grid


def service(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "service",
        "name": "api",
        "cpu_ms_per_request": 50,
        "load": {"type": "constant", "rate": 10},
        **fields,
    }


def scenario(tmp_path: Path, **fields: Any) -> Path:
    data = {
        "name": "fields",
        "duration": "1h",
        "tick": "1s",
        "workloads": [service(**fields)],
        "platforms": {
            "k8s": {
                "kind": "kubernetes",
                "node_pools": [
                    {"name": "p", "vcpu": 4, "memory": "16Gi", "price_per_hour": 1, "max_nodes": 2}
                ],
                "workloads": {
                    "api": {"replicas": 2, "pod": {"cpu_request": "500m", "memory_request": "1Gi"}}
                },
            }
        },
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_are_a_plain_client() -> None:
    w = ServiceWorkload.model_validate(service())
    assert w.queue_limit == float("inf")
    assert w.arrivals.dispersion_index == 1.0
    assert w.retries.max_retries == 0
    assert (w.retries.backoff_s, w.retries.multiplier, w.retries.max_backoff_s) == (0.1, 2, 10)


def test_fields_parse_with_units() -> None:
    w = ServiceWorkload.model_validate(
        service(
            queue_limit=100,
            arrivals={"dispersion_index": 4},
            retries={"max": 3, "backoff": "250ms", "multiplier": 3, "max_backoff": "1m"},
        )
    )
    assert w.queue_limit == 100.0
    assert w.arrivals.dispersion_index == 4.0
    assert (w.retries.max_retries, w.retries.backoff_s, w.retries.max_backoff_s) == (3, 0.25, 60)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"queue_limit": -1}, "queue_limit"),
        ({"queue_limit": 2.5}, "queue_limit"),
        ({"arrivals": {"dispersion_index": 101}}, "dispersion_index"),
        ({"arrivals": {"dispersion_index": -0.5}}, "dispersion_index"),
        ({"arrivals": {"burstiness": 2}}, "burstiness"),
        ({"retries": {"max": 11}}, "max"),
        ({"retries": {"max": 2, "backoff": "0s"}}, "backoff"),
        ({"retries": {"max": 2, "multiplier": 0.5}}, "multiplier"),
        ({"retries": {"max": 2, "backoff": "20s", "max_backoff": "10s"}}, "max_backoff"),
        ({"retries": {"max": 2, "max_backoff": "2h"}}, "max_backoff"),
    ],
)
def test_bad_fields_are_refused_naming_them(
    tmp_path: Path, fields: dict[str, Any], words: str
) -> None:
    path = scenario(tmp_path, **fields)
    with pytest.raises(ScenarioError) as error:
        capsim.load_scenario(path)
    message = str(error.value)
    assert str(path) in message
    assert words in message
    assert "\n" not in message.strip()


def test_dispersion_contradicting_a_poisson_load_is_refused(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        load={"type": "constant", "rate": 10, "poisson": True},
        arrivals={"dispersion_index": 3},
    )
    with pytest.raises(ScenarioError, match="dispersion_index"):
        capsim.load_scenario(path)


def test_delay_lines_are_bounded_before_work(tmp_path: Path) -> None:
    """A 30-day timeout at a 1 s tick with 10 retries would need 2.6 million floats per
    retry level, 29 million in all: refused while the scenario loads, naming the field,
    before anything is allocated; the same timeout without retries fits."""
    fits = scenario(tmp_path, timeout="30d")
    run_grid(capsim.load_scenario(fits), str(fits))
    path = scenario(
        tmp_path, timeout="30d", retries={"max": 10, "backoff": "1s", "max_backoff": "1h"}
    )
    with pytest.raises(ScenarioError, match=r"workloads\[0\]\.timeout: 30d") as error:
        capsim.load_scenario(path)
    assert str(path) in str(error.value)


def test_empirical_work_takes_its_shape_from_the_samples(tmp_path: Path) -> None:
    """Measured CPU per request: the samples' mean must be cpu_ms_per_request and their
    coefficient of variation becomes the work's (numpy's population std over mean)."""
    rng = np.random.default_rng(5)
    samples = rng.gamma(4.0, 12.5, size=5000)  # cv 0.5, mean 50
    (tmp_path / "work.csv").write_text("cpu_ms\n" + "\n".join(f"{x:.6f}" for x in samples) + "\n")
    mean = float(np.round(samples, 6).mean())
    path = scenario(
        tmp_path,
        cpu_ms_per_request=mean,
        service_time={"distribution": "empirical", "path": "work.csv"},
    )
    loaded = capsim.load_scenario(path)
    work = loaded.workloads[0]
    assert isinstance(work, ServiceWorkload)
    values = np.round(samples, 6)
    assert work.service_time.scv == pytest.approx((values.std() / values.mean()) ** 2, rel=1e-9)
    assert work.service_time.samples == 5000


@pytest.mark.parametrize(
    ("rows", "stated", "words"),
    [
        (["50", "50", "50", "70"], 40.0, "samples' mean is 55"),
        (["1", "1", "1", "200"], 50.75, "coefficient of variation is 1.7"),
        (["50", "-3", "50"], 50.0, "line 3: CPU per request"),
        (["50"], 50.0, "at least two samples"),
    ],
)
def test_empirical_samples_are_checked(
    tmp_path: Path, rows: list[str], stated: float, words: str
) -> None:
    (tmp_path / "work.csv").write_text("cpu_ms\n" + "\n".join(rows) + "\n")
    path = scenario(
        tmp_path,
        cpu_ms_per_request=stated,
        service_time={"distribution": "empirical", "path": "work.csv"},
    )
    with pytest.raises(ScenarioError) as error:
        capsim.load_scenario(path)
    message = str(error.value)
    assert message.startswith(f"{path}: workloads[0].service_time.path: work.csv")
    assert words in message


@pytest.mark.parametrize(
    "shape",
    [
        {"distribution": "empirical"},
        {"distribution": "empirical", "path": "work.csv", "cv": 0.5},
        {"distribution": "gamma", "cv": 0.5, "path": "work.csv"},
    ],
)
def test_empirical_fields_belong_together(tmp_path: Path, shape: dict[str, Any]) -> None:
    with pytest.raises(ScenarioError, match="service_time"):
        capsim.load_scenario(scenario(tmp_path, service_time=shape))
