"""Report figures (capsim.report.figures) from small engine runs: which figures, labels and units,
one colour per platform, the SLO line, violation shading, the time unit and PNG output.

Service: 50 ms of CPU per request at concurrency 2. A Kubernetes pod limited to 1 core
serves 20 req/s; a VM of 2 vCPU (1.86 cores for the app) serves about 37 req/s. So under
60 req/s, 8 pods keep up, one VM saturates and its p95 hits the 30 s timeout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import capsim
from capsim.report.figures import (
    PALETTE,
    PLATFORM_COLORS,
    figures,
    platform_colors,
    save_png,
    time_axis,
    violation_spans,
)
from capsim.results.run_result import RunResult

SLO_MS = 1000.0
SERVICE_KEYS = ["load_web", "replicas_web", "latency_web", "requests_web"]
PLATFORM_KEYS = ["utilization", "nodes", "cost"]
BATCH_KEYS = ["batch_queue", "batch_waits"]

HPA = {
    "hpa": {
        "minReplicas": 2,
        "maxReplicas": 20,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60},
                },
            }
        ],
    }
}
VM_AUTOSCALING = {"autoscaling": {"target_pct": 50, "min": 2, "max": 20}}


# --- scenarios ---------------------------------------------------------------------------


def web(load: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "service",
        "name": "web",
        "load": load,
        "cpu_ms_per_request": 50,
        "concurrency": 2,
        "timeout": "30s",
        "slo": {"p95_latency_ms": SLO_MS},
    }


def train() -> dict[str, Any]:
    """Three one-worker jobs of 3 cores for 10 min, submitted at 0, 10 and 20 min."""
    return {
        "kind": "batch",
        "name": "train",
        "arrivals": {"times": ["0s", "600s", "1200s"]},
        "cpu": 3,
        "memory": "1Gi",
        "duration": "600s",
    }


def kubernetes(workloads: dict[str, Any]) -> dict[str, Any]:
    pool = {
        "name": "pool",
        "vcpu": 4,
        "memory": "16Gi",
        "price_per_hour": 0.2,
        "min_nodes": 1,
        "max_nodes": 10,
    }
    return {"kind": "kubernetes", "node_pools": [pool], "workloads": workloads}


def web_pod(scaling: dict[str, Any]) -> dict[str, Any]:
    pod = {"cpu_request": "500m", "cpu_limit": "1", "memory_request": "512Mi"}
    return {"pod": pod, **scaling}


def vms(workloads: dict[str, Any]) -> dict[str, Any]:
    instance = {"vcpu": 2, "memory": "4Gi", "price_per_hour": 0.05}
    return {"kind": "vm", "instance": instance, "workloads": workloads}


def scenario(
    name: str,
    workloads: list[dict[str, Any]],
    platforms: dict[str, Any],
    duration: str = "2h",
    tick: str = "10s",
) -> dict[str, Any]:
    return {
        "name": name,
        "seed": 1,
        "duration": duration,
        "tick": tick,
        "workloads": workloads,
        "platforms": platforms,
    }


def simulate(directory: Path, data: dict[str, Any]) -> RunResult:
    path = directory / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return capsim.run(capsim.load_scenario(path))


STEP = {"type": "step", "before": 20, "after": 80, "at": "30m"}
SATURATING = {"type": "step", "before": 20, "after": 60, "at": "1h"}
CONSTANT = {"type": "constant", "rate": 30}
BIG_VM = {"instance": {"vcpu": 4, "memory": "16Gi", "price_per_hour": 0.2}}  # fits a worker

SCENARIOS: dict[str, dict[str, Any]] = {
    # HPA and VM autoscaling under a step: scale events; the VM is slow for a few minutes
    "scaling": scenario(
        "scaling",
        [web(STEP)],
        {"k8s": kubernetes({"web": web_pod(HPA)}), "vm": vms({"web": VM_AUTOSCALING})},
    ),
    # fixed capacity: 8 pods keep up with 60 req/s, one VM does not (from 1 h on)
    "saturated": scenario(
        "saturated",
        [web(SATURATING)],
        {
            "k8s": kubernetes({"web": web_pod({"replicas": 8})}),
            "vm": vms({"web": {"instances": 1}}),
        },
    ),
    "mixed": scenario(
        "mixed",
        [web(CONSTANT), train()],
        {
            "k8s": kubernetes({"web": web_pod({"replicas": 4}), "train": {}}),
            "vm": vms({"web": {"instances": 2}, "train": BIG_VM}),
        },
    ),
    "batch": scenario(
        "batch",
        [train()],
        {"k8s": kubernetes({"train": {}}), "vm": vms({"train": BIG_VM})},
    ),
    # one platform, no replica at all: nothing served (p95 NaN), everything dropped
    "nothing": scenario(
        "nothing", [web(CONSTANT)], {"k8s": kubernetes({"web": web_pod({"replicas": 0})})}
    ),
    "day": scenario(
        "day",
        [web(CONSTANT)],
        {"k8s": kubernetes({"web": web_pod({"replicas": 4})})},
        duration="1d",
        tick="60s",
    ),
}


class Runs:
    """Each scenario of :data:`SCENARIOS` run on first use, once for the module."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.done: dict[str, RunResult] = {}

    def __getitem__(self, name: str) -> RunResult:
        if name not in self.done:
            self.done[name] = simulate(self.folder, SCENARIOS[name])
        return self.done[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory.mktemp("scenarios"))


# --- helpers over figures ----------------------------------------------------------------


def labelled_lines(ax: Axes) -> dict[str, Line2D]:
    return {str(line.get_label()): line for line in ax.get_lines()}


def shades(ax: Axes) -> dict[str, PolyCollection]:
    return {
        str(c.get_label()): c
        for c in ax.collections
        if isinstance(c, PolyCollection) and not str(c.get_label()).startswith("_")
    }


def only_axes(figure: Figure) -> Axes:
    assert len(figure.axes) == 1
    return figure.axes[0]


def owner(label: str, platforms: list[str]) -> str | None:
    """The platform a legend label belongs to (``"vm"``, ``"vm ready"``, ``"vm: …"``)."""
    for platform in platforms:
        if label == platform or label.startswith((f"{platform} ", f"{platform}:")):
            return platform
    return None


def artist_colours(figure: Figure, platforms: list[str]) -> Iterator[tuple[str, str]]:
    """``(platform, hex colour)`` of every labelled line and shaded span in ``figure``."""
    for ax in figure.axes:
        for label, line in labelled_lines(ax).items():
            platform = owner(label, platforms)
            if platform is not None:
                yield platform, hex_colour(line.get_color())
        for label, collection in shades(ax).items():
            platform = owner(label, platforms)
            if platform is not None:
                yield platform, face_colour(collection)


def hex_colour(colour: Any) -> str:
    """``#rrggbb`` of any matplotlib colour (alpha dropped)."""
    return to_hex(colour, keep_alpha=False)


def face_colour(collection: PolyCollection) -> str:
    return hex_colour(np.atleast_2d(np.asarray(collection.get_facecolor(), dtype=float))[0])


def span_extents(collection: PolyCollection) -> list[tuple[float, float]]:
    """``(x from, x to)`` of each shaded rectangle, in the time unit of the axis."""
    xs = [np.asarray(path.vertices, dtype=float)[:, 0] for path in collection.get_paths()]
    return [(float(x.min()), float(x.max())) for x in xs]


# --- which figures -----------------------------------------------------------------------


def test_service_only_two_platforms_gives_service_and_platform_figures(
    runs: Runs,
) -> None:
    assert list(figures(runs["scaling"])) == SERVICE_KEYS + PLATFORM_KEYS


def test_service_and_batch_gives_every_figure_in_reading_order(
    runs: Runs,
) -> None:
    assert list(figures(runs["mixed"])) == SERVICE_KEYS + PLATFORM_KEYS + BATCH_KEYS


def test_batch_only_gives_no_service_figures(runs: Runs) -> None:
    assert list(figures(runs["batch"])) == PLATFORM_KEYS + BATCH_KEYS


# --- labels, units, legends --------------------------------------------------------------


@pytest.mark.parametrize("name", ["scaling", "saturated", "mixed", "batch", "nothing", "day"])
def test_every_axes_has_title_units_and_a_legend_when_needed(runs: Runs, name: str) -> None:
    for key, figure in figures(runs[name]).items():
        assert figure.axes, key
        width, _ = figure.get_size_inches()
        assert width == pytest.approx(9.0), key
        for ax in figure.axes:
            assert ax.get_title(), key
            for label in (ax.get_xlabel(), ax.get_ylabel()):
                assert label, key
                assert "(" in label, f"{key}: no unit in {label!r}"
                assert label.endswith(")"), f"{key}: no unit in {label!r}"
            named = [
                a
                for a in (*ax.get_lines(), *ax.collections)
                if not str(a.get_label()).startswith("_")
            ]
            if len(named) > 1:
                assert ax.get_legend() is not None, key


def test_time_axes_are_in_minutes_for_two_hours(runs: Runs) -> None:
    for key, figure in figures(runs["saturated"]).items():
        if key == "batch_waits":
            continue
        ax = only_axes(figure)
        assert ax.get_xlabel() == "time since start (min)", key
        assert ax.get_xlim() == pytest.approx((0.0, 120.0)), key
    arrival = labelled_lines(only_axes(figures(runs["saturated"])["load_web"]))["arrival rate"]
    assert float(np.max(arrival.get_xdata())) == pytest.approx(120.0)


def test_time_axes_are_in_hours_for_a_day(runs: Runs) -> None:
    made = figures(runs["day"])
    for key, figure in made.items():
        ax = only_axes(figure)
        assert ax.get_xlabel() == "time since start (h)", key
        assert ax.get_xlim() == pytest.approx((0.0, 24.0)), key
    served = labelled_lines(only_axes(made["load_web"]))["k8s served"]
    assert float(np.max(served.get_xdata())) == pytest.approx(24.0)


@pytest.mark.parametrize(
    ("duration_s", "label"),
    [
        (60.0, "time since start (min)"),
        (3 * 3600.0, "time since start (min)"),
        (3 * 3600.0 + 1, "time since start (h)"),
        (3 * 86400.0, "time since start (h)"),
        (3 * 86400.0 + 1, "time since start (days)"),
        (30 * 86400.0, "time since start (days)"),
    ],
)
def test_time_unit_by_duration(duration_s: float, label: str) -> None:
    axis = time_axis(duration_s)
    assert axis.label == label
    assert float(axis.of(duration_s)) == pytest.approx(duration_s / axis.seconds_per_unit)


# --- colours -----------------------------------------------------------------------------


def test_platform_colours_are_palette_colours_by_sorted_name() -> None:
    assert platform_colors(["vm", "k8s", "vm"]) == {"k8s": PALETTE[0], "vm": PALETTE[1]}
    assert PLATFORM_COLORS(["b", "a"]) == {"a": PALETTE[0], "b": PALETTE[1]}
    many = platform_colors([f"p{i:02d}" for i in range(len(PALETTE) + 1)])
    assert many["p00"] == many[f"p{len(PALETTE):02d}"]  # cycles past the palette


@pytest.mark.parametrize("name", ["scaling", "saturated", "mixed"])
def test_each_platform_keeps_one_colour_across_figures(runs: Runs, name: str) -> None:
    platforms = ["k8s", "vm"]
    seen: dict[str, set[str]] = defaultdict(set)
    figures_with: dict[str, int] = defaultdict(int)
    for figure in figures(runs[name]).values():
        found = list(artist_colours(figure, platforms))
        for platform, colour in found:
            seen[platform].add(colour)
        for platform in {p for p, _ in found}:
            figures_with[platform] += 1
    expected = {p: hex_colour(c) for p, c in platform_colors(platforms).items()}
    assert dict(seen) == {p: {expected[p]} for p in platforms}
    assert expected["k8s"] != expected["vm"]
    assert all(count >= 6 for count in figures_with.values()), figures_with


# --- service figures ---------------------------------------------------------------------


def test_slo_line_is_drawn_at_the_slo(runs: Runs) -> None:
    ax = only_axes(figures(runs["scaling"])["latency_web"])
    slo = [line for label, line in labelled_lines(ax).items() if label.startswith("SLO")]
    assert len(slo) == 1
    assert np.asarray(slo[0].get_ydata(), dtype=float) == pytest.approx([SLO_MS, SLO_MS])
    assert hex_colour(slo[0].get_color()) == "#000000"
    assert ax.get_yscale() == "log"


@pytest.mark.parametrize("name", ["scaling", "saturated", "mixed", "day"])
def test_latency_is_on_one_log_axis_convention(runs: Runs, name: str) -> None:
    # every report: a log axis whatever the spread (saturated reaches the 30 s timeout,
    # mixed stays within a few ms), spanning every value and the SLO with room, at least
    # a decade, labelled at 1-2-5 steps in plain milliseconds
    ax = only_axes(figures(runs[name])["latency_web"])
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    drawn = np.concatenate(
        [np.asarray(line.get_ydata(), dtype=float) for line in labelled_lines(ax).values()]
    )
    drawn = drawn[np.isfinite(drawn) & (drawn > 0)]
    assert low < drawn.min() <= drawn.max() < high
    assert high / low >= 10.0 - 1e-9
    figure = ax.get_figure()
    assert figure is not None
    figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    assert len(labels) >= 2
    assert all(text.replace(".", "").isdigit() for text in labels), labels


def test_the_saturated_vm_reaches_the_timeout(runs: Runs) -> None:
    # the saturated VM's p95 reaches the 30 s timeout; the pods' stays near 300 ms
    ax = only_axes(figures(runs["saturated"])["latency_web"])
    lines = labelled_lines(ax)
    assert float(np.nanmax(np.asarray(lines["vm"].get_ydata(), dtype=float))) > 30_000


def test_no_shading_without_violation(runs: Runs) -> None:
    for name in ("mixed", "day"):
        ax = only_axes(figures(runs[name])["load_web"])
        assert shades(ax) == {}, name
        assert not ax.collections, name


@pytest.mark.parametrize("name", ["scaling", "saturated", "mixed", "day"])
def test_shaded_time_is_the_summarys_slo_violation_time(runs: Runs, name: str) -> None:
    # none of these drops a request while its p95 is within the target, so the shading
    # (p95 over the target, or drops) covers exactly the summary's violating time
    result = runs[name]
    shaded = shades(only_axes(figures(result)["load_web"]))
    duration_min = result.summary["duration_s"] / 60.0
    for platform, info in result.summary["platforms"].items():
        expected = info["workloads"]["web"]["slo_violation_time_pct"]
        spans = shaded.get(f"{platform}: SLO violated")
        widths = [b - a for a, b in span_extents(spans)] if spans is not None else []
        assert all(w > 0 for w in widths), (name, platform)
        assert 100 * sum(widths) / duration_min == pytest.approx(expected), (name, platform)
        assert (spans is None) == (expected == 0), (name, platform)


def test_violation_spans_are_shaded_in_the_violating_platforms_colour(
    runs: Runs,
) -> None:
    result = runs["saturated"]
    ax = only_axes(figures(result)["load_web"])
    shaded = shades(ax)
    assert list(shaded) == ["vm: SLO violated"]  # the pods keep up: no k8s shading
    vm = shaded["vm: SLO violated"]
    assert face_colour(vm) == hex_colour(platform_colors(["k8s", "vm"])["vm"])
    alpha = vm.get_alpha()
    assert alpha is not None
    assert 0 < alpha < 0.5
    # the VM saturates when the load steps up at 60 min and never recovers
    assert span_extents(vm) == [pytest.approx((60.0, 120.0))]
    # the shaded time is the time the summary counts as violating (p95 over the target)
    summary = result.summary["platforms"]["vm"]["workloads"]["web"]
    shaded_pct = 100 * sum(b - a for a, b in span_extents(vm)) / 120.0
    assert shaded_pct == pytest.approx(summary["slo_violation_time_pct"])


def test_shading_marks_drops_where_nothing_is_served(runs: Runs) -> None:
    # one platform, no replica: p95 is NaN throughout and every request is dropped
    made = figures(runs["nothing"])
    shaded = shades(only_axes(made["load_web"]))
    assert list(shaded) == ["k8s: SLO violated"]
    assert span_extents(shaded["k8s: SLO violated"]) == [pytest.approx((0.0, 120.0))]
    latency = only_axes(made["latency_web"])
    p95 = np.asarray(labelled_lines(latency)["k8s"].get_ydata(), dtype=float)
    assert np.isnan(p95).all()
    assert latency.get_yscale() == "log"  # the one convention, nothing to range on


def test_served_and_arrival_lines_follow_the_time_series(runs: Runs) -> None:
    result = runs["saturated"]
    lines = labelled_lines(only_axes(figures(result)["load_web"]))
    assert set(lines) == {"arrival rate", "k8s served", "vm served"}
    ts = result.timeseries
    vm = ts[(ts["platform"] == "vm") & (ts["workload"] == "web")].sort_values("time_s")
    served = lines["vm served"]
    # steps: row k is held over (t_{k-1}, t_k]; the first row also covers (0, t_0]
    assert np.asarray(served.get_xdata(), dtype=float) == pytest.approx(
        np.concatenate(([0.0], vm["time_s"].to_numpy() / 60.0))
    )
    assert np.asarray(served.get_ydata(), dtype=float)[1:] == pytest.approx(
        vm["served_rate"].to_numpy()
    )
    assert served.get_drawstyle() == "steps-pre"
    arrival = np.asarray(lines["arrival rate"].get_ydata(), dtype=float)
    assert arrival.max() == pytest.approx(60.0)
    # served over arrival: the arrival line shows only where a platform served less
    for platform in ("k8s", "vm"):
        assert lines[f"{platform} served"].get_zorder() > lines["arrival rate"].get_zorder()


def test_scale_events_are_marked_at_their_time_and_target(runs: Runs) -> None:
    result = runs["scaling"]
    lines = labelled_lines(only_axes(figures(result)["replicas_web"]))
    assert {"k8s ready", "k8s desired", "vm ready", "vm desired"} <= set(lines)
    assert lines["k8s desired"].get_linestyle() == "--"
    events = result.events
    for platform in ("k8s", "vm"):
        mine = events[(events["kind"] == "scale") & (events["platform"] == platform)]
        up = mine[mine["to"] > mine["from"]]
        assert len(up) > 0, platform
        marker = lines[f"{platform} scale up"]
        assert marker.get_marker() == "^"
        assert marker.get_linestyle() == "None"
        assert np.asarray(marker.get_xdata(), dtype=float) == pytest.approx(
            up["time_s"].to_numpy() / 60
        )
        assert np.asarray(marker.get_ydata(), dtype=float) == pytest.approx(up["to"].to_numpy())
        assert (f"{platform} scale down" in lines) == bool((mine["to"] < mine["from"]).any())


# --- platform figures --------------------------------------------------------------------


def test_platform_figures_have_one_line_per_platform(runs: Runs) -> None:
    result = runs["mixed"]
    made = figures(result)
    ts = result.timeseries
    for key in PLATFORM_KEYS:
        assert set(labelled_lines(only_axes(made[key]))) == {"k8s", "vm"}, key
    utilization = only_axes(made["utilization"])
    assert utilization.get_ylim() == (0.0, 100.0)
    # VMs: each workload counts its own VMs, so the platform's VMs are their sum
    vm = ts[ts["platform"] == "vm"]
    vm_nodes = vm.groupby("time_s")["nodes"].sum().to_numpy()
    nodes = labelled_lines(only_axes(made["nodes"]))["vm"]
    assert np.asarray(nodes.get_ydata(), dtype=float)[1:] == pytest.approx(vm_nodes)
    # the cost line rises from 0 at t = 0 to the summary's total
    cost = labelled_lines(only_axes(made["cost"]))["k8s"]
    y = np.asarray(cost.get_ydata(), dtype=float)
    assert y[0] == 0.0
    assert y[-1] == pytest.approx(result.summary["platforms"]["k8s"]["cost_usd"])
    assert (np.diff(y) >= 0).all()


def test_utilization_is_cpu_used_over_cpu_bought(runs: Runs) -> None:
    result = runs["mixed"]
    ts = result.timeseries
    k8s = ts[ts["platform"] == "k8s"].groupby("time_s")
    expected = 100 * k8s["cpu_used_cores"].sum() / k8s["platform_cpu_cores"].max()
    line = labelled_lines(only_axes(figures(result)["utilization"]))["k8s"]
    y = np.asarray(line.get_ydata(), dtype=float)[1:]
    assert y == pytest.approx(expected.to_numpy())
    assert 0 < y.max() <= 100


# --- batch figures -----------------------------------------------------------------------


def test_batch_queue_shows_running_and_queued_jobs(runs: Runs) -> None:
    result = runs["batch"]
    figure = figures(result)["batch_queue"]
    running, queued = figure.axes
    ts = result.timeseries
    for platform in ("k8s", "vm"):
        rows = ts[ts["platform"] == platform].sort_values("time_s")
        for ax, column, word in (
            (running, "jobs_running", "running"),
            (queued, "jobs_queued", "queued"),
        ):
            line = labelled_lines(ax)[f"{platform} {word}"]
            assert np.asarray(line.get_ydata(), dtype=float)[1:] == pytest.approx(
                rows[column].to_numpy()
            )
    assert max(np.max(line.get_ydata()) for line in running.get_lines()) >= 1


def test_batch_waits_are_a_cdf_of_start_minus_submit(runs: Runs) -> None:
    result = runs["mixed"]
    ax = only_axes(figures(result)["batch_waits"])
    jobs = result.jobs
    lines = ax.get_lines()
    assert len(lines) == 2
    for line in lines:
        platform = str(line.get_label()).split(" ")[0]
        mine = jobs[jobs["platform"] == platform]
        waits = (mine["start_s"] - mine["submit_s"]).dropna().sort_values().to_numpy()
        assert str(line.get_label()) == f"{platform} ({len(waits)}/{len(mine)} started)"
        scale = {"wait before start (s)": 1.0, "wait before start (min)": 60.0}[ax.get_xlabel()]
        x, y = (np.asarray(a, dtype=float) for a in (line.get_xdata(), line.get_ydata()))
        assert x[1:] == pytest.approx(waits / scale)
        assert y[-1] == pytest.approx(100 * len(waits) / len(mine))
        assert (np.diff(y) >= 0).all()
    assert ax.get_ylim() == (0.0, 100.0)


# --- pieces ------------------------------------------------------------------------------


def test_violation_spans_merge_runs_of_bad_rows() -> None:
    time_s = [60.0, 120.0, 180.0, 240.0, 300.0]
    assert violation_spans(time_s, [True, True, False, True, False]).tolist() == [
        [0.0, 120.0],
        [180.0, 240.0],
    ]
    assert violation_spans(time_s, [False, False, False, False, True]).tolist() == [[240.0, 300.0]]
    assert violation_spans(time_s, [False] * 5).shape == (0, 2)
    assert violation_spans([], []).shape == (0, 2)


def test_save_png_writes_a_png(tmp_path: Path, runs: Runs) -> None:
    figure = figures(runs["scaling"])["load_web"]
    target = tmp_path / "report" / "load_web.png"
    save_png(figure, target)
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 1000
    save_png(figure, target, dpi=50)  # replaces it
    smaller = target.read_bytes()
    assert smaller.startswith(b"\x89PNG")
    assert 0 < len(smaller) < len(data)
    assert [p.name for p in target.parent.iterdir()] == ["load_web.png"]  # nothing left over


def test_too_many_scale_events_are_counted_not_marked(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_SCALE_MARKERS events a platform's markers would bury its lines: none are
    drawn, and the legend counts them."""
    from capsim.report import figures as module

    result = runs["scaling"]
    events = result.events
    counts = {
        p: int(((events["kind"] == "scale") & (events["platform"] == p)).sum())
        for p in ("k8s", "vm")
    }
    monkeypatch.setattr(module, "MAX_SCALE_MARKERS", min(counts.values()) - 1)
    lines = labelled_lines(only_axes(figures(result)["replicas_web"]))
    for platform, count in counts.items():
        assert f"{platform} scale up" not in lines
        assert f"{platform}: {count:,} scale events, not marked" in lines
