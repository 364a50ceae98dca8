"""Benchmark: the bundled ``llm-bursty`` (issue 18's target: under 30 s), whole and by part.

Times ``capsim run llm-bursty`` end to end as a user runs it (load the scenario, simulate
its three platforms, summarize; reports not written) and, in the same process, the LLM
cores alone on the same requests (every platform's ``LlmService.advance`` calls), so
the share of the run the continuous-batching model takes is measured, not guessed. Each
is run ``--repeat`` times (after one run that compiles the Numba kernels) and the median
printed, with the requests and output tokens simulated per wall second.

Run: ``.venv/bin/python benchmarks/llm_bursty.py [--repeat 3]``; figures go to
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import capsim
from capsim.engine import llm as engine_llm

TARGET_S = 30.0


def _timed_run() -> tuple[float, float, Any]:
    """Wall seconds of one whole run and of the LLM cores within it; the summary."""
    spent = [0.0]
    original = engine_llm.LlmService.advance

    def timed(self: Any, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, *args)
        finally:
            spent[0] += time.perf_counter() - start

    engine_llm.LlmService.advance = timed  # type: ignore[method-assign,assignment]
    try:
        start = time.perf_counter()
        result = capsim.run(capsim.load_scenario("llm-bursty"))
        whole = time.perf_counter() - start
    finally:
        engine_llm.LlmService.advance = original  # type: ignore[method-assign]
    return whole, spent[0], result.summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _timed_run()  # compile outside the timings
    wholes, cores = [], []
    summary: Any = None
    for _ in range(args.repeat):
        whole, core, summary = _timed_run()
        wholes.append(whole)
        cores.append(core)
    platforms = summary["platforms"]
    requests = sum(p["workloads"]["chat"]["requests_arrived"] for p in platforms.values())
    median, core = statistics.median(wholes), statistics.median(cores)
    print(f"llm-bursty: 3 h, {len(platforms)} platforms, {requests:,.0f} requests in all")
    print(
        f"whole run  median {median:6.2f} s (min {min(wholes):.2f}, max {max(wholes):.2f}); "
        f"target < {TARGET_S:g} s: {'met' if median < TARGET_S else 'MISSED'}"
    )
    print(
        f"LLM cores  median {core:6.2f} s ({100.0 * core / median:.0f} % of the run), "
        f"{requests / core:,.0f} requests per wall second in the cores"
    )


if __name__ == "__main__":
    main()
