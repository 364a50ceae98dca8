"""Accuracy of ``service_model: exact`` against independent references, as a Markdown table.

The cases and the agreement rule are those of ``tests/engine/test_exact_mode_reference.py``
(see its docstring), with runs ``--scale`` times longer (default 4): M/G/c with
deterministic work (4 replicas of 1 slot, ρ 0.7) and lognormal work of cv 2 (4 replicas
of 2 slots, ρ 0.6) under each routing policy, against closed forms (M/D/1) or the compiled
FCFS recursion (``reference.ciw_general.routed_fcfs_response``); M/M/8 against Erlang C;
and an overload then recovery with a 2 s timeout against ciw. Each row: the reference and
capsim with their 95 % half-widths (capsim's are its own batch-means intervals), the
difference, and whether it is within ``Z`` combined standard errors (``Z`` the test
file's Bonferroni quantile)::

    .venv/bin/python scripts/exact_mode_accuracy.py                  # print (minutes)
    .venv/bin/python scripts/exact_mode_accuracy.py --write table.md # also write it
    .venv/bin/python scripts/exact_mode_accuracy.py --scale 1        # the test's sizes
"""

# ruff: noqa: E501  (table rows read best one per line)
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "engine"))

import test_exact_mode_reference as t  # noqa: E402
from reference import ciw_models as cm  # noqa: E402
from reference import queues as ref  # noqa: E402

HEADER = (
    "| case | metric | reference | reference ± 95 % | capsim exact ± 95 % | difference | within CI |\n"
    "|---|---|---|---|---|---|---|"
)


def _ms(value_s: float, half_s: float) -> str:
    if half_s == 0.0:
        return f"{1000 * value_s:.4g}"
    return f"{1000 * value_s:.4g} ± {1000 * half_s:.2g}"


def _row(
    case: str, metric: str, source: str, a: t.Measured, b: t.Measured, half_a: float, half_b: float
) -> str:
    diff = 100.0 * (a.value / b.value - 1.0)
    tol = 100.0 * t.tolerance(a, b) / b.value
    verdict = "yes" if t.agrees(a, b) else "**no**"
    return (
        f"| {case} | {metric} ms | {source} | {_ms(b.value, half_b)} | {_ms(a.value, half_a)} "
        f"| {diff:+.2f} % (bound ±{tol:.2f} %) | {verdict} |"
    )


def stationary_rows(scale: float) -> list[str]:
    """One row per case and metric of the test's stationary cases, ``scale`` times longer."""
    rows = []
    for base in t.STATIONARY:
        case = replace(
            base,
            requests=int(base.requests * scale),
            ref_customers=int(base.ref_customers * scale),
        )
        started = time.monotonic()
        result = t.run_exact(t.scenario(case, requests=case.requests, seed=101))
        t.assert_conserved(result)
        got = t.capsim_metrics(result)
        want = t.reference(case, t.REF_REPLICATIONS, case.ref_customers)
        if case.closed_form:
            source = "M/D/1 closed form (P-K mean, Erlang's wait law)"
        else:
            source = f"FCFS recursion, {t.REF_REPLICATIONS} × {case.ref_customers:,}"
        served = t.service_summary(result)["requests_served"]
        label = f"{base.label} ({served / 1e6:.0f}M requests)"
        for metric in t.METRICS:
            a, b = got[metric], want[metric]
            half_b = t.student_half_width(b.se, t.REF_REPLICATIONS) if b.se else 0.0
            rows.append(_row(label, metric, source, a, b, t.T_CAPSIM * a.se, half_b))
        print(f"  {base.label}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return rows


def erlang_c_rows(scale: float) -> list[str]:
    """The confidence-interval case (M/M/8, pooled) in one long run against Erlang C."""
    case = t.HONEST_CASE
    requests = int(4_000_000 * scale)
    result = t.run_exact(t.scenario(case, requests=requests, seed=102))
    t.assert_conserved(result)
    got = t.capsim_metrics(result)
    mu, lam = 1 / t.WORK_S, case.lam
    exact = {
        "mean": ref.pooled_response_mean(case.replicas, lam, mu, case.slots),
        "p95": ref.pooled_response_quantile(case.replicas, lam, mu, case.slots, 0.95),
        "p99": ref.pooled_response_quantile(case.replicas, lam, mu, case.slots, 0.99),
    }
    label = f"{case.label} ({requests / 1e6:.0f}M requests)"
    return [
        _row(
            label,
            m,
            "Erlang C (exact)",
            got[m],
            t.Measured(exact[m], 0.0),
            t.T_CAPSIM * got[m].se,
            0.0,
        )
        for m in t.METRICS
    ]


def overload_rows(seeds: int) -> list[str]:
    """Overload then recovery (M/D/1+D): abandoned and served requests over the run, capsim's
    mean over ``seeds`` seeds against ciw's over 30 replications; the largest row p99."""
    ciw_ref = cm.simulate_overload_recovery(
        list(t.OVERLOAD_RATES),
        list(t.OVERLOAD_ENDS_S),
        cm.Service("deterministic", t.OVERLOAD_WORK_S),
        1,
        tau_s=t.OVERLOAD_TIMEOUT_S,
        probe_s=t.OVERLOAD_ENDS_S[1],
        switch_s=t.OVERLOAD_ENDS_S[1],
        replications=30,
        seed=21,
        drain_s=60.0,
    )
    abandoned, served, worst = [], [], 0.0
    for seed in range(1, seeds + 1):
        result = t.run_exact(t.overload_scenario(seed))
        counts = t.assert_conserved(result)
        abandoned.append(counts["abandoned"])
        served.append(counts["served"])
        worst = max(worst, float(np.nanmax(result.timeseries.latency_p99_ms.to_numpy(dtype=float))))
    ciw_abandoned = np.asarray(ciw_ref.abandoned.values)
    ciw_served = (
        np.asarray(ciw_ref.arrived.values) - ciw_abandoned - np.asarray(ciw_ref.rejected.values)
    )
    label = "M/D/1+D, 5 → 15 → 5 requests/s (60 s, 300 s, 300 s), timeout 2 s"
    out = []
    for name, mine, theirs in (
        ("abandoned", abandoned, ciw_abandoned),
        ("served", served, ciw_served),
    ):
        a = t.Measured(float(np.mean(mine)), float(np.std(mine, ddof=1)) / math.sqrt(len(mine)))
        b = t.Measured(float(theirs.mean()), float(np.std(theirs, ddof=1)) / math.sqrt(theirs.size))
        diff = 100.0 * (a.value / b.value - 1.0)
        tol = 100.0 * t.tolerance(a, b) / b.value
        verdict = "yes" if t.agrees(a, b) else "**no**"
        out.append(
            f"| {label} | {name} requests | ciw, 30 replications | {b.value:.1f} ± {t.student_half_width(b.se, theirs.size):.2g} "
            f"| {a.value:.1f} ± {t.student_half_width(a.se, len(mine)):.2g} ({seeds} seeds) | {diff:+.2f} % (bound ±{tol:.2f} %) | {verdict} |"
        )
    bound = 1000 * (t.OVERLOAD_TIMEOUT_S + t.OVERLOAD_WORK_S)
    out.append(
        f"| {label} | largest row p99 ms | timeout + work (a bound) | ≤ {bound:.0f} | {worst:.1f} "
        f"| — | {'yes' if worst <= bound * (1 + 1e-9) else '**no**'} |"
    )
    return out


def table(scale: float, seeds: int) -> str:
    rows = stationary_rows(scale) + erlang_c_rows(scale) + overload_rows(seeds)
    return "\n".join([HEADER, *rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=4.0, help="run length relative to the test's (default 4)"
    )
    parser.add_argument(
        "--seeds", type=int, default=16, help="capsim seeds of the overload case (default 16)"
    )
    parser.add_argument("--write", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    started = time.monotonic()
    text = table(args.scale, args.seeds)
    note = (
        f"\nWithin CI: |capsim − reference| ≤ Z·√(se_capsim² + se_ref²), Z = {t.Z:.3f} "
        f"(two-sided, family-wise 2 % over {t.K} comparisons). Scale {args.scale:g}; "
        f"{time.monotonic() - started:.0f} s.\n"
    )
    sys.stdout.write(text + note)
    if args.write is not None:
        args.write.write_text(text + note)


if __name__ == "__main__":
    main()
