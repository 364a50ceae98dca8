"""One call from a scenario to its result: simulate, then summarize."""

from __future__ import annotations

from capsim.engine.progress import ProgressCallback
from capsim.engine.run import simulate
from capsim.results.run_result import RunResult
from capsim.scenario import Scenario

__all__ = ["run"]


def run(
    scenario: Scenario, seed: int | None = None, progress: bool | ProgressCallback = False
) -> RunResult:
    """Simulate every platform of ``scenario`` against the same load and return the
    result (:func:`capsim.engine.run.simulate` says how).

    ``seed`` overrides the scenario's; ``progress=True`` draws a bar per platform on
    stderr, a callable instead receives ``(platform, simulated seconds done, total)``.
    """
    return RunResult.from_recording(simulate(scenario, seed, progress))
