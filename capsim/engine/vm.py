"""A VM platform: one autoscaling group per service, with target tracking on average CPU.

Modelling notes:

* **VM lifecycle.** A VM is requested, boots (the instance's ``boot`` distribution),
  and then serves traffic until it is terminated.
* **Capacity.** Each VM runs ``per_vm`` app instances. They share the CPU left after
  hypervisor overhead and the guest OS (:attr:`~capsim.scenario.VmInstance.
  app_cpu_millicores`), so one app instance may use ``app CPU / per_vm`` cores.
* **Group CPU.** The group's CPU datapoint is the VM-level CPU percent, averaged over the
  metric period: app usage plus the guest OS baseline, over the VM's vCPUs. It counts
  only VMs past their warm-up; with none, there is no datapoint.
  :func:`capsim.models.target_tracking.evaluate` decides on it every ``metric_period_s``.
* **Scale-in** terminates booting VMs first, then the newest in service.
* **Billing** is per second from request to termination, boot included, with the
  platform's minimum (60 s by default).
* **Batch jobs**: each worker gets its own VM (the workload's ``instance``, else the
  platform's), all of a job's VMs requested together: at submission, or, under the
  platform's ``max_batch_vms`` quota, once the job's workers fit under it (queued jobs
  start in queue order, the first that does not fit holding back those after it). A
  worker computes once booted (a gang job once all its VMs are) and its VM is
  terminated when it is done. A worker may use its ``cpu`` up to the CPU the VM leaves
  to the application.
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from capsim.engine.batch import JobRun
from capsim.engine.machines import Machines
from capsim.engine.platform import PlatformSim
from capsim.engine.recorder import Levels
from capsim.engine.schedule import PeriodicTask
from capsim.engine.warm import ReplicaProfile, settled_vm_count
from capsim.models.target_tracking import GroupMemory, TargetTracking, evaluate
from capsim.scenario import ServiceWorkload, VmInstance, VmPlatform
from capsim.scenario.inputs import Inputs

__all__ = ["VmSim"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass
class Vm:
    id: int
    requested_s: float
    in_service_s: float | None = None
    terminated_s: float | None = None


class VmSim(PlatformSim):
    """One VM platform over the whole run (see the module docstring)."""

    def __init__(
        self, name: str, platform: VmPlatform, inputs: Inputs, rng: np.random.Generator
    ) -> None:
        self.platform = platform
        self.configs = [platform.workloads[w.name] for w in inputs.scenario.workloads]
        self.instances: list[VmInstance] = [
            platform.instance_for(w.name) for w in inputs.scenario.workloads
        ]
        self.per_vm = [c.per_vm for c in self.configs]
        limits = [
            instance.app_cpu_millicores / c.per_vm / 1000.0
            for instance, c, w in zip(
                self.instances, self.configs, inputs.scenario.workloads, strict=True
            )
            if isinstance(w, ServiceWorkload)
        ]
        routing = [
            c.routing
            for c, w in zip(self.configs, inputs.scenario.workloads, strict=True)
            if isinstance(w, ServiceWorkload)
        ]
        self.accelerators = [
            (
                instance.gpu / c.per_vm,
                None if instance.gpu_memory_bytes is None else instance.gpu_memory_bytes / 2**20,
            )
            for instance, c in zip(self.instances, self.configs, strict=True)
        ]
        accelerators = [
            a for a, w in zip(self.accelerators, inputs.scenario.workloads, strict=True)
            if isinstance(w, ServiceWorkload)
        ]  # fmt: skip
        super().__init__(name, inputs, rng, limits, routing, accelerators)
        self.vms: list[list[Vm]] = [[] for _ in self.workloads]
        self._batch_vms = 0  # VMs of batch workers, requested and not yet terminated
        self.machines = Machines(platform.billing_minimum_s)
        self.desired = np.zeros(len(self.workloads), dtype=np.int64)
        self.policies: dict[int, TargetTracking] = {}
        self.memory: dict[int, GroupMemory] = {}
        for w, config in enumerate(self.configs):
            scaling = config.autoscaling
            if scaling is None:
                continue
            self.policies[w] = TargetTracking(
                target_pct=scaling.target_pct,
                min_instances=scaling.min_instances,
                max_instances=scaling.max_instances,
                metric_period_s=scaling.metric_period_s,
                scale_out_datapoints=scaling.scale_out_datapoints,
                scale_out_evaluation_periods=scaling.scale_out_evaluation_periods,
                scale_in_datapoints=scaling.scale_in_datapoints,
                scale_in_evaluation_periods=scaling.scale_in_evaluation_periods,
                warmup_s=scaling.warmup_s,
                cooldown_s=scaling.cooldown_s,
            )
            self.memory[w] = GroupMemory()
        self._next_id = 0
        self._period_integral: dict[int, float] = {}
        self._period_start_s: dict[int, float] = {}

    # --- state ----------------------------------------------------------------------

    def _in_service(self, w: int) -> list[Vm]:
        return [vm for vm in self.vms[w] if vm.in_service_s is not None]

    def ready_replicas(self) -> IntArray:
        return np.array(
            [len(self._in_service(w)) * self.per_vm[w] for w in self.services], dtype=np.int64
        )

    def cpu_requested_cores(self) -> FloatArray:
        return np.array(
            [
                len(self._in_service(w)) * self.instances[w].vcpu_millicores / 1000.0
                for w in self.services
            ]
        )

    def levels(self, now: float) -> Levels:
        ready = np.zeros(len(self.workloads), dtype=np.int64)
        ready[self.services] = self.ready_replicas()
        total = np.array(
            [len(v) * p for v, p in zip(self.vms, self.per_vm, strict=True)], dtype=np.int64
        )
        desired = self.desired * np.array(self.per_vm, dtype=np.int64)
        nodes = np.array([len(v) for v in self.vms], dtype=np.int64)
        cost, cores, memory, gpus = self.machines.totals(now)
        cost += self.platform.load_balancer_per_hour * now / 3600.0  # (fees: per hour held)
        levels = Levels(desired, ready, total, nodes, cost, cores, memory, gpus)
        return self.batch_jobs.with_batch(levels)

    # --- lifecycle -------------------------------------------------------------------

    def _new_vm(self, w: int, now: float) -> Vm:
        vm = Vm(self._next_id, now)
        self._next_id += 1
        self.vms[w].append(vm)
        instance = self.instances[w]
        self.machines.open(
            vm.id,
            now,
            instance.price_per_hour,
            instance.vcpu_millicores / 1000.0,
            instance.memory_bytes,
            instance.gpu,
        )
        return vm

    def _launch(self, w: int, now: float, booted: bool = False) -> None:
        if booted:
            vm = self._new_vm(w, now)
            vm.in_service_s = now - self.policies[w].warmup_s if w in self.policies else now
            return
        vm = self._request(w, now)
        self.env.process(self._boot(w, vm))

    def _request(self, w: int, now: float) -> Vm:
        vm = self._new_vm(w, now)
        self.recorder.event(now, self.workloads[w].name, "vm_requested", detail=f"vm {vm.id}")
        return vm

    def _boot(self, w: int, vm: Vm) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(self.instances[w].boot.draw(self.rng))
        if vm.terminated_s is not None:
            return
        vm.in_service_s = self.env.now
        self.recorder.event(
            self.env.now, self.workloads[w].name, "vm_in_service", detail=f"vm {vm.id}"
        )

    def _terminate(self, w: int, count: int, now: float) -> None:
        ranked = sorted(
            self.vms[w], key=lambda vm: (vm.in_service_s is not None, -vm.requested_s, -vm.id)
        )
        for vm in ranked[:count]:
            self._terminate_vm(w, vm, now)

    def _terminate_vm(self, w: int, vm: Vm, now: float) -> None:
        vm.terminated_s = now
        self.vms[w].remove(vm)
        self.machines.close(vm.id, now)
        self.recorder.event(now, self.workloads[w].name, "vm_terminated", detail=f"vm {vm.id}")

    # --- batch jobs ----------------------------------------------------------------------

    def submit(self, run: JobRun, now: float) -> None:
        """Start the job's workers, or queue it behind others or the VM quota."""
        self.batch_jobs.enqueue(run)
        self._start_queued(now)

    def _start_queued(self, now: float) -> None:
        """Start queued jobs in queue order while the next one fits under the quota."""
        queue, quota = self.batch_jobs.queue, self.platform.max_batch_vms
        while queue and (quota is None or self._batch_vms + queue[0].spec.workers <= quota):
            run = queue.pop(0)
            self._batch_vms += run.spec.workers
            for worker in range(run.spec.workers):
                self.env.process(self._run_worker(run, worker, self._request(run.workload, now)))

    def _run_worker(self, run: JobRun, worker: int, vm: Vm) -> Generator[simpy.Event, Any, None]:
        """One worker on its own VM: boot, compute, terminate."""
        w = run.workload
        instance = self.instances[w]
        vcpu = instance.vcpu_millicores / 1000.0
        app_cores = instance.app_cpu_millicores / 1000.0
        jobs = self.batch_jobs
        jobs.worker_placed(run, 0.0, 0.0)
        yield from self._boot(w, vm)
        # In service: its vCPUs count as requested, as for a service's VMs.
        jobs.change(w, cpu_requested=vcpu, cpu_capacity=app_cores)
        yield from jobs.work(run, worker, app_cores)
        self._terminate_vm(w, vm, self.env.now)
        jobs.worker_removed(run, vcpu, app_cores)
        self._batch_vms -= 1
        self._start_queued(self.env.now)

    def _set_desired(self, w: int, desired: int, now: float) -> None:
        current = len(self.vms[w])
        self.desired[w] = desired
        if desired > current:
            for _ in range(desired - current):
                self._launch(w, now)
        elif desired < current:
            self._terminate(w, current - desired, now)

    # --- warm start ------------------------------------------------------------------

    def setup(self) -> None:
        """Fixed groups at their size; autoscaled ones at the size target tracking settles
        at for the first tick's load (:func:`capsim.engine.warm.settled_vm_count`: guest
        OS and idle CPU included), their VMs in service and past warm-up. A size that is
        no fixed point (the decisions cycle) is noted as a ``warm_start`` event at 0."""
        for s, w in enumerate(self.services):
            config = self.configs[w]
            if config.instances is not None:
                count = config.instances
            else:
                count = self._settled_count(w, float(self.rates[0, s]))
            self.desired[w] = count
            for _ in range(count):
                self._launch(w, 0.0, booted=True)

    def _settled_count(self, w: int, arrival_rate: float) -> int:
        """The warm size of autoscaled group ``w`` (see :meth:`setup`)."""
        instance = self.instances[w]
        workload = self.workloads[w]
        assert isinstance(workload, ServiceWorkload)
        per_vm = self.per_vm[w]
        size = settled_vm_count(
            self.policies[w],
            arrival_rate=arrival_rate,
            profile=ReplicaProfile.of(
                workload,
                instance.app_cpu_millicores / per_vm / 1000.0,
                self.configs[w].routing,
                self.accelerators[w],
            ),
            per_vm=per_vm,
            vcpu_millicores=instance.vcpu_millicores,
            guest_os_cpu_millicores=instance.guest_os_cpu_millicores,
        )
        if not size.converged:
            self.recorder.event(
                0.0,
                workload.name,
                "warm_start",
                size.seen[0],
                size.replicas,
                "NoFixedPoint",
                size.note("target tracking"),
            )
        return size.replicas

    # --- the group's alarms ------------------------------------------------------------

    def tasks(self) -> list[PeriodicTask]:
        """One alarm evaluation per metric period in use (groups sharing a period are
        evaluated together, in workload order)."""
        periods = sorted({p.metric_period_s for p in self.policies.values()})
        return [
            PeriodicTask(f"alarm {period:g}s", period, functools.partial(self._alarm, period))
            for period in periods
        ]

    def _alarm(self, period: float, now: float) -> None:
        """The CPU datapoint of every group with this metric period, and its decision."""
        integral = self.cpu_integral_at(now)
        for w, policy in self.policies.items():
            if policy.metric_period_s != period:
                continue
            s = self.services.index(w)
            start = self._period_start_s.get(w, 0.0)
            used = (integral[s] - self._period_integral.get(w, 0.0)) / max(now - start, 1e-9)
            self._period_integral[w] = float(integral[s])
            self._period_start_s[w] = now
            self._evaluate(w, policy, used, now)

    def _evaluate(self, w: int, policy: TargetTracking, cores_per_app: float, now: float) -> None:
        instance = self.instances[w]
        vms = self.vms[w]
        in_service = [vm for vm in vms if vm.in_service_s is not None]
        warmed = [
            vm
            for vm in in_service
            if vm.in_service_s is not None and vm.in_service_s + policy.warmup_s <= now
        ]
        datapoint = None
        if warmed:
            vm_cores = cores_per_app * self.per_vm[w] + instance.guest_os_cpu_millicores / 1000.0
            datapoint = 100.0 * vm_cores / (instance.vcpu_millicores / 1000.0)
        decision = evaluate(
            policy,
            self.memory[w],
            now=now,
            datapoint=datapoint,
            desired=int(self.desired[w]),
            counted_instances=len(warmed),
            warming_instances=len(vms) - len(warmed),
        )
        self.memory[w] = decision.memory
        if decision.desired != self.desired[w]:
            self.recorder.event(
                now,
                self.workloads[w].name,
                "scale",
                int(self.desired[w]),
                decision.desired,
                decision.reason,
                decision.message,
            )
            self._set_desired(w, decision.desired, now)
