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

**Running.** One run per (combination, seed); seeds are ``scenario seed + 0, 1, …``.
Runs go to a local process pool, to a Dask ``LocalCluster`` started with ``workers``, or
to a Dask cluster at ``scheduler`` (``tcp://host:8786``). Each run returns only its
flattened summary, so little crosses the network. Results are in submission order, so a
sweep is reproducible whatever ran it.

**Summary.** Per combination and platform, the mean of each metric over seeds and its
95 % confidence interval from Student's t (``mean ± t₀.₉₇₅,ₙ₋₁ · s / √n``; none for
one seed).
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from capsim.analysis.confidence import student_t_quantile

__all__ = [
    "Setting",
    "apply_setting",
    "combinations",
    "map_runs",
    "parse_setting",
    "run_one",
    "summarize_runs",
    "sweep",
]

_SHORTHANDS = ("hpa.", "pod.", "vm.")
_PLATFORM_METRICS = ("cost_usd", "cost_per_hour_usd", "cpu_utilization_pct", "nodes_mean")


@dataclass(frozen=True)
class Setting:
    """One swept key and its values."""

    key: str
    values: tuple[Any, ...]


def parse_setting(text: str) -> Setting:
    """``KEY=V1,V2,…`` → :class:`Setting`; raises ``ValueError`` naming the text."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ValueError(f"--set {text!r}: expected KEY=VALUE[,VALUE…]")
    parsed = tuple(yaml.safe_load(v.strip()) for v in values.split(","))
    return Setting(key.strip(), parsed)


def _path(key: str) -> list[str | int]:
    """``a.b[0].c`` → ``["a", "b", 0, "c"]``."""
    parts: list[str | int] = []
    for piece in key.split("."):
        match = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", piece)
        if match is None:
            raise ValueError(f"--set {key}: cannot read {piece!r} as a field or field[index]")
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
            raise ValueError(f"--set {key}: the scenario has no {where}") from None
    last = parts[-1]
    if isinstance(node, list) and not (isinstance(last, int) and last < len(node)):
        raise ValueError(f"--set {key}: index {last} is out of range")
    if not isinstance(node, dict | list):
        raise ValueError(f"--set {key}: {parts[-2]} is not a mapping")
    node[last] = value  # type: ignore[index]


def _workloads(data: dict[str, Any], kind: str) -> Iterable[dict[str, Any]]:
    for platform in data.get("platforms", {}).values():
        if platform.get("kind") == kind:
            yield from platform.get("workloads", {}).values()


def _apply_shorthand(data: dict[str, Any], key: str, value: Any) -> int:
    """Apply a shorthand key; returns how many places it changed."""
    group, _, field = key.partition(".")
    changed = 0
    if group == "pod":
        for config in _workloads(data, "kubernetes"):
            if "pod" in config:
                config["pod"][field] = value
                changed += 1
    elif group == "vm":
        for config in _workloads(data, "vm"):
            if "autoscaling" in config:
                config["autoscaling"][field] = value
                changed += 1
    elif group == "hpa":
        for config in _workloads(data, "kubernetes"):
            hpa = config.get("hpa")
            if hpa is None:
                continue
            if field == "targetUtilization":
                for metric in hpa.get("metrics", []):
                    target = metric.get("resource", {}).get("target", {})
                    if metric.get("resource", {}).get("name") == "cpu" and "averageUtilization" in (
                        target
                    ):
                        target["averageUtilization"] = value
                        changed += 1
            else:
                hpa[field] = value
                changed += 1
    return changed


def apply_setting(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of the scenario mapping with ``key`` set to ``value`` (see module docs)."""
    out = copy.deepcopy(data)
    if key.startswith(_SHORTHANDS) and key.count(".") == 1 and "[" not in key:
        if _apply_shorthand(out, key, value) == 0:
            raise ValueError(f"--set {key}: no workload of the scenario has that to set")
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
            elif isinstance(value, int | float) and not isinstance(value, bool):
                row[key] = float(value)
        rows.append(row)
    return rows


def run_one(job: tuple[dict[str, Any], str, int]) -> list[dict[str, Any]]:
    """Run one scenario mapping (``data``, ``base_dir``, ``seed``); its flattened summary.
    A top-level function, so process pools and Dask workers can import it."""
    import capsim
    from capsim.scenario import parse_scenario

    data, base_dir, seed = job
    scenario = parse_scenario(
        data, where=f"{data.get('name', 'scenario')}", base_dir=Path(base_dir)
    )
    result = capsim.run(scenario, seed=seed)
    return _flatten(result.summary)


def map_runs(
    function: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    processes: int | None = None,
) -> list[Any]:
    """``[function(item) for item in items]``, in parallel, results in input order.

    ``scheduler``: a Dask cluster's address; ``workers``: a Dask ``LocalCluster`` of that
    many single-threaded worker processes; neither: a local process pool of
    ``processes`` (default: the machine's cores).
    """
    if scheduler is not None or workers is not None:
        from distributed import Client, LocalCluster

        # distributed is untyped: its objects are Any here.
        client: Any
        cluster: Any = None
        if scheduler is not None:
            client = Client(scheduler)  # type: ignore[no-untyped-call]
        else:
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)  # type: ignore[no-untyped-call]
        try:
            return list(client.gather(client.map(function, items, pure=False)))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    if len(items) <= 1:
        return [function(item) for item in items]
    with ProcessPoolExecutor(max_workers=processes) as pool:
        return list(pool.map(function, items))


def sweep(
    data: dict[str, Any],
    base_dir: Path,
    settings: Sequence[Setting],
    *,
    seeds: int = 1,
    workers: int | None = None,
    scheduler: str | None = None,
    processes: int | None = None,
) -> pd.DataFrame:
    """Run every combination × seed; one row per (combination, seed, platform), with
    the settings as ``set:<key>`` columns.

    Bad settings are found before anything runs (each combination is validated).
    """
    from capsim.scenario import parse_scenario

    if seeds < 1:
        raise ValueError(f"--seeds: must be >= 1, got {seeds}")
    base_seed = int(data.get("seed", 0))
    jobs = []
    labels = []
    for combo in combinations(settings):
        scenario = data
        for key, value in combo.items():
            scenario = apply_setting(scenario, key, value)
        parse_scenario(scenario, where=_label(combo), base_dir=base_dir)  # fail early
        for offset in range(seeds):
            jobs.append((scenario, str(base_dir), base_seed + offset))
            labels.append((combo, base_seed + offset))
    results = map_runs(run_one, jobs, workers=workers, scheduler=scheduler, processes=processes)
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
