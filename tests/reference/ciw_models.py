"""Discrete-event references built with ciw 3.x, summarised over independent replications.

Every builder runs ``replications`` independent ciw simulations (``ciw.seed(seed + r)``
before replication ``r`` builds its network, so results are reproducible and the
replications independent), and returns per-metric :class:`Estimate` s: the mean of the
per-replication values with a Student-t 95 % confidence half-width.

Measurement window (stationary builders). Arrivals are counted from ``warmup_customers/λ``
to ``(warmup_customers + customers)/λ`` (``λ`` the total arrival rate), so each replication
counts about ``customers`` requests after discarding a warm-up; the simulation then runs
``drain_s`` longer so every counted request has left. A counted request still in the system
at the end is an error (raise ``drain_s``), not a silently dropped long response.

Model (what ciw is told, checked in the installed ciw 3.2.7 source):

* FCFS nodes with ``c`` servers; service laws from :class:`Service`.
* Timeout: ``reneging_time_distributions=[Deterministic(τ)]`` — a request still waiting
  ``τ`` after it reached its replica leaves (record type ``renege``); in service it always
  completes (ciw reneges only requests not with a server).
* Queue limit: ``queue_capacities=[Q]`` (waiting room, excluding those in service); an
  external arrival finding it full is a ``rejection`` record.
* Processor sharing: ``ciw.PSNode``, ``number_of_servers = slots`` (the most requests sharing
  the CPU at once), ``ps_thresholds = cores``: with ``n ≤ slots`` in service each runs at
  ``cores/max(n, cores)`` of full speed; the rest wait FIFO.
* Routing over ``N`` replicas: a dispatcher node (``Deterministic(0)`` service, infinitely
  many servers) whose router picks the replica: ``random`` = ``Probabilistic`` (1/N each),
  ``round_robin`` = ``Cycle``, ``jsq`` = ``LoadBalancing`` (fewest *in system*, ties at
  random), ``p2c`` = :class:`PowerOfTwoChoices` (two distinct replicas at random, the one
  with fewer in system, ties at random); ``pooled`` = one node with ``N·c`` servers.
  ciw *blocks* (does not reject) a routed request at a full node, so a queue limit behind a
  dispatcher is refused, except ``random``, which is built as ``N`` independent Poisson
  streams of rate ``λ/N`` (a random split of a Poisson stream is exactly that).
* Piecewise-constant arrival rates: ``ciw.dists.PoissonIntervals(rates, endpoints,
  max_sample_date)`` (the rate ``rates[i]`` holds until ``endpoints[i]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import ciw
import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
Policy = Literal["single", "random", "round_robin", "jsq", "p2c", "pooled"]
ServiceKind = Literal["exponential", "deterministic", "lognormal", "gamma", "empirical"]

# --- estimates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A replication mean with its Student-t 95 % confidence half-width."""

    mean: float
    half_width: float
    values: tuple[float, ...] = field(repr=False)

    @property
    def standard_error(self) -> float:
        """``sd/√R`` over the ``R`` replication values."""
        if len(self.values) < 2:
            return math.inf
        return float(np.std(self.values, ddof=1) / math.sqrt(len(self.values)))

    def contains(self, value: float, widen: float = 1.0) -> bool:
        """``|mean − value| ≤ widen × half_width``."""
        return abs(self.mean - value) <= widen * self.half_width

    def __str__(self) -> str:
        return f"{self.mean:.6g} ± {self.half_width:.2g}"


def estimate(values: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean and Student-t ``level`` half-width of independent replication values."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("no replication values")
    mean = float(data.mean())
    if data.size < 2:
        return Estimate(mean, math.inf, tuple(float(v) for v in data))
    sd = float(data.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, data.size - 1)) * sd / math.sqrt(data.size)
    return Estimate(mean, half, tuple(float(v) for v in data))


# --- service laws ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """A service-time law by its mean (s) and coefficient of variation.

    * ``exponential``: ``Exponential(1/mean)`` (``cv`` ignored, it is 1).
    * ``deterministic``: ``Deterministic(mean)`` (``cv`` 0).
    * ``lognormal``: ciw's ``Lognormal(mean, sd)`` takes the *underlying normal's* μ and σ:
      ``σ² = ln(1 + CV²)``, ``μ = ln(mean) − σ²/2``.
    * ``gamma``: ``Gamma(shape, scale)``, ``shape = 1/CV²``, ``scale = mean·CV²``.
    * ``empirical``: ``Empirical(observations)`` (uniform over them; ``mean_s``/``cv`` are
      ignored and recomputed from the observations).
    """

    kind: ServiceKind
    mean_s: float
    cv: float = 1.0
    observations: tuple[float, ...] = ()

    def distribution(self) -> Any:
        """A fresh ciw distribution object."""
        if self.kind == "exponential":
            return ciw.dists.Exponential(1.0 / self.mean_s)
        if self.kind == "deterministic":
            return ciw.dists.Deterministic(self.mean_s)
        if self.kind == "lognormal":
            sigma2 = math.log(1 + self.cv**2)
            return ciw.dists.Lognormal(math.log(self.mean_s) - sigma2 / 2, math.sqrt(sigma2))
        if self.kind == "gamma":
            return ciw.dists.Gamma(1.0 / self.cv**2, self.mean_s * self.cv**2)
        if self.kind == "empirical":
            if not self.observations:
                raise ValueError("empirical service needs observations")
            return ciw.dists.Empirical(list(self.observations))
        raise ValueError(f"unknown service kind {self.kind!r}")

    @property
    def mean(self) -> float:
        """``E[S]`` (s)."""
        if self.kind == "empirical":
            return float(np.mean(self.observations))
        return self.mean_s

    @property
    def second_moment(self) -> float:
        """``E[S²]`` (s²)."""
        if self.kind == "empirical":
            return float(np.mean(np.square(self.observations)))
        cv = {"exponential": 1.0, "deterministic": 0.0}.get(self.kind, self.cv)
        return self.mean_s**2 * (1 + cv**2)

    @property
    def scv(self) -> float:
        """Squared coefficient of variation."""
        return self.second_moment / self.mean**2 - 1


# --- routing --------------------------------------------------------------------------------


class PowerOfTwoChoices(ciw.routing.NodeRouting):  # type: ignore[misc]
    """Power of two choices (Envoy ``LEAST_REQUEST`` with 2 choices): sample two distinct
    destinations uniformly (from ciw's seeded ``ciw.rng``), send to the one with fewer
    requests in system (queued + in service), ties at random."""

    def __init__(self, destinations: Sequence[int]) -> None:
        if len(destinations) < 2:
            raise ValueError("power of two choices needs at least two destinations")
        self.destinations = list(destinations)

    def next_node(self, ind: Any) -> Any:
        i, j = ciw.rng.choice(len(self.destinations), size=2, replace=False)
        a = self.simulation.nodes[self.destinations[int(i)]]
        b = self.simulation.nodes[self.destinations[int(j)]]
        if a.number_of_individuals == b.number_of_individuals:
            return a if ciw.rng.random() < 0.5 else b
        return a if a.number_of_individuals < b.number_of_individuals else b


def _dispatcher_router(policy: Policy, replicas: list[int]) -> Any:
    if policy == "random":
        n = len(replicas)
        probs = [1.0 / n] * n
        probs[-1] = 1.0 - sum(probs[:-1])  # ciw refuses sums above 1 by one ulp
        return ciw.routing.Probabilistic(replicas, probs)
    if policy == "round_robin":
        return ciw.routing.Cycle(replicas)
    if policy == "jsq":
        return ciw.routing.LoadBalancing(replicas, tie_break="random")
    if policy == "p2c":
        return PowerOfTwoChoices(replicas)
    raise ValueError(f"no dispatcher for policy {policy!r}")


@dataclass(frozen=True)
class _Topology:
    """How to build one replication's network, and which nodes hold the replicas."""

    policy: Policy
    n_replicas: int
    servers: int
    service: Service
    tau_s: float | None
    queue_capacity: int | None
    ps_cores: int | None

    def build(self, arrivals: Callable[[float], Any], lam_total: float) -> ciw.Simulation:
        """A fresh simulation; ``arrivals(rate)`` makes one arrival distribution."""
        reneging = None if self.tau_s is None else ciw.dists.Deterministic(self.tau_s)
        capacity: float | int = math.inf if self.queue_capacity is None else self.queue_capacity
        node_class = ciw.PSNode if self.ps_cores is not None else None
        if self.policy in ("single", "pooled") or (
            self.policy == "random" and self.queue_capacity is not None
        ):
            nodes = 1 if self.policy in ("single", "pooled") else self.n_replicas
            servers = self.servers * (self.n_replicas if self.policy == "pooled" else 1)
            kwargs: dict[str, Any] = {
                "arrival_distributions": [arrivals(lam_total / nodes) for _ in range(nodes)],
                "service_distributions": [self.service.distribution() for _ in range(nodes)],
                "number_of_servers": [servers] * nodes,
                "queue_capacities": [capacity] * nodes,
                "routing": ciw.routing.NetworkRouting([ciw.routing.Leave() for _ in range(nodes)]),
            }
            if reneging is not None:
                kwargs["reneging_time_distributions"] = [reneging] * nodes
            if self.ps_cores is not None:
                kwargs["ps_thresholds"] = [self.ps_cores] * nodes
            return ciw.Simulation(ciw.create_network(**kwargs), node_class=node_class)
        if self.queue_capacity is not None:
            raise NotImplementedError(
                "ciw blocks routed requests at a full node instead of rejecting them"
            )
        n = self.n_replicas
        replicas = list(range(2, n + 2))
        kwargs = {
            "arrival_distributions": [arrivals(lam_total)] + [None] * n,
            "service_distributions": [ciw.dists.Deterministic(0.0)]
            + [self.service.distribution() for _ in range(n)],
            "number_of_servers": [math.inf] + [self.servers] * n,
            "routing": ciw.routing.NetworkRouting(
                [_dispatcher_router(self.policy, replicas)]
                + [ciw.routing.Leave() for _ in range(n)]
            ),
        }
        if reneging is not None:
            kwargs["reneging_time_distributions"] = [None] + [reneging] * n
        if self.ps_cores is not None:
            kwargs["ps_thresholds"] = [1] + [self.ps_cores] * n
            node_classes = [ciw.Node] + [ciw.PSNode] * n
            return ciw.Simulation(ciw.create_network(**kwargs), node_class=node_classes)
        return ciw.Simulation(ciw.create_network(**kwargs))

    def replica_nodes(self) -> set[int]:
        """Node ids whose records are the requests' visits to a replica."""
        if self.policy in ("single", "pooled"):
            return {1}
        if self.policy == "random" and self.queue_capacity is not None:
            return set(range(1, self.n_replicas + 1))
        return set(range(2, self.n_replicas + 2))

    def capacity_rate(self) -> float:
        """Total service capacity (requests/s) for the drain heuristic."""
        per_node = self.servers if self.ps_cores is None else min(self.servers, self.ps_cores)
        return per_node * self.n_replicas / self.service.mean


# --- stationary summaries -------------------------------------------------------------------


@dataclass(frozen=True)
class CiwSummary:
    """Replication estimates over the requests that *arrived* in the measurement window.

    Response = leaving time − arrival time, over served requests only. Shares are over all
    requests that arrived in the window (served + abandoned + rejected).
    """

    mean_response_s: Estimate
    p95_response_s: Estimate
    p99_response_s: Estimate
    mean_wait_s: Estimate
    abandoned_share: Estimate
    rejected_share: Estimate
    max_response_s: float
    served: int
    replications: int
    customers_per_replication: int
    wait_probability: Estimate | None = None
    """Share of served requests that waited at all (``waiting_time > 0``)."""


ArrivalFactory = Callable[[float], Any]
"""Makes one ciw arrival distribution of the given rate (requests/s)."""


def poisson_arrivals(rate: float) -> Any:
    """Poisson arrivals: ``Exponential(rate)`` interarrival times."""
    return ciw.dists.Exponential(rate)


def _stationary(
    topology: _Topology,
    lam_total: float,
    *,
    replications: int,
    customers: int,
    warmup_customers: int,
    seed: int,
    drain_s: float | None,
    arrivals: ArrivalFactory = poisson_arrivals,
    arrival_scv: float = 1.0,
) -> CiwSummary:
    if replications < 2:
        raise ValueError("at least two replications for a confidence interval")
    start = warmup_customers / lam_total
    stop = start + customers / lam_total
    if drain_s is None:
        service = topology.service
        rho = lam_total / topology.capacity_rate()
        scale = service.mean * max(1.0, service.scv)
        if topology.tau_s is not None:
            drain_s = topology.tau_s + 50 * scale
        else:
            drain_s = 25 * scale * max(1.0, arrival_scv) / max(1.0 - rho, 0.01)
    nodes = topology.replica_nodes()
    per_rep: dict[str, list[float]] = {
        k: [] for k in ("mean", "p95", "p99", "wait", "abandoned", "rejected", "p_wait")
    }
    served_total = 0
    max_response = 0.0
    for r in range(replications):
        ciw.seed(seed + r)
        sim = topology.build(arrivals, lam_total)
        sim.simulate_until_max_time(stop + drain_s)
        response: list[float] = []
        wait: list[float] = []
        abandoned = rejected = 0
        for rec in sim.get_all_records(include_incomplete=True):
            if rec.node not in nodes or not start <= rec.arrival_date < stop:
                continue
            if rec.record_type == "service":
                response.append(rec.exit_date - rec.arrival_date)
                wait.append(rec.waiting_time)
            elif rec.record_type == "renege":
                abandoned += 1
            elif rec.record_type == "rejection":
                rejected += 1
            else:
                raise RuntimeError(
                    f"a counted request is {rec.record_type!r} at the end: raise drain_s"
                )
        total = len(response) + abandoned + rejected
        times = np.asarray(response)
        per_rep["mean"].append(float(times.mean()))
        per_rep["p95"].append(float(np.quantile(times, 0.95)))
        per_rep["p99"].append(float(np.quantile(times, 0.99)))
        per_rep["wait"].append(float(np.mean(wait)))
        per_rep["p_wait"].append(float(np.mean(np.asarray(wait) > 0.0)))
        per_rep["abandoned"].append(abandoned / total)
        per_rep["rejected"].append(rejected / total)
        served_total += len(response)
        max_response = max(max_response, float(times.max()))
    return CiwSummary(
        mean_response_s=estimate(per_rep["mean"]),
        p95_response_s=estimate(per_rep["p95"]),
        p99_response_s=estimate(per_rep["p99"]),
        mean_wait_s=estimate(per_rep["wait"]),
        abandoned_share=estimate(per_rep["abandoned"]),
        rejected_share=estimate(per_rep["rejected"]),
        max_response_s=max_response,
        served=served_total,
        replications=replications,
        customers_per_replication=customers,
        wait_probability=estimate(per_rep["p_wait"]),
    )


def simulate_single_node(
    lam: float,
    service: Service,
    servers: int,
    *,
    tau_s: float | None = None,
    queue_capacity: int | None = None,
    replications: int = 4,
    customers: int = 20_000,
    warmup_customers: int = 2_000,
    seed: int = 1,
    drain_s: float | None = None,
    arrivals: ArrivalFactory = poisson_arrivals,
    arrival_scv: float = 1.0,
) -> CiwSummary:
    """M/G/c FCFS (optionally +D timeout ``tau_s``, and a waiting-room limit); renewal
    arrivals other than Poisson through ``arrivals`` (``arrival_scv``, their squared
    coefficient of variation, only lengthens the default drain)."""
    topology = _Topology("single", 1, servers, service, tau_s, queue_capacity, None)
    return _stationary(
        topology,
        lam,
        replications=replications,
        customers=customers,
        warmup_customers=warmup_customers,
        seed=seed,
        drain_s=drain_s,
        arrivals=arrivals,
        arrival_scv=arrival_scv,
    )


def simulate_processor_sharing(
    lam: float,
    service: Service,
    slots: int,
    cores: int,
    *,
    tau_s: float | None = None,
    replications: int = 4,
    customers: int = 20_000,
    warmup_customers: int = 2_000,
    seed: int = 1,
    drain_s: float | None = None,
) -> CiwSummary:
    """Limited processor sharing: ``slots`` requests share ``cores`` cores (``ciw.PSNode``);
    ``service`` is the work in core-seconds."""
    topology = _Topology("single", 1, slots, service, tau_s, None, cores)
    return _stationary(
        topology,
        lam,
        replications=replications,
        customers=customers,
        warmup_customers=warmup_customers,
        seed=seed,
        drain_s=drain_s,
    )


def simulate_routed(
    policy: Policy,
    n_replicas: int,
    lam_total: float,
    service: Service,
    servers: int,
    *,
    tau_s: float | None = None,
    queue_capacity: int | None = None,
    ps_cores: int | None = None,
    replications: int = 4,
    customers: int = 20_000,
    warmup_customers: int = 2_000,
    seed: int = 1,
    drain_s: float | None = None,
    arrivals: ArrivalFactory = poisson_arrivals,
    arrival_scv: float = 1.0,
) -> CiwSummary:
    """``n_replicas`` replicas of ``servers`` servers each behind a zero-time dispatcher
    (``policy`` ∈ random, round_robin, jsq, p2c), or ``pooled``: one node, ``N·servers``.
    ``customers`` counts requests over all replicas. ``arrivals`` makes the (total)
    arrival stream; with a queue limit under ``random`` the replicas get independent
    streams of rate ``λ/N`` (exact for Poisson only)."""
    if policy == "single":
        raise ValueError("policy 'single' is simulate_single_node; name a routing policy")
    topology = _Topology(policy, n_replicas, servers, service, tau_s, queue_capacity, ps_cores)
    return _stationary(
        topology,
        lam_total,
        replications=replications,
        customers=customers,
        warmup_customers=warmup_customers,
        seed=seed,
        drain_s=drain_s,
        arrivals=arrivals,
        arrival_scv=arrival_scv,
    )


# --- transients -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OverloadSummary:
    """Piecewise-constant load from an empty system (counts over the whole run).

    ``waiting_at_probe`` counts requests in the queue at ``probe_s`` (including those that
    will abandon); ``drain_s`` is the time from ``switch_s`` to the first instant the total
    queue is empty (0 if it already is).
    """

    arrived: Estimate
    abandoned: Estimate
    rejected: Estimate
    waiting_at_probe: Estimate
    in_system_at_probe: Estimate
    drain_s: Estimate
    max_response_s: float
    max_service_s: float


def _queue_intervals(records: Sequence[Any]) -> tuple[FloatArray, FloatArray]:
    """``(enter, leave)`` queue times of requests that waited (served or abandoned)."""
    enter: list[float] = []
    leave: list[float] = []
    for rec in records:
        if rec.record_type == "service" and rec.service_start_date > rec.arrival_date:
            enter.append(rec.arrival_date)
            leave.append(rec.service_start_date)
        elif rec.record_type == "renege":
            enter.append(rec.arrival_date)
            leave.append(rec.exit_date)
    return np.asarray(enter, dtype=np.float64), np.asarray(leave, dtype=np.float64)


def _first_empty_after(enter: FloatArray, leave: FloatArray, t0: float) -> float:
    """First time ``≥ t0`` at which no request is in the queue."""
    count = int(np.sum((enter <= t0) & (leave > t0)))
    if count == 0:
        return t0
    times = np.concatenate([enter[enter > t0], leave[leave > t0]])
    steps = np.concatenate([np.ones(int(np.sum(enter > t0))), -np.ones(int(np.sum(leave > t0)))])
    # Leaves before arrivals at equal times (a queue that empties at t is empty at t).
    order = np.lexsort((steps, times))
    running = count + np.cumsum(steps[order])
    hit = np.flatnonzero(running == 0)
    if hit.size == 0:
        return math.inf
    return float(times[order][hit[0]])


def simulate_overload_recovery(
    rates: Sequence[float],
    endpoints_s: Sequence[float],
    service: Service,
    servers: int,
    *,
    tau_s: float | None,
    queue_capacity: int | None = None,
    policy: Policy = "single",
    n_replicas: int = 1,
    probe_s: float,
    switch_s: float,
    replications: int = 12,
    seed: int = 1,
    drain_s: float = 120.0,
) -> OverloadSummary:
    """Piecewise-constant Poisson arrivals (``PoissonIntervals``: total rate ``rates[i]``
    until ``endpoints_s[i]``, no arrivals after the last endpoint), from empty.

    Counts abandoned and rejected requests over the whole run, the queue (and the system)
    at ``probe_s``, and the drain time after ``switch_s``. Each replication runs until
    ``endpoints_s[-1] + drain_s``; a request still present then is an error.
    """
    horizon = float(endpoints_s[-1])
    topology = _Topology(policy, n_replicas, servers, service, tau_s, queue_capacity, None)
    nodes = topology.replica_nodes()
    split = len(nodes) if policy in ("random",) and queue_capacity is not None else 1

    def arrivals(rate: float) -> Any:
        del rate  # the rates are the piecewise ones, split over independent streams if any
        return ciw.dists.PoissonIntervals([r / split for r in rates], list(endpoints_s), horizon)

    values: dict[str, list[float]] = {
        k: [] for k in ("arrived", "abandoned", "rejected", "waiting", "system", "drain")
    }
    max_response = 0.0
    max_service = 0.0
    for r in range(replications):
        ciw.seed(seed + r)
        sim = topology.build(arrivals, float(rates[0]))
        sim.simulate_until_max_time(horizon + drain_s)
        records = [rec for rec in sim.get_all_records(include_incomplete=True) if rec.node in nodes]
        if any(rec.record_type == "incomplete" for rec in records):
            raise RuntimeError("requests still present at the end: raise drain_s")
        served = [rec for rec in records if rec.record_type == "service"]
        enter, leave = _queue_intervals(records)
        arrive = np.array([rec.arrival_date for rec in records if rec.record_type != "rejection"])
        depart = np.array([rec.exit_date for rec in records if rec.record_type != "rejection"])
        values["arrived"].append(len(records))
        values["abandoned"].append(sum(rec.record_type == "renege" for rec in records))
        values["rejected"].append(sum(rec.record_type == "rejection" for rec in records))
        values["waiting"].append(float(np.sum((enter <= probe_s) & (leave > probe_s))))
        values["system"].append(float(np.sum((arrive <= probe_s) & (depart > probe_s))))
        values["drain"].append(_first_empty_after(enter, leave, switch_s) - switch_s)
        if served:
            max_response = max(max_response, max(s.exit_date - s.arrival_date for s in served))
            max_service = max(max_service, max(s.service_time for s in served))
    return OverloadSummary(
        arrived=estimate(values["arrived"]),
        abandoned=estimate(values["abandoned"]),
        rejected=estimate(values["rejected"]),
        waiting_at_probe=estimate(values["waiting"]),
        in_system_at_probe=estimate(values["system"]),
        drain_s=estimate(values["drain"]),
        max_response_s=max_response,
        max_service_s=max_service,
    )


def simulate_number_in_system(
    lam: float,
    mu: float,
    servers: int,
    times_s: Sequence[float],
    *,
    replications: int = 200,
    seed: int = 1,
) -> list[Estimate]:
    """M/M/c from empty at ``t = 0``: the mean number in system at each of ``times_s``,
    over independent replications (each simulated to ``max(times_s)``)."""
    topology = _Topology("single", 1, servers, Service("exponential", 1.0 / mu), None, None, None)
    end = float(max(times_s))
    counts: list[list[float]] = [[] for _ in times_s]
    for r in range(replications):
        ciw.seed(seed + r)
        sim = topology.build(lambda rate: ciw.dists.Exponential(rate), lam)
        sim.simulate_until_max_time(end)
        arrive: list[float] = []
        depart: list[float] = []
        for rec in sim.get_all_records(include_incomplete=True):
            arrive.append(rec.arrival_date)
            depart.append(math.inf if rec.record_type == "incomplete" else rec.exit_date)
        a = np.asarray(arrive)
        d = np.asarray(depart)
        for i, t in enumerate(times_s):
            counts[i].append(float(np.sum((a <= t) & (d > t))))
    return [estimate(c) for c in counts]
