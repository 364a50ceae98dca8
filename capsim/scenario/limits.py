"""Run-size limits: what capsim refuses, before it allocates, and why.

Every limit is checked at the edge (while a scenario, load spec or trace is read, before the
engine starts) and refused with one line naming the file, the field, the size and the limit
(exit 2). They are generous enough for every bundled scenario and benchmark (the NASA month at
a 1 s tick on two platforms; 100 services for a day at 1 s; sweeps of 1,000 configurations,
each its own run) and keep one run within a few GiB of memory (the engine holds about 120
bytes per simulated tick, service and platform).

========================  ===================  ============================================
limit                     value                what it bounds
========================  ===================  ============================================
``MAX_TICKS``             100,000,000          ticks in a run (``duration`` ÷ ``tick``)
``MAX_GRID_CELLS``        20,000,000           ticks × services × platforms (the per-tick
                                               arrays the engine keeps)
``MAX_RECORD_INSTANTS``   500,000              rows per platform in the time series
                                               (``duration`` ÷ ``record_every``)
``MAX_RECORDED_ROWS``     5,000,000            time-series rows: instants × workloads ×
                                               platforms
``MAX_WORKLOADS``         1,000                workloads in one scenario
``MAX_PLATFORMS``         100                  platforms in one scenario
``MAX_NODE_POOLS``        100                  node pools of one Kubernetes platform
``MAX_NODES``             5,000                nodes (``max_nodes`` summed over a
                                               platform's pools; VMs: ``max``/``instances``)
                                               (Kubernetes' documented limit per cluster)
``MAX_REPLICAS``          150,000              pods of one workload (``replicas``, an HPA's
                                               ``maxReplicas``) (Kubernetes' pods per cluster)
``MAX_CONCURRENCY``       1,000                ``concurrency`` (request slots per replica)
``MAX_QUEUE_LIMIT``       10,000,000           ``queue_limit`` (requests waiting per replica)
``MAX_DISPERSION_INDEX``  100                  ``arrivals.dispersion_index`` (burstiness)
``MAX_RETRIES``           10                   ``retries.max`` (client retries per request)
``MAX_BACKOFF_S``         3,600 s              ``retries.backoff`` and ``max_backoff``
``MAX_DELAY_CELLS``       20,000,000           delay-line cells of a run: per service and
                                               platform, (``timeout`` + ``max_backoff`` ×
                                               retries) ÷ ``tick``
``MAX_EXACT_REQUESTS``    150,000,000          requests ``service_model: exact`` simulates
                                               in a run (expected, over every service and
                                               platform, warm-up included): 8 bytes each
                                               are kept for the latency percentiles
``MAX_PER_VM``            1,000                ``per_vm`` (app instances per VM)
``MAX_WORKERS``           100,000              ``workers`` of one batch job
``MAX_GPU``               1,024                GPUs of one node, VM, pod or worker
``MAX_BATCH_TASKS``       1,000,000            jobs × workers of one batch workload in a run
                                               (expected, for Poisson arrivals)
``MAX_LOAD_DEPTH``        32                   ``sum``/``product`` specs nested in a load
``MAX_NESTING``           100                  mappings and lists nested in a scenario or
                                               load spec (as data)
``MAX_TRACE_BYTES``       512 MiB              size of a trace or submit-times file
``MAX_TRACE_ROWS``        20,000,000           rows of a trace or submit-times file
``MAX_TRACE_STEPS``       50,000,000           a trace's span ÷ its step (its replay grid)
``MAX_RATE``              1e9                  a load value (per second, in its unit), after
                                               ``scale`` and products
``MAX_DURATION_S``        1e9 s (~31.7 years)  any duration; a positive one is ≥ 1 µs
``MAX_CPU_MILLICORES``    1e9 (1M cores)       a CPU quantity (node, VM, pod, worker)
``MAX_MEMORY_BYTES``      2**50 (1 PiB)        a memory quantity; also image size, and pull
                                               bandwidth per second
``MAX_MEMORY_MIB``        2**20 (1 TiB)        ``memory_mib`` and ``memory_mib_per_request``
``CPU_MS_PER_REQUEST``    1e-3 to 3.6e6 ms     ``cpu_ms_per_request`` (1 µs to 1 h)
``MAX_PRICE_PER_HOUR``    1e6                  ``price_per_hour`` of a node or VM
``MAX_LATENCY_MS``        1e9 ms               an SLO's ``p95_latency_ms``
``MAX_PRIORITY``          2**31 - 1            ``|priority|`` of a batch workload
========================  ===================  ============================================

Numbers are finite (``.inf`` and ``.nan`` are refused wherever a number belongs) and never
booleans (``replicas: true`` is refused, not read as 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CPU_MS_PER_REQUEST_MAX",
    "CPU_MS_PER_REQUEST_MIN",
    "MAX_BACKOFF_S",
    "MAX_BATCH_TASKS",
    "MAX_CONCURRENCY",
    "MAX_CPU_MILLICORES",
    "MAX_DELAY_CELLS",
    "MAX_DISPERSION_INDEX",
    "MAX_DURATION_S",
    "MAX_EXACT_REQUESTS",
    "MAX_GPU",
    "MAX_GRID_CELLS",
    "MAX_LATENCY_MS",
    "MAX_LOAD_DEPTH",
    "MAX_MEMORY_BYTES",
    "MAX_MEMORY_MIB",
    "MAX_NESTING",
    "MAX_NODES",
    "MAX_NODE_POOLS",
    "MAX_PER_VM",
    "MAX_PLATFORMS",
    "MAX_PRICE_PER_HOUR",
    "MAX_PRIORITY",
    "MAX_QUEUE_LIMIT",
    "MAX_RATE",
    "MAX_RECORDED_ROWS",
    "MAX_RECORD_INSTANTS",
    "MAX_REPLICAS",
    "MAX_RETRIES",
    "MAX_TICKS",
    "MAX_TRACE_BYTES",
    "MAX_TRACE_ROWS",
    "MAX_TRACE_STEPS",
    "MAX_WORKERS",
    "MAX_WORKLOADS",
    "MIN_POSITIVE_DURATION_S",
    "nesting_problem",
]

MAX_TICKS = 100_000_000
MAX_GRID_CELLS = 20_000_000
MAX_RECORD_INSTANTS = 500_000
MAX_RECORDED_ROWS = 5_000_000
MAX_WORKLOADS = 1_000
MAX_PLATFORMS = 100
MAX_NODE_POOLS = 100
MAX_NODES = 5_000
MAX_REPLICAS = 150_000
MAX_CONCURRENCY = 1_000
MAX_QUEUE_LIMIT = 10_000_000
MAX_DISPERSION_INDEX = 100.0
MAX_RETRIES = 10
MAX_BACKOFF_S = 3600.0
MAX_DELAY_CELLS = 20_000_000
MAX_EXACT_REQUESTS = 150_000_000
MAX_PER_VM = 1_000
MAX_WORKERS = 100_000
MAX_GPU = 1_024
MAX_BATCH_TASKS = 1_000_000
MAX_LOAD_DEPTH = 32
MAX_NESTING = 100
MAX_TRACE_BYTES = 512 * 2**20
MAX_TRACE_ROWS = 20_000_000
MAX_TRACE_STEPS = 50_000_000
MAX_RATE = 1e9
MAX_DURATION_S = 1e9
MIN_POSITIVE_DURATION_S = 1e-6
MAX_CPU_MILLICORES = 1_000_000_000
MAX_MEMORY_BYTES = 2**50
MAX_MEMORY_MIB = 2.0**20
CPU_MS_PER_REQUEST_MIN = 1e-3
CPU_MS_PER_REQUEST_MAX = 3.6e6
MAX_PRICE_PER_HOUR = 1e6
MAX_LATENCY_MS = 1e9
MAX_PRIORITY = 2**31 - 1


def _part(key: Any) -> str:
    return f"[{key}]" if isinstance(key, int) else f".{key}"


def nesting_problem(data: Any, limit: int = MAX_NESTING) -> tuple[str, str] | None:
    """None when ``data`` (mappings and lists, as loaded from YAML or JSON) nests at most
    ``limit`` deep; else the field path where it goes deeper (``""``: the document itself;
    shortened past 80 characters) and a message. Iterative: safe on any depth (a hostile
    document cannot make it recurse)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, Mapping):
            children: list[tuple[Any, Any]] = list(node.items())
        elif isinstance(node, list | tuple):
            children = list(enumerate(node))
        else:
            continue
        if depth > limit:
            shown = where.lstrip(".") if len(where) <= 80 else where.lstrip(".")[:77] + "..."
            return shown, f"mappings and lists nested more than {limit} deep (the limit)"
        stack.extend((child, depth + 1, where + _part(key)) for key, child in children)
    return None
