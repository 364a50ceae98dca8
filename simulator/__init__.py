"""capsim's engine side: scenarios, load, the exact HPA maths, queueing and scaling models.

Python API (the engine itself arrives with ``simulator.run``)::

    import simulator
    scenario = simulator.load_scenario("scenarios/nasa-web.yaml")  # raises ScenarioError

Importing ``simulator`` never imports the Kubernetes client, Dask or matplotlib.
"""

from simulator.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario"]
