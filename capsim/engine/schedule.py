"""The engine's periodic controllers as typed tasks, run at the instants of
:class:`capsim.models.schedule.Periodic` in the order the platform lists them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PeriodicTask"]


@dataclass(frozen=True)
class PeriodicTask:
    """A controller that runs every ``period_s`` seconds from time 0: ``run(now)``.

    ``name`` says what it is (``metrics-scrape``, ``hpa-sync``, ``alarm 60s``, …) for people and
    tests; the engine never dispatches on it.
    """

    name: str
    period_s: float
    run: Callable[[float], None]
    idle: Callable[[float], bool] | None = None
    """``idle(now)`` is True when ``run(now)`` would change nothing in the state as it is;
    an instant where every task due is idle and no other event is pending is skipped."""
