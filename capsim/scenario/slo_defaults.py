"""The defaults of a service's SLO (:class:`capsim.scenario.workloads.Slo`) and of the
SLO ``capsim validate`` and ``capsim recommend`` judge by; a module of plain constants, so
the command line shows them in ``--help`` without importing the scenario models."""

from __future__ import annotations

__all__ = ["DEFAULT_SLO_OBJECTIVE_PCT", "DEFAULT_SLO_WINDOW_S", "DEFAULT_VALIDATE_MAX_ERROR_PCT"]

DEFAULT_SLO_WINDOW_S = 300.0
"""The latency objective's window unless the scenario sets ``slo.window`` (5 minutes)."""

DEFAULT_SLO_OBJECTIVE_PCT = 99.0
"""The share of windows that must meet the latency threshold unless the scenario sets
``slo.objective_pct``."""

DEFAULT_VALIDATE_MAX_ERROR_PCT = 0.1
"""``capsim validate``'s error objective unless ``--slo-max-error-pct`` is given: at most
0.1 % of the requests fail over the run. (A scenario's ``slo`` has no error objective
unless it sets ``max_error_rate``.)"""
