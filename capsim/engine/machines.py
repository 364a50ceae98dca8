"""What a platform has bought: every node or VM from its request to its removal, billed
per second with a minimum, and the vCPUs, memory and GPUs it paid for over time."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["Machines"]


@dataclass
class Machines:
    """What a platform has bought: every node or VM, from its request to its removal.

    Cost is per second with ``billing_minimum_s``; capacity is the machines' whole vCPUs
    and memory (what is paid for, before any reservation or guest OS), integrated over
    time so a record row can report its interval mean.
    """

    billing_minimum_s: float
    _live: dict[int, tuple[float, float, float, float, float]] = dataclasses.field(
        default_factory=dict
    )  # id → (requested_s, price_per_hour, vcpu cores, memory bytes, gpus)
    _closed: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])

    def open(
        self,
        key: int,
        requested_s: float,
        price_per_hour: float,
        cpu_cores: float,
        memory_b: float,
        gpus: float = 0.0,
    ) -> None:
        self._live[key] = (requested_s, price_per_hour, cpu_cores, memory_b, gpus)

    def close(self, key: int, now: float) -> None:
        requested_s, price, cores, memory, gpus = self._live.pop(key)
        held = now - requested_s
        self._closed[0] += price * max(held, self.billing_minimum_s) / 3600.0
        self._closed[1] += cores * held
        self._closed[2] += memory * held
        self._closed[3] += gpus * held

    def totals(self, now: float) -> tuple[float, float, float, float]:
        """(cost in USD, vCPU core-seconds, memory byte-seconds, GPU-seconds) from 0 to
        ``now``."""
        cost = cores = memory = gpu_s = 0.0
        minimum = self.billing_minimum_s
        for requested_s, price, cpu, mem, gpus in self._live.values():
            held = now - requested_s
            cost += price * max(held, minimum)
            cores += cpu * held
            memory += mem * held
            gpu_s += gpus * held
        closed = self._closed
        return (
            closed[0] + cost / 3600.0,
            closed[1] + cores,
            closed[2] + memory,
            closed[3] + gpu_s,
        )
