"""What every part of the scenario schema shares: the frozen pydantic base, names, the
error type, and default delays."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from capsim.scenario.distributions import LogNormal
from capsim.scenario.fields import StrictModel

__all__ = ["FrozenModel", "Name", "ScenarioError", "reference_delay"]


class ScenarioError(ValueError):
    """A scenario is invalid; the message names the file, the field path and the value."""


NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""A DNS-1123 label (at most 63 characters): every name in a scenario."""

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]


def is_name(text: str) -> bool:
    """Whether ``text`` is a valid :data:`Name`."""
    return len(text) <= 63 and re.fullmatch(NAME_PATTERN, text) is not None


class FrozenModel(StrictModel):
    """The base of the scenario schema: frozen, unknown keys refused, numbers strict
    (:class:`capsim.scenario.fields.StrictModel`)."""


def reference_delay(median: str, p99: str) -> LogNormal:
    """A default delay (listed in ``docs/scenario-reference.md``), validated like one
    written in YAML."""
    return LogNormal.model_validate({"distribution": "lognormal", "median": median, "p99": p99})
