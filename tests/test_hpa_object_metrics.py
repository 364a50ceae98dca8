"""``Object`` and ``External`` HPA metrics: upstream's replica calculator cases, and the
engine scaling on service-wide metrics.

**The rules** (``HPA.md`` §5, upstream ``replica_calculator.go``): a ``Value`` target
proposes ``ceil(usage/target × ready pods)`` outside the tolerance band (from 0 replicas
``ceil(usage/target)``); an ``AverageValue`` target ``ceil(usage/target)`` outside the
band of ``usage / (target × status replicas)``. The tables below are upstream's own
unit tests (``replica_calculator_test.go``: ``TestReplicaCalcScaleUpCMObject`` …),
milli-values as there.

**By hand in the engine** (the pods of ``test_hpa_pods_metrics``: M/M/1 each, μ = 10/s,
random routing): ``arrival_rate`` with ``averageValue: 4`` at λ = 50 asks
``ceil(50/4) = 13`` (ratio 50/52 = 0.96, kept); at λ = 20, ``ceil(20/4) = 5``. The
requests waiting, summed over N pods at ρ = 5/N, are ``N · ρ²/(1 − ρ) = 25/(N − 5)``: a
``queue_length`` ``value: 2`` keeps N when ``25/(N − 5)/2`` is within [0.9, 1.1], i.e.
N = 17 or 18.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from test_hpa_pods_metrics import run_mapping, scenario

from capsim.cli.main import main
from capsim.hpa import MetricsError, Tolerances, average_value_replicas, value_replicas
from capsim.results.run_result import RunResult

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
TIGHT_UP = Tolerances(scale_down=0.1, scale_up=0.01)


# --- upstream's unit tests ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "current", "ready", "usage", "target", "tolerances", "expected"),
    [
        ("ScaleUpCMObject", 3, 3, 20000, 15000, Tolerances(), 4),
        ("ScaleUpCMObjectIgnoresUnreadyPods", 3, 1, 50000, 10000, Tolerances(), 5),
        ("ScaleUpOverflow", 3, 3, MAX_INT64, 1, Tolerances(), MAX_INT32),
        ("ScaleUpCMExternalIgnoresUnreadyPods", 3, 1, 8600, 4400, Tolerances(), 2),
        ("ScaleDownCMObject", 5, 5, 12000, 20000, Tolerances(), 3),
        ("ScaleDownCMExternal", 5, 5, 8600, 14334, Tolerances(), 3),
        ("ToleranceCMObject", 3, 3, 20666, 20000, Tolerances(), 3),
        ("ToleranceCMExternal", 3, 3, 8600, 8888, Tolerances(), 3),
        ("ConfigurableToleranceCMObject", 3, 3, 20666, 20000, TIGHT_UP, 4),
        ("ConfigurableToleranceCMExternal", 3, 3, 8900, 8800, TIGHT_UP, 4),
    ],
)
def test_value_targets_as_upstream(
    name: str,
    current: int,
    ready: int,
    usage: int,
    target: int,
    tolerances: Tolerances,
    expected: int,
) -> None:
    assert value_replicas(current, ready, current, usage, target, tolerances) == expected, name


@pytest.mark.parametrize(
    ("name", "status", "usage", "target", "tolerances", "expected", "per_pod"),
    [
        ("ScaleUpCMPerPodObject", 3, 20000, 5000, Tolerances(), 4, 6667),
        ("ScaleDownPerPodCMObject", 5, 6000, 2000, Tolerances(), 3, 1200),
        ("TolerancePerPodCMObject", 4, 20166, 5000, Tolerances(), 4, 5042),
        ("ConfigurableTolerancePerPodCMObject", 4, 20208, 5000, TIGHT_UP, 5, 5052),
        ("ScaleUpPerPodCMExternal", 3, 8600, 2150, Tolerances(), 4, 2867),
        ("ScaleDownPerPodCMExternal", 5, 8600, 2867, Tolerances(), 3, 1720),
        ("TolerancePerPodCMExternal", 3, 8600, 2900, Tolerances(), 3, 2867),
        ("ConfigurableTolerancePerPodCMExternal", 3, 8600, 2800, TIGHT_UP, 4, 2867),
        (
            "ExternalPerPodMetricReplicaOverflow",
            1,
            MAX_INT64,
            1,
            Tolerances(),
            MAX_INT32,
            MAX_INT64,
        ),
        ("ExternalPerPodMetricUsageOverflow", 1, MAX_INT64, MAX_INT64, Tolerances(), 1, MAX_INT64),
    ],
)
def test_average_value_targets_as_upstream(
    name: str,
    status: int,
    usage: int,
    target: int,
    tolerances: Tolerances,
    expected: int,
    per_pod: int,
) -> None:
    assert average_value_replicas(status, usage, target, tolerances) == (expected, per_pod), name


def test_scale_from_zero_and_no_pods() -> None:
    # from 0 replicas: ceil(ratio), no tolerance band (upstream's scale-from-zero branch)
    assert value_replicas(0, 0, 0, 10500, 10000) == 2
    assert value_replicas(0, 0, 0, 0, 10000) == 0
    # a selector that matches no pod is an error (getReadyPodsCount), unless within the band
    with pytest.raises(MetricsError, match="no pods returned by selector"):
        value_replicas(3, 0, 0, 50000, 10000)
    assert value_replicas(3, 0, 0, 10000, 10000) == 3


@given(
    st.integers(1, 500),
    st.integers(0, 10**9),
    st.integers(1, 10**6),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.5),
)
def test_average_value_is_the_usage_over_the_target_outside_the_band(
    status: int, usage: int, target: int, down: float, up: float
) -> None:
    tolerances = Tolerances(scale_down=down, scale_up=up)
    replicas, _ = average_value_replicas(status, usage, target, tolerances)
    ratio = usage / (target * status)
    if 1 - down <= ratio <= 1 + up:
        assert replicas == status
    else:
        assert replicas == min(-(-usage // target), MAX_INT32)  # exact ceil in integers


# --- the engine --------------------------------------------------------------------------


def external(name: str, kind: str, amount: str) -> dict[str, Any]:
    field = "value" if kind == "Value" else "averageValue"
    target = {"type": kind, field: amount}
    return {"type": "External", "external": {"metric": {"name": name}, "target": target}}


def object_metric(service: str, name: str, kind: str, amount: str) -> dict[str, Any]:
    field = "value" if kind == "Value" else "averageValue"
    return {
        "type": "Object",
        "object": {
            "describedObject": {"apiVersion": "v1", "kind": "Service", "name": service},
            "metric": {"name": name},
            "target": {"type": kind, field: amount},
        },
    }


ARRIVALS_PER_4 = [external("arrival_rate", "AverageValue", "4")]


@pytest.mark.parametrize(("rate", "replicas"), [(50, 13), (20, 5)])
def test_arrivals_per_pod_size_the_service_by_hand(
    tmp_path: Path, rate: int, replicas: int
) -> None:
    data = scenario({"type": "constant", "rate": rate}, ARRIVALS_PER_4, duration="20m")
    result = run_mapping(tmp_path, data)
    assert set(result.timeseries.replicas_ready) == {replicas}
    assert not (result.events.kind == "scale").any()


def test_the_queue_summed_over_the_pods_by_hand(tmp_path: Path) -> None:
    metrics = [object_metric("web", "queue_length", "Value", "2")]
    result = run_mapping(tmp_path, scenario({"type": "constant", "rate": 50}, metrics, "20m"))
    (n,) = set(result.timeseries.replicas_ready)
    assert n in (17, 18)
    rows = result.timeseries
    total = (rows.queue_per_pod * rows.replicas_ready).to_numpy()
    assert total == pytest.approx(25 / (n - 5), rel=1e-9)


STEP = {"type": "step", "before": 20, "after": 50, "at": "600s"}


@pytest.fixture(scope="module")
def step_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return run_mapping(tmp_path_factory.mktemp("step"), scenario(STEP, ARRIVALS_PER_4))


READING = re.compile(
    r"external arrival_rate: (?P<usage>[\d.]+) vs target average value 4 "
    r"\((?P<ready>\d+) ready\) → (?P<proposal>\d+)"
)


def test_a_step_scales_by_the_windowed_arrivals(step_run: RunResult) -> None:
    """Every sync's reading is the mean arrival rate over the adapter's 60 s window (four
    15 s rows, as the Pods metrics), and proposes ceil(usage/4) outside the band of
    usage / (4 × the pods the Deployment has), as upstream."""
    rows = step_run.timeseries.set_index("time_s")
    events = step_run.events[step_run.events.kind.isin(["scale", "hpa_hold"])]
    assert len(events)
    for _, event in events.iterrows():
        match = READING.search(event.detail)
        assert match is not None, event.detail
        t = float(event.time_s)
        window = rows.loc[(rows.index > t - 60) & (rows.index <= t)]
        usage_m = round(float(match["usage"]) * 1000)
        assert abs(usage_m - 1000 * window.arrival_rate.mean()) <= 0.5 + 1e-6
        assert int(match["proposal"]) == -(-usage_m // 4000)
    assert set(rows.loc[rows.index <= 600].replicas_ready) == {5}
    assert rows.replicas_ready.iloc[-1] == 13


def test_the_three_controller_paths_decide_the_same(
    tmp_path: Path, step_run: RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiled (with Numba), one HPA at a time, and NumPy's batch form: the same log,
    with an Object and a Pods metric beside the External one."""
    import capsim.engine.kubernetes.hpa_controller as controller

    mixed = [
        *ARRIVALS_PER_4,
        object_metric("web", "requests_in_flight", "AverageValue", "600m"),
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "requests_in_flight"},
                "target": {"type": "AverageValue", "averageValue": "500m"},
            },
        },
    ]
    compiled = run_mapping(tmp_path, scenario(STEP, mixed))
    monkeypatch.setattr(controller, "COMPILED_HPA_ROWS", False)
    pd.testing.assert_frame_equal(
        run_mapping(tmp_path, scenario(STEP, mixed)).events, compiled.events
    )
    monkeypatch.setattr(controller, "SCALAR_HPA_LIMIT", 0)
    pd.testing.assert_frame_equal(
        run_mapping(tmp_path, scenario(STEP, mixed)).events, compiled.events
    )
    pd.testing.assert_frame_equal(
        run_mapping(tmp_path, scenario(STEP, ARRIVALS_PER_4)).events, step_run.events
    )


def test_scale_from_zero_on_an_external_metric(tmp_path: Path) -> None:
    """minReplicas 0 (an Object or External metric allows it): idle at 0 replicas, then
    ceil(usage/target) from zero once requests arrive; requests arriving at 0 replicas
    are dropped (no activator)."""
    data = scenario(
        {"type": "step", "before": 0, "after": 20, "at": "600s"},
        [external("arrival_rate", "AverageValue", "10")],
        duration="20m",
    )
    data["platforms"]["k8s"]["workloads"]["web"]["hpa"]["minReplicas"] = 0
    result = run_mapping(tmp_path, data)
    rows = result.timeseries.set_index("time_s")
    assert set(rows.loc[rows.index <= 600].replicas_desired) == {0}
    first = result.events[result.events.kind == "scale"].iloc[0]
    # the window mean at 615 s: 15 s of 20/s in 60 s = 5/s → ceil(5/10) = 1 from zero
    assert (first.time_s, first["from"], first["to"]) == (615.0, 0, 1)
    assert rows.loc[615.0].dropped_rate == pytest.approx(20.0)
    assert rows.replicas_ready.iloc[-1] == 2


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (external("sqs_messages", "Value", "5"), "metrics[0].external.metric.name"),
        (object_metric("api", "queue_length", "Value", "5"), "describedObject.name"),
        (
            {**object_metric("web", "queue_length", "Value", "5")}
            | {
                "object": {
                    **object_metric("web", "queue_length", "Value", "5")["object"],
                    "describedObject": {
                        "apiVersion": "networking.k8s.io/v1",
                        "kind": "Ingress",
                        "name": "web",
                    },
                }
            },
            "describedObject.kind",
        ),
        (
            {
                "type": "External",
                "external": {
                    "metric": {"name": "arrival_rate"},
                    "target": {"type": "Utilization", "averageUtilization": 50},
                },
            },
            "Utilization is only valid for Resource and ContainerResource",
        ),
    ],
)
def test_what_is_not_simulated_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: dict[str, Any], message: str
) -> None:
    data = scenario({"type": "constant", "rate": 20}, [copy.deepcopy(metric)], "10m")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert message in err, err


def test_a_value_target_on_arrivals_runs_away_and_is_flagged(tmp_path: Path) -> None:
    """At 20 req/s against ``value: 10`` the ratio stays 2 however many pods there are:
    upstream proposes ceil(2 × ready) at every sync (doubling, within the default
    scale-up policy) up to maxReplicas 40. The run says so in its checks; the
    AverageValue form (ceil(20/10) = 2 pods) is not flagged."""
    data = scenario({"type": "constant", "rate": 20}, [external("arrival_rate", "Value", "10")])
    result = run_mapping(tmp_path, data)
    assert result.timeseries.replicas_desired.iloc[-1] == 40
    checks = [c for c in result.summary["checks"] if c["check"] == "value_target_runaway"]
    assert len(checks) == 1
    assert "use an AverageValue target" in checks[0]["message"]
    fixed = scenario(
        {"type": "constant", "rate": 20}, [external("arrival_rate", "AverageValue", "10")]
    )
    calm = run_mapping(tmp_path, fixed)
    assert set(calm.timeseries.replicas_ready) == {2}
    assert not [c for c in calm.summary["checks"] if c["check"] == "value_target_runaway"]
