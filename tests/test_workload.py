"""Load sources: synthetic shapes against hand-computed tick means, Poisson noise, the
bundled traces against their README, resampling, and one clear error per bad input."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from capsim.data import TRACES_DIR
from capsim.scenario.load import (
    DiurnalLoad,
    LoadSeries,
    Trace,
    TraceLoad,
    WorkloadError,
    build_load,
    check_load,
    default_tick_s,
    parse_load_spec,
    read_trace,
)

TRACES = TRACES_DIR
DAY = 86400.0


def run(
    spec: dict[str, Any],
    *,
    duration_s: float = 5.0,
    tick_s: float | None = 1.0,
    seed: int = 0,
    base_dir: Path = TRACES,
) -> LoadSeries:
    return build_load(
        parse_load_spec(spec),
        duration_s=duration_s,
        tick_s=tick_s,
        rng=np.random.default_rng(seed),
        base_dir=base_dir,
    )


def trace(name: str, **fields: Any) -> dict[str, Any]:
    return {"type": "trace", "path": name, **fields}


# --------------------------------------------------------------------------- shapes


def test_constant() -> None:
    load = run({"type": "constant", "rate": 7.5}, duration_s=3)
    assert load.values.tolist() == [7.5, 7.5, 7.5]
    assert load.times_s.tolist() == [0.0, 1.0, 2.0]
    assert load.unit == "requests_per_s"
    assert load.duration_s == 3
    assert not load.values.flags.writeable


def test_diurnal_tick_means_hand_computed() -> None:
    # period 4 s, peak at 2 s (default: half a period): the mean of cos over a quarter
    # period next to the peak is 2/π, next to the trough -2/π.
    load = run({"type": "diurnal", "base": 10, "peak": 30, "period": "4s"}, duration_s=8)
    low, high = 10 + 10 * (1 - 2 / math.pi), 10 + 10 * (1 + 2 / math.pi)
    assert load.values == pytest.approx([low, high, high, low] * 2, rel=1e-12)


def test_diurnal_daily_peak_trough_and_mean() -> None:
    spec = {"type": "diurnal", "base": 20, "peak": 120, "period": "24h", "peak_at": "14h"}
    load = run(spec, duration_s=DAY)
    assert load.values[14 * 3600] == pytest.approx(120, rel=1e-8)
    assert load.values[2 * 3600] == pytest.approx(20, rel=1e-8)
    assert int(np.argmax(load.values)) in (14 * 3600 - 1, 14 * 3600)
    assert load.values.mean() == pytest.approx(70, rel=1e-9)
    parsed = parse_load_spec(spec)
    assert isinstance(parsed, DiurnalLoad)
    assert parsed.period_s == DAY  # YAML keys are natural, attributes carry units


def test_step_whole_and_inside_a_tick() -> None:
    assert run({"type": "step", "before": 1, "after": 3, "at": 3}).values.tolist() == [
        1,
        1,
        1,
        3,
        3,
    ]
    assert run({"type": "step", "before": 1, "after": 3, "at": "2.5s"}).values.tolist() == [
        1,
        1,
        2,
        3,
        3,
    ]


def test_ramp() -> None:
    load = run({"type": "ramp", "from": 0, "to": 4, "start": 1, "end": 3})
    assert load.values == pytest.approx([0, 1, 3, 4, 4], abs=1e-12)
    jump = run({"type": "ramp", "from": 2, "to": 4, "start": 2, "end": 2})
    assert jump.values == pytest.approx([2, 2, 4, 4, 4], abs=1e-12)


def test_spike_rise_and_decay() -> None:
    spec = {"type": "spike", "base": 5, "start": 10, "rise": 10, "height": 100, "decay": 20}
    load = run(spec, duration_s=40, tick_s=10)
    decay_1 = 100 * 20 * (1 - math.exp(-0.5)) / 10
    assert load.values == pytest.approx(
        [5, 5 + 50, 5 + decay_1, 5 + decay_1 * math.exp(-0.5)], rel=1e-12
    )
    fine = run(spec, duration_s=40, tick_s=1)
    assert fine.values[14] == pytest.approx(5 + 100 * (14.5 - 10) / 10)  # linear rise: mid-tick
    assert fine.values[9] == 5


def test_spike_without_rise_jumps() -> None:
    load = run({"type": "spike", "start": 2, "height": 10, "decay": "1s"}, duration_s=4)
    assert load.values == pytest.approx(
        [0, 0, 10 * (1 - math.exp(-1)), 10 * math.exp(-1) * (1 - math.exp(-1))]
    )


def test_sum_and_product() -> None:
    step = {"type": "step", "before": 1, "after": 3, "at": 2}
    assert run(
        {"type": "sum", "parts": [{"type": "constant", "rate": 2}, step]}
    ).values.tolist() == [
        3,
        3,
        5,
        5,
        5,
    ]
    product = {"type": "product", "parts": [{"type": "constant", "rate": 10}, step]}
    assert run(product).values.tolist() == [10, 10, 30, 30, 30]


def test_units_come_from_the_trace_column_and_must_agree() -> None:
    vm = trace("azure_vm2019_fleet_cpu_5min.csv", end="1h")
    assert run(vm, duration_s=3600, tick_s=None).unit == "cpu_cores"
    factor = {"type": "diurnal", "base": 0.5, "peak": 1.5, "period": "1h"}
    assert run({"type": "product", "parts": [factor, vm]}, duration_s=3600, tick_s=None).unit == (
        "cpu_cores"
    )
    mixed = {
        "type": "sum",
        "parts": [vm, {"type": "constant", "rate": 1, "unit": "requests_per_s"}],
    }
    with pytest.raises(WorkloadError, match=r"load: a sum mixes units: cpu_cores, requests_per_s"):
        run(mixed, duration_s=3600, tick_s=None)


def test_check_load_checks_without_generating(tmp_path: Path) -> None:
    vm = trace("azure_vm2019_fleet_cpu_5min.csv")
    assert check_load(parse_load_spec(vm), base_dir=TRACES) == "cpu_cores"
    assert check_load(parse_load_spec({"type": "constant", "rate": 1}), base_dir=TRACES) == (
        "requests_per_s"
    )
    noisy_cpu = {"type": "sum", "parts": [{"type": "constant", "rate": 1}, {**vm, "poisson": True}]}
    with pytest.raises(WorkloadError, match=r"^parts\[1\]: poisson: only for request rates"):
        check_load(parse_load_spec(noisy_cpu), base_dir=TRACES)
    with pytest.raises(WorkloadError, match=r"^path: file not found: nope\.csv$"):
        check_load(parse_load_spec(trace("nope.csv")), base_dir=tmp_path)


# --------------------------------------------------------------------------- Poisson


@pytest.mark.parametrize("seed", [7, 8])
def test_poisson_declares_the_process_and_draws_no_counts(seed: int) -> None:
    """``poisson: true`` says requests arrive as a Poisson process at the load's rate, which
    is what the service model assumes: the values stay the rates, whatever the seed (a
    drawn count fed to the queueing maths would count the Poisson noise twice)."""
    spec: dict[str, Any] = {"type": "diurnal", "base": 1, "peak": 9, "period": "1m"}
    plain = run(spec, duration_s=600, seed=seed)
    declared = run({**spec, "poisson": True}, duration_s=600, seed=seed)
    assert np.array_equal(plain.values, declared.values)
    parts = {"type": "sum", "parts": [{"type": "constant", "rate": 3}, {**spec, "poisson": True}]}
    assert np.allclose(run(parts, duration_s=600, seed=seed).values, plain.values + 3)


# --------------------------------------------------------------------------- bundled traces

# file, step s, span s (README, rounded) ± tolerance, unit, max ± tol, mean ± tol
BUNDLED = [
    (
        "nasa_http_1995-07_per_minute.csv",
        60,
        27.6 * DAY,
        0.05 * DAY,
        "requests_per_s",
        6.75,
        0.005,
        0.79,
        0.005,
    ),
    ("nasa_http_1995-07-13_per_second.csv", 1, DAY, 0, "requests_per_s", 20, 0, 1.55, 0.005),
    ("worldcup98_per_minute.csv", 60, 87 * DAY, 0.05 * DAY, "requests_per_s", 3824, 0.5, 180, 0.5),
    ("worldcup98_peak_week_per_minute.csv", 60, 7 * DAY, 0, "requests_per_s", 3752, 0.5, 561, 0.5),
    (
        "azure_llm_inference_2023_code_per_second.csv",
        1,
        57 * 60,
        30,
        "requests_per_s",
        67,
        0,
        2.57,
        0.005,
    ),
    (
        "azure_llm_inference_2023_conv_per_second.csv",
        1,
        58 * 60,
        30,
        "requests_per_s",
        19,
        0,
        5.5,
        0.05,
    ),
    ("azure_vm2019_fleet_cpu_5min.csv", 300, 30 * DAY, 0, "cpu_cores", 78124, 0.5, 61846, 0.5),
]


@pytest.mark.parametrize(
    ("name", "step", "span", "span_tol", "unit", "peak", "peak_tol", "mean", "mean_tol"), BUNDLED
)
def test_bundled_trace_matches_its_readme(
    name: str,
    step: float,
    span: float,
    span_tol: float,
    unit: str,
    peak: float,
    peak_tol: float,
    mean: float,
    mean_tol: float,
) -> None:
    spec = parse_load_spec(trace(name))
    assert isinstance(spec, TraceLoad)
    recorded = read_trace(spec, base_dir=TRACES)
    assert recorded.step_s == step
    assert default_tick_s(spec, base_dir=TRACES) == step
    assert recorded.span_s == pytest.approx(span, abs=span_tol)
    load = build_load(
        spec, duration_s=recorded.span_s, rng=np.random.default_rng(0), base_dir=TRACES
    )
    assert load.unit == unit
    assert np.array_equal(load.values, recorded.values)  # own tick: the file's values exactly
    assert load.values.max() == pytest.approx(peak, abs=peak_tol)
    assert load.values.mean() == pytest.approx(mean, abs=mean_tol)
    assert load.values.min() >= 0
    # a 10× coarser tick keeps the mean over whole coarse ticks
    whole = len(load.values) // 10 * 10
    coarse = build_load(
        spec,
        duration_s=whole * step,
        tick_s=10 * step,
        rng=np.random.default_rng(0),
        base_dir=TRACES,
    )
    assert coarse.values.mean() == pytest.approx(load.values[:whole].mean(), rel=1e-12)
    assert coarse.values == pytest.approx(
        load.values[:whole].reshape(-1, 10).mean(axis=1), rel=1e-12
    )


def test_readme_lists_every_bundled_file() -> None:
    readme = (TRACES / "README.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in TRACES.iterdir() if p.name != "README.md")
    per_request = ["azure_llm_inference_2023_conv_requests.csv"]  # checked just below
    assert files == sorted([row[0] for row in BUNDLED] + ["NOTICE-worldcup98.txt", *per_request])
    for name in files:
        assert f"`{name}`" in readme
    assert "Copyright (C) 1997, 1998, 1999 Hewlett-Packard" in (
        TRACES / "NOTICE-worldcup98.txt"
    ).read_text(encoding="utf-8")


def test_bundled_per_request_trace_matches_its_readme_and_per_second_file() -> None:
    """The conversation requests: 19,366 rows over 58.4 min (README), and counted per
    clock second (the first request came at 18:15:46.681) they are exactly the bundled
    per-second file."""
    import pandas as pd

    requests = pd.read_csv(TRACES / "azure_llm_inference_2023_conv_requests.csv")
    assert len(requests) == 19_366
    assert requests["time_s"].is_monotonic_increasing
    assert abs(requests["time_s"].iloc[-1] - 3501.722) < 1e-9
    assert (requests[["prompt_tokens", "output_tokens"]] >= 1).all().all()
    per_second = pd.read_csv(TRACES / "azure_llm_inference_2023_conv_per_second.csv")
    counts = np.bincount(
        np.floor(requests["time_s"].to_numpy() + 0.681).astype(int), minlength=len(per_second)
    )
    recorded = per_second["requests_per_s"].to_numpy().astype(int)
    # (time_s is rounded to the millisecond: a request can cross a second's edge)
    assert counts.sum() == recorded.sum()
    assert np.abs(counts - recorded).max() <= 2
    assert np.count_nonzero(counts != recorded) <= 0.01 * recorded.size


def test_per_minute_window_equals_per_second_launch_day_resampled() -> None:
    window = trace(
        "nasa_http_1995-07_per_minute.csv", start="1995-07-13T04:00:00Z", end="1995-07-14T04:00:00Z"
    )
    minutes = run(window, duration_s=DAY, tick_s=None)
    seconds = run(trace("nasa_http_1995-07-13_per_second.csv"), duration_s=DAY, tick_s=60)
    assert minutes.tick_s == 60
    assert minutes.values == pytest.approx(seconds.values, abs=5e-5)  # file rounds to 4 decimals


def test_window_by_duration_scale_time_scale_and_loop() -> None:
    name = "worldcup98_peak_week_per_minute.csv"
    full = run(trace(name), duration_s=7 * DAY, tick_s=None).values
    day2 = run(trace(name, start="1d", end="2d", scale=0.5), duration_s=DAY, tick_s=None)
    assert np.array_equal(day2.values, full[1440:2880] * 0.5)
    fast = run(trace(name, start="1d", end="2d", time_scale=0.5), duration_s=DAY / 2, tick_s=None)
    assert fast.tick_s == 30
    assert np.array_equal(fast.values, full[1440:2880])
    looped = run(trace(name, end="1h", loop=True), duration_s=3 * 3600, tick_s=None)
    assert np.array_equal(looped.values, np.tile(full[:60], 3))
    mid_step = run(trace(name, start="30s", end="2m30s"), duration_s=120, tick_s=60)
    assert mid_step.values == pytest.approx([full[:2].mean(), full[1:3].mean()], rel=1e-12)


def test_upsampling_holds_each_step() -> None:
    load = run(trace("azure_vm2019_fleet_cpu_5min.csv", end="1h"), duration_s=3600, tick_s=60)
    coarse = run(trace("azure_vm2019_fleet_cpu_5min.csv", end="1h"), duration_s=3600, tick_s=None)
    assert np.array_equal(load.values, np.repeat(coarse.values, 5))


def test_parquet_with_datetime_timestamps(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=4, freq="1min", tz="UTC"),
            "cpu_cores": [1.0, 2.0, 3.0, 4.0],
        }
    )
    frame.to_parquet(tmp_path / "t.parquet")
    load = run(
        trace("t.parquet", start="2024-01-01T00:01:00Z"),
        duration_s=180,
        tick_s=None,
        base_dir=tmp_path,
    )
    assert load.values.tolist() == [2, 3, 4]
    assert load.unit == "cpu_cores"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_gaps_hold_and_fill(tmp_path: Path) -> None:
    base = write(tmp_path, "timestamp,requests_per_s\n0,1\n60,\n120,3\n300,5\n")
    assert run(
        trace("t.csv", gaps="hold"), duration_s=360, tick_s=None, base_dir=base
    ).values.tolist() == [1, 1, 3, 3, 3, 5]
    filled = run(
        trace("t.csv", gaps="fill", fill_value=0.5), duration_s=360, tick_s=None, base_dir=base
    )
    assert filled.values.tolist() == [1, 0.5, 3, 0.5, 0.5, 5]
    # a gap outside the window does not matter
    assert run(
        trace("t.csv", start=120, end=180), duration_s=60, tick_s=None, base_dir=base
    ).values.tolist() == [3]


# --------------------------------------------------------------------------- errors

HEADER = "timestamp,requests_per_s\n"


@pytest.mark.parametrize(
    ("csv", "fields", "message"),
    [
        (None, {"path": "nope.csv"}, r"path: file not found: nope\.csv"),
        (
            HEADER + "0,1\n60,2\n",
            {"column": "cpu_cores"},
            r"t\.csv: column 'cpu_cores' not found \(columns: timestamp, requests_per_s\)",
        ),
        (
            "time,rate\n0,1\n60,2\n",
            {},
            r"t\.csv: timestamp: column not found \(columns: time, rate\)",
        ),
        (
            "timestamp,a,b\n0,1,2\n60,2,3\n",
            {},
            r"t\.csv: column: required, the file has several value columns: a, b",
        ),
        (
            HEADER + "0,1\n120,2\n60,3\n",
            {},
            r"t\.csv: timestamp: not sorted: line 4 \(60\) is earlier than line 3 \(120\)",
        ),
        (
            HEADER + "0,1\n60,2\n60,3\n",
            {},
            r"t\.csv: timestamp: duplicate: line 4 \(60\) repeats line 3",
        ),
        (
            HEADER + "0,1\n60,\n120,3\n",
            {},
            r"t\.csv: requests_per_s: NaN \(empty\) at line 3 \(timestamp 60\).*gaps: hold",
        ),
        (
            HEADER + "2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,2\n2024-01-01T00:04:00Z,3\n",
            {},
            r"t\.csv: timestamp: gap at 2024-01-01T00:02:00Z: no rows for 2m \(2 steps of 60 s\)",
        ),
        (
            HEADER + "0,1\n60,-2\n",
            {},
            r"t\.csv: requests_per_s: negative value -2 at line 3 \(timestamp 60\)",
        ),
        (HEADER + "0,1\n60,abc\n", {}, r"t\.csv: requests_per_s: not a number 'abc' at line 3"),
        (
            HEADER + "0,1\n60,2\n150,3\n",
            {},
            r"t\.csv: timestamp: not on a regular step of 60 s: line 4 \(150\) is 90 s after",
        ),
        (
            HEADER + "0,1\nyesterday,2\n",
            {},
            r"t\.csv: timestamp: not an ISO 8601 time or number of seconds at line 2",
        ),
        (HEADER + "0,1\n", {}, r"t\.csv: needs at least 2 rows to know its step, has 1"),
        (
            HEADER + "0,1\n60,2\n",
            {"end": "10m"},
            r"t\.csv: end: t=600 s is outside the trace \(t=0 s to t=120 s\)",
        ),
        (
            HEADER + "0,1\n60,2\n",
            {"start": "2024-01-01T00:00:00Z"},
            r"t\.csv: start: 2024-01-01T00:00:00\+00:00 is a timestamp but the trace's "
            "timestamps are seconds",
        ),
        (
            HEADER + "0,1\n60,2\n",
            {"start": 60, "end": 60},
            r"t\.csv: end \(t=60 s\) must be after start",
        ),
    ],
)
def test_bad_trace_one_clear_error(
    tmp_path: Path, csv: str | None, fields: dict[str, Any], message: str
) -> None:
    if csv is not None:
        write(tmp_path, csv)
    spec = trace("t.csv", **fields)
    with pytest.raises(WorkloadError, match=message):
        run(spec, duration_s=60, tick_s=60, base_dir=tmp_path)


def test_run_longer_than_the_trace(tmp_path: Path) -> None:
    write(tmp_path, HEADER + "0,1\n60,2\n")
    with pytest.raises(
        WorkloadError, match=r"load: .*t\.csv: the trace window lasts 2m .* needs 5m.*loop: true"
    ):
        run(trace("t.csv"), duration_s=300, tick_s=60, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"type": "sine", "rate": 1},
            r"load: Input tag 'sine' found using 'type' does not match any of the expected tags",
        ),
        (
            {"type": "constant", "rate": 1, "burst": 2},
            r"load\.burst: Extra inputs are not permitted, got 2",
        ),
        (
            {"type": "diurnal", "base": 1, "peak": 2, "period": "-1h"},
            r"load\.period: not a duration: '-1h'",
        ),
        (
            {"type": "step", "before": 1, "after": 2, "at": -5},
            r"load\.at: not a duration \(must be finite and >= 0 seconds\): -5",
        ),
        (
            {"type": "constant", "rate": -1},
            r"load\.rate: Input should be greater than or equal to 0, got -1",
        ),
        ({"type": "constant"}, r"load\.rate: required field is missing"),
        (
            {"type": "sum", "parts": [{"type": "constant", "rte": 1}]},
            r"load\.parts\[0\]\.rate: required field is missing",
        ),
        ({"type": "diurnal", "base": 5, "peak": 2}, r"load: peak \(2\) must be >= base \(5\)"),
        (
            {"type": "ramp", "from": 0, "to": 1, "start": "2h", "end": "1h"},
            r"load: end \(3600 s\) must be >= start \(7200 s\)",
        ),
        (
            {"type": "spike", "start": 0, "height": 1, "decay": 0},
            r"load\.decay: Input should be greater than 0",
        ),
        (
            {"type": "trace", "path": "x.csv", "gaps": "fill"},
            r"load: fill_value is required with gaps: fill",
        ),
        (
            {"type": "trace", "path": "x.csv", "gaps": "skip"},
            r"load\.gaps: Input should be 'error', 'hold' or 'fill'",
        ),
        (
            {"type": "trace", "path": "x.csv", "start": "noon"},
            r"load\.start: expected a duration from the trace start",
        ),
        ({"type": "sum", "parts": []}, r"load\.parts: Tuple should have at least 1 item"),
    ],
)
def test_bad_spec_one_clear_error(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        parse_load_spec(spec)


@pytest.mark.parametrize(
    ("spec", "duration_s", "tick_s", "message"),
    [
        (
            {"type": "constant", "rate": 1},
            10,
            3,
            r"load: the duration 10s is not a whole number of 3 s ticks",
        ),
        (
            {"type": "constant", "rate": 1},
            10,
            0,
            r"load: tick must be a positive number of seconds, got 0",
        ),
        ({"type": "constant", "rate": 1}, -1, 1, r"load: duration must be positive, got -1 s"),
        (
            {"type": "constant", "rate": 1, "unit": "cpu_cores", "poisson": True},
            10,
            1,
            r"load: poisson: only for request rates \(requests_per_s\), this load is in cpu_cores",
        ),
        (
            {
                "type": "product",
                "parts": [
                    {"type": "constant", "rate": 1, "unit": "cpu_cores"},
                    {"type": "constant", "rate": 1, "unit": "cpu_cores"},
                ],
            },
            10,
            1,
            r"load: a product may have one part with a unit",
        ),
    ],
)
def test_bad_build_one_clear_error(
    spec: dict[str, Any], duration_s: float, tick_s: float, message: str
) -> None:
    with pytest.raises(WorkloadError, match=message):
        run(spec, duration_s=duration_s, tick_s=tick_s)


# --------------------------------------------------------------------------- properties

rates = st.floats(0, 100, allow_nan=False, allow_infinity=False)
# Durations are 0 or at least 1 µs (capsim.scenario.limits: the resolution of a duration).
seconds = st.just(0.0) | st.floats(1e-6, 3600, allow_nan=False, allow_infinity=False)


@given(
    values=st.lists(rates, min_size=1, max_size=40),
    step_s=st.sampled_from([1.0, 2.5, 60.0, 300.0]),
    ticks_per_span=st.integers(1, 25),
    loops=st.integers(1, 3),
)
def test_resampling_preserves_the_mean_over_whole_windows(
    values: list[float], step_s: float, ticks_per_span: int, loops: int
) -> None:
    recorded = Trace(values=np.array(values), step_s=step_s, unit="requests_per_s", loop=True)
    tick = recorded.span_s / ticks_per_span
    means = recorded.tick_means(tick, ticks_per_span * loops)
    assert means.mean() == pytest.approx(np.mean(values), rel=1e-9, abs=1e-9)
    assert means.min() >= 0


@given(
    values=st.lists(rates, min_size=2, max_size=40),
    factor=st.integers(1, 6),
    upsample=st.booleans(),
)
def test_aligned_ticks_are_block_means_or_held_steps(
    values: list[float], factor: int, upsample: bool
) -> None:
    recorded = Trace(values=np.array(values), step_s=60.0, unit="requests_per_s")
    if upsample:
        held = recorded.tick_means(60.0 / factor, len(values) * factor)
        assert np.array_equal(held, np.repeat(values, factor))
    else:
        whole = len(values) // factor
        if whole:
            means = recorded.tick_means(60.0 * factor, whole)
            expected = np.array(values[: whole * factor]).reshape(whole, factor).mean(axis=1)
            assert means == pytest.approx(expected, rel=1e-12, abs=1e-12)


def shapes() -> st.SearchStrategy[dict[str, Any]]:
    leaves = st.one_of(
        st.builds(lambda r: {"type": "constant", "rate": r}, rates),
        st.builds(
            lambda b, extra, p, at: {
                "type": "diurnal",
                "base": b,
                "peak": b + extra,
                "period": p,
                "peak_at": at,
            },
            rates,
            rates,
            st.floats(1, 1e5),
            seconds,
        ),
        st.builds(
            lambda a, b, at: {"type": "step", "before": a, "after": b, "at": at},
            rates,
            rates,
            seconds,
        ),
        st.builds(
            lambda a, b, s, w: {"type": "ramp", "from": a, "to": b, "start": s, "end": s + w},
            rates,
            rates,
            seconds,
            seconds,
        ),
        st.builds(
            lambda b, s, r, h, d: {
                "type": "spike",
                "base": b,
                "start": s,
                "rise": r,
                "height": h,
                "decay": d,
            },
            rates,
            seconds,
            seconds,
            rates,
            st.floats(1e-3, 3600),
        ),
    )
    return st.recursive(
        leaves,
        lambda children: st.builds(
            lambda kind, parts: {"type": kind, "parts": parts},
            st.sampled_from(["sum", "product"]),
            st.lists(children, min_size=1, max_size=3),
        ),
        max_leaves=5,
    )


@given(
    spec=shapes(),
    tick_s=st.sampled_from([0.25, 1.0, 7.0, 60.0]),
    ticks=st.integers(1, 200),
    poisson=st.booleans(),
)
def test_non_negative_specs_give_non_negative_values(
    spec: dict[str, Any], tick_s: float, ticks: int, poisson: bool
) -> None:
    try:
        load = run({**spec, "poisson": poisson}, duration_s=ticks * tick_s, tick_s=tick_s)
    except WorkloadError as error:  # products of random parts can pass the rate limit
        assume("more than the limit" not in str(error))
        raise
    assert len(load.values) == ticks
    assert np.isfinite(load.values).all()
    assert load.values.min() >= 0
