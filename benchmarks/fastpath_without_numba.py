"""Benchmark: what Numba buys. The fast path's kernel compiled (the ``fast`` extra) against
the same kernel run as plain Python (what a core install without Numba runs), both sides
in one run, on the whole NASA July 1995 trace:

1. ``capsim recommend`` on the NASA month (the command of ``benchmarks/README.md``), with
   Numba and without it (``NUMBA_DISABLE_JIT=1``: Numba's switch that runs the decorated
   functions as ordinary Python, exactly what the fallback does); the two must print the
   same recommendation, word for word;
2. the fast path alone on the 43 HPAs of ``recommend``'s default search space (14
   targets × 3 behaviors, plus one) over the scenario of ``sweep_nasa_1000.py``; the two
   must give the same metrics, bit for bit.

Run: ``.venv/bin/python benchmarks/fastpath_without_numba.py``; figures go to
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from capsim.data import EXAMPLES_DIR, TRACES_DIR
from capsim.fastpath import evaluate_hpas, service_hpa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_nasa_1000 import configurations, scenario

RECOMMEND_CONFIGS = 43  # recommend's default space: 14 targets × 3 presets + the current
RECOMMEND = [
    "recommend",
    "--hpa",
    str(EXAMPLES_DIR / "validate" / "hpa-pass.yaml"),
    "--deployment",
    str(EXAMPLES_DIR / "validate" / "deployment.yaml"),
    "--trace",
    str(TRACES_DIR / "nasa_http_1995-07_per_minute.csv"),
    "--scale",
    "40",
    "--cpu-ms-per-request",
    "30",
    "--slo-p95-ms",
    "200",
    "--json",
]


def _fast_path() -> None:
    """Print the wall time and metrics of the 43 HPAs × the month (as JSON)."""
    base = scenario()
    specs = configurations(service_hpa(base, "kubernetes"), RECOMMEND_CONFIGS)
    evaluate_hpas(base, "kubernetes", specs[:1])  # compile the kernel, or load it from the cache
    started = time.perf_counter()
    result = evaluate_hpas(base, "kubernetes", specs, trajectory=False)
    wall = time.perf_counter() - started
    columns = {name: result.metrics[name].tolist() for name in result.metrics.columns}
    print(json.dumps({"wall": wall, "syncs": len(result.sync_times_s), "metrics": columns}))


def _run(argv: list[str], *, jit: bool) -> tuple[float, str]:
    env = {**os.environ, **({} if jit else {"NUMBA_DISABLE_JIT": "1"})}
    started = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if out.returncode not in (0, 1):
        raise RuntimeError(out.stderr)
    return wall, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast-path", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fast_path:
        _fast_path()
        return

    capsim = [sys.executable, "-m", "capsim"]
    _run([*capsim, *RECOMMEND], jit=True)  # compile or load the kernel once
    with_numba, picked = _run([*capsim, *RECOMMEND], jit=True)
    without, picked_plain = _run([*capsim, *RECOMMEND], jit=False)
    assert picked == picked_plain, "recommend differs without Numba"
    choice = json.loads(picked)["recommended"]["label"]
    print(f"capsim recommend, NASA month: {with_numba:.1f} s with Numba, {without:.1f} s without")
    print(f"  same output: yes (picks {choice})")

    bench = [sys.executable, __file__, "--fast-path"]
    compiled = json.loads(_run(bench, jit=True)[1])
    plain = json.loads(_run(bench, jit=False)[1])
    same = pd.DataFrame(compiled["metrics"]).equals(pd.DataFrame(plain["metrics"]))
    assert same, "the plain-Python kernel gives other metrics"
    ratio = plain["wall"] / compiled["wall"]
    print(
        f"fast path, {RECOMMEND_CONFIGS} HPAs × {compiled['syncs']:,} syncs: "
        f"{compiled['wall']:.2f} s compiled, {plain['wall']:.1f} s plain Python ({ratio:,.0f}×)"
    )
    print("  same metrics: yes, bit for bit")


if __name__ == "__main__":
    main()
