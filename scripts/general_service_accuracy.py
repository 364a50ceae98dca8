"""Accuracy of candidate closed forms for the two cases the expected service model does
not handle yet (issue 15): work with cv > 1 (M/G/c, lognormal and gamma) and bursty
renewal arrivals (GI/M/c with balanced-H2 interarrival times of SCV I).

Prints, per case, the reference (± 95 % half-width where it is a simulation) and each
candidate's relative error on the mean, p95 and p99 of the response time (wait + own
service). References (``tests/reference/ciw_general.py``, checked in
``tests/test_reference_general.py``):

* M/G/1: the exact Beneš law on a grid (no noise);
* M/G/c, c > 1, and round robin: the FCFS recursion, 10 × 4M requests per case;
* GI/M/c: the exact CTMC over (requests, arrival phase);
* ``--ciw``: ciw replications beside them (slower, wider intervals), and P2C (ciw only).

Run: ``.venv/bin/python scripts/general_service_accuracy.py [--ciw] [--quick]`` (about
3 minutes; ``--ciw`` adds about 10). Units: the mean service time is 1 s, μ = 1.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from scipy import optimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reference import ciw_general as g
from reference import ciw_models as cm

Phases = list[tuple[float, float]]  # (probability, rate)


# --- the candidate formulas (what the model would code) ---------------------------------------


def erlang_c(c: int, a: float) -> float:
    """Erlang C by Erlang B's recursion (any real offered load ``a < c``)."""
    b = 1.0
    for n in range(1, c + 1):
        b = a * b / (n + a * b)
    return b / (1 - a / c * (1 - b))


def h2_balanced(scv: float) -> Phases:
    """Mean-1 balanced H2 (the current work law above cv 1)."""
    p1 = 0.5 * (1 + math.sqrt((scv - 1) / (scv + 1)))
    return [(p1, 2 * p1), (1 - p1, 2 * (1 - p1))]


def h2_three_moments(n2: float, n3: float) -> Phases:
    """Mean-1 H2 with ``E[S²] = n2``, ``E[S³] = n3`` (feasible when ``n2 > 2`` and
    ``n3 > 1.5 n2²``): reduced moments ``r_k = E[S^k]/k!`` satisfy ``r_{k+2} = s r_{k+1}
    − P r_k`` with ``s, P`` the sum and product of the phase means."""
    r2, r3 = n2 / 2, n3 / 6
    s = (r3 - r2) / (r2 - 1)
    p = s - r2
    d = math.sqrt(s * s - 4 * p)
    x, y = (s + d) / 2, (s - d) / 2
    share = (1 - y) / (x - y)
    return [(share, 1 / x), (1 - share, 1 / y)]


def h2_two_tails(t95: float, t99: float) -> Phases:
    """Mean-1 H2 with ``P(S > t95) = 0.05`` and ``P(S > t99) = 0.01`` (solved once per
    service)."""

    def eq(v: Sequence[float]) -> list[float]:
        p2 = 1 / (1 + math.exp(-v[0]))
        m2 = math.exp(v[1])
        m1 = (1 - p2 * m2) / (1 - p2)
        if m1 <= 0:
            return [1.0, 1.0]

        def tail(t: float) -> float:
            return (1 - p2) * math.exp(-t / m1) + p2 * math.exp(-t / m2)

        return [math.log(tail(t95) / 0.05), math.log(tail(t99) / 0.01)]

    v = optimize.fsolve(eq, [math.log(0.1 / 0.9), math.log(3.0)])
    p2, m2 = 1 / (1 + math.exp(-v[0])), math.exp(v[1])
    m1 = (1 - p2 * m2) / (1 - p2)
    return [(1 - p2, 1 / m1), (p2, 1 / m2)]


def mh21_conditional_wait(lam: float, c: int, work: Phases) -> Phases:
    """``W | W > 0`` of M/H2/1 with service ``S/c`` (phase rates × c) at arrival rate
    ``λ``: the roots ``η₁ < η₂`` of ``s² − (r₁ + r₂ − λ)s + r₁r₂ − λ(p₂r₁ + p₁r₂) = 0``
    (sign of s flipped), weights ``A_i/η_i`` with ``A₁ = (r₁−η₁)(r₂−η₁)/(η₂−η₁)``,
    ``A₂ = (r₁−η₂)(r₂−η₂)/(η₁−η₂)``, normalised."""
    (p1, r1), (p2, r2) = work
    r1, r2 = c * r1, c * r2
    b = r1 + r2 - lam
    c0 = r1 * r2 - lam * (p2 * r1 + p1 * r2)
    d = math.sqrt(b * b - 4 * c0)
    e1, e2 = (b - d) / 2, (b + d) / 2
    w1 = (r1 - e1) * (r2 - e1) / (e2 - e1) / e1
    w2 = (r1 - e2) * (r2 - e2) / (e1 - e2) / e2
    return [(w1 / (w1 + w2), e1), (w2 / (w1 + w2), e2)]


def sigma_h2_stream(p1: float, r1: float, r2: float, keep: float, k: float) -> float:
    """``σ`` of GI/M/c for a balanced-H2 stream ``(p1, r1, r2)`` (the whole stream's
    rates) thinned at random to ``keep`` (1: not thinned), ``K = cμ``: ``x = K(1 − σ)``
    is the positive root of ``x² + (e − K)x + f = 0``, ``e = r1 + r2 − (1 − keep)(p1 r1
    + p2 r2)``, ``f = keep r1 r2 − K(p2 r1 + p1 r2)``."""
    p2 = 1 - p1
    e = r1 + r2 - (1 - keep) * (p1 * r1 + p2 * r2)
    f = keep * r1 * r2 - k * (p2 * r1 + p1 * r2)
    x = 0.5 * ((k - e) + math.sqrt((k - e) ** 2 - 4 * f))
    return 1 - x / k


def sigma_every_nth(p1: float, r1: float, r2: float, n: int, k: float) -> tuple[float, int]:
    """``σ = A*(K(1 − σ))^n`` (round robin) by Newton from σ = 0 (the map is convex
    increasing, so Newton climbs monotonically to the root below 1). Returns the
    iterations used (tolerance 1e-12)."""
    s = 0.0
    for it in range(1, 60):
        x = k * (1 - s)
        a = p1 * r1 / (r1 + x) + (1 - p1) * r2 / (r2 + x)
        da = k * (p1 * r1 / (r1 + x) ** 2 + (1 - p1) * r2 / (r2 + x) ** 2)  # d/dσ
        f = a**n - s
        df = n * a ** (n - 1) * da - 1
        step = f / df
        s -= step
        if abs(step) < 1e-12:
            return s, it
    return s, 60


# --- response tails -------------------------------------------------------------------------


def response_stats(pw: float, waits: Phases, work: Phases) -> tuple[float, float, float]:
    """Mean, p95 and p99 of ``W + S`` (``W`` 0 w.p. ``1 − pw``, else the ``waits``
    mixture; ``S`` the ``work`` mixture)."""

    def tail(t: float) -> float:
        return g.mixture_tail(t, 1 - pw, [(pw * p, r) for p, r in waits], work)

    mean = pw * sum(p / r for p, r in waits) + sum(p / r for p, r in work)
    return mean, g.tail_quantile(tail, 0.95, 1.0), g.tail_quantile(tail, 0.99, 1.0)


def fmt_err(value: float, ref: float) -> str:
    return f"{100 * (value / ref - 1):+6.1f}"


# --- part A -----------------------------------------------------------------------------------


def part_a(quick: bool, use_ciw: bool) -> None:
    print("\n## A. M/G/c, work cv > 1 (mean 1 s; c servers; ρ per server)")
    print("Candidates: P_W = ρ (c = 1) or Erlang C(c, λ/μ) everywhere.")
    print("  cur : W|W>0 ~ Exp, mean (1+cs²)/(2(cμ−λ)) (Allen–Cunneen); S balanced H2")
    print("  m3S : as cur, S the three-moment H2")
    print("  H2W : W|W>0 = M/H2/1 wait with S/c, the three-moment H2; S the same H2")
    print("  H2Wt: as H2W, own S the two-tail (p95, p99) H2")
    cases = [
        (kind, cv, c, rho)
        for kind in ("lognormal", "gamma")
        for cv in (1.5, 2.0)
        for c in (1, 4)
        for rho in (0.6, 0.8, 0.9)
    ]
    header = "case                     | reference mean/p95/p99 (± hw)              |"
    names = ("cur", "m3S", "H2W", "H2Wt")
    print(header + "".join(f" {name:>4}: mean   p95   p99 |" for name in names))
    for kind, cv, c, rho in cases:
        service = cm.Service(kind, 1.0, cv)  # type: ignore[arg-type]
        lam = rho * c
        if c == 1:
            law = g.mg1_response_law(rho, service)
            ref = (law.response_mean, law.response.quantile(0.95), law.response.quantile(0.99))
            ref_txt = f"{ref[0]:7.3f} {ref[1]:8.3f} {ref[2]:8.3f} (exact)        "
        else:
            est = g.fcfs_response(
                "single",
                1,
                lam,
                service,
                c,
                replications=4 if quick else 10,
                customers=1_000_000 if quick else 4_000_000,
                warmup_customers=200_000,
                seed=7,
            )
            ref = (est.mean.mean, est.p95.mean, est.p99.mean)
            ref_txt = (
                f"{ref[0]:7.3f} {ref[1]:8.3f} {ref[2]:8.3f} "
                f"(±{est.mean.half_width:.3f} {est.p95.half_width:.2f} {est.p99.half_width:.2f})"
            )
        n2 = g.service_moment(service, 2)
        n3 = g.service_moment(service, 3)
        pw = rho if c == 1 else erlang_c(c, lam)
        ac = [(1.0, 2 * (c - lam) / (1 + cv * cv))]
        bal = h2_balanced(cv * cv)
        m3 = h2_three_moments(n2, n3)
        tails = h2_two_tails(g.service_quantile(service, 0.95), g.service_quantile(service, 0.99))
        w_h2 = mh21_conditional_wait(lam, c, m3)
        cands = {
            "cur": response_stats(pw, ac, bal),
            "m3S": response_stats(pw, ac, m3),
            "H2W": response_stats(pw, w_h2, m3),
            "H2Wt": response_stats(pw, w_h2, tails),
        }
        line = f"{kind[:4]} cv={cv} c={c} ρ={rho:<4}   | {ref_txt} |"
        for name in names:
            line += "      " + " ".join(
                fmt_err(v, r) for v, r in zip(cands[name], ref, strict=True)
            )
            line += " |"
        print(line, flush=True)
        if use_ciw:
            sim = g.simulate(
                "single", 1, lam, service, c, replications=8, customers=100_000, seed=11
            )
            print(
                f"    ciw: {sim.mean_response_s}  {sim.p95_response_s}  {sim.p99_response_s}",
                flush=True,
            )
    print("\n### A by routing (lognormal cv 2, N = 4 replicas of c servers)")
    print("random = one replica at λ/N (the rows above); pooled = one queue of N·c servers;")
    print("round robin = E_N/G/c per replica, AC with c_a² = 1/N; P2C: ciw only (--ciw).")
    service = cm.Service("lognormal", 1.0, 2.0)
    n = 4
    for c in (1, 4):
        for rho in (0.6, 0.9):
            lam_total = rho * c * n
            n2 = g.service_moment(service, 2)
            n3 = g.service_moment(service, 3)
            m3 = h2_three_moments(n2, n3)
            bal = h2_balanced(4.0)
            for routing in ("pooled", "round_robin"):
                est = g.fcfs_response(
                    routing,
                    n,
                    lam_total,
                    service,
                    c,
                    replications=4 if quick else 10,
                    customers=1_000_000 if quick else 2_000_000,
                    warmup_customers=200_000,
                    seed=5,
                )
                ref = (est.mean.mean, est.p95.mean, est.p99.mean)
                cu = c * n if routing == "pooled" else c
                lam_u = lam_total if routing == "pooled" else lam_total / n
                ca2 = 1.0 if routing == "pooled" else 1 / n
                pw = erlang_c(cu, lam_u) if cu > 1 else rho
                ac = [(1.0, 2 * (cu - lam_u) / (ca2 + 4.0))]
                w_h2 = mh21_conditional_wait(lam_u, cu, m3)
                if routing == "round_robin":  # scale the M/H2/1 wait by AC's arrival factor
                    w_h2 = [(p, r * 5.0 / (ca2 + 4.0)) for p, r in w_h2]
                cur = response_stats(pw, ac, bal)
                h2w = response_stats(pw, w_h2, m3)
                print(
                    f"{routing:11s} c={c} ρ={rho}: ref {ref[0]:.3f}±{est.mean.half_width:.3f} "
                    f"{ref[1]:.3f}±{est.p95.half_width:.2f} {ref[2]:.3f}±{est.p99.half_width:.2f}"
                    f" | cur {' '.join(fmt_err(v, r) for v, r in zip(cur, ref, strict=True))}"
                    f" | H2W {' '.join(fmt_err(v, r) for v, r in zip(h2w, ref, strict=True))}",
                    flush=True,
                )
            if use_ciw:
                sim = g.simulate(
                    "p2c", n, lam_total, service, c, replications=6, customers=100_000, seed=3
                )
                print(
                    f"p2c         c={c} ρ={rho}: ciw {sim.mean_response_s} "
                    f"{sim.p95_response_s} {sim.p99_response_s}",
                    flush=True,
                )


# --- part B -----------------------------------------------------------------------------------


def part_b(use_ciw: bool) -> None:
    print("\n## B. GI/M/c, balanced-H2 arrivals of SCV I, exponential work (μ = 1)")
    print("unit: random → one replica, stream thinned to 1/N (SCV 1 + (I−1)/N);")
    print("      round robin → every N-th arrival (SCV I/N); pooled → N·c servers, SCV I.")
    print("Candidates: B0 = Erlang C + Exp(AC θ = (cμ−λ)·2/(c_a²+1)) (today's family);")
    print("            B2 = Erlang C(c, c·σ) + Exp(cμ(1−σ)) (exact for c = 1 and for Poisson);")
    print("            TK = Takács' exact P_W + Exp(cμ(1−σ)) (O(c), unstable for c > 30).")
    cases: list[tuple[str, int, int, float, float]] = []
    for routing, n in (("single", 1), ("random", 4), ("round_robin", 4), ("pooled", 4)):
        for c in (1, 4):
            for scv in (2.0, 4.0, 10.0):
                for rho in (0.6, 0.9):
                    cases.append((routing, n, c, scv, rho))
    worst = {"B0": 0.0, "B2": 0.0, "TK": 0.0}
    over = {"B0": 0, "B2": 0, "TK": 0}
    newton_max = 0
    print(
        "case                               | exact mean/p95/p99        | B0 mean p95 p99 | "
        "B2 mean p95 p99     | TK"
    )
    for routing, n, c, scv, rho in cases:
        lam_total = rho * c * n if routing != "single" else rho * c
        cu = c * (n if routing == "pooled" else 1)
        ph = g.routed_stream(routing, n, lam_total, scv)  # type: ignore[arg-type]
        lam = 1 / ph.mean
        exact = g.gim_c_exact(ph, 1.0, cu)
        ref = (
            exact.response_mean(),
            exact.response_quantile(0.95),
            exact.response_quantile(0.99),
        )
        h = g.h2_balanced(1 / lam_total, scv)
        k = float(cu)
        if routing == "round_robin":
            sigma, its = sigma_every_nth(h.p1, h.rate1, h.rate2, n, k)
            newton_max = max(newton_max, its)
        else:
            keep = 1 / n if routing == "random" else 1.0
            sigma = sigma_h2_stream(h.p1, h.rate1, h.rate2, keep, k)
        assert abs(sigma - exact.sigma) < 1e-9, (sigma, exact.sigma)
        ca2 = {"single": scv, "pooled": scv, "random": 1 + (scv - 1) / n, "round_robin": scv / n}[
            routing
        ]
        theta = k * (1 - sigma)
        cands = {
            "B0": response_stats(erlang_c(cu, lam), [(1.0, 2 * (k - lam) / (ca2 + 1))], [(1, 1)]),
            "B2": response_stats(erlang_c(cu, k * sigma), [(1.0, theta)], [(1, 1)]),
            "TK": response_stats(
                g.gim_c_takacs(ph.lst, lam, 1.0, cu).wait_probability, [(1.0, theta)], [(1, 1)]
            ),
        }
        line = f"{routing:11s} N={n} c={c} I={scv:<4} ρ={rho}  | "
        line += f"{ref[0]:7.3f} {ref[1]:7.3f} {ref[2]:7.3f} |"
        for name, vals in cands.items():
            errs = [abs(v / r - 1) for v, r in zip(vals, ref, strict=True)]
            worst[name] = max(worst[name], *errs)
            over[name] += max(errs) > 0.05
            line += " " + " ".join(fmt_err(v, r) for v, r in zip(vals, ref, strict=True)) + " |"
        print(line, flush=True)
        if use_ciw and routing == "single":
            sim = g.simulate(
                "single",
                1,
                lam_total,
                cm.Service("exponential", 1.0),
                c,
                arrival_scv=scv,
                replications=8,
                customers=60_000,
                seed=13,
            )
            print(
                f"    ciw: {sim.mean_response_s}  {sim.p95_response_s}  {sim.p99_response_s}",
                flush=True,
            )
    print(f"worst |error|: {', '.join(f'{k} {100 * v:.1f} %' for k, v in worst.items())}")
    print(f"cases over 5 %: {over} of {len(cases)}; round-robin σ Newton steps ≤ {newton_max}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ciw", action="store_true", help="add ciw replications and P2C")
    parser.add_argument("--quick", action="store_true", help="fewer simulated requests")
    parser.add_argument("--part", choices=("a", "b", "both"), default="both")
    args = parser.parse_args(argv)
    runners: dict[str, Callable[[], None]] = {
        "b": lambda: part_b(args.ciw),
        "a": lambda: part_a(args.quick, args.ciw),
    }
    for part in ("b", "a") if args.part == "both" else (args.part,):
        runners[part]()


if __name__ == "__main__":
    main()
