"""SLO verdicts (``capsim.models.slo``): hand-computed windows and budgets, invariants, and
the engine's windowed verdict against independent routes (the pooled p95 of each window
by ``LatencyMixture``; numpy's inverted-CDF quantile of measured responses)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import capsim
from capsim.analysis.compare import compare
from capsim.engine.recording import LatencyComponents, LatencySamples
from capsim.models.queueing import ResponseTimeDistribution
from capsim.models.slo import (
    ErrorObjective,
    LatencyObjective,
    SloVerdict,
    error_objective,
    latency_objective,
    verdict_from_dict,
    window_counts,
)
from capsim.results.latency import LatencyMixture


def test_windows_by_hand() -> None:
    # windows of 2 ticks: served 20, 10, 10; late 1, 0, 0.6; 5 % allowed: 1, 0.5, 0.5
    served = [10, 10, 10, 0, 10]
    late = [0, 1, 0, 0, 0.6]
    assert window_counts(served, late, 2) == (3, 2)
    # a window that served nothing is not counted, whatever its "late"
    assert window_counts([0, 0, 5, 5], [0, 0, 0, 0], 2) == (1, 1)
    assert window_counts([], [], 3) == (0, 0)


def test_latency_budget_by_hand() -> None:
    # 99 % of 200 windows: 2 may be bad. One bad: half the budget; three: 150 %.
    one = LatencyObjective(200, 300, 99, windows=200, good_windows=199)
    assert one.met is True
    assert one.budget_used_pct == pytest.approx(50.0)
    three = LatencyObjective(200, 300, 99, windows=200, good_windows=197)
    assert three.met is False
    assert three.budget_used_pct == pytest.approx(150.0)
    assert "MISSED" in three.describe()
    assert "150 % of the error budget" in three.describe()
    assert three.rule() == "p95 ≤ 200 ms in ≥ 99 % of 5-minute windows"
    # exactly at the objective, with an objective float arithmetic cannot hold exactly
    edge = LatencyObjective(200, 300, 99.9, windows=1000, good_windows=999)
    assert edge.met is True
    assert LatencyObjective(200, 300, 99.9, windows=1000, good_windows=998).met is False
    # no window served a request: nothing to judge
    assert LatencyObjective(200, 300, 99, windows=0, good_windows=0).met is None


def test_error_objective_of_the_issue() -> None:
    """A platform that dropped 0.53 % of requests against max_error_rate 0.001 used 530 %
    of its budget: it does not meet its SLO (issue 17)."""
    errors = error_objective(0.001, failed=530.0, arrived=100_000.0)
    assert errors.error_rate == pytest.approx(0.0053)
    assert errors.budget_used_pct == pytest.approx(530.0)
    assert errors.met is False
    latency = LatencyObjective(200, 300, 99, windows=100, good_windows=100)
    assert SloVerdict(latency, errors).met is False
    assert SloVerdict(latency, None).met is True
    assert SloVerdict(None, None).met is None
    assert error_objective(0.0, 1.0, 10.0).budget_used_pct == math.inf
    assert error_objective(0.0, 0.0, 10.0).met is True


@settings(max_examples=300)
@given(
    windows=st.integers(0, 5000),
    bad=st.integers(0, 5000),
    objective=st.sampled_from([90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 100.0]),
)
def test_latency_verdict_is_its_rule(windows: int, bad: int, objective: float) -> None:
    """Met exactly when the bad windows fit the budget (exact arithmetic), the budget used
    is at most 100 % when met, and a round trip through the summary keeps everything."""
    bad = min(bad, windows)
    judged = LatencyObjective(250, 300, objective, windows, windows - bad)
    if not windows:
        assert judged.met is None
        return
    allowed = (100 - Fraction(str(objective))) / 100 * windows
    assert judged.met is (bad <= allowed)
    if judged.met:
        assert judged.budget_used_pct <= 100.0 + 1e-9
    else:
        assert judged.budget_used_pct > 100.0 - 1e-9
    again = verdict_from_dict(SloVerdict(judged, None).as_dict()).latency
    assert again == judged


@settings(max_examples=200)
@given(
    rate=st.floats(0, 0.2),
    failed=st.floats(0, 1e6),
    arrived=st.floats(1, 1e7),
)
def test_error_verdict_is_its_rule(rate: float, failed: float, arrived: float) -> None:
    failed = min(failed, arrived)
    judged = ErrorObjective(rate, failed, arrived)
    assert judged.met is (failed <= rate * arrived)
    assert verdict_from_dict(SloVerdict(None, judged).as_dict()).errors == judged


def test_window_must_be_whole_ticks() -> None:
    with pytest.raises(ValueError, match="whole number of ticks"):
        latency_objective(200, 90, 99, [1.0], [0.0], tick_s=60)


# --- the engine's verdict against independent routes ---------------------------------------


def _scenario(model: str, tmp_path: Path) -> Path:
    """A service whose load swings over and under what its two fixed replicas serve
    within 600 ms: some 5-minute windows are within the threshold, some are not."""
    data: dict[str, Any] = {
        "name": "swing",
        "duration": "2h",
        "tick": "10s",
        "seed": 3,
        "service_model": model,
        "workloads": [
            {
                "kind": "service",
                "name": "web",
                "load": {"type": "diurnal", "base": 4, "peak": 17, "period": "1h"},
                "cpu_ms_per_request": 100,
                "slo": {"p95_latency_ms": 600, "window": "5m", "objective_pct": 90},
            }
        ],
        "platforms": {
            "vm": {
                "kind": "vm",
                "instance": {"vcpu": 2, "memory": "4Gi", "price_per_hour": 0.1},
                "workloads": {"web": {"instances": 2}},
            }
        },
    }
    path = tmp_path / f"swing-{model}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _verdict(result: capsim.RunResult) -> SloVerdict:
    return verdict_from_dict(result.summary["platforms"]["vm"]["workloads"]["web"]["slo"])


def test_expected_model_windows_agree_with_pooled_p95(tmp_path: Path) -> None:
    """Each 5-minute window is good exactly when the pooled p95 of its ticks' laws
    (``LatencyMixture.quantile_s``, Newton on the pooled tail) is within 600 ms."""
    from capsim.engine.run import simulate

    scenario = capsim.load_scenario(_scenario("expected", tmp_path))
    result = capsim.run(scenario)
    verdict = _verdict(result)
    assert verdict.latency is not None
    recording = simulate(scenario)
    c = recording.latency[("vm", "web")]
    assert isinstance(c, LatencyComponents)
    law = ResponseTimeDistribution(
        c.fixed_wait_s,
        c.wait_probability,
        c.wait_rate_per_s,
        c.service_rate_per_s,
        c.wait_limit_s,
        c.service_share2,
        c.service_rate2_per_s,
    )
    per_window = 30  # 5 min of 10 s ticks
    good = counted = 0
    for start in range(0, len(c.served), per_window):
        window = slice(start, start + per_window)
        weights = np.zeros(len(c.served))
        weights[window] = c.served[window]
        if weights.sum() <= 0:
            continue
        counted += 1
        good += LatencyMixture.of(law, weights).quantile_s(0.95) <= 0.6
    assert (verdict.latency.windows, verdict.latency.good_windows) == (counted, good)
    assert 0 < good < counted  # the scenario has both kinds of window
    assert verdict.met is (100 * good >= 90 * counted)


def test_exact_model_windows_agree_with_numpy_quantiles(tmp_path: Path) -> None:
    """Measured responses: a window is good exactly when the inverted-CDF 95th percentile
    of the responses completed in it (numpy) is within 600 ms."""
    from capsim.engine.run import simulate

    scenario = capsim.load_scenario(_scenario("exact", tmp_path))
    verdict = _verdict(capsim.run(scenario))
    assert verdict.latency is not None
    recording = simulate(scenario)
    samples = recording.latency[("vm", "web")]
    assert isinstance(samples, LatencySamples)
    assert samples.response_tick is not None
    response = samples.response_s
    window = samples.response_tick // 30
    good = counted = 0
    for w in np.unique(window):
        mine = response[window == w].astype(np.float64)
        counted += 1
        good += np.quantile(mine, 0.95, method="inverted_cdf") <= np.float32(0.6)
    assert (verdict.latency.windows, verdict.latency.good_windows) == (counted, good)
    assert 0 < good < counted


def test_the_compare_verdict_names_rule_value_and_budget(tmp_path: Path) -> None:
    """Every objective is printed with its rule, measured value and budget; "same SLO
    outcome" is never said (issue 17)."""
    result = capsim.run(capsim.load_scenario(_scenario("expected", tmp_path)))
    lines = compare(result).verdict
    verdict = _verdict(result)
    assert verdict.latency is not None
    latency_lines = [line for line in lines if line.startswith("vm · web: latency")]
    assert latency_lines == [f"vm · web: {verdict.latency.describe()}."]
    assert "p95 ≤ 600 ms in ≥ 90 % of 5-minute windows" in latency_lines[0]
    assert "of the error budget used" in latency_lines[0]
    assert not any("same SLO outcome" in line for line in lines)


# --- sizing: time-weighted levels and the bounds that cover a run ---------------------------


def test_time_weighted_quantile_by_hand() -> None:
    """Levels 1, 1, 3, 2 held 10, 10, 10 and 70 s: at or below 1 for 20 % of the time, 2
    for 90 %, 3 for all of it."""
    from capsim.results.summary import time_weighted_quantile

    levels, held = [1, 1, 3, 2], [10, 10, 10, 70]
    assert time_weighted_quantile(levels, held, 0.05) == 1
    assert time_weighted_quantile(levels, held, 0.20) == 1
    assert time_weighted_quantile(levels, held, 0.50) == 2
    assert time_weighted_quantile(levels, held, 0.90) == 2
    assert time_weighted_quantile(levels, held, 0.95) == 3
    assert math.isnan(time_weighted_quantile([], [], 0.5))


def test_sizing_of_a_group_and_of_a_fixed_size(tmp_path: Path) -> None:
    """The swing scenario's two fixed VMs: a fixed size, no suggestion; the same load on
    an autoscaling group: levels and bounds from the 5 % level to 25 % above the peak."""
    data = yaml.safe_load(_scenario("expected", tmp_path).read_text())
    fixed = compare(capsim.run(capsim.load_scenario(_scenario("expected", tmp_path))))
    assert fixed.sizing == [
        "vm: VMs p5 2, median 2, p95 2, at most 2 (4 vCPUs at most); a fixed size."
    ]
    data["platforms"]["vm"]["workloads"]["web"] = {
        "autoscaling": {"target_pct": 50, "min": 1, "max": 40}
    }
    path = tmp_path / "group.yaml"
    path.write_text(yaml.safe_dump(data))
    result = capsim.run(capsim.load_scenario(path))
    p = result.summary["platforms"]["vm"]
    (line,) = compare(result).sizing
    low, top = int(p["nodes_p5"]), int(p["nodes_max"])
    assert line.endswith(
        f"bounds of min {low}, max {math.ceil(top * 1.25)} cover this run (25 % above its peak, "
        "within its cap)."
    )
    assert p["nodes_p5"] <= p["nodes_p50"] <= p["nodes_p95"] <= p["nodes_max"]
    assert p["cost_per_30_days_usd"] == pytest.approx(p["cost_per_hour_usd"] * 720)


def test_a_lone_platform_that_misses_its_slo(tmp_path: Path) -> None:
    """One platform, over its latency threshold (p95 ≈ 100 ms × ln 20 ≈ 300 ms against a
    100 ms target): "No platform meets every SLO.", with nothing said of batch work."""
    data = yaml.safe_load(_scenario("expected", tmp_path).read_text())
    data["workloads"][0]["slo"] = {"p95_latency_ms": 100}
    path = tmp_path / "lone.yaml"
    path.write_text(yaml.safe_dump(data))
    verdict = compare(capsim.run(capsim.load_scenario(path))).verdict
    assert verdict[0] == "No platform meets every SLO."
    assert verdict[1].startswith("vm · web: latency p95 ≤ 100 ms in ≥ 99 % of 5-minute")
    assert verdict[1].endswith("MISSED.")
