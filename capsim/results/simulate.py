"""One call from a scenario to its result: simulate, then summarize."""

from __future__ import annotations

from capsim.engine.progress import ProgressCallback
from capsim.engine.run import simulate
from capsim.results.run_result import RunResult
from capsim.results.sanity import sanity_checks
from capsim.scenario import Scenario, ServiceWorkload
from capsim.scenario.document import scenario_document
from capsim.scenario.load import clock_start

__all__ = ["run"]


def run(
    scenario: Scenario, seed: int | None = None, progress: bool | ProgressCallback = False
) -> RunResult:
    """Simulate every platform of ``scenario`` against the same load and return the
    result (:func:`capsim.engine.run.simulate` says how).

    ``seed`` overrides the scenario's; ``progress=True`` draws a bar per platform on
    stderr, a callable instead receives ``(platform, simulated seconds done, total)``.
    The summary's ``clock_start`` is the clock time (UTC, ISO 8601) of simulated second 0
    when the services' traces give one (:func:`capsim.scenario.load.clock_start`), else
    null; its ``checks`` list what :mod:`capsim.results.sanity` found. The result
    carries the scenario file that reproduces the run
    (``RunResult.scenario_document``: the scenario at the run's seed, its files by
    absolute path).
    """
    recording = simulate(scenario, seed, progress)
    document = scenario_document(scenario, seed=recording.seed)
    result = RunResult.from_recording(recording, document)
    findings = sanity_checks(scenario, result.summary, result.timeseries)
    result.summary["checks"] = [finding.as_dict() for finding in findings]
    start = clock_start(
        (w.load for w in scenario.workloads if isinstance(w, ServiceWorkload)),
        base_dir=scenario.base_dir,
        duration_s=scenario.duration_s,
    )
    result.summary["clock_start"] = (
        None if start is None else start.isoformat().replace("+00:00", "Z")
    )
    return result
