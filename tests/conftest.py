"""Test-wide settings: hypothesis is deterministic under CI and never times out on a
loaded machine (correctness is tested here; speed is measured in benchmarks/)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
