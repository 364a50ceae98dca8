"""capsim's engine side: scenarios, load, the exact HPA maths, queueing and scaling models,
and the discrete-event engine.

Python API::

    import simulator
    scenario = simulator.load_scenario("scenarios/web-diurnal.yaml")  # raises ScenarioError
    result = simulator.run(scenario, seed=None, progress=False)    # -> RunResult
    result.save("reports/web-diurnal")                                 # atomic
    again = simulator.RunResult.load("reports/web-diurnal")

Importing ``simulator`` never imports the Kubernetes client, Dask or matplotlib.
"""

from simulator.engine import run
from simulator.result import RunResult
from simulator.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["RunResult", "Scenario", "ScenarioError", "load_scenario", "run"]
