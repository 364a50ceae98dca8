"""Plain data the HPA maths works on: pods, metric samples, tolerances, results.

Times are float seconds on the simulation clock (any fixed origin); quantities are
integer milli-units (millicores for CPU, milli-bytes for memory, as the upstream
metrics client stores them).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MetricSample",
    "MetricsError",
    "PodInfo",
    "ReplicaResult",
    "Tolerances",
]


class MetricsError(ValueError):
    """A metric could not produce a replica proposal (upstream returns an error)."""


@dataclass(frozen=True)
class Tolerances:
    """No-op band around a usage ratio of 1.0: ``[1 - scale_down, 1 + scale_up]``.

    Inclusive at both ends, as ``Tolerances.isWithin`` upstream. The controller-wide
    default is 0.1 in both directions; ``behavior.scaleUp/scaleDown.tolerance``
    (KEP-4951) override one side each.
    """

    scale_down: float = 0.1
    scale_up: float = 0.1

    def __post_init__(self) -> None:
        if self.scale_down < 0 or self.scale_up < 0:
            raise ValueError(
                f"tolerance must be >= 0, got scale_down={self.scale_down}, "
                f"scale_up={self.scale_up}"
            )

    def is_within(self, ratio: float) -> bool:
        """True when ``ratio`` is inside the inclusive band (no scaling)."""
        return (1.0 - self.scale_down) <= ratio <= (1.0 + self.scale_up)


@dataclass(frozen=True)
class PodInfo:
    """What the replica calculator needs to know about one pod of the scale target.

    ``ready`` is the status of the pod's Ready condition (``None``: the pod has no Ready
    condition); ``ready_transition_time`` is that condition's ``lastTransitionTime``
    (``None``: unset, i.e. the zero time, infinitely long ago). ``request_milli`` is the
    pod's summed request of the metric's resource (``None``: some container sets none).
    """

    name: str
    phase: str = "Running"
    ready: bool | None = True
    ready_transition_time: float | None = None
    start_time: float | None = None
    deleted: bool = False
    request_milli: int | None = None


@dataclass(frozen=True)
class MetricSample:
    """One pod's metric from ``metrics.k8s.io``: value, when it was taken, over what window."""

    value_milli: int
    timestamp: float
    window_s: float


@dataclass(frozen=True)
class ReplicaResult:
    """A metric's replica proposal plus what the HPA status reports for it.

    ``utilization`` is the integer percent of request (``None`` for value targets);
    ``raw_average_milli`` the integer average usage per pod (status ``averageValue``).
    Both come from the first pass over ready pods, as upstream reports them.
    ``ratio`` is the usage ratio that decided the proposal and ``path`` says which
    branch decided it (``within-tolerance``, ``ready-pods``, ``conservative``,
    ``conservative-within-tolerance``, ``conservative-direction-flip``,
    ``conservative-against-ratio``), so a decision log can explain every sync.
    """

    replicas: int
    utilization: int | None
    raw_average_milli: int
    ratio: float = 1.0
    path: str = ""
    ready_pods: int = 0
    unready_pods: int = 0
    missing_pods: int = 0
    ignored_pods: int = 0
