"""An independent per-request reference for client retries: a small discrete-event
simulation of one FCFS queue with ``c(t)`` servers, written from the request model only
(it shares no code with capsim).

Model, request by request:

* fresh requests arrive as a Poisson process whose rate is constant over each tick of
  ``dt_s`` (given per tick); each needs an exponential service time of mean
  ``service_mean_s``, drawn anew for every attempt (the expected model's work law is
  memoryless, so "the same work" and "fresh work" have the same law);
* ``c(t)`` identical servers, one FCFS queue (M/M/c, the service model's ``pooled``
  routing with one slot and one core per replica); the server count is constant over a
  tick. When it drops to 0 every request in the system is refused at that instant (no
  ready replica: connection refused); while it is 0 every arrival is refused; a drop to
  a positive count lets requests in service finish;
* an arrival that finds ``queue_limit`` requests waiting is refused;
* a request still waiting ``timeout_s`` after its arrival abandons then;
* a failed attempt of level ``k < max_retries`` is retried after
  ``Uniform(0, min(backoff_s · multiplier^k, max_backoff_s))`` seconds as a new arrival
  of level ``k + 1`` (full jitter); a failed attempt of level ``max_retries`` is failed
  finally.

Counts are binned by the instant they happen: attempts offered (all levels) and retries
offered (levels ≥ 1) by arrival instant; failures, refusals, abandonments and finally
failed requests by failure instant; completions by departure instant.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["RetryRun", "simulate"]

_ARRIVAL = 0
_DEPARTURE = 1


@dataclass(frozen=True)
class RetryRun:
    """Per-bin counts of one replication (arrays of length ``bins``)."""

    offered: np.ndarray  # attempts arriving (fresh + retries)
    retries: np.ndarray  # retries arriving (levels >= 1)
    refused: np.ndarray  # attempts refused (no server or full queue)
    abandoned: np.ndarray  # attempts abandoning at the timeout
    failed_finally: np.ndarray  # requests whose last attempt failed
    served: np.ndarray  # attempts completed


def simulate(
    fresh_rates: Sequence[float],
    servers: Sequence[int],
    *,
    dt_s: float,
    service_mean_s: float,
    timeout_s: float,
    max_retries: int,
    backoff_s: float,
    multiplier: float,
    max_backoff_s: float,
    rng: np.random.Generator,
    queue_limit: float = math.inf,
    bin_s: float | None = None,
) -> RetryRun:
    """One replication over ``len(fresh_rates)`` ticks (``servers[i]`` during tick ``i``);
    events after the horizon are not counted."""
    ticks = len(fresh_rates)
    horizon = ticks * dt_s
    width = dt_s if bin_s is None else bin_s
    bins = math.ceil(horizon / width - 1e-9)
    counts = {name: np.zeros(bins) for name in RetryRun.__dataclass_fields__}

    def count(name: str, t: float) -> None:
        if t < horizon:
            counts[name][min(int(t / width), bins - 1)] += 1.0

    events: list[tuple[float, int, int, int]] = []  # (time, seq, kind, payload)
    seq = 0

    def push(t: float, kind: int, payload: int) -> None:
        nonlocal seq
        if t < horizon:
            heapq.heappush(events, (t, seq, kind, payload))
            seq += 1

    for i, rate in enumerate(fresh_rates):
        n = rng.poisson(rate * dt_s)
        for t in np.sort(rng.uniform(i * dt_s, (i + 1) * dt_s, n)):
            push(float(t), _ARRIVAL, 0)

    caps = [
        min(backoff_s * multiplier**k, max_backoff_s) for k in range(max(max_retries, 0))
    ]  # caps[k]: window of retry number k + 1

    def fail(level: int, t: float) -> None:
        if level >= max_retries:
            count("failed_finally", t)
        else:
            push(t + float(rng.uniform(0.0, caps[level])), _ARRIVAL, level + 1)

    queue: deque[tuple[float, int]] = deque()  # (arrival instant, level)
    in_service: dict[int, int] = {}  # request id -> level
    next_id = 0
    c = 0
    tick = -1

    def start(level: int, t: float) -> None:
        nonlocal next_id
        in_service[next_id] = level
        push(t + float(rng.exponential(service_mean_s)), _DEPARTURE, next_id)
        next_id += 1

    def set_servers(t: float, new: int) -> None:
        nonlocal c
        if new <= 0:
            for level in in_service.values():
                count("refused", t)
                fail(level, t)
            in_service.clear()  # their departures become stale
            while queue:
                _, level = queue.popleft()
                count("refused", t)
                fail(level, t)
        c = max(new, 0)
        while queue and len(in_service) < c:
            _, level = queue.popleft()
            start(level, t)

    while True:
        t_event = events[0][0] if events else horizon
        t_due = queue[0][0] + timeout_s if queue else math.inf
        t_tick = (tick + 1) * dt_s if tick + 1 < ticks else math.inf
        t = min(t_event, t_due, t_tick)
        if t >= horizon:
            break
        if t == t_tick:
            tick += 1
            set_servers(t, servers[tick])
            continue
        if t == t_due:  # the oldest waiting request's timeout: it abandons
            _, level = queue.popleft()
            count("abandoned", t)
            fail(level, t)
            continue
        _, _, kind, payload = heapq.heappop(events)
        if kind == _DEPARTURE:
            if in_service.pop(payload, None) is None:
                continue  # refused when the servers went
            count("served", t)
            if queue and len(in_service) < c:
                _, level = queue.popleft()
                start(level, t)
            continue
        level = payload
        count("offered", t)
        if level > 0:
            count("retries", t)
        if c <= 0 or (len(in_service) >= c and len(queue) >= queue_limit):
            count("refused", t)
            fail(level, t)
        elif len(in_service) < c:
            start(level, t)
        else:
            queue.append((t, level))
    return RetryRun(**counts)
