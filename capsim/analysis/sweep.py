"""Sweeps of whole scenarios: every combination of settings × seeds through the engine,
in parallel, summarized with confidence intervals.

``--set KEY=V1,V2,…`` names what varies. ``KEY`` is either a dotted path into the
scenario (``workloads[0].cpu_ms_per_request``, ``platforms.k8s.node_pools[0].max_nodes``)
or a shorthand that applies to every workload of every platform where it fits:

* ``hpa.targetUtilization``: the CPU Utilization target of each inline HPA;
* ``hpa.minReplicas`` / ``hpa.maxReplicas``: each inline HPA's bounds;
* ``pod.<field>``: a field of each Kubernetes pod template (``pod.cpu_request=500m,1``);
* ``vm.<field>``: a field of each VM group's ``autoscaling`` (``vm.target_pct=40,60``).

Values are read as YAML scalars (``50`` is a number, ``500m`` a string). A key that
matches nothing is an error naming it.

**Size.** At most :data:`MAX_RUNS` runs (the product of the numbers of values of every
``--set``, times the seeds); a bigger grid is refused before anything is parsed or run.

**Running.** One run per (combination, seed); seeds are ``scenario seed + 0, 1, …``.
Runs go to a local process pool, to a Dask ``LocalCluster`` started with ``workers``, or
to a Dask cluster at ``scheduler`` (``tcp://host:8786``), with the deadlines of
:mod:`capsim.analysis.parallel`. Every combination is parsed and checked here, and the
files it names (traces, arrival files, HPA manifests) are read here, once
(:mod:`capsim.scenario.portable`): a run carries its parsed scenario, the traces are
shipped once to every worker, and no worker opens a file, so relative paths work and no
shared file system is needed. Each run returns only its flattened summary, so little
crosses the network. Results are in submission order, so a sweep is reproducible (the same
numbers, bit for bit) whatever ran it.

**Summary.** Per combination and platform, the mean of each metric over seeds and its
95 % confidence interval from Student's t (``mean ± t₀.₉₇₅,ₙ₋₁ · s / √n``; none for
one seed).
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from capsim.analysis.confidence import student_t_quantile
from capsim.analysis.parallel import DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_TIMEOUT_S, map_runs
from capsim.models.slo import SloVerdict, verdict_from_dict
from capsim.scenario.base import ScenarioError

if TYPE_CHECKING:
    from capsim.scenario import Scenario
    from capsim.scenario.portable import Shipped

__all__ = [
    "MAX_RUNS",
    "Setting",
    "apply_setting",
    "combinations",
    "grid_size",
    "map_runs",
    "parse_setting",
    "run_one",
    "summarize_runs",
    "sweep",
]

MAX_RUNS = 10_000
"""Most runs one sweep may ask for (combinations × seeds)."""

_SHORTHANDS = ("hpa.", "pod.", "vm.")
_PLATFORM_METRICS = ("cost_usd", "cost_per_hour_usd", "cpu_utilization_pct", "nodes_mean")


@dataclass(frozen=True)
class Setting:
    """One swept key and its values."""

    key: str
    values: tuple[Any, ...]


def parse_setting(text: str) -> Setting:
    """``KEY=V1,V2,…`` → :class:`Setting`; raises :class:`ScenarioError` naming the text.
    Values are read by the strict YAML parser (no duplicate keys, bounded aliases)."""
    from capsim.scenario.parsing import parse_yaml_text

    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ScenarioError(f"--set: expected KEY=VALUE[,VALUE…], got {text!r}")
    pieces = values.split(",")
    if len(pieces) > MAX_RUNS:
        raise ScenarioError(
            f"--set {key.strip()}: at most {MAX_RUNS:,} values, got {len(pieces):,}"
        )
    parsed = []
    for piece in pieces:
        try:
            parsed.append(parse_yaml_text(piece.strip()))
        except yaml.YAMLError as exc:
            problem = " ".join(str(exc).split())
            raise ScenarioError(
                f"--set {key.strip()}: cannot read {piece.strip()!r} as a YAML value: {problem}"
            ) from None
    return Setting(key.strip(), tuple(parsed))


def grid_size(settings: Sequence[Setting], seeds: int = 1) -> int:
    """How many runs a sweep asks for: the product of the settings' value counts × seeds."""
    return math.prod(len(s.values) for s in settings) * seeds


def _check_grid(settings: Sequence[Setting], seeds: int, where: str) -> None:
    runs = grid_size(settings, seeds)
    if runs > MAX_RUNS:
        axes = " × ".join(f"{len(s.values):,}" for s in settings) or "1"
        raise ScenarioError(
            f"{where}: --set × --seeds: at most {MAX_RUNS:,} runs per sweep, got {runs:,} "
            f"({axes} values × {seeds:,} seeds); sweep fewer values or seeds"
        )


def _path(key: str) -> list[str | int]:
    """``a.b[0].c`` → ``["a", "b", 0, "c"]``."""
    parts: list[str | int] = []
    for piece in key.split("."):
        match = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", piece)
        if match is None:
            raise ScenarioError(f"--set {key}: cannot read {piece!r} as a field or field[index]")
        parts.append(match.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return parts


def _set_path(data: Any, parts: Sequence[str | int], value: Any, key: str) -> None:
    node = data
    for depth, part in enumerate(parts[:-1]):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            where = "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts[: depth + 1]
            ).lstrip(".")
            raise ScenarioError(f"--set {key}: the scenario has no {where}") from None
    last = parts[-1]
    if isinstance(node, list) and not (isinstance(last, int) and last < len(node)):
        raise ScenarioError(f"--set {key}: index {last} is out of range")
    if not isinstance(node, dict | list):
        raise ScenarioError(f"--set {key}: {parts[-2]} is not a mapping")
    node[last] = value  # type: ignore[index]


def _mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one (the shape is checked later, by
    parsing the result: a setting never fails on a scenario that is not yet valid)."""
    return value if isinstance(value, dict) else {}


def _workloads(data: dict[str, Any], kind: str) -> Iterable[dict[str, Any]]:
    for platform in _mapping(data.get("platforms")).values():
        if _mapping(platform).get("kind") == kind:
            for config in _mapping(platform.get("workloads")).values():
                if isinstance(config, dict):
                    yield config


def _set_cpu_target(hpa: dict[str, Any], value: Any) -> int:
    changed = 0
    metrics = hpa.get("metrics")
    for metric in metrics if isinstance(metrics, list) else []:
        resource = _mapping(_mapping(metric).get("resource"))
        target = _mapping(resource.get("target"))
        if resource.get("name") == "cpu" and "averageUtilization" in target:
            target["averageUtilization"] = value
            changed += 1
    return changed


def _apply_shorthand(data: dict[str, Any], key: str, value: Any) -> int:
    """Apply a shorthand key; returns how many places it changed."""
    group, _, field = key.partition(".")
    changed = 0
    for config in _workloads(data, "vm" if group == "vm" else "kubernetes"):
        if group in ("pod", "vm"):
            part = config.get("pod" if group == "pod" else "autoscaling")
            if isinstance(part, dict):
                part[field] = value
                changed += 1
            continue
        hpa = config.get("hpa")
        if not isinstance(hpa, dict):
            continue
        if field == "targetUtilization":
            changed += _set_cpu_target(hpa, value)
        else:
            hpa[field] = value
            changed += 1
    return changed


def apply_setting(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of the scenario mapping with ``key`` set to ``value`` (see module docs)."""
    out = copy.deepcopy(data)
    if key.startswith(_SHORTHANDS) and key.count(".") == 1 and "[" not in key:
        if _apply_shorthand(out, key, value) == 0:
            raise ScenarioError(f"--set {key}: no workload of the scenario has that to set")
        return out
    _set_path(out, _path(key), value, key)
    return out


def combinations(settings: Sequence[Setting]) -> list[dict[str, Any]]:
    """Every combination of the settings' values, in order (the last varies fastest)."""
    keys = [s.key for s in settings]
    return [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(s.values for s in settings))
    ]


def _flatten(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per platform: its numbers, and each workload's as ``workload.metric``."""
    rows = []
    for platform, entry in summary["platforms"].items():
        row: dict[str, Any] = {"platform": platform}
        for key, value in entry.items():
            if key == "workloads":
                for workload, metrics in value.items():
                    for name, number in metrics.items():
                        if isinstance(number, int | float) and not isinstance(number, bool):
                            row[f"{workload}.{name}"] = float(number)
                        elif name == "slo" and isinstance(number, dict):
                            row |= _slo_columns(workload, verdict_from_dict(number))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                row[key] = float(value)
        rows.append(row)
    return rows


def _slo_columns(workload: str, verdict: SloVerdict) -> dict[str, float]:
    """A service's SLO verdict as numbers: met (1, else 0: missed or not judged, so a mean
    over seeds of 1 means met in every seed) and the largest share of an error budget
    used (%)."""
    return {
        f"{workload}.slo_met": 1.0 if verdict.met is True else 0.0,
        f"{workload}.slo_budget_used_pct": verdict.budget_used_pct,
    }


def run_one(job: tuple[Scenario, int], traces: Mapping[str, Shipped]) -> list[dict[str, Any]]:
    """Run one portable scenario (:func:`capsim.scenario.portable.make_portable`) with
    ``seed``, reading traces only from ``traces``; its flattened summary. A top-level
    function, so process pools and Dask workers can import it; it opens no file."""
    from capsim.results.simulate import run
    from capsim.scenario.portable import run_portable

    scenario, seed = job
    with run_portable(traces):
        result = run(scenario, seed=seed)
    return _flatten(result.summary)


def sweep(
    data: dict[str, Any],
    base_dir: Path,
    settings: Sequence[Setting],
    *,
    seeds: int = 1,
    workers: int | None = None,
    scheduler: str | None = None,
    processes: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    source: str = "scenario",
) -> pd.DataFrame:
    """Run every combination × seed; one row per (combination, seed, platform), with
    the settings as ``set:<key>`` columns. ``source`` names the scenario in messages.

    Everything that can be checked is checked before anything runs, here: the grid's size
    (:data:`MAX_RUNS`), every combination (parsed), and the files each names (read once,
    module docs). Raises :class:`ScenarioError` (or the loader's own input errors) for
    bad input, :class:`~capsim.analysis.parallel.ClusterError` when the workers cannot be
    reached or fail as a cluster.
    """
    from capsim.scenario import parse_scenario
    from capsim.scenario.portable import make_portable

    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ScenarioError(f"{source}: --seeds: must be a whole number >= 1, got {seeds!r}")
    _check_grid(settings, seeds, source)
    jobs: list[tuple[Scenario, int]] = []
    labels = []
    traces: dict[str, Shipped] = {}
    for combo in combinations(settings):
        data_set = data
        for key, value in combo.items():
            data_set = apply_setting(data_set, key, value)
        where = f"{source} ({_label(combo)})" if combo else source
        parsed = parse_scenario(data_set, where=where, base_dir=base_dir)
        scenario, read = make_portable(parsed)
        traces.update(read)
        for offset in range(seeds):
            jobs.append((scenario, scenario.seed + offset))
            labels.append((combo, scenario.seed + offset))
    results = map_runs(
        run_one,
        jobs,
        shared=traces,
        workers=workers,
        scheduler=scheduler,
        processes=processes,
        timeout_s=timeout_s,
        connect_timeout_s=connect_timeout_s,
    )
    rows = []
    for (combo, seed), platform_rows in zip(labels, results, strict=True):
        for row in platform_rows:
            settings_columns = {f"set:{k}": v for k, v in combo.items()}
            rows.append({**settings_columns, "combination": _label(combo), "seed": seed, **row})
    return pd.DataFrame(rows)


def _label(combo: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in combo.items()) or "as written"


def summarize_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Per combination and platform: ``<metric>`` (mean over seeds), ``<metric>_ci95``
    (half-width of the 95 % interval; NaN for one seed) and ``seeds``."""

    numeric = [
        c
        for c in runs.columns
        if not c.startswith("set:")
        and c != "seed"
        and pd.api.types.is_numeric_dtype(runs[c])
        and ("." in c or c in _PLATFORM_METRICS)
    ]
    out = []
    for (combination, platform), group in runs.groupby(["combination", "platform"], sort=False):
        n = len(group)
        row: dict[str, Any] = {"combination": combination, "platform": platform, "seeds": n}
        t = student_t_quantile(0.975, n - 1) if n > 1 else math.nan
        for column in numeric:
            values = group[column].to_numpy(np.float64)
            mean = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
            spread = float(np.nanstd(values, ddof=1)) if n > 1 else math.nan
            row[column] = mean
            row[f"{column}_ci95"] = t * spread / math.sqrt(n) if n > 1 else math.nan
        out.append(row)
    return pd.DataFrame(out)
