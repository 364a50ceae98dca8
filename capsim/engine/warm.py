"""What the Kubernetes and VM warm starts share: per-replica usage at a steady load, and
the search for the size an autoscaler settles at.

**The settled size** of an autoscaled workload is a fixed point ``N = step(N)``, where
``step`` is one decision of the workload's own autoscaler (the HPA replica calculator,
or a target-tracking evaluation) on the metrics ``N`` warm replicas report at the first
tick's load. Started there, the autoscaler's first decision keeps ``N``, so a steady load
causes no scale event at time 0. :func:`settle` iterates ``step`` from a first guess;
each autoscaler's ``step`` is built from its pure decision functions, not re-derived here
(:func:`settled_vm_count` here, ``settled_hpa_size`` in
:mod:`capsim.engine.kubernetes.warm_start`). From below, the steps climb to the nearest
fixed point: with a tolerance band there may be several, and the warm start takes the one
the autoscaler would reach from the demand-only first guess.

**Usage per replica** (:func:`replica_usage`), the plain steady-state formula, with no
backlog (the warm replicas have served this load for a long time):

* ``K = c μ`` requests/s per replica, ``μ = min(1, limit / c) / (cpu_ms / 1000)``;
  the ``N`` replicas serve ``min(λ, N K)`` requests/s and share them evenly.
* CPU = served per replica × ``cpu_ms / 1000`` + idle CPU, capped at the limit (cores).
* Memory = ``memory_mib`` + ``memory_mib_per_request`` × mean requests in the replica,
  the M/M/c mean number in system ``a + C(c, a) · a / (c − a)`` with ``a`` = served per
  replica / μ and ``C`` Erlang C (while ``a < c``; at or above capacity, ``c`` busy slots
  and no stationary queue: the warm start does not know the backlog a tick would build).

These are what the service model (:mod:`capsim.models.service`) reports for a tick that
starts with no backlog, in the same order of float operations for the CPU; they are
written out here so the warm start does not depend on the model's internals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from capsim.models.service import (
    P_CORES,
    P_MU,
    P_SERVICE_S,
    ROUTING,
    service_params,
    steady_cpu_per_replica,
    steady_law,
)
from capsim.models.target_tracking import GroupMemory, TargetTracking, evaluate
from capsim.scenario import ServiceWorkload
from capsim.scenario.service_laws import least_request_law

__all__ = [
    "MAX_SETTLE_STEPS",
    "ReplicaProfile",
    "ReplicaUsage",
    "WarmSize",
    "replica_usage",
    "settle",
    "settled_vm_count",
]

FloatArray = npt.NDArray[np.float64]

MAX_SETTLE_STEPS = 10_000  # autoscaler decisions tried before giving up on a fixed point


@dataclass(frozen=True)
class ReplicaUsage:
    """What one of ``N`` ready replicas uses at a steady load."""

    cpu_cores: float
    memory_mib: float
    queued: float = 0.0  # requests waiting in the replica (Little's law over the wait)
    served_per_s: float = 0.0  # requests the replica serves per second


@dataclass(frozen=True)
class WarmSize:
    """A warm size and how it was found.

    ``seen`` lists every size the search visited, the first guess first (and, when the
    decisions cycle, the size they came back to last). When they came to no fixed point
    (:func:`settle`), ``converged`` is False.
    """

    replicas: int
    converged: bool
    seen: tuple[int, ...]

    def note(self, decider: str) -> str:
        """A decision-log detail for a size that is no fixed point."""
        path = " → ".join(map(str, self.seen[-12:]))
        if len(self.seen) > 12:
            path = "… → " + path
        return (
            f"{decider}'s decisions at the first tick's load reach no fixed point "
            f"({path}); starting at {self.replicas}, the largest size they keep returning to"
        )


@dataclass(frozen=True)
class ReplicaProfile:
    """What one replica of a service needs and may use: work per request (ms; CPU, or
    GPU or LLM passes for services on GPUs), concurrency slots, the CPU cap (cores),
    idle CPU (cores) and memory (MiB, fixed and per request in the replica). A GPU or
    LLM service also states ``servers`` (the GPUs, or the batch, the work runs on) and
    ``host_cpu_ms_per_request`` (its CPU use, apart from the work)."""

    cpu_ms_per_request: float
    concurrency: int
    cpu_limit_cores: float
    idle_cpu_cores: float = 0.0
    memory_mib: float = 0.0
    memory_mib_per_request: float = 0.0
    timeout_s: float = 30.0
    routing: int = 0  # capsim.models.service.ROUTING
    work_scv: float = 1.0  # squared coefficient of variation of a request's work
    arrival_scv: float = 1.0  # the arrivals' dispersion index
    queue_limit: float = math.inf  # requests a replica's queue holds
    servers: float | None = None  # what the work runs on (None: the CPU cap's cores)
    host_cpu_ms_per_request: float | None = None  # CPU per request apart from the work
    kv_share_per_request: float | None = None  # LLM: a request's share of the KV cache

    @classmethod
    def of(
        cls,
        workload: ServiceWorkload,
        cpu_limit_cores: float,
        routing: str = "random",
        accelerator: tuple[float, float | None] = (0.0, None),
    ) -> ReplicaProfile:
        """The profile of ``workload``'s replicas under a CPU cap of ``cpu_limit_cores``,
        behind ``routing``, holding ``accelerator`` = (GPUs, MiB of memory per GPU or
        None) (:meth:`~capsim.scenario.ServiceWorkload.replica_shape`)."""
        shape = workload.replica_shape(cpu_limit_cores, *accelerator)
        host = None if shape.host_cpu_s is None else 1000.0 * shape.host_cpu_s
        kv_share = None
        if workload.llm is not None:
            prompt, output = workload.mean_tokens or (1.0, 1.0)
            kv_share = (prompt + output) / workload.llm.kv_cache_tokens
        return cls(
            cpu_ms_per_request=1000.0 * shape.work_s,
            concurrency=max(1, int(shape.slots)),
            cpu_limit_cores=cpu_limit_cores,
            servers=None if host is None else shape.servers,
            host_cpu_ms_per_request=host,
            kv_share_per_request=kv_share,
            idle_cpu_cores=workload.idle_cpu_millicores / 1000.0,
            memory_mib=workload.memory_mib,
            memory_mib_per_request=workload.memory_mib_per_request,
            timeout_s=workload.timeout_s,
            routing=ROUTING[routing],
            work_scv=workload.service_time.scv,
            arrival_scv=workload.arrivals.dispersion_index,
            queue_limit=workload.queue_limit,
        )

    def model_params(self) -> FloatArray:
        """The service model's constants for these replicas
        (:func:`capsim.models.service.service_params`; the steady laws need no tick)."""
        return service_params(
            1.0,
            self.cpu_ms_per_request / 1000.0,
            float(self.concurrency),
            self.cpu_limit_cores if self.servers is None else self.servers,
            self.timeout_s,
            self.idle_cpu_cores if self.host_cpu_ms_per_request is None else 0.0,
            self.memory_mib,
            self.memory_mib_per_request,
            self.routing,
            self.work_scv,
            self.arrival_scv,
            self.queue_limit,
        )


def replica_usage(arrival_rate: float, replicas: int, profile: ReplicaProfile) -> ReplicaUsage:
    """CPU (cores) and memory (MiB) of each of ``replicas`` ready replicas when
    ``arrival_rate`` requests/s arrive steadily (see the module docstring); zero usage
    with no replica."""
    if replicas <= 0:
        return ReplicaUsage(0.0, 0.0)
    params = profile.model_params()
    law = least_request_law(float(replicas), params[P_CORES], profile.routing)
    cpu = steady_cpu_per_replica(arrival_rate, float(replicas), params, law)
    # requests in a replica (Little): served ones wait and are served, failing ones stay
    # until they abandon (or not at all, refused by a full queue); the law holds at any load
    p_fail, c_wait, _, wait, stay_s = steady_law(arrival_rate, float(replicas), params, law)
    per_replica = arrival_rate / replicas
    in_flight = per_replica * (
        (1.0 - p_fail) * (c_wait * wait + params[P_SERVICE_S]) + p_fail * stay_s
    )
    queued = per_replica * ((1.0 - p_fail) * c_wait * wait + p_fail * stay_s)
    served = min(per_replica * (1.0 - p_fail), params[P_CORES] * params[P_MU])
    if profile.host_cpu_ms_per_request is not None:  # the work ran on GPUs: host CPU
        host = served * profile.host_cpu_ms_per_request / 1000.0 + profile.idle_cpu_cores
        cpu = min(host, profile.cpu_limit_cores)
    return ReplicaUsage(
        cpu_cores=cpu,
        memory_mib=profile.memory_mib + profile.memory_mib_per_request * in_flight,
        queued=queued,
        served_per_s=served,
    )


def settle(first_guess: int, step: Callable[[int], int]) -> WarmSize:
    """Iterate ``n ← step(n)`` from ``first_guess`` until ``step(n) == n``.

    The sizes are whole numbers within the autoscaler's bounds, so the walk either settles
    or comes back to a size it has seen: then the decisions cycle, and the warm size is
    the largest size of the cycle (``converged`` False). A walk can be long, one replica
    per step (a ratio held just below 1 by a CPU limit walks down to the minimum), so it
    is bounded only by :data:`MAX_SETTLE_STEPS`, after which the largest size seen is
    taken.
    """
    seen = [first_guess]
    index = {first_guess: 0}
    n = first_guess
    for _ in range(MAX_SETTLE_STEPS):
        nxt = step(n)
        if nxt == n:
            return WarmSize(n, True, tuple(seen))
        if nxt in index:
            cycle = seen[index[nxt] :]
            seen.append(nxt)
            return WarmSize(max(cycle), False, tuple(seen))
        index[nxt] = len(seen)
        seen.append(nxt)
        n = nxt
    return WarmSize(max(seen), False, tuple(seen))


def settled_vm_count(
    policy: TargetTracking,
    *,
    arrival_rate: float,
    profile: ReplicaProfile,
    per_vm: int,
    vcpu_millicores: float,
    guest_os_cpu_millicores: float,
) -> WarmSize:
    """The number of VMs a target-tracking group settles at when ``arrival_rate``
    requests/s arrive steadily at its ``per_vm`` app instances per VM, each of
    ``profile`` (its CPU cap: the VM's application CPU over ``per_vm``).

    One step is one alarm evaluation
    (:func:`~capsim.models.target_tracking.evaluate`) with every remembered datapoint the
    CPU percent ``N`` warmed VMs show: app usage (:func:`replica_usage`) times
    ``per_vm`` plus the guest OS, over the vCPUs (the engine's datapoint,
    ``VmSim._evaluate``), no instance warming up and no recent activity. The first guess
    is the CPU demand over the target's share of one VM, within the bounds. With no VM
    there is no datapoint, so a group at 0 stays there (as target tracking would).
    """
    vcpu_cores = vcpu_millicores / 1000.0

    def step(vms: int) -> int:
        if vms <= 0:
            return vms
        cores_per_app = replica_usage(arrival_rate, vms * per_vm, profile).cpu_cores
        vm_cores = cores_per_app * per_vm + guest_os_cpu_millicores / 1000.0
        datapoint = 100.0 * vm_cores / vcpu_cores
        return evaluate(
            policy,
            GroupMemory(datapoints=(datapoint,) * policy.history_length),
            now=0.0,
            datapoint=datapoint,
            desired=vms,
            counted_instances=vms,
            warming_instances=0,
        ).desired

    host_ms = profile.host_cpu_ms_per_request
    demand = arrival_rate * (profile.cpu_ms_per_request if host_ms is None else host_ms)
    per_vm_at_target = vcpu_millicores * policy.target_pct / 100.0
    guess = min(
        max(math.ceil(demand / per_vm_at_target), policy.min_instances), policy.max_instances
    )
    return settle(guess, step)
