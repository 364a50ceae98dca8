"""The service model's accuracy table: capsim's expected model against independent
references (closed forms in ``tests/reference/queues.py``, Ciw runs in
``tests/reference/ciw_models.py``). Prints the Markdown table the README shows between
its ``accuracy-table`` markers; ``tests/test_service_model.py`` checks the README holds
exactly this output, so the table cannot drift from the code::

    .venv/bin/python scripts/accuracy_table.py            # print
    .venv/bin/python scripts/accuracy_table.py --write    # replace the README's table

Every capsim figure comes from :func:`capsim.models.service.service_tick` stepped over
1-s ticks at a constant load after a warm-up, pooled with the run summary's exact
latency mixture (:class:`capsim.results.latency.LatencyMixture`).
"""

# ruff: noqa: E501  (table rows read best one per line)
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from reference import ciw_general as cg  # noqa: E402
from reference import ciw_models as cm  # noqa: E402
from reference import queues as rq  # noqa: E402
from reference.retries_sim import simulate as retries_des  # noqa: E402
from test_least_request_law import simulate as least_request_core  # noqa: E402
from test_retries_model import capsim_run as retries_model  # noqa: E402
from test_retries_model import storm_case  # noqa: E402

from capsim.models import service as sv  # noqa: E402
from capsim.models.queueing import ResponseTimeDistribution  # noqa: E402
from capsim.results.latency import LatencyMixture  # noqa: E402
from capsim.scenario.service_laws import least_request_law  # noqa: E402

README = ROOT / "README.md"
BEGIN, END = "<!-- accuracy-table:begin -->", "<!-- accuracy-table:end -->"
MU = 10.0  # 100 ms of CPU per request at one core


def steady_outputs(
    lam: float,
    replicas: float,
    *,
    slots: float = 1.0,
    cores: float = 1.0,
    tau: float = 1e4,
    routing: str = "random",
    ticks: int = 400,
    scv: float = 1.0,
    dispersion: float = 1.0,
    queue_limit: float = float("inf"),
) -> np.ndarray:
    """The model's outputs of ``ticks`` 1-s ticks after 100 of warm-up at a steady load."""
    state = np.zeros(sv.STATE_FIELDS)
    ring = np.zeros(sv.ring_length(tau, 1.0))
    params = sv.service_params(
        1.0, 1 / MU, slots, cores, tau, routing=sv.ROUTING[routing], work_scv=scv,
        arrival_scv=dispersion, queue_limit=queue_limit,
    )  # fmt: skip
    table = least_request_law(replicas, min(slots, cores), sv.ROUTING[routing])
    sv.warm_up(lam, replicas, params, table, state, ring)
    outs = []
    for _ in range(ticks + 100):
        out = np.zeros(sv.OUT_FIELDS)
        sv.service_tick(lam, replicas, params, table, state, ring, out)
        outs.append(out)
    return np.array(outs[100:])


def mixture(o: np.ndarray) -> LatencyMixture:
    """The pooled latency of the served requests of outputs ``o``."""
    law = ResponseTimeDistribution(
        o[:, sv.O_FIXED], o[:, sv.O_WAIT_P], o[:, sv.O_WAIT_RATE], o[:, sv.O_MU],
        o[:, sv.O_WAIT_LIMIT], o[:, sv.O_SHARE2], o[:, sv.O_MU2],
    )  # fmt: skip
    return LatencyMixture.of(law, o[:, sv.O_SERVED])


def steady(lam: float, replicas: float, **options: Any) -> tuple[LatencyMixture, float]:
    """(latency mixture, abandoned share) of :func:`steady_outputs`."""
    o = steady_outputs(lam, replicas, **options)
    return mixture(o), o[:, sv.O_ABANDONED].sum() / (lam * o.shape[0])


def _error(reference: float, value: float) -> str:
    """Relative error in %, one decimal; 0.0 without a sign below 0.05 % (rounding noise)."""
    error = 100 * (value - reference) / reference
    return "0.0 %" if abs(error) < 0.05 else f"{error:+.1f} %"


def row(case: str, reference: str, pairs: list[tuple[str, float, float, float]]) -> str:
    """One table row: per metric ``name ref → capsim (error)``; ``scale`` for display."""
    refs = " / ".join(f"{r * k:.4g}" for _, r, _, k in pairs)
    ours = " / ".join(f"{c * k:.4g}" for _, _, c, k in pairs)
    errors = " / ".join(_error(r, c) for _, r, c, _ in pairs)
    names = " / ".join(n for n, _, _, _ in pairs)
    return f"| {case} | {names} | {reference} | {refs} | {ours} | {errors} |"


def mmc_rows() -> list[str]:
    rows = []
    for c in (1, 4, 16):
        for rho in (0.3, 0.6, 0.8, 0.9, 0.95):
            lam = rho * c * MU
            mix, _ = steady(lam, 1.0, slots=c, cores=c)
            rows.append(
                row(
                    f"M/M/{c}, ρ {rho}",
                    "Erlang C",
                    [
                        ("mean ms", rq.mmc_response_mean(lam, MU, c), mix.mean_s(), 1000),
                        ("p95", rq.mmc_response_quantile(lam, MU, c, 0.95), mix.quantile_s(0.95), 1000),
                        ("p99", rq.mmc_response_quantile(lam, MU, c, 0.99), mix.quantile_s(0.99), 1000),
                    ],
                )
            )  # fmt: skip
    return rows


def timeout_rows() -> list[str]:
    rows = []
    for lam, c, tau in ((9.5, 1, 1.0), (38.0, 4, 0.5), (15.0, 1, 1.0), (60.0, 4, 0.5)):
        law = rq.mmc_deterministic_patience(lam, MU, c, tau)
        mix, share = steady(lam, 1.0, slots=c, cores=c, tau=tau, ticks=2000)
        rows.append(
            row(
                f"M/M/{c}+D, ρ {lam / (c * MU):g}, timeout {tau:g} s",
                "M/M/c+D closed form",
                [
                    ("abandoned %", law.abandon_probability, share, 100),
                    ("mean ms", law.served_response_mean(), mix.mean_s(), 1000),
                    ("p99", law.served_response_quantile(0.99), mix.quantile_s(0.99), 1000),
                ],
            )
        )
    return rows


def routing_rows() -> list[str]:
    lam = 0.9 * 16 * MU
    pooled, _ = steady(lam, 16.0, routing="pooled")
    rr, _ = steady(lam, 16.0, routing="round_robin")
    random, _ = steady(lam, 16.0)
    return [
        row(
            "16 replicas, ρ 0.9, random",
            "M/M/1 per replica",
            [("mean ms", rq.mmc_response_mean(lam / 16, MU, 1), random.mean_s(), 1000)],
        ),
        row(
            "16 replicas, ρ 0.9, round robin",
            "E₁₆/M/1 (Erlang-16 gaps)",
            [("mean ms", rq.round_robin_response_mean(16, lam, MU), rr.mean_s(), 1000)],
        ),
        row(
            "16 replicas, ρ 0.9, pooled",
            "Erlang C, M/M/16",
            [
                ("mean ms", rq.pooled_response_mean(16, lam, MU, 1), pooled.mean_s(), 1000),
                ("p99", rq.pooled_response_quantile(16, lam, MU, 1, 0.99), pooled.quantile_s(0.99), 1000),
            ],
        ),
    ]  # fmt: skip


def ps_rows() -> list[str]:
    mix, _ = steady(3.0, 1.0, slots=4, cores=1)
    ciw = cm.simulate_processor_sharing(
        3.0, cm.Service("exponential", 0.1), 4, 1, replications=10, customers=20_000
    )
    return [
        row(
            "4 slots on 1 core (processor sharing), λ 3/s",
            f"M/M/1 by Little (mean); Ciw PSNode, 10 × 20k (p99 ± {1000 * ciw.p99_response_s.half_width:.0f} ms)",
            [
                ("mean ms", rq.limited_ps_mm_mean_response(3.0, MU, 4, 1), mix.mean_s(), 1000),
                ("p99", ciw.p99_response_s.mean, mix.quantile_s(0.99), 1000),
            ],
        )
    ]  # fmt: skip


def overload_rows() -> list[str]:
    ref = cm.simulate_overload_recovery(
        [15.0, 5.0], [300.0, 500.0], cm.Service("exponential", 0.1), 1,
        tau_s=10.0, probe_s=300.0, switch_s=300.0, replications=12,
    )  # fmt: skip
    state = np.zeros(sv.STATE_FIELDS)
    ring = np.zeros(sv.ring_length(10.0, 1.0))
    outs = []
    params = sv.service_params(1.0, 0.1, 1.0, 1.0, 10.0)
    for t in range(500):
        out = np.zeros(sv.OUT_FIELDS)
        lam = 15.0 if t < 300 else 5.0
        sv.service_tick(lam, 1.0, params, least_request_law(1.0, 1.0, 0), state, ring, out)
        outs.append(out)
    o = np.array(outs)
    drain = float(np.argmax(o[300:, sv.O_FIXED] <= 0.0))
    abandoned, waiting, drain_ref = ref.abandoned, ref.waiting_at_probe, ref.drain_s
    return [
        row(
            "overload then recovery: M/M/1, λ 15 → 5/s at 300 s, timeout 10 s",
            "Ciw, 12 replications",
            [
                ("abandoned", abandoned.mean, o[:, sv.O_ABANDONED].sum(), 1),
                ("waiting at 300 s", waiting.mean, o[299, sv.O_QUEUED], 1),
                ("drain s", drain_ref.mean, drain, 1),
            ],
        )
    ]


def transient_rows() -> list[str]:
    rows = []
    for c, rho in ((1, 1.0), (1, 0.999), (4, 1.0), (4, 0.999)):
        lam = rho * c * MU
        exact = rq.mmc_transient(lam, MU, c, [3600.0], k_max=6000)
        state = np.zeros(sv.STATE_FIELDS)
        ring = np.zeros(sv.ring_length(1e4, 1.0))
        outs = []
        params = sv.service_params(1.0, 0.1, float(c), float(c), 1e4)
        for _ in range(3600):
            out = np.zeros(sv.OUT_FIELDS)
            sv.service_tick(lam, 1.0, params, least_request_law(1.0, 1.0, 0), state, ring, out)
            outs.append(out)
        o = np.array(outs)
        law = ResponseTimeDistribution(
            o[:, sv.O_FIXED], o[:, sv.O_WAIT_P], o[:, sv.O_WAIT_RATE], o[:, sv.O_MU],
            o[:, sv.O_WAIT_LIMIT],
        )  # fmt: skip
        at_end = LatencyMixture.of(law, np.where(np.arange(3600) >= 3599, o[:, sv.O_SERVED], 0.0))
        over_hour = LatencyMixture.of(law, o[:, sv.O_SERVED])
        rows.append(
            row(
                f"M/M/{c} at ρ {rho:g} from empty, first hour (no timeout)",
                "exact CTMC (expm_multiply)",
                [
                    ("mean response at 1 h, s", float(exact.response_of_arrival_s()[-1]), at_end.mean_s(), 1),
                    ("averaged over the hour", float(exact.response_of_arrival_average_s()[-1]), over_hour.mean_s(), 1),
                ],
            )
        )  # fmt: skip
    return rows


def mgc_rows() -> list[str]:
    """Non-exponential work, against Ciw (10 replications × 20,000 requests)."""
    rows = []
    shapes: tuple[tuple[Literal["deterministic", "lognormal", "gamma"], float, float], ...] = (
        ("deterministic", 0.0, 0.0),
        ("lognormal", 0.5, 0.25),
        ("gamma", 0.5, 0.25),
    )
    for kind, cv, scv in shapes:
        for c, rho in ((1, 0.6), (1, 0.9), (4, 0.6), (4, 0.9)):
            lam = rho * c * MU
            mix, _ = steady(lam, 1.0, slots=c, cores=c, scv=scv)
            ref = cm.simulate_single_node(
                lam, cm.Service(kind, 0.1, cv if kind != "deterministic" else 1.0), c,
                replications=10, customers=20_000,
            )  # fmt: skip
            rows.append(
                row(
                    f"M/G/{c}, {kind}{f' CV {cv:g}' if kind != 'deterministic' else ''} work, ρ {rho}",
                    f"Ciw, 10 × 20k (mean ± {1000 * ref.mean_response_s.half_width:.1f} ms, p99 ± {1000 * ref.p99_response_s.half_width:.0f} ms)",
                    [
                        ("mean ms", ref.mean_response_s.mean, mix.mean_s(), 1000),
                        ("p95", ref.p95_response_s.mean, mix.quantile_s(0.95), 1000),
                        ("p99", ref.p99_response_s.mean, mix.quantile_s(0.99), 1000),
                    ],
                )
            )
    return rows


def queue_limit_rows() -> list[str]:
    rows = []
    for c, held, rho in ((1, 5, 0.9), (1, 20, 1.2), (4, 5, 0.9), (4, 20, 1.2)):
        lam = rho * c * MU
        refused, mean, p99 = rq.mmck(lam, MU, c, held)
        o = steady_outputs(lam, 1.0, slots=c, cores=c, queue_limit=float(held), ticks=50)
        mix = mixture(o)
        rows.append(
            row(
                f"M/M/{c}/K, {held} places, ρ {rho}",
                "M/M/c/K written out",
                [
                    ("refused %", refused, o[:, sv.O_DROPPED].sum() / (lam * o.shape[0]), 100),
                    ("mean ms", mean, mix.mean_s(), 1000),
                    ("p99", p99, mix.quantile_s(0.99), 1000),
                ],
            )
        )
    return rows


def burst_rows() -> list[str]:
    rows = []
    cases: tuple[tuple[Literal["random", "round_robin", "pooled"], float, int, float], ...] = (
        ("random", 4.0, 1, 0.9),
        ("random", 10.0, 4, 0.6),
        ("round_robin", 4.0, 1, 0.6),
        ("pooled", 10.0, 4, 0.6),
    )
    for routing, dispersion, c, rho in cases:
        lam = rho * c * MU * 4
        unit = 4 * c if routing == "pooled" else c
        exact = cg.gim_c_exact(cg.routed_stream(routing, 4, lam, dispersion), MU, unit)
        mix, _ = steady(
            lam, 4.0, slots=c, cores=c, routing=routing, dispersion=dispersion, ticks=50
        )
        rows.append(
            row(
                f"bursty arrivals (dispersion {dispersion:g}), 4 × {c} slots, {routing}, ρ {rho}",
                "exact GI/M/c (Markov chain over the gaps' phases)",
                [
                    ("mean ms", exact.response_mean(), mix.mean_s(), 1000),
                    ("p95", exact.response_quantile(0.95), mix.quantile_s(0.95), 1000),
                    ("p99", exact.response_quantile(0.99), mix.quantile_s(0.99), 1000),
                ],
            )
        )
    return rows


def least_request_rows() -> list[str]:
    rows = []
    for routing, d in (("least_request", 2), ("join_shortest_queue", 0)):
        for n, rho in ((4, 0.9), (16, 0.8), (16, 0.9)):
            values = np.array(
                [
                    [f(r) for f in (np.mean, lambda x: np.quantile(x, 0.95), lambda x: np.quantile(x, 0.99))]
                    for r in (least_request_core(n, 1, rho, d, 300_000, seed, mu=MU) for seed in (1, 2, 3, 4))
                ]
            )  # fmt: skip
            reference = values.mean(axis=0)
            half = 1000 * 3.182 * values.std(axis=0, ddof=1) / 2.0  # t(3), 4 replications
            mix, _ = steady(rho * n * MU, float(n), routing=routing, ticks=50)
            rows.append(
                row(
                    f"{routing}, {n} replicas of 1 slot, ρ {rho}",
                    f"exact per-request core, 4 × 300k (p99 ± {half[2]:.0f} ms)",
                    [
                        ("mean ms", reference[0], mix.mean_s(), 1000),
                        ("p95", reference[1], mix.quantile_s(0.95), 1000),
                        ("p99", reference[2], mix.quantile_s(0.99), 1000),
                    ],
                )
            )
    return rows


def retry_rows() -> list[str]:
    fresh, servers, policy = storm_case()
    runs = [
        retries_des(
            fresh, servers, dt_s=1.0, service_mean_s=0.1, timeout_s=2.0,
            rng=np.random.default_rng(1000 + i), **policy,
        )
        for i in range(30)
    ]  # fmt: skip
    model = retries_model(
        fresh, servers, dt=1.0, service_s=0.1, tau=2.0, max_retries=3, backoff=1.0,
        mult=2.0, cap=10.0,
    )  # fmt: skip
    pairs = []
    for name, label in (("retries", "retries"), ("failed_finally", "failed after 3 retries")):
        totals = np.array([getattr(r, name).sum() for r in runs])
        pairs.append((label, float(totals.mean()), float(model[name].sum()), 1.0))
    return [
        row(
            "retry storm: M/M/3 at 20/s, no replica for 60 s, 3 retries, back-off 1 s × 2",
            "per-request simulation, 30 replications",
            pairs,
        )
    ]


def deterministic_routing_rows() -> list[str]:
    rows = []
    for routing in ("random", "round_robin", "pooled"):
        for c, rho in ((1, 0.6), (4, 0.9)):
            lam = rho * c * MU * 4
            ref = cg.fcfs_response(
                routing, 4, lam, cm.Service("deterministic", 0.1, 1.0), c,
                replications=6, customers=300_000, warmup_customers=30_000,
            )  # fmt: skip
            mix, _ = steady(lam, 4.0, slots=c, cores=c, routing=routing, scv=0.0, ticks=50)
            rows.append(
                row(
                    f"deterministic work, 4 × {c} slots, {routing}, ρ {rho}",
                    f"FCFS recursion, 6 × 300k (p99 ± {1000 * ref.p99.half_width:.0f} ms)",
                    [
                        ("mean ms", ref.mean.mean, mix.mean_s(), 1000),
                        ("p95", ref.p95.mean, mix.quantile_s(0.95), 1000),
                        ("p99", ref.p99.mean, mix.quantile_s(0.99), 1000),
                    ],
                )
            )
    return rows


SECTIONS: list[tuple[str, Callable[[], list[str]]]] = [
    ("stationary", mmc_rows),
    ("timeouts", timeout_rows),
    ("routing", routing_rows),
    ("least-request routing", least_request_rows),
    ("bursty arrivals", burst_rows),
    ("queue limit", queue_limit_rows),
    ("service-time shapes", mgc_rows),
    ("deterministic work under each routing", deterministic_routing_rows),
    ("processor sharing", ps_rows),
    ("overload", overload_rows),
    ("retries", retry_rows),
    ("transient", transient_rows),
]


def table() -> str:
    lines = [
        "| case | metrics | reference | reference value | capsim (expected) | error |",
        "|---|---|---|---|---|---|",
    ]
    for _, make in SECTIONS:
        lines += make()
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="replace the README's table")
    args = parser.parse_args()
    text = table()
    if not args.write:
        print(text, end="")
        return
    readme = README.read_text(encoding="utf-8")
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    README.write_text(readme[:start] + "\n" + text + readme[end:], encoding="utf-8")


if __name__ == "__main__":
    main()
