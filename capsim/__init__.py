"""capsim: a capacity and autoscaling simulator (Kubernetes HPA with exact upstream
``autoscaling/v2`` semantics, the cluster autoscaler, VM autoscaling groups).

Python API::

    import capsim
    scenario = capsim.load_scenario("web-diurnal")          # a bundled name or a path
    result = capsim.run(scenario, seed=None, progress=False)  # -> capsim.RunResult
    result.timeseries, result.events, result.jobs            # pandas DataFrames
    result.summary["platforms"]["vm"]["cost_usd"]            # the JSON summary
    result.save("reports/web-diurnal")                       # atomic
    again = capsim.RunResult.load("reports/web-diurnal")

``import capsim`` is light: the names above are imported on first use, and nothing here
imports the Kubernetes client, Dask, matplotlib or Numba.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capsim._lazy import load_attribute

if TYPE_CHECKING:
    from capsim.results.run_result import RunResult
    from capsim.results.simulate import run
    from capsim.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["RunResult", "Scenario", "ScenarioError", "__version__", "load_scenario", "run"]

_LAZY = {
    "RunResult": "capsim.results.run_result",
    "run": "capsim.results.simulate",
    "Scenario": "capsim.scenario",
    "ScenarioError": "capsim.scenario",
    "load_scenario": "capsim.scenario",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("capsim")
        except PackageNotFoundError:  # pragma: no cover - a tree that was never installed
            return "unknown"
    return load_attribute(__name__, globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
