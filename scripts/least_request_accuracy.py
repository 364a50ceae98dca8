"""Accuracy and speed of the least-request wait law (:mod:`capsim.models.least_request`).

Reference: the exact per-request core (:mod:`capsim.models.requests`, compiled; it agrees
with ciw request for request), least-request with ``d = 2`` (P2C) and ``d = N`` (JSQ),
exponential service of mean 1, ``k`` slots on ``k`` cores, 4 replications of 300,000
requests (600,000 at ρ ≥ 0.9) after a 10 % warm-up. Ours: mean, p95 and p99 of
``W + S`` with ``W`` the law's exponential-shaped wait. Prints a Markdown table and the
compiled cost per call. Run: ``.venv/bin/python scripts/least_request_accuracy.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_least_request_law import simulate, summary  # type: ignore[import-not-found]

from capsim.jit import compile_family
from capsim.models import least_request as lr


def main() -> None:
    family = compile_family(vars(lr), lr.COMPILED_FUNCTIONS)
    wait = family["least_request_wait"]
    print(
        "| N | k | routing | ρ | reference mean / p95 / p99 (± 95 % half-width) "
        "| law mean / p95 / p99 | error mean / p95 / p99 |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in (4, 16):
        for k in (1, 4):
            for d in (2, 0):
                for rho in (0.3, 0.6, 0.8, 0.9, 0.95):
                    customers = 300_000 if rho < 0.9 else 600_000
                    values = []
                    for seed in range(4):
                        r = simulate(n, k, rho, d, customers, seed + 1)
                        values.append([r.mean(), np.quantile(r, 0.95), np.quantile(r, 0.99)])
                    data = np.asarray(values)
                    ref = data.mean(axis=0)
                    half = stats.t.ppf(0.975, 3) * data.std(axis=0, ddof=1) / 2.0
                    p, mean_wait = wait(rho * n * k, float(n), float(k), 1.0, float(d))
                    ours = summary(p, mean_wait, 1.0)
                    err = [100.0 * (a / b - 1.0) for a, b in zip(ours, ref, strict=True)]
                    name = "P2C" if d == 2 else "JSQ"
                    refs = " / ".join(f"{v:.3f}±{h:.3f}" for v, h in zip(ref, half, strict=True))
                    print(
                        f"| {n} | {k} | {name} | {rho} | {refs} | "
                        + " / ".join(f"{v:.3f}" for v in ours)
                        + " | "
                        + " / ".join(f"{e:+.1f} %" for e in err)
                        + " |",
                        flush=True,
                    )
    table = family["least_request_table"]
    lookup = family["least_request_lookup"]
    p_col, g_col = table(16.0, 4.0, 2.0, 256)
    for name, fn, args in (
        ("least_request_wait N=16 k=1 P2C ρ=0.9", wait, (14.4, 16.0, 1.0, 1.0, 2.0)),
        ("least_request_wait N=16 k=4 JSQ ρ=0.9", wait, (57.6, 16.0, 4.0, 1.0, 0.0)),
        ("least_request_wait N=100 k=2 P2C ρ=0.95", wait, (190.0, 100.0, 2.0, 1.0, 2.0)),
        ("least_request_lookup (256-point table)", lookup, (p_col, g_col, 57.6, 16.0, 4.0, 1.0)),
    ):
        fn(*args)
        calls = 200 if "wait" in name else 200_000
        start = time.perf_counter()
        for _ in range(calls):
            fn(*args)
        print(f"{name}: {(time.perf_counter() - start) / calls * 1e9:,.0f} ns per call")
    start = time.perf_counter()
    table(16.0, 4.0, 2.0, 256)
    print(f"least_request_table (N=16, k=4, P2C, 256 points): {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
